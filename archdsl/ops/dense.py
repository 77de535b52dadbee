"""Ops of dense prediction: up-convolution, resizing, cropping to another map's size,
and frozen batch norm.

Dense prediction networks (U-Net, FCN, DeepLab, FPN) bring their maps back up to
the input's resolution, and read maps of earlier layers (`from:`) whose size they
take: `resize` and `crop` take a second input for that size.

Receptive field: an upsampling op keeps its input's field and jump (each output
sees what its nearest inputs see; a field cannot be finer than the input's grid);
a transposed conv's output sees ceil(kernel / stride) inputs along each dim.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from archdsl.ops.base import (
    Affine,
    Op,
    OpError,
    PadPair,
    Pair,
    Params,
    PositiveInt,
    Slot,
    Window,
    expect_map,
    pair,
    register,
)
from archdsl.tensor import TensorType


class ConvTransposeParams(Params):
    out: PositiveInt = Field(description="Output channels.")
    kernel: Pair = Field(description="Kernel size: k, or one per spatial dim.")
    stride: Pair = 1
    pad: PadPair = 0
    output_pad: PadPair = Field(0, description="Added to one side of the output "
                                               "(output_padding).")
    groups: PositiveInt = 1
    bias: bool = True


@register
class ConvTranspose(Op):
    """The transposed convolution (up-convolution): nn.ConvTranspose1d/2d/3d; each
    spatial size becomes (in - 1) * stride - 2 * pad + kernel + output_pad."""

    name = "conv_transpose"
    positional = 2
    positional_help = ("in_channels come from the input: PyTorch's `ConvTranspose2d(128, 64, 2)` "
                        "is `conv_transpose(64, 2)`; stride, pad, output_pad, groups and bias are "
                        "keyword-only: `conv_transpose(64, 2, stride=2)`")
    Params = ConvTransposeParams

    def sizes(self, rank: int) -> tuple[tuple[int, ...], ...]:
        return tuple(pair(getattr(self.p, k), rank)
                     for k in ("kernel", "stride", "pad", "output_pad"))

    def infer(self, inputs):
        x = inputs[0]
        expect_map(self, x, ("kernel", "stride", "pad", "output_pad"))
        g = self.p.groups
        for what, count in (("in_channels", x.channels), ("out_channels", self.p.out)):
            if count % g:
                raise OpError("E0401", f"groups={g} does not divide {what}={count}",
                              arg="groups", help=f"choose groups dividing {count}")
        spatial = []
        for size, k, s, p, o in zip(x.spatial, *self.sizes(x.rank - 1)):
            if o >= s:
                raise OpError("E0405", f"output_pad {o} is not smaller than the stride {s}",
                              arg="output_pad", help="PyTorch needs output_pad < stride")
            out = (size - 1) * s - 2 * p + k + o
            if out <= 0:
                raise OpError("E0402", f"the output would be {out} wide: input {size}, kernel "
                              f"{k}, stride {s}, padding {p}", arg="pad",
                              help="pad less")
            spatial.append(out)
        return TensorType((self.p.out, *spatial))

    def tensors(self, inputs):
        x = inputs[0]
        kernel = pair(self.p.kernel, x.rank - 1)
        out = {"weight": Slot((x.channels, self.p.out // self.p.groups, *kernel))}
        if self.p.bias:
            out["bias"] = Slot((self.p.out,))
        return out

    def macs(self, inputs, output):
        # Every input value meets the kernel once for each of its group's outputs.
        x = inputs[0]
        kernel = pair(self.p.kernel, x.rank - 1)
        return x.numel * (self.p.out // self.p.groups) * math.prod(kernel)

    def other_flops(self, inputs, output):
        return output.numel if self.p.bias else 0

    def window(self, inputs):
        rank = inputs[0].rank - 1
        kernel, stride, _, _ = self.sizes(rank)
        seen = tuple(-(-k // s) for k, s in zip(kernel, stride))
        return Window(seen, (1,) * rank, (1,) * rank, (0,) * rank)


class ResizeParams(Params):
    size: Pair | None = Field(None, description="The output's spatial size; or give a "
                                                "second input, whose size it takes.")
    scale: float | None = Field(None, gt=0, description="Or a factor on each spatial size.")
    mode: Literal["nearest", "bilinear", "bicubic", "linear", "trilinear"] = "nearest"
    align_corners: bool | None = Field(None, description="For the linear modes, as in "
                                                         "F.interpolate.")


@register
class Resize(Op):
    """Interpolation to a size (nn.functional.interpolate): to `size`, by `scale`, or to
    the spatial size of a second input (torchvision's segmentation heads resize to the
    input image's size)."""

    name = "resize"
    Params = ResizeParams
    min_inputs = 1
    max_inputs = 2

    def target(self, inputs) -> tuple[int, ...]:
        x = inputs[0]
        rank = x.rank - 1
        given = [self.p.size is not None, self.p.scale is not None, len(inputs) == 2]
        if sum(given) != 1:
            raise OpError("E0405", "`resize` takes one of `size`, `scale` or a second input "
                          "(`from: [x, other]`)", arg="size",
                          help="give exactly one of them")
        if len(inputs) == 2:
            expect_map(self, inputs[1])
            if inputs[1].rank != x.rank:
                raise OpError("E0400", f"`resize` to the size of {inputs[1].kind()} from "
                              f"{x.kind()}: the spatial dims differ")
            return inputs[1].spatial
        if self.p.size is not None:
            return pair(self.p.size, rank)
        return tuple(math.floor(size * self.p.scale) for size in x.spatial)

    def infer(self, inputs):
        x = inputs[0]
        expect_map(self, x, ("size",))
        linear = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}.get(self.p.mode)
        if linear is not None and linear != x.rank - 1:
            raise OpError("E0405", f"mode '{self.p.mode}' needs {linear} spatial dims; the "
                          f"input {x} has {x.rank - 1}", arg="mode")
        if linear is None and self.p.align_corners is not None:
            raise OpError("E0405", "align_corners applies to the linear modes only",
                          arg="align_corners", help="leave it out for 'nearest'")
        size = self.target(inputs)
        if min(size) <= 0:
            raise OpError("E0402", f"the output size would be {size}", arg="scale")
        return TensorType((x.channels, *size))

    def other_flops(self, inputs, output):
        per = {"nearest": 0, "linear": 2, "bilinear": 4, "bicubic": 16, "trilinear": 8}
        return output.numel * per[self.p.mode]


