"""Ops that move values without arithmetic.

chunk and channel_shuffle (ShuffleNetV2) move channels; permute, transpose,
flatten, reshape and select move dims, as their torch namesakes do; patch_merge
gathers 2x2 neighbourhoods into channels (Swin). None has parameters or costs
other_flops: each is a view of its input or a copy in a new order, like concat.

Dims are counted as torch counts them, the batch first: `permute(0, 2, 3, 1)` is
torchvision's Permute([0, 2, 3, 1]), from (N, C, H, W) to (N, H, W, C). The batch
stays first. reshape alone takes the shape of one sample, as `input:` does.
"""

from __future__ import annotations

import math

from pydantic import Field, field_validator

from archdsl.ops.base import (
    GLOBAL,
    NonNegativeInt,
    Op,
    OpError,
    Params,
    PositiveInt,
    Window,
    register,
)
from archdsl.tensor import TensorType


class ChunkParams(Params):
    chunks: PositiveInt = Field(description="Equal slices the channels are cut into.")
    index: NonNegativeInt = Field(description="Which slice to keep, from 0.")


@register
class Chunk(Op):
    """The `index`-th of `chunks` equal slices of the channels: x.chunk(chunks, 1)[index],
    ShuffleNetV2's channel split (Ma et al., arXiv:1807.11164)."""

    name = "chunk"
    Params = ChunkParams

    def infer(self, inputs):
        x = inputs[0]
        chunks, index = self.p.chunks, self.p.index
        # torch.chunk makes the last slice smaller when `chunks` does not divide; a
        # split into unequal parts is almost always a wrong channel count.
        if x.channels % chunks:
            raise OpError("E0401", f"chunks={chunks} does not divide channels={x.channels}",
                          arg="chunks", help=f"choose chunks dividing {x.channels}")
        if index >= chunks:
            raise OpError("E0405", f"index={index} is out of range for chunks={chunks}",
                          arg="index", help=f"give an index from 0 to {chunks - 1}")
        return x.with_channels(x.channels // chunks)

    def other_flops(self, inputs, output):
        return 0  # a view


class ChannelShuffleParams(Params):
    groups: PositiveInt = Field(description="Groups whose channels are interleaved.")


@register
class ChannelShuffle(Op):
    """The channels as a (groups, C / groups) grid, transposed: channel c*groups + g of the
    output is channel g*(C/groups) + c of the input (ShuffleNet, Zhang et al.,
    arXiv:1707.01083; torchvision's `channel_shuffle`)."""

    name = "channel_shuffle"
    Params = ChannelShuffleParams

    def infer(self, inputs):
        x = inputs[0]
        if x.channels % self.p.groups:
            raise OpError("E0401", f"groups={self.p.groups} does not divide "
                          f"channels={x.channels}", arg="groups",
                          help=f"choose groups dividing {x.channels}")
        return x

    def other_flops(self, inputs, output):
        return 0  # a copy in another order, no arithmetic


def sample_axis(x: TensorType, dim: int, arg: str) -> int:
    """A dim as torch counts it (0 the batch, negative from the end) as an axis of one
    sample's shape; E0405 for the batch or a dim out of range."""
    axis = dim - 1 if dim >= 0 else x.rank + dim
    if dim == 0 or not 0 <= axis < x.rank:
        valid = f"1 to {x.rank} (or -{x.rank} to -1)"
        raise OpError("E0405", f"dim {dim} is {'the batch' if dim == 0 else 'out of range'} "
                      f"for {x.kind()}", arg=arg,
                      help=f"count dims as torch does, the batch as 0: give {valid}")
    return axis


class PermuteParams(Params):
    dims: tuple[NonNegativeInt, ...] = Field(
        description="The new order of the dims, the batch (0) first: [0, 2, 3, 1].")


@register
class Permute(Op):
    """The dims in a new order, the batch first: x.permute(dims). Moving the channels
    last makes a features-last tensor (for `linear` and `layer_norm` over them), moving
    them first a feature map again."""

    name = "permute"
    Params = PermuteParams

    @classmethod
    def bind(cls, call):
        # permute(0, 2, 3, 1), as torch writes it: the positional args are the dims.
        if len(call.args) > 1 and not call.kwargs:
            call = call.with_args((tuple(call.args),))
        return super().bind(call)

    def infer(self, inputs):
        x = inputs[0]
        dims = self.p.dims
        if sorted(dims) != list(range(x.rank + 1)) or dims[0] != 0:
            raise OpError("E0405", f"permute({', '.join(map(str, dims))}) does not reorder the "
                          f"dims 0..{x.rank} of {x.kind()} with the batch (0) first",
                          arg="dims", help=f"give each of 0..{x.rank} once, 0 first")
        return permuted(x, tuple(d - 1 for d in dims[1:]))

    def other_flops(self, inputs, output):
        return 0  # a view

    def window(self, inputs):
        return None  # positions keep their place: pointwise for the receptive field


def permuted(x: TensorType, order: tuple[int, ...]) -> TensorType:
    """`x` with its axes in `order` (axes of one sample); the features must end up first
    or last."""
    where = order.index(x.channel_axis)
    if x.rank > 1 and where not in (0, x.rank - 1):
        raise OpError("E0405", f"the channels of {x.kind()} would end up in the middle",
                      arg="dims", help="move the channels first or last")
    return TensorType(tuple(x.dims[a] for a in order), x.rank > 1 and where == x.rank - 1)


class TransposeParams(Params):
    dim0: int = Field(description="One dim, the batch being 0.")
    dim1: int = Field(description="The other dim.")


@register
class Transpose(Op):
    """Two dims swapped: torch.transpose(x, dim0, dim1)."""

    name = "transpose"
    Params = TransposeParams

    def infer(self, inputs):
        x = inputs[0]
        a, b = sample_axis(x, self.p.dim0, "dim0"), sample_axis(x, self.p.dim1, "dim1")
        order = list(range(x.rank))
        order[a], order[b] = b, a
        return permuted(x, tuple(order))

    def other_flops(self, inputs, output):
        return 0  # a view

    def order(self, x: TensorType) -> tuple[int, ...]:
        """The permutation, batch included, that this transpose is."""
        a, b = sample_axis(x, self.p.dim0, "dim0") + 1, sample_axis(x, self.p.dim1, "dim1") + 1
        order = list(range(x.rank + 1))
        order[a], order[b] = b, a
        return tuple(order)


class ReshapeParams(Params):
    shape: tuple[int, ...] = Field(
        description="The shape of one sample, without the batch; one dim may be -1.")

    @field_validator("shape")
    @classmethod
    def _dims(cls, shape):
        if not shape or any(d == 0 or d < -1 for d in shape) or shape.count(-1) > 1:
            raise ValueError("give positive dims and at most one -1")
        return shape


@register
class Reshape(Op):
    """The same values in another shape (one sample's; the batch stays): x.reshape(N,
    *shape). The result is features-last where the input was and its last dim is kept."""

    name = "reshape"
    Params = ReshapeParams

    @classmethod
    def bind(cls, call):
        if len(call.args) > 1 and not call.kwargs:  # reshape(768, -1)
            call = call.with_args((tuple(call.args),))
        return super().bind(call)

    def infer(self, inputs):
        x = inputs[0]
        shape = list(self.p.shape)
        known = math.prod(d for d in shape if d != -1)
        if -1 in shape:
            if x.numel % known:
                raise OpError("E0405", f"cannot reshape {x.kind()} ({x.numel} values) into "
                              f"{tuple(shape)}: {known} does not divide it", arg="shape")
            shape[shape.index(-1)] = x.numel // known
        elif known != x.numel:
            raise OpError("E0405", f"cannot reshape {x.kind()} ({x.numel} values) into "
                          f"{tuple(shape)} ({known} values)", arg="shape",
                          help="the shape must hold as many values as the input")
        last = x.features_last and len(shape) > 1 and shape[-1] == x.dims[-1]
        return TensorType(tuple(shape), last)

    def other_flops(self, inputs, output):
        return 0  # a view where the memory allows, else a copy

    def window(self, inputs):
        return GLOBAL


class SelectParams(Params):
    dim: int = Field(description="The dim to index, the batch being 0.")
    index: int = Field(description="The position to keep (negative from the end).")


@register
class Select(Op):
    """One position along a dim, that dim removed: torch.select(x, dim, index); ViT's
    class token is select(1, 0), x[:, 0]."""

    name = "select"
    Params = SelectParams

    def infer(self, inputs):
        x = inputs[0]
        axis = sample_axis(x, self.p.dim, "dim")
        size = x.dims[axis]
        if not -size <= self.p.index < size:
            raise OpError("E0405", f"index {self.p.index} is out of range for dim "
                          f"{self.p.dim} of size {size}", arg="index",
                          help=f"give an index from 0 to {size - 1} (or -{size} to -1)")
        if axis == x.channel_axis:
            raise OpError("E0405", f"select would remove the channels of {x.kind()}",
                          arg="dim", help="select a position, not a channel; `chunk` "
                                          "splits channels")
        dims = x.dims[:axis] + x.dims[axis + 1:]
        return TensorType(dims, x.features_last and len(dims) > 1)

    def other_flops(self, inputs, output):
        return 0  # a view

    def window(self, inputs):
        return GLOBAL


@register
class PatchMerge(Op):
    """Each 2x2 neighbourhood of a channels-last map gathered into its channels:
    (H, W, C) -> (ceil(H/2), ceil(W/2), 4C), odd sizes padded with zeros. Swin's patch
    merging before its norm and reduction (Liu et al., arXiv:2103.14030), with
    torchvision's order of the four neighbours."""

    name = "patch_merge"

    def infer(self, inputs):
        x = inputs[0]
        if x.rank != 3 or not x.features_last:
            raise OpError("E0403", f"`patch_merge` needs a (H, W, C) channels-last map, but "
                          f"its input is {x.kind()}",
                          help="permute the channels last first: `permute(0, 2, 3, 1)`")
        h, w, c = x.dims
        return TensorType(((h + 1) // 2, (w + 1) // 2, 4 * c), True)

    def other_flops(self, inputs, output):
        return 0  # a copy in another order

    def window(self, inputs):
        return Window((2, 2), (2, 2), (1, 1), (0, 0))
