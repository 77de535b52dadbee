"""YAML loading: safe, located, bounded."""

from __future__ import annotations

import pytest

from archdsl.diagnostics import SpecError
from archdsl.lang.yamlload import load_yaml
from archdsl.limits import Limits


def codes(text: str, limits: Limits | None = None) -> str:
    with pytest.raises(SpecError) as info:
        load_yaml(text, "<t>", limits or Limits())
    return info.value.diagnostics[0].code


def test_spans_of_keys_and_values():
    data, table = load_yaml("a:\n  b: [1, 'x']\n", "<t>")
    assert data == {"a": {"b": [1, "x"]}}
    span = table.value(("a", "b", 1))
    assert (span.line, span.col, span.content_col) == (2, 10, 11)
    assert (table.key(("a", "b")).line, table.key(("a", "b")).col) == (2, 3)


def test_flow_list_calls_are_rejoined():
    data, table = load_yaml("x: [conv(64, 1, bias=false), bn, max(a, b, c)]\n", "<t>")
    assert data["x"] == ["conv(64, 1, bias=false)", "bn", "max(a, b, c)"]
    assert table.value(("x", 0)).col == 5


def test_rejects():
    assert codes("a: 1\na: 2\n") == "E0101"
    assert codes("a: !!python/name:os.system x\n") == "E0102"
    assert codes("a: !!binary aGVsbG8=\n") == "E0102"
    assert codes("? [1, 2]\n: 3\n") == "E0102"
    assert codes("<<: {a: 1}\n") == "E0102"
    assert codes("a: [1, 2\n") == "E0100"
    assert codes("a:\n\t- 1\n") == "E0100"
    assert codes("") == "E0104"
    assert codes("# only a comment\n") == "E0104"


def test_alias_bomb_is_bounded():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        name = chr(ord("a") + i)
        bomb += f"{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
    assert codes(bomb) == "E0103"


def test_depth_is_bounded():
    assert codes("a: " + "[" * 200 + "]" * 200 + "\n") == "E0103"
    assert codes("a: " + "[" * 5000 + "]" * 5000 + "\n") == "E0103"


def test_keys_follow_the_yaml_1_2_core_schema():
    data, _ = load_yaml("on: 1\nyes: 2\n'010': 3\n", "<t>")
    assert data == {"on": 1, "yes": 2, "010": 3}
    assert codes("true: 1\n") == "E0102"  # a boolean key, as in YAML 1.1
    assert codes("010: 1\n") == "E0102"


def test_spans_count_lines_as_editors_do():
    text = "a: \"x\u2028y\u2029z\"\nb: 'p\x85q'\r\nc: [1,\r  2]\n"
    data, table = load_yaml(text, "<t>")
    assert data["a"] == "x\u2028y\u2029z"
    assert [(table.key((k,)).line, table.key((k,)).col) for k in "abc"] == [(1, 1), (2, 1), (3, 1)]
    span = table.value(("c", 1))
    assert (span.line, span.col, span.content_col) == (4, 3, 3)
    assert (table.value(("a",)).col, table.value(("a",)).end_col) == (4, 11)
