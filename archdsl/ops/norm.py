"""Normalisation layers: batch, layer, group and local response norm."""

from __future__ import annotations

from pydantic import Field

from archdsl.ops.base import Affine, Op, OpError, Params, PositiveInt, Slot, expect_map, register


class BatchNormParams(Params):
    eps: float = Field(1e-5, gt=0, description="Added to the variance.")
    momentum: float = Field(0.1, ge=0, le=1, description="Running-statistics momentum.")


@register
class BatchNorm(Op):
    """nn.BatchNorm1d over (F,) or (C, L), nn.BatchNorm2d over (C, H, W), nn.BatchNorm3d
    over (C, T, H, W)."""

    name = "bn"
    positional = 0
    positional_help = ("channels come from the input, so `bn` takes no channel count: did you mean"
                       " `bn`? eps and momentum are keyword-only: `bn(eps=1e-5)`")
    Params = BatchNormParams

    def infer(self, inputs):
        x = inputs[0]
        if x.rank > 4 or x.features_last:
            raise OpError("E0403", f"`bn` needs a channels-first feature map or a (F,) "
                          f"vector, but its input is {x.kind()}",
                          help="`layer_norm` normalises the features of each position")
        return x

    def tensors(self, inputs):
        c = inputs[0].channels
        return {"weight": Slot((c,)), "bias": Slot((c,)),
                "running_mean": Slot((c,), False), "running_var": Slot((c,), False),
                "num_batches_tracked": Slot((), False)}

    def other_flops(self, inputs, output):
        return 2 * output.numel  # scale and shift, once statistics are known

    def eval_affine(self) -> Affine:
        return Affine(eps=self.p.eps)


class LRNParams(Params):
    size: PositiveInt = Field(description="Number of neighbouring channels.")
    alpha: float = Field(1e-4, description="Scale (PyTorch divides it by `size`).")
    beta: float = Field(0.75, description="Exponent.")
    k: float = Field(1.0, description="Additive constant.")


@register
class LocalResponseNorm(Op):
    """nn.LocalResponseNorm across channels (AlexNet, ZFNet)."""

    name = "lrn"
    Params = LRNParams

    def infer(self, inputs):
        expect_map(self, inputs[0])
        return inputs[0]

    def other_flops(self, inputs, output):
        return output.numel * (self.p.size + 3)


class LayerNormParams(Params):
    eps: float = Field(1e-5, gt=0, description="Added to the variance.")
    affine: bool = Field(True, description="Learn a per-feature scale and shift.")


@register
class LayerNorm(Op):
    """Normalisation over the features of each position: nn.LayerNorm over the last dim
    of a features-last tensor or a vector (ViT, Swin); over the channels of a
    channels-first map at each position, torchvision's LayerNorm2d (ConvNeXt)."""

    name = "layer_norm"
    positional = 0
    positional_help = ("the normalised features come from the input, so `layer_norm` takes no "
                        "size: did you mean `layer_norm`? eps and affine are keyword-only: "
                        "`layer_norm(eps=1e-6)`")
    Params = LayerNormParams

    def tensors(self, inputs):
        c = inputs[0].channels
        return {"weight": Slot((c,)), "bias": Slot((c,))} if self.p.affine else {}

    def other_flops(self, inputs, output):
        # Mean and variance (two passes), then normalise, scale and shift.
        return (5 if self.p.affine else 3) * output.numel


class GroupNormParams(Params):
    groups: PositiveInt = Field(description="Groups the channels are split into.")
    eps: float = Field(1e-5, gt=0, description="Added to the variance.")
    affine: bool = Field(True, description="Learn a per-channel scale and shift.")


@register
class GroupNorm(Op):
    """nn.GroupNorm: normalisation over groups of channels of each sample (Wu & He,
    arXiv:1803.08494)."""

    name = "group_norm"
    positional = 1
    positional_help = ("channels come from the input: PyTorch's `GroupNorm(32, 256)` is "
                        "`group_norm(32)`; eps and affine are keyword-only: `group_norm(32, "
                        "eps=1e-6)`")
    Params = GroupNormParams

    def infer(self, inputs):
        x = inputs[0]
        if x.features_last or x.rank < 2:
            raise OpError("E0403", f"`group_norm` needs a channels-first feature map, but its "
                          f"input is {x.kind()}")
        if x.channels % self.p.groups:
            raise OpError("E0401", f"groups={self.p.groups} does not divide "
                          f"channels={x.channels}", arg="groups",
                          help=f"choose groups dividing {x.channels}")
        return x

    def tensors(self, inputs):
        c = inputs[0].channels
        return {"weight": Slot((c,)), "bias": Slot((c,))} if self.p.affine else {}

    def other_flops(self, inputs, output):
        return (5 if self.p.affine else 3) * output.numel
