"""Pooling: max, average, adaptive average and global average."""

from __future__ import annotations

import math

from pydantic import Field

from archdsl.ops.base import (
    Op,
    OpError,
    PadPair,
    Pair,
    Params,
    Window,
    WindowOp,
    expect_map,
    pair,
    register,
)
from archdsl.tensor import TensorType


class PoolParams(Params):
    kernel: Pair = Field(description="Window size: k, or one per spatial dim ([kh, kw]).")
    stride: Pair | None = Field(None, description="Default: the kernel size.")
    pad: PadPair = 0
    ceil: bool = Field(False, description="Round the output size up (ceil_mode).")


class MaxPoolParams(PoolParams):
    dilation: Pair = Field(1, description="Spacing of the window's elements (atrous).")


class AvgPoolParams(PoolParams):
    count_include_pad: bool = Field(True, description="Count padded zeros in the average.")


class _Pool(WindowOp):
    Params = PoolParams

    def infer(self, inputs):
        x = inputs[0]
        self.check_map(x)
        rank = x.rank - 1
        for k, p in zip(self.kernel(rank), self.padding(rank)):
            if 2 * p > k:
                raise OpError("E0405", f"padding {p} is more than half the kernel {k}",
                              arg="pad", help="PyTorch pools pad at most kernel // 2")
        return TensorType((x.channels, *self.output_size(x, ceil=self.p.ceil)))

    def other_flops(self, inputs, output):
        return output.numel * math.prod(self.kernel(inputs[0].rank - 1))


@register
class MaxPool(_Pool):
    """nn.MaxPool1d, 2d or 3d, by the input's spatial dims; with `dilation`, an atrous
    window (its receptive field grows by dilation * (kernel - 1))."""

    name = "maxpool"
    positional = 3
    Params = MaxPoolParams


@register
class AvgPool(_Pool):
    """nn.AvgPool1d, 2d or 3d, by the input's spatial dims."""

    name = "avgpool"
    Params = AvgPoolParams

    def infer(self, inputs):
        x = inputs[0]
        out = super().infer(inputs)
        if x.rank == 4:  # nn.AvgPool3d also refuses an input smaller than its kernel
            for axis, size, k in zip("THW", x.spatial, self.kernel(3)):
                if size < k:
                    raise OpError("E0402", f"input {axis}={size} is smaller than the kernel "
                                  f"{k} (nn.AvgPool3d needs it at least as large, padding "
                                  "aside)", arg="kernel", help=self.too_small_help)
        return out


class AdaptiveParams(Params):
    size: Pair = Field(description="Output size: s, or one per spatial dim ([h, w]).")


@register
class AdaptiveAvgPool(Op):
    """nn.AdaptiveAvgPool1d, 2d or 3d: average over windows that give a fixed output
    size."""

    name = "adaptive_avgpool"
    Params = AdaptiveParams

    def size(self, rank: int = 2) -> tuple[int, ...]:
        return pair(self.p.size, rank)

    def infer(self, inputs):
        x = inputs[0]
        expect_map(self, x, ("size",))
        return TensorType((x.channels, *self.size(x.rank - 1)))

    def other_flops(self, inputs, output):
        return inputs[0].numel

    def window(self, inputs):
        # PyTorch's windows: start floor(i*in/out), end ceil((i+1)*in/out); the widest
        # is ceil(in/out) + (1 if out does not divide in); strides vary, so use in // out.
        kernel, stride = [], []
        spatial = inputs[0].spatial
        for size, out in zip(spatial, self.size(len(spatial))):
            kernel.append(-(-size // out) + (1 if size % out else 0))
            stride.append(max(size // out, 1))
        rank = len(spatial)
        return Window(tuple(kernel), tuple(stride), (1,) * rank, (0,) * rank)


@register
class GlobalAvgPool(AdaptiveAvgPool):
    """Global average pooling to (C, 1, 1) (or (C, 1), (C, 1, 1, 1)):
    nn.AdaptiveAvgPool2d((1, 1))."""

    name = "gap"
    Params = Params  # no arguments

    def size(self, rank: int = 2) -> tuple[int, ...]:
        return (1,) * rank
