"""Evaluate expression ASTs to values, with no `eval` and bounded arithmetic.

Values are Python ints, floats, bools, strings, None and tuples (lists), plus
`LayerCall`, the value of an op, block or stage call such as
`conv(64, 3, stride=2)`. Names resolve, innermost first, through the
environment given (lets, block arguments, params), then the constants
`true`/`false`/`none`, then ops and blocks. Where a layer is written (`- relu`,
a stage's block) an undefined name is an unknown op or block.
"""

from __future__ import annotations

import difflib
import math
import operator
from collections.abc import Collection, Mapping

from archdsl.diagnostics import error
from archdsl.lang import expr as ast
from archdsl.lang.aliases import alias_of
from archdsl.lang.builtins import BUILTINS, PARAMETERS
from archdsl.lang.values import (
    LayerCall,
    a_type,
    described,
    is_number,
    type_name,
    with_article,
)
from archdsl.limits import DEFAULT_LIMITS, Limits
from archdsl.source import Span

CONSTANTS = {"true": True, "false": False, "True": True, "False": False,
             "none": None, "None": None}
STAGE = "stage"
# Importers of this module name the values and the builtins through it.
__all__ = ["BUILTINS", "CONSTANTS", "STAGE", "Evaluator", "LayerCall", "a_type", "suggest",
           "suggest_op", "type_name", "with_article"]


def suggest(name: str, candidates: Collection[str]) -> str:
    """`did you mean ...?` for the closest candidates, or ''."""
    close = difflib.get_close_matches(name, sorted(candidates), n=3, cutoff=0.6)
    if not close:
        return ""
    return "did you mean " + " or ".join(f"`{c}`" for c in close) + "?"


