"""2-D convolution."""

from __future__ import annotations

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
    expect_rank,
    pair,
    register,
)
from archdsl.tensor import TensorType


class ConvParams(Params):
    out: PositiveInt = Field(description="Output channels.")
    kernel: Pair = Field(description="Kernel size: k or [kh, kw].")
    stride: Pair = 1
    pad: PadPair | Literal["same"] | None = Field(
        None, description="Zero padding: p, [ph, pw], or `same` (stride 1 only). "
                          "Default: dilation * (kernel - 1) // 2, which keeps the size of an "
                          "odd kernel at stride 1.")
    dilation: Pair = 1
    groups: PositiveInt = 1
    bias: bool = True


@register
class Conv(WindowOp):
    """2-D convolution; `in_channels` comes from the input."""

    name = "conv"
    Params = ConvParams
    absorbs_affine = True
    too_small_help = WindowOp.too_small_help + ", or pad more"

    @property
    def padding(self) -> tuple[int, int]:
        if self.p.pad is None or self.p.pad == "same":
            return tuple(d * (k - 1) // 2 for k, d in zip(self.kernel, self.dilation))
        return pair(self.p.pad)

    def infer(self, inputs):
        x = inputs[0]
        expect_rank(self, x, 3, help="a conv applies to feature maps; check for a stray "
                                     "`flatten` or `linear` before it")
        g = self.p.groups
        if x.channels % g:
            raise OpError("E0401", f"groups={g} does not divide in_channels={x.channels}",
                          arg="groups", help=f"choose groups dividing {x.channels}")
        if self.p.out % g:
            raise OpError("E0401", f"groups={g} does not divide out_channels={self.p.out}",
                          arg="groups", help=f"choose out channels that are a multiple of {g}")
        if self.p.pad == "same":
            if self.stride != (1, 1):
                raise OpError("E0405", "pad='same' needs stride 1", arg="pad",
                              help="give the padding as a number")
            if any(d * (k - 1) % 2 for k, d in zip(self.kernel, self.dilation)):
                raise OpError("E0405", f"pad='same' with kernel {self.p.kernel} would pad "
                              "unevenly", arg="pad", help="use an odd kernel")
        return TensorType((self.p.out, *self.output_size(x)))

    def tensors(self, inputs):
        out = {"weight": Slot((self.p.out, inputs[0].channels // self.p.groups, *self.kernel))}
        if self.p.bias:
            out["bias"] = Slot((self.p.out,))
        return out

    def macs(self, inputs, output):
        kh, kw = self.kernel
        return output.numel * (inputs[0].channels // self.p.groups) * kh * kw

    def other_flops(self, inputs, output):
        return output.numel if self.p.bias else 0

    def with_bias(self):
        return Conv(self.p.model_copy(update={"bias": True}))
