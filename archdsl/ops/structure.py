"""Ops that reshape, pass through or randomly drop: flatten, identity, dropout."""

from __future__ import annotations

from pydantic import Field

from archdsl.emit import code
from archdsl.ops.base import Op, OpError, Params, PositiveInt, Window, expect_rank, register
from archdsl.tensor import TensorType


@register
class Flatten(Op):
    """(C, H, W) -> (C*H*W,): torch.flatten(x, 1), or nn.Flatten() in a sequence."""

    name = "flatten"
    functional = True

    def infer(self, inputs):
        return TensorType((inputs[0].numel,))

    def other_flops(self, inputs, output):
        return 0  # a view

    def window(self, inputs):
        # Every output sees the whole input map: a window as large as the map.
        spatial = inputs[0].spatial
        return Window(spatial, spatial, (1,) * len(spatial), (0,) * len(spatial)) \
            if spatial else None

    def module(self, inputs, output, inplace=False):
        return code.Call("nn.Flatten")

    def expression(self, args, inputs, output):
        return code.Call("torch.flatten", (args[0], 1))


@register
class Identity(Op):
    """Passes its input through: nn.Identity()."""

    name = "identity"
    functional = True

    def other_flops(self, inputs, output):
        return 0

    def module(self, inputs, output, inplace=False):
        return code.Call("nn.Identity")

    def expression(self, args, inputs, output):
        return args[0]


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

    def module(self, inputs, output, inplace=False):
        return code.Call("nn.Dropout", (), (("p", self.p.p),))


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

    def module(self, inputs, output, inplace=False):
        # On (N, C, H, W), a 3-D pad's front/back pair pads C.
        extra = self.p.out - inputs[0].channels
        return code.Call("nn.ConstantPad3d", ((0, 0, 0, 0, 0, extra), 0.0), (),
                         ("padding", "value"))
