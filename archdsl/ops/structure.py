"""Ops that reshape, pass through or randomly drop: flatten, identity, dropout."""

from __future__ import annotations

from pydantic import Field

from archdsl.ops.base import Op, OpError, Params, PositiveInt, Window, expect_rank, register
from archdsl.tensor import TensorType


@register
class Flatten(Op):
    """(C, H, W) -> (C*H*W,): torch.flatten(x, 1), or nn.Flatten() in a sequence."""

    name = "flatten"

    def infer(self, inputs):
        return TensorType((inputs[0].numel,))

    def other_flops(self, inputs, output):
        return 0  # a view

    def window(self, inputs):
        # Every output sees the whole input map: a window as large as the map.
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
        if inputs[0].rank not in (1, 3):
            raise OpError("E0403", f"`dropout` needs a (C, H, W) or (F,) input, got {inputs[0]}")
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
