"""Expressions: text -> frozen AST, parsed by lark with `archdsl/grammar.lark`.

This is the one module that sees lark's trees; everything else works on the
dataclasses below. Each node carries `start`/`end`, character offsets into the
expression text, so that an error can point at the exact sub-expression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import lark
from lark import Lark, Token, Transformer, v_args


@dataclass(frozen=True)
class Expr:
    start: int
    end: int


@dataclass(frozen=True)
class Const(Expr):
    """A number, string, or a constant written in YAML (bool, null, list of these)."""

    value: object


@dataclass(frozen=True)
class Name(Expr):
    id: str


@dataclass(frozen=True)
class ListExpr(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Index(Expr):
    target: Expr
    index: Expr


@dataclass(frozen=True)
class Slice(Expr):
    """`target[lower:upper]`; a bound left out is None."""

    target: Expr
    lower: Expr | None
    upper: Expr | None


@dataclass(frozen=True)
class Unary(Expr):
    op: str  # "-" | "+" | "not"
    operand: Expr


@dataclass(frozen=True)
class Binary(Expr):
    op: str  # + - * / // % **
    left: Expr
    right: Expr


@dataclass(frozen=True)
class BoolOp(Expr):
    op: str  # "and" | "or"
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Compare(Expr):
    first: Expr
    rest: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True)
class IfExp(Expr):
    cond: Expr
    then: Expr
    orelse: Expr


@dataclass(frozen=True)
class Keyword:
    name: str
    value: Expr
    start: int
    end: int


@dataclass(frozen=True)
class Call(Expr):
    func: Name
    args: tuple[Expr, ...]
    kwargs: tuple[Keyword, ...]


class ExprSyntaxError(Exception):
    """The text is not an expression; `start`/`end` locate the offending characters."""

    def __init__(self, message: str, start: int, end: int, help: str = ""):
        super().__init__(message)
        self.message, self.start, self.end, self.help = message, start, end, help


_GRAMMAR = (Path(__file__).resolve().parent.parent / "grammar.lark").read_text()
_PARSER = Lark(_GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=True)

_TERMINAL_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "STRING": "a string", "LPAR": "`(`",
    "RPAR": "`)`", "LSQB": "`[`", "RSQB": "`]`", "COMMA": "`,`", "EQUAL": "`=`",
    "COLON": "`:`",
    "COMP_OP": "a comparison", "ADD_OP": "`+` or `-`", "MUL_OP": "`*`, `/`, `//` or `%`",
    "$END": "the end of the expression", "IF": "`if`", "ELSE": "`else`", "NOT": "`not`",
    "AND": "`and`", "OR": "`or`", "POW": "`**`",
}
_MAX_DIGITS = 40


def _span(meta) -> tuple[int, int]:
    return meta.start_pos, meta.end_pos


@v_args(meta=True)
class _ToAst(Transformer):
    def number(self, meta, children):
        text = str(children[0])
        if len(text) > _MAX_DIGITS:
            raise ExprSyntaxError(f"the number `{text[:20]}…` has more than {_MAX_DIGITS} "
                                  "characters", *_span(meta))
        is_float = any(c in text for c in ".eE")
        value = float(text) if is_float else int(text)
        if is_float and not math.isfinite(value):
            raise ExprSyntaxError(f"the number `{text}` is out of range", *_span(meta))
        return Const(*_span(meta), value)

    def string(self, meta, children):
        return Const(*_span(meta), str(children[0])[1:-1])

    def name(self, meta, children):
        return Name(*_span(meta), str(children[0]))

    def list(self, meta, children):
        return ListExpr(*_span(meta), tuple(c for c in children if c is not None))

    def index(self, meta, children):
        return Index(*_span(meta), children[0], children[1])

    def slice(self, meta, children):
        return Slice(*_span(meta), *children)

    def unary(self, meta, children):
        return Unary(*_span(meta), str(children[0]), children[1])

    def not_(self, meta, children):
        return Unary(*_span(meta), "not", children[0])

    def binary(self, meta, children):
        return Binary(*_span(meta), str(children[1]), children[0], children[2])

    def power(self, meta, children):
        return Binary(*_span(meta), "**", children[0], children[2])

    def and_(self, meta, children):
        return BoolOp(*_span(meta), "and", children[0], children[1])

    def or_(self, meta, children):
        return BoolOp(*_span(meta), "or", children[0], children[1])

    def compare(self, meta, children):
        rest = tuple((str(children[i]), children[i + 1]) for i in range(1, len(children), 2))
        return Compare(*_span(meta), children[0], rest)

    def ifexp(self, meta, children):
        then, cond, orelse = children
        return IfExp(*_span(meta), cond, then, orelse)

    def call(self, meta, children):
        func_token, arguments = children
        func = Name(func_token.start_pos, func_token.end_pos, str(func_token))
        args, kwargs = [], []
        for arg in arguments or ():
            if isinstance(arg, Keyword):
                if any(k.name == arg.name for k in kwargs):
                    raise ExprSyntaxError(f"keyword argument `{arg.name}` given twice",
                                          arg.start, arg.end)
                kwargs.append(arg)
            elif kwargs:
                raise ExprSyntaxError("a positional argument follows a keyword argument",
                                      arg.start, arg.end,
                                      help="put positional arguments first")
            else:
                args.append(arg)
        return Call(*_span(meta), func, tuple(args), tuple(kwargs))

    def arguments(self, meta, children):
        return [c for c in children if c is not None]

    def positional(self, meta, children):
        return children[0]

    def keyword(self, meta, children):
        token, value = children
        return Keyword(str(token), value, token.start_pos, value.end)


_TO_AST = _ToAst()


def _expected(tokens) -> str:
    words = sorted({_TERMINAL_WORDS.get(t, f"`{t.lower()}`") for t in tokens})
    if len(words) > 6:
        return ""
    return "expected " + ", ".join(words)


@lru_cache(maxsize=8192)
def parse(text: str) -> Expr:
    """Parse expression `text`; raises ExprSyntaxError with the offending offsets."""
    if not text.strip():
        raise ExprSyntaxError("empty expression", 0, max(len(text), 1),
                              help="write a value, a name, or a call such as conv(64, 3)")
    try:
        tree = _PARSER.parse(text)
        return _TO_AST.transform(tree)
    except lark.exceptions.VisitError as exc:
        if isinstance(exc.orig_exc, ExprSyntaxError):
            raise exc.orig_exc from None
        raise
    except lark.UnexpectedCharacters as exc:
        ch = text[exc.pos_in_stream]
        raise ExprSyntaxError(f"unexpected character `{ch}`", exc.pos_in_stream,
                              exc.pos_in_stream + 1,
                              help="expressions use numbers, names, + - * / // % **, "
                                   "comparisons, and/or/not, `a if c else b`, [lists] "
                                   "and calls") from None
    except lark.UnexpectedToken as exc:
        token: Token = exc.token
        if token.type == "$END":
            raise ExprSyntaxError("the expression ends too early", len(text), len(text) + 1,
                                  help=_expected(exc.expected)) from None
        raise ExprSyntaxError(f"unexpected `{token}`", token.start_pos,
                              token.end_pos, help=_expected(exc.expected)) from None
    except lark.UnexpectedEOF as exc:
        raise ExprSyntaxError("the expression ends too early", len(text), len(text) + 1,
                              help=_expected(exc.expected)) from None
    except RecursionError:  # lark's transformer recurses once per level of the tree
        raise ExprSyntaxError("the expression nests too deeply to parse", 0, len(text),
                              help="split it into `let` values or params") from None


def depth(expr: Expr) -> int:
    """How many levels the expression nests: 1 for a name or a number, 3 for `a + b * c`."""
    deepest = 0
    stack = [(expr, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        for child in _children(node):
            stack.append((child, level + 1))
    return deepest


def _children(node: Expr) -> list[Expr]:
    if isinstance(node, Call):
        return [*node.args, *(k.value for k in node.kwargs)]
    out = []
    for value in vars(node).values():
        if isinstance(value, tuple):  # a list's items, or a comparison's (op, operand) pairs
            out += [item[1] if isinstance(item, tuple) else item for item in value]
        else:
            out.append(value)
    return [child for child in out if isinstance(child, Expr)]


def names_in(expr: Expr) -> set[str]:
    """Every name an expression refers to (function names of calls included)."""
    found: set[str] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Name):
            found.add(node.id)
        elif isinstance(node, Call):
            found.add(node.func.id)
        stack += _children(node)
    return found


def name_nodes(expr: Expr) -> list[Name | Call]:
    """The nodes of an expression that refer to a name, in the order written: its
    names, and its calls (whose `func` is the name called)."""
    found, stack = [], [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, (Name, Call)):
            found.append(node)
        stack += reversed(_children(node))
    return found
