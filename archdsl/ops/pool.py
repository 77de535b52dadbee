"""Pooling: max, average, adaptive average and global average."""

from __future__ import annotations

from pydantic import Field

from archdsl.emit import code
from archdsl.ops.base import (
    Op,
    OpError,
    PadPair,
    Pair,
    Params,
    Window,
    compact,
    expect_rank,
    pair,
    register,
    window_output,
)
from archdsl.tensor import TensorType


class PoolParams(Params):
    kernel: Pair = Field(description="Window size: k or [kh, kw].")
    stride: Pair | None = Field(None, description="Default: the kernel size.")
    pad: PadPair = 0
    ceil: bool = Field(False, description="Round the output size up (ceil_mode).")


class AvgPoolParams(PoolParams):
    count_include_pad: bool = Field(True, description="Count padded zeros in the average.")


class _Pool(Op):
    Params = PoolParams
    torch_name = ""

    @property
    def kernel(self) -> tuple[int, int]:
        return pair(self.p.kernel)

    @property
    def stride(self) -> tuple[int, int]:
        return pair(self.p.stride) if self.p.stride is not None else self.kernel

    @property
    def padding(self) -> tuple[int, int]:
        return pair(self.p.pad)

    def infer(self, inputs):
        x = inputs[0]
        expect_rank(self, x, 3)
        for k, p in zip(self.kernel, self.padding):
            if 2 * p > k:
                raise OpError("E0405", f"padding {p} is more than half the kernel {k}",
                              arg="pad", help="PyTorch pools pad at most kernel // 2")
        spatial = []
        for axis, size, k, s, p in zip("HW", x.spatial, self.kernel, self.stride,
                                       self.padding):
            out = window_output(size, k, s, p, ceil=self.p.ceil)
            if out <= 0:
                raise OpError("E0402", f"the output {axis} would be {out}: input {axis}={size}, "
                              f"kernel {k}, stride {s}, padding {p}", arg="kernel",
                              help="the input is too small here; reduce the kernel or the "
                                   "downsampling before it")
            spatial.append(out)
        return TensorType((x.channels, *spatial))

    def other_flops(self, inputs, output):
        kh, kw = self.kernel
        return output.numel * kh * kw

    def window(self, inputs):
        return Window(self.kernel, self.stride, (1, 1), self.padding)

    def _call(self, ctor: str, *extra: tuple[str, object]) -> code.Call:
        return code.Call(ctor, (), (("kernel_size", compact(self.kernel)),
                                    ("stride", compact(self.stride)),
                                    ("padding", compact(self.padding)),
                                    ("ceil_mode", self.p.ceil)) + extra,
                         (), (("padding", 0), ("ceil_mode", False), ("count_include_pad", True)))


@register
class MaxPool(_Pool):
    """nn.MaxPool2d."""

    name = "maxpool"

    def module(self, inputs, output, inplace=False):
        return self._call("nn.MaxPool2d")


@register
class AvgPool(_Pool):
    """nn.AvgPool2d."""

    name = "avgpool"
    Params = AvgPoolParams

    def module(self, inputs, output, inplace=False):
        return self._call("nn.AvgPool2d", ("count_include_pad", self.p.count_include_pad))


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

    def module(self, inputs, output, inplace=False):
        return code.Call("nn.AdaptiveAvgPool2d", (self.size,), (), ("output_size",))


@register
class GlobalAvgPool(AdaptiveAvgPool):
    """Global average pooling to (C, 1, 1): nn.AdaptiveAvgPool2d((1, 1))."""

    name = "gap"
    Params = Params  # no arguments

    @property
    def size(self) -> tuple[int, int]:
        return (1, 1)
