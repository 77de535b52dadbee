"""Element-wise activations."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from archdsl.ops.base import Op, Params, register


@register
class ReLU(Op):
    """nn.ReLU; in place wherever nothing else reads its input."""

    name = "relu"

    def other_flops(self, inputs, output):
        return output.numel


@register
class ReLU6(Op):
    """min(max(x, 0), 6): nn.ReLU6 (MobileNetV2, Sandler et al., arXiv:1801.04381)."""

    name = "relu6"

    def other_flops(self, inputs, output):
        return output.numel


@register
class SiLU(Op):
    """x * sigmoid(x): nn.SiLU, swish (EfficientNet, Tan & Le, arXiv:1905.11946)."""

    name = "silu"

    def other_flops(self, inputs, output):
        return output.numel


@register
class Hardswish(Op):
    """x * relu6(x + 3) / 6: nn.Hardswish (MobileNetV3, Howard et al., arXiv:1905.02244)."""

    name = "hardswish"

    def other_flops(self, inputs, output):
        return output.numel


@register
class Hardsigmoid(Op):
    """relu6(x + 3) / 6: nn.Hardsigmoid, MobileNetV3's squeeze-and-excitation gate."""

    name = "hardsigmoid"

    def other_flops(self, inputs, output):
        return output.numel


class GELUParams(Params):
    approximate: Literal["none", "tanh"] = Field(
        "none", description="'none': x * Φ(x) exactly; 'tanh': the tanh approximation.")


@register
class GELU(Op):
    """x * Φ(x): nn.GELU (Hendrycks & Gimpel, arXiv:1606.08415; ViT, Swin, ConvNeXt)."""

    name = "gelu"
    Params = GELUParams

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
