"""Attention over tokens: multi-head self-attention (ViT) and shifted-window attention
(Swin).

MACs count the projections (as linear layers) and the two matrix products of
attention, q·kᵀ and (softmax)·v, once each: L·L·D multiply-accumulates each for L
tokens of width D. The softmax, the scaling and the biases are other work.
"""

from __future__ import annotations

from pydantic import Field

from archdsl.ops.base import (
    GLOBAL,
    NonNegativeInt,
    Op,
    OpError,
    Params,
    PositiveInt,
    Slot,
    Window,
    register,
)
from archdsl.tensor import TensorType


def _check_heads(x: TensorType, heads: int) -> None:
    if x.channels % heads:
        raise OpError("E0401", f"heads={heads} does not divide the width {x.channels}",
                      arg="heads", help=f"choose heads dividing {x.channels}")


class AttentionParams(Params):
    heads: PositiveInt = Field(description="Attention heads; they divide the width.")
    dropout: float = Field(0.0, ge=0, le=1, description="Dropout on the attention weights.")


@register
class Attention(Op):
    """Multi-head self-attention over a (L, D) sequence (Vaswani et al.,
    arXiv:1706.03762): nn.MultiheadAttention(D, heads, batch_first=True) called with the
    sequence as query, key and value, as torchvision's ViT does; its state_dict is
    in_proj_weight, in_proj_bias and out_proj."""

    name = "attention"
    positional = 1
    positional_help = ("the embedding size comes from the input: PyTorch's "
                        "`MultiheadAttention(768, 12)` is `attention(12)`; dropout is keyword-only:"
                       " `attention(12, dropout=0.1)`")
    Params = AttentionParams
    needs_class = True  # called as attn(x, x, x): not a link of nn.Sequential

    def infer(self, inputs):
        x = inputs[0]
        if x.rank != 2 or not x.features_last:
            raise OpError("E0403", f"`attention` needs a (L, D) token sequence, but its "
                          f"input is {x.kind()}",
                          help="make tokens of a map first: `flatten(2)` then "
                               "`permute(0, 2, 1)`")
        _check_heads(x, self.p.heads)
        return x

    def tensors(self, inputs):
        d = inputs[0].channels
        return {"in_proj_weight": Slot((3 * d, d)), "in_proj_bias": Slot((3 * d,)),
                "out_proj.weight": Slot((d, d)), "out_proj.bias": Slot((d,))}

    def window(self, inputs):
        return GLOBAL  # every token attends to every token

    def macs(self, inputs, output):
        length, d = inputs[0].dims
        return 4 * length * d * d + 2 * length * length * d

    def other_flops(self, inputs, output):
        length, d = inputs[0].dims
        # Biases of the four projections, the scaling of q, and the softmax (an exp,
        # a sum and a division per score).
        return 5 * length * d + 3 * self.p.heads * length * length


class WindowAttentionParams(Params):
    heads: PositiveInt = Field(description="Attention heads; they divide the channels.")
    window: PositiveInt = Field(description="The side of the square windows, in positions.")
    shift: NonNegativeInt = Field(0, description="The cyclic shift of the windows (Swin's "
                                                 "shifted blocks: window // 2).")
    dropout: float = Field(0.0, ge=0, le=1, description="Dropout after the projection.")
    attention_dropout: float = Field(0.0, ge=0, le=1,
                                     description="Dropout on the attention weights.")


@register
class WindowAttention(Op):
    """Multi-head self-attention within square windows of a (H, W, C) channels-last map,
    the windows shifted by `shift`, with a learned relative position bias: Swin's
    (shifted) window attention (Liu et al., arXiv:2103.14030), with the state_dict of
    torchvision's ShiftedWindowAttention (qkv, proj, relative_position_bias_table and
    the relative_position_index buffer). The map is padded to whole windows; along a
    side the window covers, the shift is 0, as torchvision does."""

    name = "window_attention"
    positional = 3  # a 4th is torchvision's (dim, window_size, shift_size, num_heads)
    Params = WindowAttentionParams

    def infer(self, inputs):
        x = inputs[0]
        if x.rank != 3 or not x.features_last:
            raise OpError("E0403", f"`window_attention` needs a (H, W, C) channels-last map, "
                          f"but its input is {x.kind()}",
                          help="permute the channels last first: `permute(0, 2, 3, 1)`")
        _check_heads(x, self.p.heads)
        if self.p.shift >= self.p.window:
            raise OpError("E0405", f"shift {self.p.shift} is not smaller than the window "
                          f"{self.p.window}", arg="shift",
                          help=f"Swin shifts by half a window: {self.p.window // 2}")
        return x

    def window(self, inputs):
        # A position attends to the others of its window: one window of positions.
        w = self.p.window
        return Window((w, w), (1, 1), (1, 1), (0, 0))

    def padded_positions(self, x: TensorType) -> int:
        w = self.p.window
        h, width = (-(-size // w) * w for size in x.spatial)
        return h * width

    def tensors(self, inputs):
        c, w = inputs[0].channels, self.p.window
        return {"qkv.weight": Slot((3 * c, c)), "qkv.bias": Slot((3 * c,)),
                "proj.weight": Slot((c, c)), "proj.bias": Slot((c,)),
                "relative_position_bias_table": Slot(((2 * w - 1) ** 2, self.p.heads)),
                "relative_position_index": Slot((w ** 4,), parameter=False)}

    def macs(self, inputs, output):
        x = inputs[0]
        c, length, area = x.channels, self.padded_positions(x), self.p.window ** 2
        # The projections over the padded map, and q·kᵀ and ·v within each window.
        return 4 * length * c * c + 2 * length * area * c

    def other_flops(self, inputs, output):
        x = inputs[0]
        c, length, area = x.channels, self.padded_positions(x), self.p.window ** 2
        # Biases, scaling, the position bias, the mask and the softmax per score.
        return 5 * length * c + 5 * self.p.heads * length * area
