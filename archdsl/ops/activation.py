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


@register
class Tanh(Op):
    """nn.Tanh (LeNet's squashing function)."""

    name = "tanh"
    saves_output = True

    def other_flops(self, inputs, output):
        return output.numel

    def module(self, inputs, output, inplace=False):
        return code.Call("nn.Tanh")


@register
class Sigmoid(Op):
    """nn.Sigmoid."""

    name = "sigmoid"
    saves_output = True

    def other_flops(self, inputs, output):
        return output.numel

    def module(self, inputs, output, inplace=False):
        return code.Call("nn.Sigmoid")
