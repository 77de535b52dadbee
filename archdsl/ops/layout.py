"""Ops that move channels without arithmetic: chunk and channel_shuffle (ShuffleNetV2).

Both cost no parameters and no other_flops: chunk is a view of its input, and
channel_shuffle a copy in a new order, like concat.
"""

from __future__ import annotations

from pydantic import Field

from archdsl.ops.base import NonNegativeInt, Op, OpError, Params, PositiveInt, register


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
