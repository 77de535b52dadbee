"""Evaluate expression ASTs to values, with no `eval` and bounded arithmetic.

Values are Python ints, floats, bools, strings, None and tuples (lists), plus
`LayerCall`, the value of an op, block or stage call such as
`conv(64, 3, stride=2)`. Names resolve, innermost first, through the
environment given (lets, block arguments, params), then the constants
`true`/`false`/`none`, then ops and blocks.
"""

from __future__ import annotations

import difflib
import math
import operator
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace

from archdsl.diagnostics import error
from archdsl.lang import expr as ast
from archdsl.lang.designs import regnet
from archdsl.limits import DEFAULT_LIMITS, Limits
from archdsl.source import Span

CONSTANTS = {"true": True, "false": False, "True": True, "False": False,
             "none": None, "None": None}
STAGE = "stage"


@dataclass(frozen=True)
class LayerCall:
    """A call of an op, a block, or `stage`, with evaluated arguments."""

    kind: str  # "op" | "block" | "stage"
    name: str
    args: tuple
    kwargs: tuple[tuple[str, object], ...]
    span: Span
    arg_spans: tuple[Span, ...] = ()
    kw_spans: tuple[Span, ...] = ()
    # Names the arguments were written with (`conv(width, 3)` mentions `width`): the
    # emitter names generated constructor parameters after them.
    mentions: frozenset[str] = frozenset()

    # Keyword arguments a patch set: they override a positional argument of that name.
    patched: frozenset[str] = frozenset()

    def with_keyword(self, name: str, value: object, span: Span) -> LayerCall:
        """This call with keyword `name` set to `value` (a patch)."""
        kwargs = [(k, v) for k, v in self.kwargs if k != name] + [(name, value)]
        spans = [s for (k, _), s in zip(self.kwargs, self.kw_spans) if k != name] + [span]
        return replace(self, kwargs=tuple(kwargs), kw_spans=tuple(spans),
                       patched=self.patched | {name})

    def kwarg_span(self, name: str) -> Span:
        for (key, _), span in zip(self.kwargs, self.kw_spans):
            if key == name:
                return span
        return self.span

    def argument_span(self, position: int | None, name: str | None) -> Span:
        """The span of an argument given by position, else by keyword, else the call."""
        if position is not None and position < len(self.arg_spans):
            return self.arg_spans[position]
        if name is not None:
            return self.kwarg_span(name)
        return self.span


def type_name(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, LayerCall):
        return f"layer `{value.name}`"
    return {int: "int", float: "float", str: "string", tuple: "list",
            type(None): "none"}.get(type(value), type(value).__name__)


def a_type(value: object) -> str:
    """`an int`, `a list`: the type of `value` with its article."""
    return with_article(type_name(value))


def with_article(word: str) -> str:
    if word in ("none",) or word.startswith("layer"):
        return word
    return ("an " if word[0] in "aeiou" else "a ") + word


def suggest(name: str, candidates: Collection[str]) -> str:
    """`did you mean ...?` for the closest candidates, or ''."""
    close = difflib.get_close_matches(name, sorted(candidates), n=3, cutoff=0.6)
    if not close:
        return ""
    return "did you mean " + " or ".join(f"`{c}`" for c in close) + "?"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --------------------------------------------------------------------- builtins


def _numbers(name: str, values: tuple) -> tuple:
    if len(values) == 1 and isinstance(values[0], tuple):
        values = values[0]
    if not values:
        raise TypeError(f"{name}() needs at least one number")
    for v in values:
        if not _is_number(v):
            raise TypeError(f"{name}() takes numbers, got {a_type(v)}")
    return values


def _one_number(name: str, args: tuple) -> float | int:
    if len(args) != 1 or not _is_number(args[0]):
        raise TypeError(f"{name}() takes one number")
    return args[0]


def _round(*args):
    if len(args) == 2 and _is_number(args[0]) and isinstance(args[1], int):
        return round(args[0], args[1])
    return int(round(_one_number("round", args)))


def _len(*args):
    if len(args) != 1 or not isinstance(args[0], (tuple, str)):
        raise TypeError("len() takes one list")
    return len(args[0])


BUILTINS: dict[str, Callable] = {
    "min": lambda *a: min(_numbers("min", a)),
    "max": lambda *a: max(_numbers("max", a)),
    "sum": lambda *a: sum(_numbers("sum", a)),
    "abs": lambda *a: abs(_one_number("abs", a)),
    "int": lambda *a: int(_one_number("int", a)),
    "float": lambda *a: float(_one_number("float", a)),
    "round": _round,
    "ceil": lambda *a: math.ceil(_one_number("ceil", a)),
    "floor": lambda *a: math.floor(_one_number("floor", a)),
    "len": _len,
    "regnet": regnet,
}

