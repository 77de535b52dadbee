"""Fully connected layers."""

from __future__ import annotations

from pydantic import Field

from archdsl.ops.base import Op, Params, PositiveInt, Slot, expect_rank, register
from archdsl.tensor import TensorType


class LinearParams(Params):
    out: PositiveInt = Field(description="Output features.")
    bias: bool = True


@register
class Linear(Op):
    """nn.Linear; `in_features` comes from the input."""

    name = "linear"
    Params = LinearParams

    def infer(self, inputs):
        x = inputs[0]
        expect_rank(self, x, 1, help="insert `flatten` before it (a feature map must be "
                                     "flattened into a vector first)")
        return TensorType((self.p.out,))

    def tensors(self, inputs):
        out = {"weight": Slot((self.p.out, inputs[0].channels))}
        if self.p.bias:
            out["bias"] = Slot((self.p.out,))
        return out

    def macs(self, inputs, output):
        return inputs[0].channels * self.p.out

    def other_flops(self, inputs, output):
        return self.p.out if self.p.bias else 0
