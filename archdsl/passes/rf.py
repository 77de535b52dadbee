"""Receptive field and effective stride of every node, per spatial dimension.

For a window of kernel k, stride s and dilation d applied to a node whose
units see r input pixels, `jump` j apart (Araujo, Norris & Sim, "Computing
Receptive Fields of Convolutional Neural Networks", Distill 2019):

    r_out = r_in + d * (k - 1) * j_in        j_out = j_in * s

A pointwise op keeps both. Where paths merge (add, concat, join), a unit sees
the union of its inputs' fields: the maximum size and the largest jump. Where
inputs broadcast (a squeeze-and-excitation gate of size 1 times a map), the
jump along a dim is that of the inputs of full size there: a size-1 dim is one
value for every position and says nothing of their spacing. After `flatten` (a
window over the whole map) a unit sees the whole input, and so it does after
attention or a reshape of the positions (the GLOBAL window).
"""

from __future__ import annotations

from archdsl.graph import INPUT, Field, Graph


def run(graph: Graph) -> Graph:
    """Annotate every node with its Field (`node.field`)."""
    spatial = graph.shape(INPUT).spatial
    graph.node(INPUT).field = Field((1,) * len(spatial), (1,) * len(spatial))
    for node in graph.ops():
        sources = graph.inputs(node.name)
        fields = [graph.node(s).field for s in sources]
        size = tuple(max(f.size[i] for f in fields) for i in range(len(spatial)))
        jump = _jump(fields, [graph.shape(s).spatial for s in sources], len(spatial))
        window = node.op.window([graph.shape(s) for s in sources]) if spatial else None
        if window is not None and len(window.kernel) != len(spatial):
            # GLOBAL, or a window over positions that are no longer the input's (after
            # a reshape): each output may see the whole input.
            size = tuple(max(r, n) for r, n in zip(size, spatial))
        elif window is not None:
            size = tuple(r + d * (k - 1) * j for r, k, d, j in
                         zip(size, window.kernel, window.dilation, jump))
            jump = tuple(j * s for j, s in zip(jump, window.stride))
        node.field = Field(size, jump)
    return graph


def _jump(fields: list[Field], maps: list[tuple[int, ...]], rank: int) -> tuple[int, ...]:
    """Per spatial dim, the largest jump of the inputs whose map is full-size there."""
    full = tuple(max(dims) for dims in zip(*maps))  # a flattened input has no spatial dims
    return tuple(max(f.stride[i] for f, m in zip(fields, maps)
                     if i >= len(full) or m[i] == full[i]) for i in range(rank))
