"""Learnable tensors that are not a layer's weights: a per-channel scale, a class token,
a position embedding.

Each is an attribute of the module that holds it (`layer_scale`, `class_token`,
`pos_embedding`: state_dict keys without `.weight`, as torchvision names them), so
it is always named and its module is a generated class (the `needs_class` trait).
Each op states the value its tensor starts from.
"""

from __future__ import annotations

from pydantic import Field

from archdsl.ops.base import Op, OpError, Params, Slot, register
from archdsl.tensor import TensorType


class ScaleParams(Params):
    init: float = Field(1.0, description="The value every channel's scale starts from.")


@register
class Scale(Op):
    """A learned scale per channel, times the input: ConvNeXt's and CaiT's layer scale
    (Touvron et al., arXiv:2103.17239). The tensor is (C, 1, 1) for a (C, H, W) map, as
    torchvision's CNBlock.layer_scale is, and (D,) for a features-last input."""

    name = "channel_scale"
    Params = ScaleParams
    needs_class = True

    def shape(self, x: TensorType) -> tuple[int, ...]:
        return (x.channels,) if x.features_last or x.rank == 1 else \
            (x.channels,) + (1,) * (x.rank - 1)

    def tensors(self, inputs):
        return {"": Slot(self.shape(inputs[0]))}

    def other_flops(self, inputs, output):
        return output.numel


@register
class ClassToken(Op):
    """A learned token put before a (L, D) sequence: (L, D) -> (L + 1, D), ViT's class
    token (Dosovitskiy et al., arXiv:2010.11929). The tensor is (1, 1, D), zeros at the
    start, as torchvision's VisionTransformer.class_token."""

    name = "class_token"
    needs_class = True

    def infer(self, inputs):
        x = inputs[0]
        if x.rank != 2 or not x.features_last:
            raise OpError("E0403", f"`class_token` needs a (L, D) token sequence, but its "
                          f"input is {x.kind()}",
                          help="make tokens of a map first: `flatten(2)` then "
                               "`permute(0, 2, 1)`")
        return TensorType((x.dims[0] + 1, x.dims[1]), True)

    def tensors(self, inputs):
        return {"": Slot((1, 1, inputs[0].channels))}

    def other_flops(self, inputs, output):
        return 0  # a copy


class PositionEmbeddingParams(Params):
    std: float = Field(0.02, ge=0, description="Standard deviation of its normal init.")


@register
class PositionEmbedding(Op):
    """A learned tensor of the input's shape added to it: ViT's position embedding,
    (1, L, D) from a normal distribution (std 0.02) as torchvision's
    Encoder.pos_embedding."""

    name = "position_embedding"
    Params = PositionEmbeddingParams
    needs_class = True

    def tensors(self, inputs):
        return {"": Slot((1,) + inputs[0].dims)}

    def other_flops(self, inputs, output):
        return output.numel
