"""Ops that merge several inputs: add and concat."""

from __future__ import annotations

from archdsl.emit import code
from archdsl.ops.base import Op, OpError, register


@register
class Add(Op):
    """Element-wise sum of inputs of one shape (a residual merge)."""

    name = "add"
    min_inputs = 2
    max_inputs = None
    functional = True

    def infer(self, inputs):
        first = inputs[0]
        for other in inputs[1:]:
            if other != first:
                what = "channels" if other.spatial == first.spatial else "shape"
                raise OpError("E0400", f"`add` needs inputs of one shape; got {first} and "
                              f"{other} ({what} differ)")
        return first

    def other_flops(self, inputs, output):
        return (len(inputs) - 1) * output.numel

    def expression(self, args, inputs, output):
        return code.Sum(tuple(args))


@register
class Concat(Op):
    """Concatenation along channels of inputs with one spatial size."""

    name = "concat"
    min_inputs = 2
    max_inputs = None
    functional = True
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

    def expression(self, args, inputs, output):
        return code.Call("torch.cat", (code.ListOf(tuple(args)), 1))


@register
class Mean(Op):
    """Element-wise mean of inputs of one shape (FractalNet's join)."""

    name = "mean"
    min_inputs = 2
    max_inputs = None
    functional = True

    def infer(self, inputs):
        return Add.infer(self, inputs)

    def other_flops(self, inputs, output):
        return len(inputs) * output.numel

    def expression(self, args, inputs, output):
        return code.Call("torch.mean", (code.Call("torch.stack", (code.ListOf(tuple(args)),)),
                                        0))
