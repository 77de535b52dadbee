"""Pooling: max, average, adaptive average and global average."""

from __future__ import annotations

from pydantic import Field

from archdsl.ops.base import (
    Op,
    OpError,
    PadPair,
    Pair,
    Params,
    Window,
    WindowOp,
    expect_rank,
    pair,
    register,
)
from archdsl.tensor import TensorType


class PoolParams(Params):
    kernel: Pair = Field(description="Window size: k or [kh, kw].")
    stride: Pair | None = Field(None, description="Default: the kernel size.")
    pad: PadPair = 0
    ceil: bool = Field(False, description="Round the output size up (ceil_mode).")


class AvgPoolParams(PoolParams):
    count_include_pad: bool = Field(True, description="Count padded zeros in the average.")


class _Pool(WindowOp):
    Params = PoolParams

    def infer(self, inputs):
        x = inputs[0]
        expect_rank(self, x, 3)
        for k, p in zip(self.kernel, self.padding):
            if 2 * p > k:
                raise OpError("E0405", f"padding {p} is more than half the kernel {k}",
                              arg="pad", help="PyTorch pools pad at most kernel // 2")
        return TensorType((x.channels, *self.output_size(x, ceil=self.p.ceil)))

    def other_flops(self, inputs, output):
        kh, kw = self.kernel
        return output.numel * kh * kw


@register
class MaxPool(_Pool):
    """nn.MaxPool2d."""

    name = "maxpool"


@register
class AvgPool(_Pool):
    """nn.AvgPool2d."""

    name = "avgpool"
    Params = AvgPoolParams


class AdaptiveParams(Params):
    size: Pair = Field(description="Output size: s or [h, w].")


@register
class AdaptiveAvgPool(Op):
    """nn.AdaptiveAvgPool2d: average over windows that give a fixed output size."""

    name = "adaptive_avgpool"
    Params = AdaptiveParams

    @property
    def size(self) -> tuple[int, int]:
        return pair(self.p.size)

    def infer(self, inputs):
        x = inputs[0]
        expect_rank(self, x, 3)
        return TensorType((x.channels, *self.size))

    def other_flops(self, inputs, output):
        return inputs[0].numel

    def window(self, inputs):
        # PyTorch's windows: start floor(i*in/out), end ceil((i+1)*in/out); the widest
        # is ceil(in/out) + (1 if out does not divide in); strides vary, so use in // out.
        kernel, stride = [], []
        for size, out in zip(inputs[0].spatial, self.size):
            kernel.append(-(-size // out) + (1 if size % out else 0))
            stride.append(max(size // out, 1))
        return Window(tuple(kernel), tuple(stride), (1, 1), (0, 0))


@register
class GlobalAvgPool(AdaptiveAvgPool):
    """Global average pooling to (C, 1, 1): nn.AdaptiveAvgPool2d((1, 1))."""

    name = "gap"
    Params = Params  # no arguments

    @property
    def size(self) -> tuple[int, int]:
        return (1, 1)
