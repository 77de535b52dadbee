"""Ops that merge several inputs: add, mean and concat."""

from __future__ import annotations

from archdsl.ops.base import Op, OpError, SameShapeMerge, register


@register
class Add(SameShapeMerge):
    """Element-wise sum of inputs of one shape (a residual merge)."""

    name = "add"

    def other_flops(self, inputs, output):
        return (len(inputs) - 1) * output.numel


@register
class Concat(Op):
    """Concatenation along channels of inputs with one spatial size."""

    name = "concat"
    min_inputs = 2
    max_inputs = None
    shortcut_first = True  # DenseNet: the input's channels, then the new features

    def other_flops(self, inputs, output):
        return 0  # a copy, no arithmetic

    def infer(self, inputs):
        first = inputs[0]
        for other in inputs[1:]:
            if other.rank != first.rank or other.spatial != first.spatial:
                raise OpError("E0400", f"`concat` needs inputs of one spatial size; got "
                              f"{first} and {other}")
        return first.with_channels(sum(x.channels for x in inputs))


@register
class Mean(SameShapeMerge):
    """Element-wise mean of inputs of one shape (FractalNet's join)."""

    name = "mean"

    def other_flops(self, inputs, output):
        return len(inputs) * output.numel
