"""2-D convolution."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from archdsl.emit import code
from archdsl.ops.base import (
    Op,
    OpError,
    PadPair,
    Pair,
    Params,
    PositiveInt,
    Slot,
    Window,
    compact,
    expect_rank,
    pair,
    register,
    window_output,
)
from archdsl.tensor import TensorType

CONV2D_DEFAULTS = (("stride", 1), ("padding", 0), ("dilation", 1), ("groups", 1),
                   ("bias", True))


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
class Conv(Op):
    """nn.Conv2d; `in_channels` comes from the input."""

    name = "conv"
    Params = ConvParams

    @property
    def kernel(self) -> tuple[int, int]:
        return pair(self.p.kernel)

    @property
    def stride(self) -> tuple[int, int]:
        return pair(self.p.stride)

    @property
    def dilation(self) -> tuple[int, int]:
        return pair(self.p.dilation)

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
        spatial = []
        for axis, size, k, s, p, d in zip("HW", x.spatial, self.kernel, self.stride,
                                          self.padding, self.dilation):
            out = window_output(size, k, s, p, d)
            if out <= 0:
                raise OpError("E0402", f"the output {axis} would be {out}: input {axis}={size}, "
                              f"kernel {k}, stride {s}, padding {p}, dilation {d}",
                              arg="kernel", help="the input is too small here; reduce the "
                              "kernel or the downsampling before it, or pad more")
            spatial.append(out)
        return TensorType((self.p.out, *spatial))

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

    def window(self, inputs):
        return Window(self.kernel, self.stride, self.dilation, self.padding)

    def module(self, inputs, output, inplace=False):
        padding = "same" if self.p.pad == "same" else compact(self.padding)
        return code.Call(
            "nn.Conv2d", (inputs[0].channels, self.p.out, compact(self.kernel)),
            (("stride", compact(self.stride)), ("padding", padding),
             ("dilation", compact(self.dilation)), ("groups", self.p.groups),
             ("bias", self.p.bias)),
            ("in_channels", "out_channels", "kernel_size"), CONV2D_DEFAULTS)
