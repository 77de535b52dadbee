"""The Op base class and the registry of ops by name.

An op is one class that owns, side by side: its parameters (a pydantic model),
its shape rule, its cost rules, its receptive-field rule and its traits (what
passes ask of it instead of its name). How PyTorch spells it is the emitter's
business (archdsl/emit/torch_ops.py). Registering a class under a name is the
only way to add an op.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from archdsl.diagnostics import Label, error
from archdsl.lang.binding import Callee
from archdsl.lang.evaluate import LayerCall
from archdsl.lang.values import described
from archdsl.tensor import TensorType

OPS: dict[str, type[Op]] = {}

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
# A size per spatial dim: one number for all, or one each ([kh, kw]; [kt, kh, kw]).
Pair = PositiveInt | tuple[PositiveInt, ...]
PadPair = NonNegativeInt | tuple[NonNegativeInt, ...]


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
class Affine:
    """A per-channel affine map in eval mode: batch norm (`eps` set: its statistics
    and affine tensors give the map) times a constant `scale`."""

    eps: float | None = None
    scale: float = 1.0


@dataclass(frozen=True)
class Window:
    """A sliding window over the spatial dims, for receptive-field arithmetic."""

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: tuple[int, ...]


# Every output may see every input position (attention, a reshape of the positions).
GLOBAL = Window((), (), (), ())


def pair(value: int | tuple[int, ...], rank: int = 2) -> tuple[int, ...]:
    """A size per spatial dim: `value` for each of `rank` dims, or as given."""
    return (value,) * rank if isinstance(value, int) else tuple(value)


def compact(value: tuple[int, ...]) -> int | tuple[int, ...]:
    """(3, 3) -> 3, the way people write square kernels."""
    return value[0] if len(set(value)) == 1 else value


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
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    # How many leading parameters a call may give by position (None: all). The rest are
    # keyword-only, so that a call written in PyTorch's order (`bn(16)`, `conv(3, 16, 3)`:
    # in_channels first) is an error instead of another network.
    positional: ClassVar[int | None] = None
    # The help line for too many positional arguments: the PyTorch habit it catches.
    positional_help: ClassVar[str] = ""

    # -- traits: what passes ask instead of testing an op's name

    # As a residual's merge: the shortcut comes first (concat), and is always applied.
    shortcut_first: ClassVar[bool] = False
    # Merges inputs of one shape element-wise into that shape (add, mean, join).
    same_shape_merge: ClassVar[bool] = False
    # A per-channel affine map right after it folds into its weights (a conv).
    absorbs_affine: ClassVar[bool] = False
    # Its state is not a module that one input runs through (a learnable tensor that is
    # an attribute of the enclosing module; attention called with query, key and value):
    # the module that holds it is a generated class, and it must be named there.
    needs_class: ClassVar[bool] = False

    @property
    def training_only(self) -> bool:
        """The identity in eval mode (dropout): the inference form leaves it out."""
        return False

    def eval_affine(self) -> Affine | None:
        """The per-channel affine map it computes in eval mode, if it is one (batch norm,
        a constant scale): the inference form folds it into an `absorbs_affine` op."""
        return None

    def with_bias(self) -> Op:
        """This op with a bias, for an `absorbs_affine` op that had folds."""
        raise NotImplementedError(f"op `{self.name}` has no bias to add")

    @property
    def linear_schedule(self) -> float | None:
        """The final value of a rate that decays linearly over the network's ops of this
        kind (stochastic depth's survival), or None."""
        return None

    def scheduled(self, value: float) -> Op:
        """This op with its scheduled rate set to `value`."""
        raise NotImplementedError(f"op `{self.name}` has no schedule")

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
        bound = Callee(cls.name, fields, usage=cls.signature, positional=cls.positional,
                       positional_help=cls.positional_help).bind(call)
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
                        f"{err['msg'].lower()}, found {described(found)}",
                        call.argument_span(position, field),
                        help=f"`{cls.name}` takes {cls.signature()}") from None
        return cls(params)

    @classmethod
    def signature(cls) -> str:
        parts = []
        for i, (name, field) in enumerate(cls.Params.model_fields.items()):
            if i == cls.positional:
                parts.append("*")  # as Python writes it: keyword-only after this
            parts.append(name if field.is_required() else f"{name}={spec_literal(field.default)}")
        return f"{cls.name}({', '.join(parts)})"

    # -- rules (override)

    def infer(self, inputs: Sequence[TensorType]) -> TensorType:
        """The output type for these inputs, or OpError."""
        return inputs[0]

    def tensors(self, inputs: Sequence[TensorType]) -> dict[str, Slot]:
        """The emitted module's state_dict entries: parameters and buffers, with shapes,
        by name within the module. The name "" is the node's own attribute: a learnable
        tensor held by the enclosing module (`layer_scale`, `class_token`)."""
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
        """The spatial window this op slides (the windowed trait), or None for a
        pointwise op."""
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