@register
class Crop(Op):
    """The centre of the first input, cut to the spatial size of the second: U-Net's
    crop before copying an encoder map to the decoder (Ronneberger et al., 2015)."""

    name = "crop"
    min_inputs = 2
    max_inputs = 2

    def infer(self, inputs):
        x, like = inputs
        expect_map(self, x)
        expect_map(self, like)
        if like.rank != x.rank or any(a < b for a, b in zip(x.spatial, like.spatial)):
            raise OpError("E0400", f"`crop` cuts {x.kind()} to the size of {like.kind()}: "
                          "it must be at least as large in every spatial dim")
        return TensorType((x.channels, *like.spatial))

    def offsets(self, inputs) -> tuple[int, ...]:
        """Where the crop starts along each spatial dim: (in - out) // 2."""
        x, like = inputs
        return tuple((a - b) // 2 for a, b in zip(x.spatial, like.spatial))

    def other_flops(self, inputs, output):
        return 0  # a view


class FrozenBatchNormParams(Params):
    eps: float = Field(1e-5, gt=0, description="Added to the variance.")


@register
class FrozenBatchNorm(Op):
    """Batch norm with fixed statistics and affine (buffers, never trained):
    torchvision.ops.FrozenBatchNorm2d, as its detection backbones use. Its state_dict
    has weight, bias, running_mean and running_var, all buffers."""

    name = "frozen_bn"
    positional = 0
    positional_help = ("channels come from the input, so `frozen_bn` takes no channel count: did "
                        "you mean `frozen_bn`? eps is keyword-only: `frozen_bn(eps=1e-5)`")
    Params = FrozenBatchNormParams

    def infer(self, inputs):
        expect_map(self, inputs[0])
        return inputs[0]

    def tensors(self, inputs):
        c = inputs[0].channels
        return {k: Slot((c,), parameter=False)
                for k in ("weight", "bias", "running_mean", "running_var")}

    def other_flops(self, inputs, output):
        return 2 * output.numel

    def eval_affine(self) -> Affine:
        return Affine(eps=self.p.eps)


__all__ = ["ConvTranspose", "Resize", "Crop", "FrozenBatchNorm"]