def suggest_op(name: str, ops: Collection[str], blocks: Collection[str] = (),
               fallback: Collection[str] = ()) -> str:
    """`did you mean ...?` for a name written as an op or block: the op it is another
    framework's name for (`BatchNorm2d`: `bn`), else the closest ops and blocks, and
    only where none is close, the closest of `fallback`; or ''."""
    alias = alias_of(name, ops)
    if alias is not None:
        return f"did you mean `{alias}`?"
    return suggest(name, {*ops, *blocks}) or suggest(name, fallback)


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
        self._charge(1, node, host)
        method = getattr(self, "_" + type(node).__name__)
        return method(node, env, host)

    def layer(self, node: ast.Expr, env: Mapping[str, object], host: Span) -> object:
        """Evaluate an expression written where a layer goes (`- relu`, `- bn if a else
        identity`): there an undefined name is an unknown op or block."""
        if isinstance(node, ast.Name) and not self._defined(node.id, env):
            self._charge(1, node, host)
            raise self._unknown_layer(node.id, node, env, host)
        if isinstance(node, ast.IfExp):  # `relu if act == 'relu' else hardswish`
            self._charge(1, node, host)
            taken = self._bool(self.eval(node.cond, env, host), node.cond, host)
            self.check_names(node.orelse if taken else node.then, env, host, layer=True)
            return self.layer(node.then if taken else node.orelse, env, host)
        return self.eval(node, env, host)

    def _charge(self, steps: int, node: ast.Expr, host: Span) -> None:
        """Count `steps` of work (a node, or the elements a slice or a sum goes over)."""
        self.steps += steps
        if self.steps > self.limits.max_eval_steps:
            raise error("E0500", f"expanding the spec evaluates more than "
                        f"{self.limits.max_eval_steps} expression nodes",
                        host.slice(node.start, node.end),
                        label="the count passes the limit here",
                        help="evaluate large lists once, as params, not in every copy; or "
                             "raise Limits.max_eval_steps")

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
        raise self._undefined(node, env, host)

    def _undefined(self, node: ast.Name, env, host: Span, bound: Collection[str] = ()):
        """E0301 for a name nothing defines."""
        known = set(env) | set(bound) | set(self.ops) | set(self.blocks) | set(BUILTINS) | \
            {"true", "false", "none"}
        alias = alias_of(node.id, self.ops)  # `act=ReLU`: an argument may name an op
        return error("E0301", f"undefined name `{node.id}`", host.slice(node.start, node.end),
                     help=f"did you mean `{alias}`?" if alias else suggest(node.id, known) or
                     "names are params, block arguments, `let` values, ops and blocks")

    def check_names(self, node: ast.Expr, env: Mapping[str, object], host: Span,
                    bound: Collection[str] = (), layer: bool = False) -> None:
        """Raise for the first name in `node` that nothing defines, without evaluating it:
        for a branch not taken (`bound`: names a construct around it defines, a repeat's
        index; `layer`: written where a layer goes, so a bare name is an op or block)."""
        nodes = ast.name_nodes(node)
        self._charge(len(nodes), node, host)
        for named in nodes:
            called = isinstance(named, ast.Call)
            name = named.func.id if called else named.id
            if self._defined(name, env) or name in bound or \
                    (called and (name in BUILTINS or name == STAGE)):
                continue
            if called or (layer and named is node):
                raise self._unknown_layer(name, named, {**env, **dict.fromkeys(bound)}, host)
            raise self._undefined(named, env, host, bound)

    def _defined(self, name: str, env: Mapping[str, object]) -> bool:
        return name in env or name in CONSTANTS or name in self.ops or name in self.blocks

    def _unknown_layer(self, name: str, node: ast.Expr, env, host: Span):
        """E0304 for a name written as a layer or called. Suggested: ops and blocks, and
        only where none is close, values that hold a layer (`act: relu`), or for a call,
        builtins."""
        called = isinstance(node, ast.Call)
        where = node.func if called else node
        fallback = set(BUILTINS) if called else \
            {k for k, v in env.items() if isinstance(v, LayerCall)}
        blocks = {*self.blocks, STAGE} if called else self.blocks
        return error("E0304", f"unknown op or block `{name}`",
                     host.slice(where.start, where.end),
                     help=suggest_op(name, self.ops, blocks, fallback) or
                     "ops are listed in the README; blocks are defined under `blocks:`")

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

    def _Slice(self, node: ast.Slice, env, host):
        """`target[lower:upper]`, bounds as Python's: negative from the end, clamped."""
        target = self.eval(node.target, env, host)
        if not isinstance(target, tuple):
            raise error("E0302", f"cannot slice {a_type(target)}",
                        host.slice(node.start, node.end))
        bounds = []
        for bound in (node.lower, node.upper):
            value = None if bound is None else self.eval(bound, env, host)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise error("E0302", f"a slice bound must be an int, not {described(value)}",
                            host.slice(bound.start, bound.end),
                            help="`//` divides to an int (`n // 2`); `int(x)` truncates")
            bounds.append(value)
        result = target[bounds[0]:bounds[1]]
        self._charge(len(result), node, host)
        return result

    def _Unary(self, node: ast.Unary, env, host):
        value = self.eval(node.operand, env, host)
        span = host.slice(node.start, node.end)
        if node.op == "not":
            return not self._bool(value, node.operand, host)
        if not is_number(value):
            raise error("E0302", f"unary `{node.op}` needs a number, not {a_type(value)}", span)
        return self._checked(-value if node.op == "-" else value, span)

    def _Binary(self, node: ast.Binary, env, host):
        left = self.eval(node.left, env, host)
        right = self.eval(node.right, env, host)
        span = host.slice(node.start, node.end)
        if node.op == "+" and isinstance(left, tuple) and isinstance(right, tuple):
            return self._checked(left + right, span)
        if not (is_number(left) and is_number(right)):
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
            if ordered and not ((is_number(left) and is_number(right)) or
                                (type(left) is type(right) and isinstance(left, str))):
                raise error("E0302", f"cannot compare {type_name(left)} {op} "
                            f"{type_name(right)}", host.slice(node.start, node.end))
            if not _COMPARE[op](left, right):
                return False
            left = right
        return True

    def _IfExp(self, node: ast.IfExp, env, host):
        """`a if c else b`; the names of the branch not taken are checked too."""
        taken = self._bool(self.eval(node.cond, env, host), node.cond, host)
        self.check_names(node.orelse if taken else node.then, env, host)
        return self.eval(node.then if taken else node.orelse, env, host)

    # -- calls

    def _Call(self, node: ast.Call, env, host):
        name = node.func.id
        # A stage's first argument is written where a layer goes: the block it copies.
        args = tuple((self.layer if name == STAGE and i == 0 else self.eval)(a, env, host)
                     for i, a in enumerate(node.args))
        kwargs = tuple((k.name, self.eval(k.value, env, host)) for k in node.kwargs)
        span = host.slice(node.start, node.end)
        if name in BUILTINS and name not in env:
            return self._builtin(node, args, kwargs, host)
        if name == STAGE:
            kind = "stage"
        elif name in self.ops:
            kind = "op"
        elif name in self.blocks:
            kind = "block"
        else:
            raise self._unknown_layer(name, node, env, host)
        return LayerCall(kind, name, args, kwargs, span,
                         tuple(host.slice(a.start, a.end) for a in node.args),
                         tuple(host.slice(k.start, k.end) for k in node.kwargs),
                         self._names_in_arguments(node))

    def _builtin(self, node: ast.Call, args: tuple, kwargs: tuple, host: Span):
        name, span = node.func.id, host.slice(node.start, node.end)
        parameters = PARAMETERS.get(name, ())
        for keyword in node.kwargs:
            where = host.slice(keyword.start, keyword.end)
            if not parameters:
                raise error("E0303", f"{name}() takes no keyword arguments", where)
            if keyword.name not in parameters or parameters.index(keyword.name) < len(args):
                given = "has no argument" if keyword.name not in parameters else "got twice"
                raise error("E0303", f"{name}() {given} `{keyword.name}`", where,
                            help=f"its arguments are {', '.join(parameters)}")
        # The elements of a list argument are work too: `sum(widths)` in every copy.
        self._charge(sum(len(a) for a in args if isinstance(a, tuple)), node, host)
        try:
            return self._checked(BUILTINS[name](*args, **dict(kwargs)), span)
        except TypeError as exc:
            raise error("E0302", str(exc), span) from None
        except (OverflowError, ValueError) as exc:
            raise error("E0305", f"{name}() fails: {exc}", span) from None

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
                        f"{described(value)}", host.slice(node.start, node.end),
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
