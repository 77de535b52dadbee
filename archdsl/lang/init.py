"""Weight initialisation as part of a spec: rules, and the closed set of init functions.

A rule selects layers by op (`op: conv`) and/or by a glob over qualified names
(`name: "layer*.*.bn3"`), and gives each of `weight` and `bias` a number or a
call of one of the functions below, each the `torch.nn.init` function of the
same name. Rules apply in order, so a later rule overrides an earlier one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from archdsl.diagnostics import error
from archdsl.lang import expr as ast
from archdsl.lang.evaluate import Evaluator, a_type, suggest
from archdsl.lang.items import SExpr
from archdsl.source import Span


class Params(BaseModel):
    """An init function's arguments: closed, immutable, no silent coercion."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


Nonlinearity = Literal["linear", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]


class _Constant(Params):
    val: float


class _Normal(Params):
    mean: float = 0.0
    std: float = Field(1.0, gt=0)


class _Interval(Params):
    """An interval [a, b] that torch samples in: a below b (torch refuses a > b)."""

    @model_validator(mode="after")
    def _ordered(self):
        if not self.a < self.b:
            raise ValueError(f"needs a < b, found a={self.a:g}, b={self.b:g}")
        return self


class _TruncNormal(_Interval):
    mean: float = 0.0
    std: float = Field(1.0, gt=0)
    a: float = -2.0
    b: float = 2.0


class _Uniform(_Interval):
    a: float = 0.0
    b: float = 1.0


class _Kaiming(Params):
    a: float = 0.0
    mode: Literal["fan_in", "fan_out"] = "fan_in"
    nonlinearity: Nonlinearity = "leaky_relu"


class _Xavier(Params):
    gain: float = Field(1.0, gt=0)


# spec name -> (torch.nn.init function, its arguments)
INIT_FUNCTIONS: dict[str, tuple[str, type[Params]]] = {
    "constant": ("constant_", _Constant),
    "zeros": ("zeros_", Params),
    "ones": ("ones_", Params),
    "normal": ("normal_", _Normal),
    "trunc_normal": ("trunc_normal_", _TruncNormal),
    "uniform": ("uniform_", _Uniform),
    "kaiming_normal": ("kaiming_normal_", _Kaiming),
    "kaiming_uniform": ("kaiming_uniform_", _Kaiming),
    "xavier_normal": ("xavier_normal_", _Xavier),
    "xavier_uniform": ("xavier_uniform_", _Xavier),
}


@dataclass(frozen=True)
class InitCall:
    """A checked init function call: `torch.nn.init.<function>(tensor, **arguments)`."""

    function: str  # the torch.nn.init name, e.g. "kaiming_normal_"
    arguments: tuple[tuple[str, object], ...]
    defaults: tuple[tuple[str, object], ...] = ()  # left out of the generated call


@dataclass(frozen=True)
class InitDecl:
    """An init rule as written in the spec."""

    op: str | None
    name: str | None
    when: SExpr
    weight: SExpr | None
    bias: SExpr | None
    span: Span


@dataclass(frozen=True)
class InitRule:
    """An init rule that applies: what it selects, and how it fills weight and bias."""

    op: str | None
    name: str | None
    weight: InitCall | None
    bias: InitCall | None
    span: Span
    written: tuple[tuple[str, Span], ...] = ()  # ("weight" | "bias", where its value is)

    def calls(self) -> list[tuple[str, InitCall]]:
        """(attribute, call) for each of `weight` and `bias` that the rule sets."""
        return [(a, c) for a, c in (("weight", self.weight), ("bias", self.bias)) if c]

    def sets(self) -> set[str]:
        """Which of `weight` and `bias` the rule sets."""
        return {attribute for attribute, _ in self.calls()}

    def where(self, attribute: str) -> Span:
        """The value the rule gives `attribute`, or the whole rule."""
        return dict(self.written).get(attribute, self.span)


def evaluate_rule(decl: InitDecl, evaluator: Evaluator, env: dict) -> InitRule | None:
    """The rule with its values evaluated, or None where `when` does not hold."""
    when = evaluator.eval(decl.when.node, env, decl.when.span)
    if not isinstance(when, bool):
        raise error("E0302", f"`when` must be true or false, not {a_type(when)}",
                    decl.when.where)
    if not when:
        return None
    written = tuple((a, value.where) for a, value in (("weight", decl.weight),
                                                      ("bias", decl.bias)) if value)
    return InitRule(decl.op, decl.name, _init_call(decl.weight, evaluator, env),
                    _init_call(decl.bias, evaluator, env), decl.span, written)


def _init_call(value: SExpr | None, evaluator: Evaluator, env: dict) -> InitCall | None:
    if value is None:
        return None
    node = value.node
    if isinstance(node, ast.Name) and node.id in INIT_FUNCTIONS:
        node = ast.Call(node.start, node.end, node, (), ())
    if not isinstance(node, ast.Call):
        number = evaluator.eval(node, env, value.span)
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise error("E0202", f"an init value is a number or an init function, not "
                        f"{a_type(number)}", value.where)
        return InitCall("constant_", (("val", float(number)),))
    name = node.func.id
    if name not in INIT_FUNCTIONS:
        raise error("E0304", f"unknown init function `{name}`",
                    value.span.slice(node.func.start, node.func.end),
                    help=suggest(name, INIT_FUNCTIONS) or
                    f"the init functions are: {', '.join(INIT_FUNCTIONS)}")
    function, model = INIT_FUNCTIONS[name]
    fields = list(model.model_fields)
    if len(node.args) > len(fields):
        raise error("E0303", f"`{name}` takes at most {len(fields)} arguments",
                    value.span.slice(node.start, node.end))
    values = {f: evaluator.eval(a, env, value.span) for f, a in zip(fields, node.args)}
    for keyword in node.kwargs:
        values[keyword.name] = evaluator.eval(keyword.value, env, value.span)
    values = {k: float(v) if isinstance(v, int) and not isinstance(v, bool) and
              model.model_fields.get(k) is not None and
              model.model_fields[k].annotation is float else v for k, v in values.items()}
    try:
        params = model.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ").lower()
        raise error("E0203", f"`{name}`: `{where}` {message}" if where else
                    f"`{name}` {message}",
                    value.span.slice(node.start, node.end),
                    help=f"{name} takes {', '.join(fields) or 'no arguments'}") from None
    defaults = tuple((k, f.default) for k, f in model.model_fields.items()
                     if not f.is_required())
    return InitCall(function, tuple(params), defaults)
