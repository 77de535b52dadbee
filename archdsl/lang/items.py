"""The spec's syntax tree: layer items and expressions, each with its source span.

A layer item is one of
  `conv(64, 3)`                 a call of an op, a block or `stage`  (Call)
  `[a, b, c]`                   a sequence                           (Seq)
  `{name: item}`                a named item                         (Named)
  `{residual: {...}}`           a residual                           (Residual)
  `{branches: ..., merge: m}`   parallel paths                       (Branches)
  `{repeat: n, body: item}`     copies with an index                 (Repeat)
  `{if: c, then: a, else: b}`   a choice made at expansion           (Cond)
  `{from: [a, b], merge: m}`    reads earlier named members          (From)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Union

from archdsl.diagnostics import SpecError, error
from archdsl.lang import expr as ast
from archdsl.lang.patch import PatchedCall
from archdsl.lang.records import validate
from archdsl.lang.schema import (
    RECORDS_BY_KEY,
    BranchesRecord,
    CondRecord,
    FromRecord,
    RepeatRecord,
)
from archdsl.lang.yamlload import Path, SpanTable
from archdsl.limits import Limits
from archdsl.names import identifier_problem, layer_name_problem
from archdsl.source import Span


@dataclass(frozen=True)
class SExpr:
    """A parsed expression and the span of the text it was parsed from."""

    node: ast.Expr
    span: Span

    @property
    def where(self) -> Span:
        if self.node.start == self.node.end:  # a YAML value, not parsed text: all of it
            return self.span
        return self.span.slice(self.node.start, self.node.end)


@dataclass(frozen=True)
class Template:
    """A name template such as `denselayer{i+1}`: text parts and expression parts."""

    parts: tuple[str | SExpr, ...]
    span: Span


@dataclass(frozen=True)
class Call:
    expr: SExpr
    span: Span
    # Keyword arguments a patch sets on this call (`set: network.layer3.depth`).
    patches: tuple[tuple[str, SExpr], ...] = ()


@dataclass(frozen=True)
class Seq:
    items: tuple[Item, ...]
    span: Span


@dataclass(frozen=True)
class Named:
    name: str | Template  # a template such as "denseblock{b+1}" inside a repeat
    item: Item
    span: Span  # the name's span


@dataclass(frozen=True)
class Residual:
    body: Item
    shortcut: Item | None
    merge: SExpr  # evaluates to a merge op: add, concat, mean, join(...)
    post: Item | None
    drop_path: SExpr | None
    span: Span
    when: SExpr | None = None  # where the skip applies; elsewhere post(body(x))


@dataclass(frozen=True)
class Branches:
    paths: tuple[Item, ...]
    merge: SExpr
    span: Span


@dataclass(frozen=True)
class Head:
    """An auxiliary output computed from the current tensor; the main path goes on."""

    body: Item
    span: Span


@dataclass(frozen=True)
class Repeat:
    count: SExpr
    index: str
    name: Template | None  # None: copies are named by position
    body: Item
    span: Span


@dataclass(frozen=True)
class Cond:
    cond: SExpr
    then: Item
    orelse: Item | None
    span: Span


@dataclass(frozen=True)
class From:
    """Layers that read earlier named members of the module (or its input), merged where
    there are several, then `body`."""

    refs: tuple[Template, ...]
    merge: SExpr | None
    body: Item | None
    span: Span


Item = Union[Call, Seq, Named, Residual, Branches, Repeat, Cond, Head, From]


def expressions(value: object, bound: frozenset[str] = frozenset()
                ) -> Iterator[tuple[SExpr, frozenset[str], bool]]:
    """Every expression in an item (or a tuple of them), with the names the constructs
    around it bind (a repeat's index) and whether it is written where a layer goes."""
    if isinstance(value, tuple):
        for element in value:
            yield from expressions(element, bound)
    elif isinstance(value, SExpr):
        yield value, bound, False
    elif isinstance(value, Call):
        yield value.expr, bound, True
        yield from expressions(value.patches, bound)
    elif isinstance(value, Repeat):
        yield from expressions(value.count, bound)
        yield from expressions((value.name, value.body), bound | {value.index})
    elif dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            yield from expressions(getattr(value, field.name), bound)


class ItemParser:
    """Turns item data (from YAML) into the syntax tree above."""

    def __init__(self, table: SpanTable, limits: Limits):
        self.table = table
        self.limits = limits
        self.expr_text = 0  # characters of expressions parsed so far

    # -- expressions

    def expr(self, data: object, path: Path) -> SExpr:
        span = self.table.value(path)
        if isinstance(data, PatchedCall):
            raise error("E0600", "keyword arguments can be patched on layer calls only", span)
        if isinstance(data, str):
            return SExpr(self._parse(data, span), span)
        if isinstance(data, list):
            bad = next((i for i, v in enumerate(data) if not _is_list_literal(v)), None)
            if bad is not None:
                raise error("E0202", "a YAML list here holds only numbers, strings, "
                            "booleans, null and nested lists", self.table.value(path + (bad,)),
                            help='to compute elements, write the list as one expression, '
                                 'e.g. "[3, 4, n]"')
        elif not _is_literal(data):
            raise error("E0202", f"expected an expression, found a {type(data).__name__}", span)
        return SExpr(ast.Const(0, 0, data), span)

    def _parse(self, text: str, span: Span) -> ast.Expr:
        if len(text) > self.limits.max_expr_chars:
            raise error("E0500", f"the expression is {len(text)} characters long; the limit "
                        f"is {self.limits.max_expr_chars}", span)
        self.expr_text += len(text)
        if self.expr_text > self.limits.max_expr_text:
            raise error("E0500", f"the spec's expressions add up to more than "
                        f"{self.limits.max_expr_text} characters", span,
                        label="the total passes the limit here",
                        help="or raise Limits.max_expr_text")
        try:
            node = ast.parse(text)
        except ast.ExprSyntaxError as exc:
            raise error("E0300", exc.message, span.slice(exc.start, exc.end),
                        help=exc.help) from None
        depth = ast.depth(node)
        if depth > self.limits.max_expr_depth:
            raise error("E0500", f"the expression nests {depth} levels deep; the limit is "
                        f"{self.limits.max_expr_depth}", span,
                        help="split it into `let` values or params, or raise "
                             "Limits.max_expr_depth")
        return node

    def template(self, text: str, path: Path) -> Template:
        return self.template_at(text, self.table.value(path))

    def template_at(self, text: str, span: Span) -> Template:
        parts: list[str | SExpr] = []
        pos = 0
        while pos < len(text):
            open_ = text.find("{", pos)
            if open_ < 0:
                parts.append(text[pos:])
                break
            close = text.find("}", open_)
            if close < 0:
                raise error("E0300", "`{` is not closed in the name template",
                            span.slice(open_, open_ + 1), help="write `{expression}`")
            if open_ > pos:
                parts.append(text[pos:open_])
            inner = span.slice(open_ + 1, close)
            parts.append(SExpr(self._parse(text[open_ + 1:close], inner), inner))
            pos = close + 1
        return Template(tuple(parts), span)

    def _key_template(self, text: str, span: Span) -> Template:
        """A template in a mapping key (its span is the key's, quotes included)."""
        quoted = span.source.line(span.line)[span.col - 1:span.col] in ("'", '"')
        content = Span(span.source, span.line, span.col, span.end_line, span.end_col,
                       span.col + 1 if quoted else span.col)
        return self.template_at(text, content)

    # -- items

    def item(self, data: object, path: Path) -> Item:
        span = self.table.value(path)
        if isinstance(data, PatchedCall):
            patches = tuple((name, self._patch_value(value, at))
                            for name, (value, at) in data.kwargs.items())
            return Call(self.expr(str(data), path), span, patches)
        if isinstance(data, str):
            return Call(self.expr(data, path), span)
        if isinstance(data, list):
            return Seq(tuple(self.item(d, path + (i,)) for i, d in enumerate(data)), span)
        if isinstance(data, dict):
            return self._mapping(data, path, span)
        raise error("E0202", f"expected a layer, found {_describe(data)}", span,
                    help="a layer is an op or block call such as `conv(64, 3)`, a list of "
                         "layers, or `name: layer`")

    def _patch_value(self, value: object, span: Span) -> SExpr:
        if isinstance(value, str):
            return SExpr(self._parse(value, span), span)
        if not _is_list_literal(value):
            raise error("E0202", "a keyword argument is an expression", span)
        return SExpr(ast.Const(0, 0, value), span)

    def optional(self, data: object, path: Path) -> Item | None:
        return None if data is None else self.item(data, path)

    def _mapping(self, data: dict, path: Path, span: Span) -> Item:
        construct = next((k for k in RECORDS_BY_KEY if k in data), None)
        if construct is not None:
            return getattr(self, "_" + construct)(data, path, span)
        if len(data) != 1:
            keys = ", ".join(f"`{k}`" for k in data) or "none"
            raise error("E0203", f"a layer entry names one layer; this one has keys {keys}",
                        span, help="start each layer on its own line with `- `")
        (name, value), = data.items()
        name_span = self.table.key(path + (name,))
        if "{" in name:
            return Named(self._key_template(name, name_span), self.item(value, path + (name,)),
                         name_span)
        problem = layer_name_problem(name)
        if problem:
            raise error("E0210", f"invalid layer name: {problem}", name_span,
                        help="layer names become Python attributes: use letters, digits "
                             "and `_`, e.g. `conv1`")
        return Named(name, self.item(value, path + (name,)), name_span)

    def _residual(self, data: dict, path: Path, span: Span) -> Residual:
        validate(RECORDS_BY_KEY["residual"], data, path, self.table)
        raw, here = data["residual"], path + ("residual",)
        merge = self.expr(raw["merge"], here + ("merge",)) if "merge" in raw else \
            SExpr(ast.Name(0, len("residual"), "add"), self.table.key(here))  # the default
        drop_path, when = raw.get("drop_path"), raw.get("when")
        return Residual(
            body=self.item(raw["body"], here + ("body",)),
            shortcut=self.optional(raw.get("shortcut"), here + ("shortcut",)),
            merge=merge,
            post=self.optional(raw.get("post"), here + ("post",)),
            drop_path=None if drop_path is None else self.expr(drop_path, here + ("drop_path",)),
            span=self.table.key(here),
            when=None if when is None else self.expr(when, here + ("when",)),
        )

    def _auxiliary(self, data: dict, path: Path, span: Span) -> Head:
        validate(RECORDS_BY_KEY["auxiliary"], data, path, self.table)
        here = path + ("auxiliary",)
        return Head(self.item(data["auxiliary"], here), self.table.key(here))

    def _branches(self, data: dict, path: Path, span: Span) -> Branches:
        validate(BranchesRecord, data, path, self.table)
        here = path + ("branches",)
        raw = data["branches"]
        if isinstance(raw, dict):
            paths = tuple(self._named_path(k, v, here) for k, v in raw.items())
        elif isinstance(raw, list):
            paths = tuple(self.item(d, here + (i,)) for i, d in enumerate(raw))
        else:
            raise error("E0202", "`branches` is a list of paths or a mapping of named paths",
                        self.table.value(here))
        if len(paths) < 2:
            raise error("E0203", f"`branches` needs at least 2 paths, found {len(paths)}",
                        self.table.value(here))
        return Branches(paths, self.expr(data["merge"], path + ("merge",)), self.table.key(here))

    def _named_path(self, name: str, value: object, here: Path) -> Named:
        name_span = self.table.key(here + (name,))
        problem = layer_name_problem(name)
        if problem:
            raise error("E0210", f"invalid branch name: {problem}", name_span)
        return Named(name, self.item(value, here + (name,)), name_span)

    def _repeat(self, data: dict, path: Path, span: Span) -> Repeat:
        record: RepeatRecord = validate(RepeatRecord, data, path, self.table)
        problem = identifier_problem(record.index)
        if problem:
            raise error("E0210", f"invalid index name: {problem}",
                        self.table.value(path + ("index",)))
        name = self.template(record.name, path + ("name",)) if record.name is not None else None
        return Repeat(self.expr(data["repeat"], path + ("repeat",)), record.index, name,
                      self.item(data["body"], path + ("body",)), self.table.key(path + ("repeat",)))

    def _from(self, data: dict, path: Path, span: Span) -> From:
        record: FromRecord = validate(FromRecord, data, path, self.table)
        here = path + ("from",)
        if isinstance(record.from_, str):
            refs = (self.template(record.from_, here),)
        else:
            if not record.from_:
                raise error("E0203", "`from` needs at least one name", self.table.value(here))
            refs = tuple(self.template(r, here + (i,)) for i, r in enumerate(record.from_))
        if len(refs) > 1 and record.merge is None:
            raise error("E0201", f"`from` reads {len(refs)} members: it needs a `merge:`",
                        self.table.key(here), help="e.g. `merge: concat`")
        return From(refs, None if record.merge is None else
                    self.expr(data["merge"], path + ("merge",)),
                    self.optional(data.get("body"), path + ("body",)), self.table.key(here))

    def _if(self, data: dict, path: Path, span: Span) -> Cond:
        validate(CondRecord, data, path, self.table)
        return Cond(self.expr(data["if"], path + ("if",)),
                    self.item(data["then"], path + ("then",)),
                    self.optional(data.get("else"), path + ("else",)),
                    self.table.key(path + ("if",)))


def _is_literal(value: object) -> bool:
    if isinstance(value, list):
        return all(_is_literal(v) for v in value)
    return value is None or isinstance(value, (bool, int, float))


def _is_list_literal(value: object) -> bool:
    """A YAML list is data: numbers, booleans, null, strings (as strings), lists."""
    if isinstance(value, list):
        return all(_is_list_literal(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def _describe(value: object) -> str:
    if value is None:
        return "nothing (null)"
    return f"{type(value).__name__} {value!r}"


__all__ = ["SExpr", "Template", "Item", "Call", "Seq", "Named", "Residual", "Branches",
           "Repeat", "Cond", "Head", "From", "ItemParser", "SpecError"]
