"""Bind a call's arguments to the parameters of the op or block it calls.

Ops and blocks are called alike, `conv(64, 3, stride=2)` and
`bottleneck(64, stride=2)`: arguments by position in declared order, then by
keyword; a patch may set again, by keyword, an argument given by position.
One binder matches both kinds of call, so that a mistake reads the same
whichever is called.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import NamedTuple

from archdsl.diagnostics import Label, SpecError, error
from archdsl.lang.evaluate import LayerCall, suggest, with_article
from archdsl.lang.values import described
from archdsl.source import Span

# What a value must be to pass as a block argument of each declared type.
ARG_CHECKS: dict[str, Callable[[object], bool]] = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "list": lambda v: isinstance(v, tuple),
}


class Callee(NamedTuple):
    """What a call binds to: an op's or a block's name and its parameters, in order.

    One is made for every call (a named tuple: cheap to make, as every op node's
    call is bound)."""

    name: str
    params: tuple[str, ...]
    # An op: its signature, `conv(out, kernel, stride=1, …)`, made only for a message.
    usage: Callable[[], str] | None = None
    # A block: where it is defined and each parameter declared, and the names bound to
    # its input (which no call passes).
    defined: Span | None = None
    declared: tuple[Span, ...] = ()
    bound_to_input: Collection[str] = ()
    # An op: how many leading parameters may be given by position (None: all), and the
    # help for a call that gives more.
    positional: int | None = None
    positional_help: str = ""

    def bind(self, call: LayerCall) -> Bound:
        """Match `call`'s arguments to the parameters: by position, then by keyword."""
        if len(call.args) > len(self.params):
            raise self._too_many(call)
        if self.positional is not None and len(call.args) > self.positional:
            raise self._keyword_only(call)
        values = dict(zip(self.params, call.args))
        spans = {name: _at(call.arg_spans, i, call.span) for i, name in enumerate(values)}
        for i, (key, value) in enumerate(call.kwargs):
            span = _at(call.kw_spans, i, call.span)
            if key not in self.params:
                raise self._unknown(key, span)
            if key in values and key not in call.patched:
                raise error("E0303", f"argument `{key}` of `{self.name}` given twice", span)
            values[key], spans[key] = value, span
        return Bound(self, call, values, spans)

    def _too_many(self, call: LayerCall) -> SpecError:
        count, given = len(self.params), len(call.args)
        span, plural = _at(call.arg_spans, count, call.span), "s" if count != 1 else ""
        if self.usage is not None:  # an op: "at most", as its later parameters have defaults
            return error("E0303", f"`{self.name}` takes at most {count} positional "
                         f"argument{plural}, got {given}", span, help=self._usage())
        return error("E0303", f"`{self.name}` takes {count} argument{plural}, got {given} "
                     "positional", span, labels=self._defined())

    def _keyword_only(self, call: LayerCall) -> SpecError:
        """More positional arguments than an op takes before its keyword-only ones."""
        count, given = self.positional, len(call.args)
        span = _at(call.arg_spans, count, call.span)
        if count == 0:
            message = f"`{self.name}` takes no positional arguments, got {given}"
        else:
            names = ", ".join(self.params[:count])
            message = (f"`{self.name}` takes {count} positional argument"
                       f"{'s' if count != 1 else ''} ({names}), got {given}")
        rest = self.params[count:]
        example = f"{self.name}({', '.join((*self.params[:count], f'{rest[0]}=…'))})"
        fix = self.positional_help or f"{', '.join(rest)} are keyword-only: `{example}`"
        return error("E0303", message, span, label=f"`{rest[0]}` is keyword-only",
                     help=fix)

    def _unknown(self, key: str, span: Span) -> SpecError:
        if key in self.bound_to_input:
            fix = f"`{key}` is bound to the block's input"
        else:
            fix = suggest(key, self.params) or self._usage() or \
                f"its arguments are: {', '.join(self.params) or 'none'}"
        return error("E0303", f"`{self.name}` has no argument `{key}`", span,
                     labels=self._defined(), help=fix)

    def _usage(self) -> str:
        return f"`{self.name}` takes {self.usage()}" if self.usage is not None else ""

    def _defined(self) -> tuple[Label, ...]:
        return (Label(self.defined, "defined here"),) if self.defined is not None else ()

    def _declared(self, name: str, text: str) -> tuple[Label, ...]:
        if not self.declared:
            return ()
        return (Label(self.declared[self.params.index(name)], text),)


class Bound(NamedTuple):
    """A call's arguments by parameter name: the values, and the spans that gave them."""

    callee: Callee
    call: LayerCall
    values: dict[str, object]
    spans: dict[str, Span]

    def missing(self, name: str) -> SpecError:
        """The error for parameter `name`, which no argument gives and no default fills."""
        callee = self.callee
        return error("E0303", f"`{callee.name}` needs the argument `{name}`", self.call.span,
                     labels=callee._declared(name, f"`{name}` declared here"),
                     help=callee._usage() or f"pass it: `{callee.name}({name}=…)`")

    def typed(self, name: str, want: str) -> object:
        """Argument `name` checked against a block's declared type `want`; a float
        argument given as an int becomes a float."""
        value, span = self.values[name], self.spans[name]
        if not ARG_CHECKS.get(want, lambda v: True)(value):
            raise error("E0202", f"argument `{name}` of `{self.callee.name}` is "
                        f"{with_article(want)}, but {described(value)} is given", span,
                        labels=self.callee._declared(name, "declared here"))
        return float(value) if want == "float" else value


def _at(spans: tuple[Span, ...], index: int, fallback: Span) -> Span:
    """The span of the argument at `index`, or the call's for an argument made by the
    construction rather than written (drop_path's survival)."""
    return spans[index] if index < len(spans) else fallback
