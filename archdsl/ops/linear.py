"""Fully connected layers."""

from __future__ import annotations

from pydantic import Field

from archdsl.ops.base import Op, OpError, Params, PositiveInt, Slot, register


class LinearParams(Params):
    out: PositiveInt = Field(description="Output features.")
    bias: bool = True


@register
class Linear(Op):
    """nn.Linear over the last dimension: a vector's features, or each position's
    features of a features-last tensor (a token sequence, a channels-last map);
    `in_features` comes from the input."""

    name = "linear"
    positional = 1
    positional_help = ("in_features come from the input: PyTorch's `Linear(512, 10)` is "
                        "`linear(10)`; bias is keyword-only: `linear(10, bias=false)`")
    Params = LinearParams

    def infer(self, inputs):
        x = inputs[0]
        if x.rank > 1 and not x.features_last:
            raise OpError(
                "E0403", f"`linear` acts on the last dimension; its input is {x.kind()}",
                help="for a classifier, `flatten` the map into a vector first; for a linear "
                     "at every position, permute the channels last (`permute(0, 2, 3, 1)`) "
                     "or use `conv(out, 1)`")
        return x.with_channels(self.p.out)

    def positions(self, x) -> int:
        return x.numel // x.channels

    def tensors(self, inputs):
        out = {"weight": Slot((self.p.out, inputs[0].channels))}
        if self.p.bias:
            out["bias"] = Slot((self.p.out,))
        return out

    def macs(self, inputs, output):
        return self.positions(inputs[0]) * inputs[0].channels * self.p.out

    def other_flops(self, inputs, output):
        return output.numel if self.p.bias else 0
