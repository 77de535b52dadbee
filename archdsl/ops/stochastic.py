"""Ops that drop paths at random in training: stochastic depth and FractalNet's join.

Neither exists in torch.nn, so each brings the source of a small helper module
(`support`) that the emitter writes once into the generated file; the file
stays self-contained.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from archdsl.emit import code
from archdsl.ops.base import Op, OpError, Params, register
from archdsl.ops.merge import Add

DROP_PATH_SOURCE = '''
class DropPath(nn.Module):
    """Stochastic depth (Huang et al., arXiv:1603.09382): keep the input with
    probability `survival` in training, else zero it.

    mode "batch" decides once for the whole mini-batch (the paper), "sample" per
    sample. rescale "test" scales by `survival` in eval mode (the paper); "train"
    divides by it in training instead, and is the identity in eval mode.
    """

    def __init__(self, survival: float, mode: str = "batch", rescale: str = "test") -> None:
        super().__init__()
        self.survival = survival
        self.mode = mode
        self.rescale = rescale

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x * self.survival if self.rescale == "test" else x
        if self.mode == "batch":
            shape = [1] * x.dim()
        else:
            shape = [x.shape[0]] + [1] * (x.dim() - 1)
        keep = (torch.rand(shape, device=x.device) < self.survival).to(x.dtype)
        if self.rescale == "train":
            keep = keep / self.survival
        return x * keep

    def extra_repr(self) -> str:
        return f"survival={self.survival}, mode={self.mode!r}, rescale={self.rescale!r}"
'''.strip("\n")

JOIN_SOURCE = '''
class Join(nn.Module):
    """FractalNet's join (Larsson et al., arXiv:1605.07648): the mean of its inputs.

    In training each input is dropped with probability `drop` (local drop-path),
    keeping at least one. For global drop-path the network picks one column per
    batch (`chosen`): a join whose last input is that column (`column`) keeps only
    it; a join below a shallower chosen column keeps only its first input.
    """

    def __init__(self, drop: float = 0.0, column: int = 0) -> None:
        super().__init__()
        self.drop = drop
        self.column = column  # the column of the last input; 0: no global drop-path
        self.chosen = 0  # the column the network picked for this batch; 0: none

    def forward(self, inputs: list[Tensor]) -> Tensor:
        if self.training and self.chosen > 0 and self.column > 0:
            return inputs[-1] if self.chosen == self.column else inputs[0]
        if not self.training or self.drop == 0.0:
            return torch.stack(inputs).mean(0)
        keep = torch.rand(len(inputs)) >= self.drop
        if not bool(keep.any()):
            keep[int(torch.randint(len(inputs), (1,)))] = True
        kept: list[Tensor] = []
        for i, x in enumerate(inputs):
            if bool(keep[i]):
                kept.append(x)
        return torch.stack(kept).mean(0)

    def extra_repr(self) -> str:
        return f"drop={self.drop}, column={self.column}"
'''.strip("\n")


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
    support = DROP_PATH_SOURCE

    def other_flops(self, inputs, output):
        return output.numel

    def module(self, inputs, output, inplace=False):
        return code.Call("DropPath", (self.p.survival,),
                         (("mode", self.p.mode), ("rescale", self.p.rescale)), ("survival",),
                         (("mode", "batch"), ("rescale", "test")))


class JoinParams(Params):
    drop: float = Field(0.0, ge=0, lt=1, description="Local drop-path probability per input.")
    column: int = Field(0, ge=0, description="Global drop-path: the column of the last "
                                             "input (1 = the shallowest); 0: none.")
    columns: int = Field(0, ge=0, description="Global drop-path: the network's columns.")
    global_rate: float = Field(0.0, ge=0, le=1, description="Global drop-path: the share "
                                                            "of batches that run one column.")


@register
class Join(Op):
    """The element-wise mean of inputs of one shape, with local drop-path in training."""

    name = "join"
    Params = JoinParams
    min_inputs = 2
    max_inputs = None
    support = JOIN_SOURCE

    def infer(self, inputs):
        if self.p.column and not 1 <= self.p.column <= self.p.columns:
            raise OpError("E0405", f"join column={self.p.column} is not one of "
                          f"columns=1…{self.p.columns}", arg="column")
        return Add.infer(self, inputs)

    def other_flops(self, inputs, output):
        return len(inputs) * output.numel

    def module(self, inputs, output, inplace=False):
        return code.Call("Join", (), (("drop", self.p.drop), ("column", self.p.column)), (),
                         (("drop", 0.0), ("column", 0)))

    @staticmethod
    def network_code(ops: list[Op]) -> tuple[list[str], list[str]] | None:
        """Lines for the network's forward, and its methods: the per-batch choice of
        one column that global drop-path makes (50% of batches in the paper)."""
        scheme = {(op.p.columns, op.p.global_rate) for op in ops if op.p.column}
        if not scheme:
            return None
        if len(scheme) > 1:
            raise ValueError(f"joins disagree on (columns, global_rate): {sorted(scheme)}")
        (columns, rate), = scheme
        prologue = ["if self.training and not torch.jit.is_scripting():",
                    "    self.choose_column()"]
        method = [
            "@torch.jit.unused",
            "def choose_column(self) -> None:",
            '    """Global drop-path (FractalNet): some batches run one column only."""',
            f"    column = int(torch.randint(1, {int(columns) + 1}, ())) "
            f"if float(torch.rand(())) < {float(rate)!r} else 0",
            "    for module in self.modules():",
            "        if isinstance(module, Join):",
            "            module.chosen = column",
        ]
        return prologue, method
