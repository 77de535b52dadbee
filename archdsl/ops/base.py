"""The Op base class and the registry of ops by name.

An op is one class that owns, side by side: its parameters (a pydantic model),
its shape rule, its cost rules, its receptive-field rule and its PyTorch
emission. Registering a class under a name is the only way to add an op.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from archdsl.diagnostics import Label, error
from archdsl.emit import code
from archdsl.lang.binding import Callee
from archdsl.lang.evaluate import LayerCall, a_type
from archdsl.tensor import TensorType

OPS: dict[str, type[Op]] = {}

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Pair = PositiveInt | tuple[PositiveInt, PositiveInt]
PadPair = NonNegativeInt | tuple[NonNegativeInt, NonNegativeInt]


def register(cls: type[Op]) -> type[Op]:
    """Class decorator: add an op to the registry under `cls.name`, once."""
    if cls.name in OPS:
        raise ValueError(f"op `{cls.name}` is registered twice ({OPS[cls.name].__qualname__} "
                         f"and {cls.__qualname__})")
    OPS[cls.name] = cls
    return cls


class OpError(Exception):
    """An op cannot apply to its inputs; `arg` names the argument to point at."""

    def __init__(self, code: str, message: str, *, arg: str | None = None, help: str = ""):
        super().__init__(message)
        self.code, self.message, self.arg, self.help = code, message, arg, help


class Params(BaseModel):
    """Base of every op's parameters: closed, immutable, no silent coercion."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


@dataclass(frozen=True)
class Slot:
    """One state_dict entry of a module: its shape, and whether it is a parameter."""

    shape: tuple[int, ...]
    parameter: bool = True


@dataclass(frozen=True)
class Window:
    """A sliding window over the spatial dims, for receptive-field arithmetic."""

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: tuple[int, ...]


def pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def compact(value: tuple[int, int]) -> int | tuple[int, int]:
    """(3, 3) -> 3, the way people write square kernels."""
    return value[0] if value[0] == value[1] else value


def window_output(size: int, kernel: int, stride: int, pad: int, dilation: int = 1,
                  ceil: bool = False) -> int:
    """Output length of a sliding window: PyTorch's pooling_output_shape, exactly."""
    numerator = size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil else 0)
    out = numerator // stride + 1
    if ceil and (out - 1) * stride >= size + pad:
        out -= 1  # the last window must start inside the input or its left padding
    return out


