"""Convolution over 1, 2 or 3 spatial dims (nn.Conv1d, nn.Conv2d, nn.Conv3d)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from archdsl.ops.base import (
    OpError,
    PadPair,
    Pair,
    Params,
    PositiveInt,
    Slot,
    WindowOp,
    pair,
    register,
)
from archdsl.tensor import TensorType


class ConvParams(Params):
    out: PositiveInt = Field(description="Output channels.")
    kernel: Pair = Field(description="Kernel size: k, or one per spatial dim ([kh, kw]).")
    stride: Pair = 1
    pad: PadPair | Literal["same"] | None = Field(
        None, description="Zero padding: p, one per spatial dim, or `same` (stride 1 only). "
                          "Default: dilation * (kernel - 1) // 2, which keeps the size of an "
                          "odd kernel at stride 1.")
    dilation: Pair = 1
    groups: PositiveInt = 1
    bias: bool = True


@register
class Conv(WindowOp):
    """Convolution over the spatial dims of a (C, L), (C, H, W) or (C, T, H, W) map;
    `in_channels` comes from the input."""

    name = "conv"
    positional = 2
    positional_help = ("in_channels come from the input: PyTorch's `Conv2d(3, 16, 3)` is `conv(16,"
                       " 3)`; stride, pad, dilation, groups and bias are keyword-only: `conv(16, "
                        "3, stride=2)`")
    Params = ConvParams
    absorbs_affine = True
    too_small_help = WindowOp.too_small_help + ", or pad more"

    def padding(self, rank: int = 2) -> tuple[int, ...]:
        if self.p.pad is None or self.p.pad == "same":
            return tuple(d * (k - 1) // 2 for k, d in zip(self.kernel(rank),
                                                          self.dilation(rank)))
        return pair(self.p.pad, rank)

    def infer(self, inputs):
        x = inputs[0]
        self.check_map(x)
        rank = x.rank - 1
        g = self.p.groups
        if x.channels % g:
            raise OpError("E0401", f"groups={g} does not divide in_channels={x.channels}",
                          arg="groups", help=f"choose groups dividing {x.channels}")
        if self.p.out % g:
            raise OpError("E0401", f"groups={g} does not divide out_channels={self.p.out}",
                          arg="groups", help=f"choose out channels that are a multiple of {g}")
        if self.p.pad == "same":
            if set(self.stride(rank)) != {1}:
                raise OpError("E0405", "pad='same' needs stride 1", arg="pad",
                              help="give the padding as a number")
            if any(d * (k - 1) % 2 for k, d in zip(self.kernel(rank), self.dilation(rank))):
                raise OpError("E0405", f"pad='same' with kernel {self.p.kernel} would pad "
                              "unevenly", arg="pad", help="use an odd kernel")
        return TensorType((self.p.out, *self.output_size(x)))

    def tensors(self, inputs):
        kernel = self.kernel(inputs[0].rank - 1)
        out = {"weight": Slot((self.p.out, inputs[0].channels // self.p.groups, *kernel))}
        if self.p.bias:
            out["bias"] = Slot((self.p.out,))
        return out

    def macs(self, inputs, output):
        kernel = self.kernel(inputs[0].rank - 1)
        return output.numel * (inputs[0].channels // self.p.groups) * math.prod(kernel)

    def other_flops(self, inputs, output):
        return output.numel if self.p.bias else 0

    def with_bias(self):
        return Conv(self.p.model_copy(update={"bias": True}))
