"""Params: defaults, typed overrides from --set and keyword arguments, element overrides."""

from __future__ import annotations

import pytest

import archdsl
from archdsl.diagnostics import SpecError
from archdsl.lang.params import parse_override
from conftest import SPECS

SPEC = """\
archdsl: 1
name: net
input: [3, 32, 32]
params:
  k: 1
  width: 16 * k
  depths: [1, 2]
  rate: 0.5
  bias: false
network:
  - c: conv(width, 3, bias=bias)
  - flatten
  - fc: linear(depths[1])
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(SPEC)
    return path


def test_defaults_and_derived_params(spec):
    assert archdsl.load(spec).params == {"k": 1, "width": 16, "depths": (1, 2), "rate": 0.5,
                                         "bias": False}


def test_override_flows_into_later_params(spec):
    arch = archdsl.load(spec, overrides=["k=2"])
    assert arch.params["width"] == 32
    assert arch.graph.shape("c").channels == 32


@pytest.mark.parametrize("text, name, value", [
    ("depths=[3,4]", "depths", (3, 4)),
    ("depths[1]=9", "depths", (1, 9)),
    ("depths[-1]=7", "depths", (1, 7)),
    ("rate=1", "rate", 1.0),
    ("bias=true", "bias", True),
    ("k = 2 * 3", "k", 6),
])
def test_set_forms(spec, text, name, value):
    result = archdsl.load(spec, overrides=[text]).params[name]
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize("text, message", [
    ("kk=2", "has no param `kk`"),
    ("k=1.5", "`k` is an int, but the override gives a float"),
    ("bias=1", "`bias` is a bool"),
    ("depths=3", "`depths` is a list"),
    ("depths=[1, 2.5]", "is an int"),
    ("depths[5]=1", "index 5 is out of range"),
    ("k[0]=1", "is an int, not a list"),
    ("k", "is not an override"),
    ("k=", "empty expression"),
    ("k=width", "undefined name `width`"),
])
def test_bad_overrides(spec, text, message):
    with pytest.raises(SpecError, match=message.replace("[", r"\[")):
        archdsl.load(spec, overrides=[text])


def test_keyword_overrides_are_checked(spec):
    with pytest.raises(SpecError, match="`k` is an int"):
        archdsl.load(spec, k="2")
    assert archdsl.load(spec, depths=[2, 3]).params["depths"] == (2, 3)


def test_override_diagnostic_points_into_the_command_line():
    with pytest.raises(SpecError) as info:
        archdsl.load(SPECS / "resnet50.yaml", overrides=["cardinalty=64"])
    diag = info.value.diagnostics[0]
    assert diag.span.file == "<--set>"
    assert "did you mean `cardinality`?" in diag.help


def test_parse_override():
    o = parse_override("depths[2]=23")
    assert (o.name, o.indices, o.value) == ("depths", (2,), 23)
