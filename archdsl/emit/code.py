"""A tiny code tree for the generated Python, and its rendering.

Ops describe their PyTorch constructors and forward expressions with these
nodes instead of strings, so that the emitter can compare two instances of a
block, abstract the literals that differ, and render every value with `repr`
of a checked Python value. Text from a spec never reaches the output except
as such a literal or as a validated identifier (`Var`, `Attr`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from archdsl.source import Span

Literal = int | float | bool | str | None | tuple


def safe_file_name(path: str) -> str:
    """The base name of a spec file, if it is plain enough to put in a comment."""
    base = re.split(r"[\\/]", path)[-1]
    return base if re.fullmatch(r"[A-Za-z0-9._-]{1,100}", base) else "spec"


def origin(span: Span) -> str:
    """`resnet50.yaml:12`: where a spec wrote something, for a comment of generated code
    (the file the line is in, which for a child spec may be its parent)."""
    return f"{safe_file_name(span.source.path)}:{span.line}"


@dataclass(frozen=True)
class Var:
    """A local variable or parameter of the generated code."""

    name: str


@dataclass(frozen=True)
class Attr:
    """`self.<name>`: a submodule."""

    name: str


@dataclass(frozen=True)
class Call:
    """`func(*args, **kwargs)`; `func` is a dotted name chosen by archdsl, or an Attr."""

    func: str | Attr
    args: tuple = ()
    kwargs: tuple[tuple[str, object], ...] = ()
    arg_names: tuple[str, ...] = ()  # what the positional arguments mean, for naming
    defaults: tuple[tuple[str, object], ...] = ()  # kwargs left out when they equal these

    def slot(self, position: tuple) -> str:
        """The parameter name behind a child position, e.g. 'out_channels'."""
        kind, index = position
        if kind == "kwargs":
            return self.kwargs[index][0]
        return self.arg_names[index] if index < len(self.arg_names) else f"arg{index}"


@dataclass(frozen=True)
class Method:
    """`receiver.name(*args, **kwargs)`; `name` is chosen by archdsl."""

    receiver: object
    name: str
    args: tuple = ()
    kwargs: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class Index:
    """`value[index]`, an integer index chosen by archdsl."""

    value: object
    index: int


@dataclass(frozen=True)
class Slices:
    """`value[:, :, 4:60, 4:60]`: the batch and channels whole, then `bounds` (start,
    stop) along each spatial dim."""

    value: object
    bounds: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Sum:
    """`a + b + …`."""

    terms: tuple


@dataclass(frozen=True)
class ListOf:
    """`[a, b, …]`."""

    items: tuple


@dataclass(frozen=True)
class Starred:
    """`*[item for _ in range(count)]`, inside a call's arguments."""

    item: object
    count: int


def literal(value: Literal) -> str:
    """The Python source of a checked literal value."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot emit the non-finite number {value}")
        return repr(float(value))
    if isinstance(value, str):
        text = str(value)
        plain = text.isascii() and text.isprintable() and '"' not in text and "\\" not in text
        return f'"{text}"' if plain else repr(text)
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    raise TypeError(f"cannot emit a value of type {type(value).__name__}")


def render(node: object) -> str:
    """The Python source of a code node (or a literal), on one line."""
    if isinstance(node, Var):
        return node.name
    if isinstance(node, Attr):  # a positional member of an nn.Sequential: self[0]
        return f"self[{node.name}]" if node.name.isdigit() else f"self.{node.name}"
    if isinstance(node, Call):
        return f"{_func(node)}({', '.join(_arguments(node))})"
    if isinstance(node, Method):
        arguments = [render(a) for a in node.args] + \
            [f"{k}={render(v)}" for k, v in node.kwargs]
        return f"{render(node.receiver)}.{node.name}({', '.join(arguments)})"
    if isinstance(node, Index):
        return f"{render(node.value)}[{node.index}]"
    if isinstance(node, Slices):
        spans = ", ".join(f"{int(a)}:{int(b)}" for a, b in node.bounds)
        return f"{render(node.value)}[:, :, {spans}]"
    if isinstance(node, Sum):
        return " + ".join(render(t) for t in node.terms)
    if isinstance(node, ListOf):
        return "[" + ", ".join(render(i) for i in node.items) + "]"
    if isinstance(node, TupleOf):
        inner = ", ".join(render(i) for i in node.items)
        return f"({inner},)" if len(node.items) == 1 else f"({inner})"
    if isinstance(node, Starred):
        return f"*[{render(node.item)} for _ in range({render(node.count)})]"
    if isinstance(node, Ref):
        raise ValueError(f"unresolved reference to {'.'.join(node.path)}")
    return literal(node)


def _func(node: Call) -> str:
    return render(node.func) if isinstance(node.func, Attr) else node.func


def _shown_kwargs(node: Call) -> list[tuple[str, object]]:
    """The kwargs worth writing: those that differ from their declared default."""
    defaults = dict(node.defaults)
    return [(k, v) for k, v in node.kwargs
            if not (k in defaults and is_leaf(v) and type(v) is type(defaults[k])
                    and v == defaults[k])]


def _arguments(node: Call) -> list[str]:
    return [render(a) for a in node.args] + [f"{k}={render(v)}" for k, v in _shown_kwargs(node)]


MAX_LINE = 100  # what a line of generated code may not pass, comment included


def format_lines(node: object, indent: str, prefix: str = "", suffix: str = "",
                 width: int = 88, comment: str = "") -> list[str]:
    """`prefix + node + suffix` at `indent`, broken one argument per line if too long;
    `comment` goes at the end of the first line and does not count towards `width`,
    or on a line of its own above when the first line would pass MAX_LINE with it."""
    lines = _format(node, indent, prefix, suffix, width)
    if len(lines[0]) + len(comment) <= MAX_LINE:
        lines[0] += comment
    elif comment:
        lines.insert(0, f"{indent}# {comment.lstrip()[2:]}")
    return lines


def _format(node: object, indent: str, prefix: str, suffix: str, width: int) -> list[str]:
    flat = f"{indent}{prefix}{render(node)}{suffix}"
    if len(flat) <= width:
        return [flat]
    inner = indent + "    "
    shown = _shown_kwargs(node) if isinstance(node, Call) else []
    if isinstance(node, Call) and len(node.args) == 1 and not shown and \
            isinstance(node.args[0], (Call, ListOf)):
        # Hug a lone argument: nn.Sequential(OrderedDict([ ... ]))
        return _format(node.args[0], indent, f"{prefix}{_func(node)}(", f"){suffix}", width)
    if isinstance(node, Call) and (node.args or shown):
        opening, closing = f"{_func(node)}(", ")"
        entries = [("", a) for a in node.args] + [(f"{k}=", v) for k, v in shown]
    elif isinstance(node, (ListOf, TupleOf)) and node.items:
        opening, closing = ("[", "]") if isinstance(node, ListOf) else ("(", ")")
        entries = [("", v) for v in node.items]
    elif isinstance(node, Starred):
        return _format(node.item, indent, f"{prefix}*[",
                       f" for _ in range({render(node.count)})]{suffix}", width)
    else:
        return [flat]
    lines = [f"{indent}{prefix}{opening}"]
    for key, value in entries:
        lines += _format(value, inner, key, ",", width)
    lines.append(f"{indent}{closing}{suffix}")
    return lines


@dataclass(frozen=True)
class TupleOf:
    """`(a, b, …)` of code nodes (a tuple of plain literals is itself a literal)."""

    items: tuple


@dataclass(frozen=True)
class Ref:
    """A placeholder for the constructor of another generated class's instance."""

    path: tuple[str, ...]


