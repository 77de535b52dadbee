"""Element-wise activations: the shape is kept, one operation per element."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from archdsl.ops.base import Op, Params, register


class Activation(Op):
    """An element-wise function: its output has its input's shape, and costs one
    operation per element (other work, not MACs)."""

    def other_flops(self, inputs, output):
        return output.numel


@register
class ReLU(Activation):
    """nn.ReLU; in place wherever nothing else reads its input."""

    name = "relu"


@register
class ReLU6(Activation):
    """min(max(x, 0), 6): nn.ReLU6 (MobileNetV2, Sandler et al., arXiv:1801.04381)."""

    name = "relu6"


@register
class SiLU(Activation):
    """x * sigmoid(x): nn.SiLU, swish (EfficientNet, Tan & Le, arXiv:1905.11946)."""

    name = "silu"


@register
class Hardswish(Activation):
    """x * relu6(x + 3) / 6: nn.Hardswish (MobileNetV3, Howard et al., arXiv:1905.02244)."""

    name = "hardswish"


@register
class Hardsigmoid(Activation):
    """relu6(x + 3) / 6: nn.Hardsigmoid, MobileNetV3's squeeze-and-excitation gate."""

    name = "hardsigmoid"


class GELUParams(Params):
    approximate: Literal["none", "tanh"] = Field(
        "none", description="'none': x * Φ(x) exactly; 'tanh': the tanh approximation.")


@register
class GELU(Activation):
    """x * Φ(x): nn.GELU (Hendrycks & Gimpel, arXiv:1606.08415; ViT, Swin, ConvNeXt)."""

    name = "gelu"
    Params = GELUParams


@register
class Tanh(Activation):
    """nn.Tanh (LeNet's squashing function)."""

    name = "tanh"


@register
class Sigmoid(Activation):
    """nn.Sigmoid."""

    name = "sigmoid"
