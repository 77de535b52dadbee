"""Ops that merge several inputs: add, mul, mean and concat."""

from __future__ import annotations

from archdsl.ops.base import Op, OpError, SameShapeMerge, register
from archdsl.tensor import TensorType


@register
class Add(SameShapeMerge):
    """Element-wise sum of inputs of one shape (a residual merge)."""

    name = "add"

    def other_flops(self, inputs, output):
        return (len(inputs) - 1) * output.numel


@register
class Concat(Op):
    """Concatenation along the channels (features) of inputs with one spatial size."""

    name = "concat"
    min_inputs = 2
    max_inputs = None
    shortcut_first = True  # DenseNet: the input's channels, then the new features

    def other_flops(self, inputs, output):
        return 0  # a copy, no arithmetic

    def infer(self, inputs):
        first = inputs[0]
        for other in inputs[1:]:
            if other.rank != first.rank or other.spatial != first.spatial or \
                    other.features_last != first.features_last:
                raise OpError("E0400", f"`concat` needs inputs of one spatial size and layout; "
                              f"got {first.kind()} and {other.kind()}")
        return first.with_channels(sum(x.channels for x in inputs))


@register
class Mean(SameShapeMerge):
    """Element-wise mean of inputs of one shape (FractalNet's join)."""

    name = "mean"

    def other_flops(self, inputs, output):
        return len(inputs) * output.numel


@register
class Mul(Op):
    """Element-wise product, broadcasting as PyTorch does over the per-sample dims:
    squeeze-and-excitation's `scale * input` (Hu et al., arXiv:1709.01507), a
    (C, 1, 1) gate times a (C, H, W) map."""

    name = "mul"
    min_inputs = 2
    max_inputs = None

    def other_flops(self, inputs, output):
        return (len(inputs) - 1) * output.numel  # one multiply per output element and input

    def infer(self, inputs):
        dims = inputs[0].dims
        for other in inputs[1:]:
            # The batch dim is implicit: inputs of one rank line up dim for dim, as
            # (N, C, 1, 1) and (N, C, H, W) do; a vector and a map would not.
            clash = [i for i, (a, b) in enumerate(zip(dims, other.dims)) if 1 != a != b != 1]
            if other.rank != len(dims) or clash or other.features_last != inputs[0].features_last:
                what = "ranks differ" if other.rank != len(dims) else \
                    "one is features-last" if not clash else \
                    "channels differ" if clash == [0] else "sizes differ"
                raise OpError("E0400", f"`mul` needs inputs of one rank whose dims agree or "
                              f"are 1; got {TensorType(dims)} and {other} ({what})",
                              help="a gate is (C, 1, 1) for a (C, H, W) map: give its last "
                                   "layer as many channels as the map has")
            dims = tuple(max(a, b) for a, b in zip(dims, other.dims))
        return TensorType(dims, inputs[0].features_last)
