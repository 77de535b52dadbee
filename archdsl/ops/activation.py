"""Element-wise activations."""

from __future__ import annotations

from archdsl.emit import code
from archdsl.ops.base import Op, register


@register
class ReLU(Op):
    """nn.ReLU; in place wherever nothing else reads its input."""

    name = "relu"
    can_run_inplace = True
    saves_output = True

    def other_flops(self, inputs, output):
        return output.numel

    def module(self, inputs, output, inplace=False):
        return code.Call("nn.ReLU", (), (("inplace", inplace),), (), (("inplace", False),))
