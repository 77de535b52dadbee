"""Schedules over the whole network: stochastic depth's linearly decaying survival.

Huang et al. (arXiv:1603.09382, eq. 4): the l-th of L residual blocks survives
with probability p_l = 1 - (l / L) * (1 - p_L), so the first block is almost
always kept and the last with p_L.
"""

from __future__ import annotations

from archdsl.graph import Graph


def run(graph: Graph) -> Graph:
    """Give every op with a linear schedule (drop_path: linear(p)) its rate."""
    scheduled = [node for node in graph.ops() if node.op.linear_schedule is not None]
    total = len(scheduled)
    for depth, node in enumerate(scheduled, start=1):
        final = node.op.linear_schedule
        node.op = node.op.scheduled(1.0 - depth / total * (1.0 - final))
    return graph
