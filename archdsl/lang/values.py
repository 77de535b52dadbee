"""The values expressions evaluate to: Python ints, floats, bools, strings, None and
tuples (lists), plus `LayerCall`, the value of an op, block or stage call; and
how a message names their types."""

from __future__ import annotations

from dataclasses import dataclass, replace

from archdsl.source import Span


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

    def with_args(self, args: tuple) -> LayerCall:
        """This call with its positional arguments replaced by `args`: `permute(0, 2, 3,
        1)` read as `permute([0, 2, 3, 1])`. A diagnostic about the new arguments points
        at all of the old ones."""
        first, last = self.arg_spans[0], self.arg_spans[-1]
        joined = replace(first, end_line=last.end_line, end_col=last.end_col) \
            if first.line == last.line else first
        return replace(self, args=args, arg_spans=(joined,) * len(args))

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


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def literal(value: object, width: int = 60) -> str:
    """`value` as a spec would write it (`true`, `none`, `[1, 3]`, `conv(64, 3)`), cut to
    about `width` characters: what a message echoes, never Python's repr of a value."""
    text = _literal(value)
    return text if len(text) <= width else text[:width - 1] + "…"


def _literal(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "none"}[value]
    if isinstance(value, tuple):
        return "[" + ", ".join(_literal(v) for v in value[:20]) + \
            (", …]" if len(value) > 20 else "]")
    if isinstance(value, LayerCall):
        arguments = [_literal(a) for a in value.args] + \
            [f"{k}={_literal(v)}" for k, v in value.kwargs]
        return f"{value.name}({', '.join(arguments)})" if arguments else value.name
    return repr(value)


def described(value: object) -> str:
    """`an int 3`, `a list [1, 2]`, `layer `relu``: a value's type and, but for a layer,
    which the type names already, its literal."""
    if isinstance(value, LayerCall):
        return a_type(value)
    return f"{a_type(value)} {literal(value)}"
