"""The shape comments of generated forward methods: `# (N, 256, 56, 56)`.

One class serves every instance of a block, so where the instances' shapes
differ the comment names what they differ by: a constructor parameter
(`(N, width, H/stride, W/stride)`), a parameter plus a constant (DenseNet's
`in_channels + 32`), or a sum of two (SqueezeNet's `expand1x1 + expand3x3`).
"""

from __future__ import annotations

from archdsl.emit.generalize import Group
from archdsl.tensor import TensorType


def _types(group: Group, index: int | None) -> list[TensorType]:
    if index is None:
        return [inst.in_type for inst in group.instances]
    return [inst.steps[index].out_type for inst in group.instances]


def shape_changes(group: Group, index: int) -> bool:
    return any(inst.steps[index].out_type != inst.steps[index].in_types[0]
               for inst in group.instances)


def shape_text(group: Group, index: int | None, mentions=()) -> str:
    """`(N, 256, 56, 56)`; with names where instances differ: `(N, width, H/stride, W)`."""
    types = _types(group, index)
    inputs = _types(group, None)
    if all(t == types[0] for t in types):
        return types[0].batched()
    rank = types[0].rank
    if any(t.rank != rank or t.features_last != types[0].features_last for t in types):
        return "(N, …)"
    dims = ["N"]
    for d in range(rank):
        values = [t.dims[d] for t in types]
        dims.append(_dim_text(group, d, values, inputs, types[0], mentions))
    return "(" + ", ".join(dims) + ")"


def _dim_text(group: Group, d: int, values: list[int], inputs: list[TensorType],
              kind: TensorType, mentions=()) -> str:
    if all(v == values[0] for v in values):
        return str(values[0])
    ints = [p for p in group.params if not p.flag and all(type(v) is int for v in p.values)]
    ints.sort(key=lambda p: p.name not in mentions)  # the names the step's spec text uses
    rank = kind.rank
    if d == kind.channel_axis:
        exact = next((p.name for p in ints if p.values == values), None)
        if exact:
            return exact
        for p in ints:  # e.g. a DenseNet layer's concat: in_channels + 32
            offsets = {v - pv for v, pv in zip(values, p.values)}
            if len(offsets) == 1:
                offset = offsets.pop()
                return f"{p.name} {'+' if offset >= 0 else '-'} {abs(offset)}"
        for i, p in enumerate(ints):  # e.g. SqueezeNet's Fire: expand1x1 + expand3x3
            for q in ints[i + 1:]:
                if all(v == a + b for v, a, b in zip(values, p.values, q.values)):
                    return f"{p.name} + {q.name}"
        return "C"
    position = d if kind.features_last else d - 1  # among the spatial dims
    names = {1: "L", 2: "HW", 3: "THW"}.get(rank - 1, "")
    axis = names[position] if names else f"D{d}"
    source = [t.dims[d] if t.rank == rank and t.features_last == kind.features_last else None
              for t in inputs]
    if values == source:
        return axis
    for p in ints:
        if all(s is not None and v == -(-s // k) for v, s, k in zip(values, source, p.values)
               if k > 0):
            return f"{axis}/{p.name}"
    return f"{axis}'"
