"""Cost figures per node from the op's rules: parameters, MACs, other work, memory."""

from __future__ import annotations

from dataclasses import dataclass

from archdsl.graph import Cost, Graph

BYTES_PER_VALUE = 4  # float32


@dataclass(frozen=True)
class Totals:
    params: int
    macs: int
    other_flops: int
    activation_bytes: int


def run(graph: Graph) -> Graph:
    """Annotate every node with its Cost (`node.cost`)."""
    for node in graph.ops():
        inputs = [graph.shape(s) for s in graph.inputs(node.name)]
        node.cost = Cost(
            params=node.op.param_count(inputs),
            macs=node.op.macs(inputs, node.shape),
            other_flops=node.op.other_flops(inputs, node.shape),
            activation_bytes=node.shape.numel * BYTES_PER_VALUE,
        )
    return graph


def totals(graph: Graph) -> Totals:
    costs = [node.cost for node in graph.ops()]
    return Totals(sum(c.params for c in costs), sum(c.macs for c in costs),
                  sum(c.other_flops for c in costs), sum(c.activation_bytes for c in costs))
