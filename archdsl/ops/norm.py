"""Normalisation layers."""

from __future__ import annotations

from pydantic import Field

from archdsl.ops.base import Affine, Op, OpError, Params, PositiveInt, Slot, expect_rank, register


class BatchNormParams(Params):
    eps: float = Field(1e-5, gt=0, description="Added to the variance.")
    momentum: float = Field(0.1, ge=0, le=1, description="Running-statistics momentum.")


@register
class BatchNorm(Op):
    """nn.BatchNorm2d over (C, H, W), nn.BatchNorm1d over (F,)."""

    name = "bn"
    Params = BatchNormParams

    def infer(self, inputs):
        x = inputs[0]
        if x.rank not in (1, 3):
            raise OpError("E0403", f"`bn` needs a (C, H, W) or (F,) input, got {x}")
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
        expect_rank(self, inputs[0], 3)
        return inputs[0]

    def other_flops(self, inputs, output):
        return output.numel * (self.p.size + 3)
