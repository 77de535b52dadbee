"""Element-wise activations."""

from __future__ import annotations

from archdsl.ops.base import Op, register


@register
class ReLU(Op):
    """nn.ReLU; in place wherever nothing else reads its input."""

    name = "relu"

    def other_flops(self, inputs, output):
        return output.numel


@register
class Tanh(Op):
    """nn.Tanh (LeNet's squashing function)."""

    name = "tanh"

    def other_flops(self, inputs, output):
        return output.numel


@register
class Sigmoid(Op):
    """nn.Sigmoid."""

    name = "sigmoid"

    def other_flops(self, inputs, output):
        return output.numel