def children(node: object) -> list[tuple[tuple, object]]:
    """The sub-nodes of a code node, each with its position, in a fixed order."""
    if isinstance(node, Call):
        out = [(("args", i), a) for i, a in enumerate(node.args)]
        out += [(("kwargs", i), v) for i, (_, v) in enumerate(node.kwargs)]
        return out
    if isinstance(node, (ListOf, TupleOf, Sum)):
        items = node.terms if isinstance(node, Sum) else node.items
        return [(("items", i), v) for i, v in enumerate(items)]
    if isinstance(node, Starred):
        return [(("item",), node.item), (("count",), node.count)]
    if isinstance(node, Method):
        out = [(("receiver",), node.receiver)]
        out += [(("args", i), a) for i, a in enumerate(node.args)]
        out += [(("kwargs", i), v) for i, (_, v) in enumerate(node.kwargs)]
        return out
    if isinstance(node, (Index, Slices)):
        return [(("value",), node.value)]
    return []


def is_leaf(node: object) -> bool:
    """A literal value: the positions where two instances of a class may differ."""
    return not isinstance(node, (Var, Attr, Call, Method, Index, Slices, Sum, ListOf, TupleOf,
                                 Starred, Ref))


def rebuild(node: object, fn) -> object:
    """A copy of `node` with every leaf and Ref `x` replaced by `fn(position, x)`."""

    def walk(n, position):
        if is_leaf(n) or isinstance(n, Ref):
            return fn(position, n)
        if isinstance(n, Call):
            args = tuple(walk(a, position + (("args", i),)) for i, a in enumerate(n.args))
            kwargs = tuple((k, walk(v, position + (("kwargs", i),)))
                           for i, (k, v) in enumerate(n.kwargs))
            return Call(n.func, args, kwargs, n.arg_names, n.defaults)
        if isinstance(n, (ListOf, TupleOf)):
            return type(n)(tuple(walk(v, position + (("items", i),))
                                 for i, v in enumerate(n.items)))
        if isinstance(n, Sum):
            return Sum(tuple(walk(v, position + (("items", i),)) for i, v in enumerate(n.terms)))
        if isinstance(n, Starred):
            return Starred(walk(n.item, position + (("item",),)),
                           walk(n.count, position + (("count",),)))
        if isinstance(n, Method):
            args = tuple(walk(a, position + (("args", i),)) for i, a in enumerate(n.args))
            kwargs = tuple((k, walk(v, position + (("kwargs", i),)))
                           for i, (k, v) in enumerate(n.kwargs))
            return Method(walk(n.receiver, position + (("receiver",),)), n.name, args, kwargs)
        if isinstance(n, Index):
            return Index(walk(n.value, position + (("value",),)), n.index)
        if isinstance(n, Slices):
            return Slices(walk(n.value, position + (("value",),)), n.bounds)
        return n

    return walk(node, ())