class WindowOp(Op):
    """An op that slides a window over the spatial dims of a feature map (conv,
    pooling) of any spatial rank: 1-d (C, L), 2-d (C, H, W) or 3-d (C, T, H, W). The
    shared kernel, stride, padding and dilation arithmetic, and the checks that each
    size has one number per spatial dim and that the output is not empty. Subclasses'
    params have `kernel`, `stride` and `pad`."""

    # The help of E0402, when the window does not fit the input.
    too_small_help: ClassVar[str] = "the input is too small here; reduce the kernel or the " \
                                    "downsampling before it"
    SIZES: ClassVar[tuple[str, ...]] = ("kernel", "stride", "pad", "dilation")

    def kernel(self, rank: int = 2) -> tuple[int, ...]:
        return pair(self.p.kernel, rank)

    def stride(self, rank: int = 2) -> tuple[int, ...]:
        return pair(self.p.stride, rank) if self.p.stride is not None else self.kernel(rank)

    def dilation(self, rank: int = 2) -> tuple[int, ...]:
        return pair(getattr(self.p, "dilation", 1), rank)

    def padding(self, rank: int = 2) -> tuple[int, ...]:
        return pair(self.p.pad, rank)

    def check_map(self, x: TensorType) -> None:
        expect_map(self, x, self.SIZES)

    def output_size(self, x: TensorType, ceil: bool = False) -> tuple[int, ...]:
        """The spatial size of the output for input `x`, or E0402 when it is empty."""
        dilated = "dilation" in type(self.p).model_fields
        rank = len(x.spatial)
        axes = {1: "L", 2: "HW", 3: "THW"}[rank]
        spatial = []
        for axis, size, k, s, p, d in zip(axes, x.spatial, self.kernel(rank), self.stride(rank),
                                          self.padding(rank), self.dilation(rank)):
            out = window_output(size, k, s, p, d, ceil)
            if out <= 0:
                raise OpError("E0402", f"the output {axis} would be {out}: input {axis}={size}, "
                              f"kernel {k}, stride {s}, padding {p}" +
                              (f", dilation {d}" if dilated else ""), arg="kernel",
                              help=self.too_small_help)
            spatial.append(out)
        return tuple(spatial)

    def window(self, inputs):
        rank = len(inputs[0].spatial)
        return Window(self.kernel(rank), self.stride(rank), self.dilation(rank),
                      self.padding(rank))


def expect_map(op: Op, x: TensorType, sizes: Sequence[str] = ()) -> None:
    """E0403 unless `x` is a channels-first map with 1 to 3 spatial dims; E0405 where one
    of the op's `sizes` (kernel, stride, …) gives another number of dims."""
    if x.features_last or not 2 <= x.rank <= 4:
        raise OpError("E0403", f"`{op.name}` needs a channels-first feature map ((C, L), "
                      f"(C, H, W) or (C, T, H, W)), but its input is {x.kind()}",
                      help=map_help(x))
    rank = x.rank - 1
    for arg in sizes:
        value = getattr(op.p, arg, None)
        if isinstance(value, tuple) and len(value) != rank:
            raise OpError("E0405", f"`{arg}` {spec_literal(value)} has {len(value)} numbers, "
                          f"but the input {x} has {rank} spatial dim{'s' if rank > 1 else ''}",
                          arg=arg, help=f"give one number, or {rank}")


def map_help(x: TensorType) -> str:
    """What turns `x` into a channels-first map, for a diagnostic."""
    if x.features_last:
        back = ", ".join(map(str, (0, x.rank) + tuple(range(1, x.rank))))
        return f"permute the channels first before it: `permute({back})`"
    return "check for a stray `flatten` or `linear` before it"


class SameShapeMerge(Op):
    """A merge of inputs of one shape into that shape, element by element (add, mean,
    join)."""

    min_inputs = 2
    max_inputs = None
    same_shape_merge = True

    def infer(self, inputs):
        first = inputs[0]
        for other in inputs[1:]:
            if other != first:
                what = "channels" if other.spatial == first.spatial else "shapes"
                raise OpError("E0400", f"`{self.name}` needs inputs of one shape; got {first} "
                              f"and {other} ({what} differ)")
        return first


def spec_literal(value: object) -> str:
    """A value as a spec would write it: true, none, [1, 3]."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "none"}[value]
    if isinstance(value, tuple):
        return "[" + ", ".join(spec_literal(v) for v in value) + "]"
    return repr(value)


def expect_rank(op: Op, x: TensorType, rank: int, help: str = "") -> None:
    """E0403 unless `x` is a channels-first map of this rank (1: a vector)."""
    if x.rank != rank or (rank > 1 and x.features_last):
        want = {3: "a (C, H, W) feature map", 1: "a (features,) vector"}[rank]
        if x.features_last:
            back = ", ".join(map(str, (0, x.rank) + tuple(range(1, x.rank))))
            help = f"permute the channels first before it: `permute({back})`"
        raise OpError("E0403", f"`{op.name}` needs {want}, but its input is {x.kind()}",
                      help=help)


__all__ = ["Op", "OPS", "register", "OpError", "Params", "Window", "GLOBAL", "WindowOp",
           "Affine", "expect_map", "map_help",
           "SameShapeMerge", "pair", "compact",
           "window_output", "PositiveInt", "NonNegativeInt", "Pair", "PadPair", "Label",
           "expect_rank"]