_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
          "//": operator.floordiv, "%": operator.mod, "**": operator.pow}
_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
            ">": operator.gt, ">=": operator.ge}


class Evaluator:
    """Evaluates expressions against an environment; errors are located SpecErrors."""

    def __init__(self, ops: Collection[str], blocks: Collection[str],
                 limits: Limits = DEFAULT_LIMITS):
        self.ops = ops
        self.blocks = blocks
        self.limits = limits
        self.steps = 0  # expression nodes evaluated: a spec's work is bounded, not only its size
        # id of a call node -> (the node, kept alive so the id stays its own; names in its args)
        self._mentions: dict[int, tuple[ast.Call, frozenset[str]]] = {}

    def eval(self, node: ast.Expr, env: Mapping[str, object], host: Span) -> object:
        self.steps += 1
        if self.steps > self.limits.max_eval_steps:
            raise error("E0500", f"expanding the spec evaluates more than "
                        f"{self.limits.max_eval_steps} expression nodes",
                        host.slice(node.start, node.end),
                        label="the count passes the limit here",
                        help="evaluate large lists once, as params, not in every copy; or "
                             "raise Limits.max_eval_steps")
        method = getattr(self, "_" + type(node).__name__)
        return method(node, env, host)

    # -- leaves

    def _Const(self, node: ast.Const, env, host):
        return self._checked(_freeze(node.value), host.slice(node.start, node.end))

    def _Name(self, node: ast.Name, env, host):
        if node.id in env:
            return env[node.id]
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if node.id in self.ops:
            return LayerCall("op", node.id, (), (), host.slice(node.start, node.end))
        if node.id in self.blocks:
            return LayerCall("block", node.id, (), (), host.slice(node.start, node.end))
        known = set(env) | set(self.ops) | set(self.blocks) | set(BUILTINS) | \
            {"true", "false", "none"}
        raise error("E0301", f"undefined name `{node.id}`", host.slice(node.start, node.end),
                    help=suggest(node.id, known) or
                    "names are params, block arguments, `let` values, ops and blocks")

    def _ListExpr(self, node: ast.ListExpr, env, host):
        return self._checked(tuple(self.eval(item, env, host) for item in node.items),
                             host.slice(node.start, node.end))

    # -- operators

    def _Index(self, node: ast.Index, env, host):
        target = self.eval(node.target, env, host)
        index = self.eval(node.index, env, host)
        span = host.slice(node.start, node.end)
        if not isinstance(target, tuple):
            raise error("E0302", f"cannot index {a_type(target)}", span)
        if not isinstance(index, int) or isinstance(index, bool):
            raise error("E0302", f"a list index must be an int, not {a_type(index)}", span)
        if not -len(target) <= index < len(target):
            raise error("E0305", f"index {index} is out of range for a list of "
                        f"{len(target)}", span)
        return target[index]

    def _Unary(self, node: ast.Unary, env, host):
        value = self.eval(node.operand, env, host)
        span = host.slice(node.start, node.end)
        if node.op == "not":
            return not self._bool(value, node.operand, host)
        if not _is_number(value):
            raise error("E0302", f"unary `{node.op}` needs a number, not {a_type(value)}", span)
        return self._checked(-value if node.op == "-" else value, span)

    def _Binary(self, node: ast.Binary, env, host):
        left = self.eval(node.left, env, host)
        right = self.eval(node.right, env, host)
        span = host.slice(node.start, node.end)
        if node.op == "+" and isinstance(left, tuple) and isinstance(right, tuple):
            return self._checked(left + right, span)
        if not (_is_number(left) and _is_number(right)):
            raise error("E0302", f"`{node.op}` needs two numbers, got {a_type(left)} "
                        f"and {a_type(right)}", span)
        if node.op in ("/", "//", "%") and right == 0:
            raise error("E0305", "division by zero", span)
        if node.op == "**":
            self._check_power(left, right, span)
        try:
            result = _ARITH[node.op](left, right)
        except (OverflowError, ValueError, ZeroDivisionError) as exc:
            raise error("E0305", f"`{node.op}` fails: {exc}", span) from None
        return self._checked(result, span)

    def _check_power(self, base, exponent, span: Span) -> None:
        if base == 0 and exponent < 0:
            raise error("E0305", "zero raised to a negative power", span)
        if abs(base) > 1 and exponent > 0:
            if exponent * math.log2(abs(base)) > math.log2(self.limits.max_int):
                raise error("E0305", f"{base} ** {exponent} is larger than the limit "
                            f"{self.limits.max_int}", span)

    def _BoolOp(self, node: ast.BoolOp, env, host):
        left = self._bool(self.eval(node.left, env, host), node.left, host)
        if node.op == "and" and not left:
            return False
        if node.op == "or" and left:
            return True
        return self._bool(self.eval(node.right, env, host), node.right, host)

    def _Compare(self, node: ast.Compare, env, host):
        left = self.eval(node.first, env, host)
        for op, right_node in node.rest:
            right = self.eval(right_node, env, host)
            ordered = op not in ("==", "!=")
            if ordered and not ((_is_number(left) and _is_number(right)) or
                                (type(left) is type(right) and isinstance(left, str))):
                raise error("E0302", f"cannot compare {type_name(left)} {op} "
                            f"{type_name(right)}", host.slice(node.start, node.end))
            if not _COMPARE[op](left, right):
                return False
            left = right
        return True

    def _IfExp(self, node: ast.IfExp, env, host):
        if self._bool(self.eval(node.cond, env, host), node.cond, host):
            return self.eval(node.then, env, host)
        return self.eval(node.orelse, env, host)

    # -- calls

    def _Call(self, node: ast.Call, env, host):
        name = node.func.id
        args = tuple(self.eval(a, env, host) for a in node.args)
        kwargs = tuple((k.name, self.eval(k.value, env, host)) for k in node.kwargs)
        span = host.slice(node.start, node.end)
        if name in BUILTINS and name not in env:
            if kwargs:
                raise error("E0303", f"{name}() takes no keyword arguments",
                            host.slice(node.kwargs[0].start, node.kwargs[0].end))
            try:
                return self._checked(BUILTINS[name](*args), span)
            except TypeError as exc:
                raise error("E0302", str(exc), span) from None
            except (OverflowError, ValueError) as exc:
                raise error("E0305", f"{name}() fails: {exc}", span) from None
        if name == STAGE:
            kind = "stage"
        elif name in self.ops:
            kind = "op"
        elif name in self.blocks:
            kind = "block"
        else:
            known = set(self.ops) | set(self.blocks) | set(BUILTINS) | {STAGE}
            raise error("E0304", f"unknown op or block `{name}`",
                        host.slice(node.func.start, node.func.end),
                        help=suggest(name, known) or
                        "ops are listed in the README; blocks are defined under `blocks:`")
        return LayerCall(kind, name, args, kwargs, span,
                         tuple(host.slice(a.start, a.end) for a in node.args),
                         tuple(host.slice(k.start, k.end) for k in node.kwargs),
                         self._names_in_arguments(node))

    def _names_in_arguments(self, node: ast.Call) -> frozenset[str]:
        """The names a call's arguments mention, found once per call node (a call in a
        repeated block is evaluated once per copy)."""
        known = self._mentions.get(id(node))
        if known is None:
            known = node, frozenset().union(*(ast.names_in(argument) for argument in
                                              (*node.args, *(k.value for k in node.kwargs))))
            self._mentions[id(node)] = known
        return known[1]

    # -- checks

    def _bool(self, value, node: ast.Expr, host: Span) -> bool:
        if not isinstance(value, bool):
            raise error("E0302", f"a condition must be true or false, not "
                        f"{type_name(value)} {value!r}", host.slice(node.start, node.end),
                        help="write a comparison, e.g. `stride != 1`")
        return value

    def _checked(self, value, span: Span):
        if isinstance(value, float) and not math.isfinite(value):
            raise error("E0305", f"the result {value} is not a finite number", span)
        if isinstance(value, int) and abs(value) > self.limits.max_int:
            raise error("E0305", f"the result has {len(str(abs(value)))} digits, above "
                        f"the limit {self.limits.max_int}", span)
        limit = self.limits.max_list_elements
        if isinstance(value, tuple) and _elements(value, limit) > limit:
            raise error("E0500", f"the list holds more than {limit} elements", span,
                        help="or raise Limits.max_list_elements")
        return value


def _elements(value: tuple, limit: int) -> int:
    """How many elements a list holds, its nested lists' included; counts up to `limit`
    (a list made of itself, `[a, a]`, twice over, would take exponential time to walk)."""
    count, stack = 0, [value]
    while stack and count <= limit:
        items = stack.pop()
        count += len(items)
        stack += [v for v in items if isinstance(v, tuple)]
    return count


def _freeze(value):
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value
