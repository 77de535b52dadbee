"""Graph validation: cycles are errors, unused layers are warnings."""

from __future__ import annotations

import pytest

from archdsl.diagnostics import SpecError
from archdsl.graph import Graph, Node
from archdsl.ops import OPS
from archdsl.passes import validate
from archdsl.tensor import TensorType


def _relu(name: str) -> Node:
    return Node(name, OPS["relu"](None), None, (), name)


def test_cycle_is_an_error():
    graph = Graph("g", TensorType((3, 8, 8)))
    graph.add_node(_relu("a"), ["<input>"])
    graph.add_node(_relu("b"), ["a"])
    graph.dag.add_edge("b", "a", port=1)
    graph.output = "b"
    with pytest.raises(SpecError) as info:
        validate.run(graph)
    assert info.value.diagnostics[0].code == "E0700"
    assert "a -> b" in info.value.diagnostics[0].message


def test_unused_layer_is_a_warning():
    graph = Graph("g", TensorType((3, 8, 8)))
    graph.add_node(_relu("a"), ["<input>"])
    graph.add_node(_relu("dead"), ["<input>"])
    graph.output = "a"
    warnings = validate.run(graph)
    assert [(w.code, w.severity.value) for w in warnings] == [("W0100", "warning")]
    assert "`dead`" in warnings[0].message
