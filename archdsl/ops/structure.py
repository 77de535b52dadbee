"""Ops that flatten, pass through or randomly drop: flatten, identity, dropout."""

from __future__ import annotations

import math

from pydantic import Field

from archdsl.ops.base import Op, OpError, Params, PositiveInt, Window, expect_rank, register
from archdsl.ops.layout import sample_axis
from archdsl.tensor import TensorType


class FlattenParams(Params):
    start: int = Field(1, description="The first dim to flatten, the batch being 0.")
    end: int = Field(-1, description="The last dim to flatten.")


@register
class Flatten(Op):
    """Dims `start` to `end` as one: torch.flatten(x, start, end), or nn.Flatten(start,
    end) in a sequence. By default a map becomes a vector, (C, H, W) -> (C*H*W,);
    flatten(2) makes (C, H, W) a (C, H*W) map."""

    name = "flatten"
    Params = FlattenParams

    def axes(self, x: TensorType) -> tuple[int, int]:
        """The first and last axis of one sample that are flattened."""
        first = sample_axis(x, self.p.start, "start")
        last = sample_axis(x, self.p.end, "end")
        if last < first:
            raise OpError("E0405", f"flatten({self.p.start}, {self.p.end}) ends before it "
                          f"starts on {x.kind()}", arg="end",
                          help="give an end dim at or after the start dim")
        return first, last

    def infer(self, inputs):
        x = inputs[0]
        first, last = self.axes(x)
        dims = x.dims[:first] + (math.prod(x.dims[first:last + 1]),) + x.dims[last + 1:]
        return TensorType(dims, x.features_last and len(dims) > 1)

    def other_flops(self, inputs, output):
        return 0  # a view

    def window(self, inputs):
        # Every output may see the whole input map: a window as large as the map.
        spatial = inputs[0].spatial
        return Window(spatial, spatial, (1,) * len(spatial), (0,) * len(spatial)) \
            if spatial else None


@register
class Identity(Op):
    """Passes its input through: nn.Identity()."""

    name = "identity"

    def other_flops(self, inputs, output):
        return 0


class DropoutParams(Params):
    p: float = Field(0.5, ge=0, le=1, description="Probability of zeroing an element.")


@register
class Dropout(Op):
    """nn.Dropout during training; the identity in eval mode."""

    name = "dropout"
    Params = DropoutParams

    def infer(self, inputs):
        return inputs[0]

    def other_flops(self, inputs, output):
        return output.numel  # the mask multiply, in training

    @property
    def training_only(self) -> bool:
        return True


class PadChannelsParams(Params):
    out: PositiveInt = Field(description="Channels after padding with zeros.")


@register
class PadChannels(Op):
    """Zero channels appended to reach `out` (the parameter-free "option A" shortcut)."""

    name = "pad_channels"
    Params = PadChannelsParams

    def infer(self, inputs):
        x = inputs[0]
        expect_rank(self, x, 3)
        if self.p.out < x.channels:
            raise OpError("E0405", f"pad_channels({self.p.out}) cannot shrink {x.channels} "
                          "channels", arg="out", help=f"give at least {x.channels}")
        return x.with_channels(self.p.out)

    def other_flops(self, inputs, output):
        return 0  # a copy