class Op:
    """One kind of layer. Subclasses set `name` and `Params` and override the rules."""

    name: ClassVar[str]
    Params: ClassVar[type[Params]] = Params
    doc: ClassVar[str] = ""
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    # May run in place on its input when nothing else reads that input.
    can_run_inplace: ClassVar[bool] = False
    # Its backward reads its output, so nothing may overwrite that output in place.
    saves_output: ClassVar[bool] = False
    # Outside nn.Sequential, emitted as an expression (torch.flatten(x, 1)) not a submodule.
    functional: ClassVar[bool] = False
    # As a residual's merge: the shortcut comes first (concat), and is always applied.
    shortcut_first: ClassVar[bool] = False
    # Python source of a helper nn.Module the emitted code needs (written once per file).
    support: ClassVar[str] = ""

    def __init__(self, params: Params):
        self.p = params

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.p!r})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.p == other.p

    def __hash__(self) -> int:
        return hash((type(self), self.p))

    # -- construction

    @classmethod
    def bind(cls, call: LayerCall) -> Op:
        """Check a call's arguments against `Params`; errors point at the argument."""
        fields = tuple(cls.Params.model_fields)
        bound = Callee(cls.name, fields, usage=cls.signature).bind(call)
        values = bound.values
        try:
            params = cls.Params.model_validate(values)
        except ValidationError as exc:
            # The first error in field order, a missing argument or a wrong value.
            err = exc.errors()[0]
            field = str(err["loc"][0]) if err["loc"] else None
            if err["type"] == "missing":
                raise bound.missing(field) from None
            position = fields.index(field) if field in fields[:len(call.args)] else None
            found = values.get(field)
            raise error("E0202", f"argument `{field}` of `{cls.name}`: "
                        f"{err['msg'].lower()}, found {a_type(found)} {found!r}",
                        call.argument_span(position, field),
                        help=f"`{cls.name}` takes {cls.signature()}") from None
        return cls(params)

    @classmethod
    def signature(cls) -> str:
        parts = []
        for name, field in cls.Params.model_fields.items():
            parts.append(name if field.is_required() else f"{name}={spec_literal(field.default)}")
        return f"{cls.name}({', '.join(parts)})"

    @classmethod
    def has_module(cls) -> bool:
        """Whether the op can be a submodule (every op but the pure merges)."""
        return cls.module is not Op.module

    # -- rules (override)

    def infer(self, inputs: Sequence[TensorType]) -> TensorType:
        """The output type for these inputs, or OpError."""
        return inputs[0]

    def tensors(self, inputs: Sequence[TensorType]) -> dict[str, Slot]:
        """The emitted module's state_dict entries: parameters and buffers, with shapes."""
        return {}

    def param_count(self, inputs: Sequence[TensorType]) -> int:
        return sum(math.prod(t.shape) for t in self.tensors(inputs).values() if t.parameter)

    def parameter_names(self, inputs: Sequence[TensorType]) -> tuple[str, ...]:
        """The nn.Parameter attributes of the emitted module (weight, bias)."""
        return tuple(name for name, t in self.tensors(inputs).items() if t.parameter)

    def macs(self, inputs: Sequence[TensorType], output: TensorType) -> int:
        """Multiply-accumulates of conv and linear layers; 0 for every other op."""
        return 0

    def other_flops(self, inputs: Sequence[TensorType], output: TensorType) -> int:
        """Work that is not a multiply-accumulate (normalisation, pooling, adds).

        Every op states this rule, zero included: a missing rule is a bug, not a 0."""
        raise NotImplementedError(f"op `{self.name}` has no cost rule")

    def window(self, inputs: Sequence[TensorType]) -> Window | None:
        """The spatial window this op slides, or None for a pointwise op."""
        return None

    def module(self, inputs: Sequence[TensorType], output: TensorType,
               inplace: bool = False) -> code.Call:
        """The PyTorch constructor, e.g. Call('nn.ReLU', kwargs=(('inplace', True),))."""
        raise NotImplementedError(f"op `{self.name}` has no module form")

    def expression(self, args: Sequence[object], inputs: Sequence[TensorType],
                   output: TensorType) -> object:
        """The forward expression over input code nodes, for functional ops."""
        raise NotImplementedError(f"op `{self.name}` has no expression form")

    @staticmethod
    def network_code(ops: list[Op]) -> tuple[list[str], list[str]] | None:
        """Code the whole network needs for these ops (all of this class): lines at the
        start of its forward, and methods of its class. None: nothing."""
        return None

    def describe(self) -> str:
        """How the op reads in a summary: `conv(64, 3, stride=2)`."""
        defaults = {k: f.default for k, f in self.Params.model_fields.items()}
        parts = []
        for key, value in self.p:
            if not self.Params.model_fields[key].is_required() and value == defaults[key]:
                continue
            shown = spec_literal(value)
            parts.append(shown if self.Params.model_fields[key].is_required() else
                         f"{key}={shown}")
        return f"{self.name}({', '.join(parts)})" if parts else self.name


def spec_literal(value: object) -> str:
    """A value as a spec would write it: true, none, [1, 3]."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "none"}[value]
    if isinstance(value, tuple):
        return "[" + ", ".join(spec_literal(v) for v in value) + "]"
    return repr(value)


def expect_rank(op: Op, x: TensorType, rank: int, help: str = "") -> None:
    if x.rank != rank:
        want = {3: "a (C, H, W) feature map", 1: "a (features,) vector"}[rank]
        raise OpError("E0403", f"`{op.name}` needs {want}, but its input is {x}",
                      help=help)


__all__ = ["Op", "OPS", "register", "OpError", "Params", "Window", "pair", "compact",
           "window_output", "PositiveInt", "NonNegativeInt", "Pair", "PadPair", "Label",
           "expect_rank"]
