"""Ops that drop paths at random in training: stochastic depth and FractalNet's join."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from archdsl.ops.base import Affine, Op, OpError, Params, SameShapeMerge, register


class DropPathParams(Params):
    survival: float = Field(gt=0, le=1, description="Probability of keeping the path.")
    mode: Literal["batch", "sample"] = "batch"
    rescale: Literal["test", "train"] = "test"
    linear_to: float | None = Field(
        None, gt=0, le=1, description="Set by a residual's `drop_path: linear(p)`: the "
                                      "survival decays over the network's residuals to p.")


@register
class DropPath(Op):
    """Stochastic depth on a residual body (identity-shaped)."""

    name = "drop_path"
    Params = DropPathParams

    def other_flops(self, inputs, output):
        return output.numel

    @property
    def training_only(self) -> bool:
        return self.p.rescale == "train"  # scaled in training, the identity in eval

    def eval_affine(self) -> Affine | None:
        # The paper's form scales by the survival in eval mode.
        return Affine(scale=self.p.survival) if self.p.rescale == "test" else None

    @property
    def linear_schedule(self) -> float | None:
        return self.p.linear_to

    def scheduled(self, value: float) -> DropPath:
        return DropPath(self.p.model_copy(update={"survival": value}))


class JoinParams(Params):
    drop: float = Field(0.0, ge=0, lt=1, description="Local drop-path probability per input.")
    column: int = Field(0, ge=0, description="Global drop-path: the column of the last "
                                             "input (1 = the shallowest); 0: none.")
    columns: int = Field(0, ge=0, description="Global drop-path: the network's columns.")
    global_rate: float = Field(0.0, ge=0, le=1, description="Global drop-path: the share "
                                                            "of batches that run one column.")


@register
class Join(SameShapeMerge):
    """The element-wise mean of inputs of one shape, with local drop-path in training."""

    name = "join"
    Params = JoinParams

    def infer(self, inputs):
        if self.p.column and not 1 <= self.p.column <= self.p.columns:
            raise OpError("E0405", f"join column={self.p.column} is not one of "
                          f"columns=1…{self.p.columns}", arg="column")
        return super().infer(inputs)

    def other_flops(self, inputs, output):
        return len(inputs) * output.numel
