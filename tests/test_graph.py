"""The IR's own API: inputs in order, and the edits transforms make."""

from __future__ import annotations

import textwrap

import torch

import archdsl
from archdsl.api import check
from archdsl.graph import INPUT, Graph, Member, Node
from archdsl.lang.load import parse_spec
from archdsl.ops import OPS
from archdsl.tensor import TensorType


def _load(body: str):
    text = "archdsl: 1\nname: net\ninput: [3, 8, 8]\n" + textwrap.dedent(body)
    return check(parse_spec(text, "<net>", ops=OPS))


def test_a_node_read_twice_is_two_inputs():
    graph = Graph("net", TensorType((3, 8, 8)))
    graph.add_node(Node("a", OPS["relu"](None), None, (), "a"), [INPUT])
    graph.add_node(Node("b", OPS["add"](None), None, (), "b"), ["a", "a"])
    assert graph.inputs("b") == ["a", "a"]
    assert graph.consumers("a") == ["b"]


def test_inputs_keep_the_merge_order():
    arch = _load("""
        network:
          - conv1: conv(4, 3)
          - twice: {branches: [identity, [identity, relu]], merge: concat}
    """)
    (merge,) = [n for n in arch.graph.ops() if n.op.name == "concat"]
    # Unnamed paths are members 0, 1, … of `twice`.
    assert arch.graph.inputs(merge.name) == ["twice.0", "twice.1.1"]
    model = archdsl.build(arch).eval()
    x = torch.randn(1, 3, 8, 8)
    y = model.conv1(x)
    torch.testing.assert_close(model(x), torch.cat([y, y.relu()], 1))


def test_bypass_rewires_readers_scopes_and_the_output():
    graph = _load("""
        network:
          - conv1: conv(4, 3)
          - drop: dropout(0.5)
          - head: [gap, flatten, {fc: linear(2)}]
    """).graph
    assert graph.bypass("drop") == "conv1"
    assert "drop" not in graph.dag
    assert graph.scope(("head",)).input == "conv1"
    assert graph.inputs("head.gap") == ["conv1"]
    assert [c.local for c in graph.scope(()).children] == ["conv1", "head"]
    assert graph.bypass("head.fc") == "head.flatten" and graph.output == "head.flatten"


def test_remove_subtree_takes_a_scope_and_everything_in_it():
    graph = _load("""
        network:
          - conv1: conv(4, 3)
          - head: [gap, flatten, {fc: linear(2)}]
    """).graph
    removed = graph.remove_subtree(("head",))
    assert sorted(removed) == ["head.fc", "head.flatten", "head.gap"]
    assert ("head",) not in graph.scopes
    assert [c.local for c in graph.scope(()).children] == ["conv1"]
    assert all(isinstance(c, Member) for c in graph.scope(()).children)
    assert graph.inputs("conv1") == [INPUT] and len(graph) == 1
