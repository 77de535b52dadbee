"""A block may be another spec's network (`spec:`, cut `until` a layer), called with
that spec's params; the reference stays in the spec's directory and never loops."""

from __future__ import annotations

import shutil

import pytest

import archdsl
from archdsl.diagnostics import SpecError
from conftest import SPECS

CHILD = """\
archdsl: 1
name: child
input: [3, 64, 64]
blocks:
  trunk: {{spec: {spec}, until: {until}}}
network:
  - backbone: trunk({args})
  - gap
"""


def write(tmp_path, spec="resnet50.yaml", until="layer4", args=""):
    shutil.copy(SPECS / "resnet50.yaml", tmp_path / "resnet50.yaml")
    path = tmp_path / "child.yaml"
    path.write_text(CHILD.format(spec=spec, until=until, args=args))
    return path


def test_the_called_spec_keeps_its_names_and_takes_its_params(tmp_path):
    arch = archdsl.load(write(tmp_path, args="depths=[1, 1, 1, 1], k=2"))
    names = {n.name for n in arch.graph.ops()}
    assert "backbone.layer4.0.conv2" in names and "backbone.fc" not in names
    assert arch.graph.node("backbone.layer1.0.conv1").op.p.out == 128  # k = 2
    model = archdsl.build(arch)
    assert model.backbone.layer4[0].conv3.out_channels == 2048


@pytest.mark.parametrize("spec, until, args, message", [
    ("resnet50.yaml", "layer9", "", "the spec's network has no layer `layer9`"),
    ("../resnet50.yaml", "layer4", "", "is outside the root"),
    ("/etc/passwd", "layer4", "", "relative to this spec"),
    ("resnet50.yaml", "layer4", "[1, 1, 1, 1]", "takes its spec's params by name"),
    ("resnet50.yaml", "layer4", "depth=[1, 1, 1, 1]", "has no param `depth`"),
    ("child.yaml", "backbone", "", "spec blocks form a cycle"),
])
def test_bad_spec_blocks_are_located(tmp_path, spec, until, args, message):
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("]", r"\]")) \
            as info:
        archdsl.load(write(tmp_path, spec, until, args))
    assert info.value.diagnostics[0].span is not None
