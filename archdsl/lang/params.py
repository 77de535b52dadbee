"""Parameters: defaults from the spec, overridden by `--set` or keyword arguments.

An override replaces a param's value before later params are evaluated, so a
param defined from another (`width: 64 * k`) follows it. Its type must match
the default's: an int param takes an int, a list of ints a list of ints.
`depths[2]=23` replaces one element.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from archdsl.diagnostics import error
from archdsl.lang import expr as ast
from archdsl.lang.evaluate import Evaluator, a_type, suggest
from archdsl.lang.load import Spec
from archdsl.lang.patch import Patch, parse_path
from archdsl.lang.values import described, literal
from archdsl.lang.yamlload import SpanTable, load_yaml
from archdsl.source import SourceFile, Span

_TARGET = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)((?:\s*\[\s*-?\d+\s*\])*)\s*=")


@dataclass(frozen=True)
class Override:
    """`name[i][j] = value`, and where it was given."""

    name: str
    indices: tuple[int, ...]
    value: object
    span: Span

    @property
    def target(self) -> str:
        return self.name + "".join(f"[{i}]" for i in self.indices)


def parse_override(text: str, origin: str = "--set") -> Override:
    """Parse `NAME=VALUE` or `NAME[I]=VALUE`; VALUE is a literal expression."""
    source = SourceFile(f"<{origin}>", text)
    whole = Span(source, 1, 1, 1, len(text) + 1, content_col=1)
    match = _TARGET.match(text)
    if not match:
        raise error("E0600", f"`{text}` is not an override", whole,
                    help="write NAME=VALUE or NAME[INDEX]=VALUE, e.g. cardinality=64 or "
                         "depths[2]=23")
    indices = tuple(int(i) for i in re.findall(r"-?\d+", match.group(2)))
    value_text = text[match.end():]
    value_span = whole.slice(match.end(), len(text))
    try:
        node = ast.parse(value_text)
    except ast.ExprSyntaxError as exc:
        raise error("E0600", exc.message, value_span.slice(exc.start, exc.end),
                    help=exc.help) from None
    value = Evaluator((), ()).eval(node, {}, value_span)
    return Override(match.group(1), indices, value, whole)


SECTIONS = ("network", "blocks", "input", "name", "doc", "outputs", "returns", "init")


def parse_set(text: str, origin: str = "--set") -> Override | Patch:
    """A `--set`: a param (`k=2`, `depths[2]=23`, `params.k=2`) is an Override; a path
    into the spec (`network.layer3.depth=23`, `blocks.unit.args.stride=2`) a Patch."""
    head = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)(\.?)", text)
    if head and head.group(1) == "params" and head.group(2):
        return parse_override(text[head.end():], origin)
    if not head or head.group(1) not in SECTIONS:
        return parse_override(text, origin)
    source = SourceFile(f"<{origin}>", text)
    whole = Span(source, 1, 1, 1, len(text) + 1, content_col=1)
    target, equals, value_text = text.partition("=")
    if not equals:
        raise error("E0600", f"`{text}` is not an override", whole,
                    help="write PATH=VALUE, e.g. network.layer3.depth=23")
    value, table = load_yaml(value_text, f"<{origin}>") if value_text.strip() else (None, None)
    if table is None:
        raise error("E0600", "the value is empty", whole)
    # Spans of the value point into the whole --set text, after the `=`.
    offset = len(target) + 1
    shifted = SpanTable(source, {p: _shift(s, source, offset) for p, s in table.values.items()},
                        {p: _shift(s, source, offset) for p, s in table.keys.items()})
    return Patch("set", parse_path(target.strip(), whole), target.strip(), value, shifted,
                 whole)


def _shift(span: Span, source: SourceFile, offset: int) -> Span:
    return Span(source, 1, span.col + offset, 1, span.end_col + offset,
                None if span.content_col is None else span.content_col + offset)


def python_override(name: str, value: object) -> Override:
    """An override given as a keyword argument (`archdsl.build(..., k=2)`)."""
    text = f"{name}={value!r}"
    source = SourceFile("<keyword argument>", text)
    return Override(name, (), _freeze(value, name), Span(source, 1, 1, 1, len(text) + 1))


def resolve(spec: Spec, evaluator: Evaluator, overrides: list[Override]) -> dict[str, object]:
    """Evaluate the params in order, applying the overrides."""
    names = [name for name, _ in spec.params]
    for o in overrides:
        if o.name not in names:
            listed = ", ".join(names) or "none"
            raise error("E0600", f"`{spec.name}` has no param `{o.name}`", o.span,
                        help=suggest(o.name, names) or f"its params are: {listed}")
    env: dict[str, object] = {}
    for name, default in spec.params:
        value = evaluator.eval(default.node, env, default.span)
        for o in overrides:
            if o.name == name:
                value = _apply(value, o)
        env[name] = value
    return env


def _apply(current: object, o: Override) -> object:
    if not o.indices:
        return _conform(o.value, current, o)
    items = current
    for depth, index in enumerate(o.indices):
        if not isinstance(items, tuple):
            raise error("E0600", f"`{o.name}{''.join(f'[{i}]' for i in o.indices[:depth])}` "
                        f"is {a_type(items)}, not a list", o.span)
        if not -len(items) <= index < len(items):
            raise error("E0600", f"index {index} is out of range: `{o.name}` has "
                        f"{len(items)} elements", o.span)
        items = items[index]
    return _replace(current, o.indices, _conform(o.value, items, o))


def _replace(items: tuple, indices: tuple[int, ...], value: object) -> tuple:
    index = indices[0] % len(items)
    inner = value if len(indices) == 1 else _replace(items[index], indices[1:], value)
    return items[:index] + (inner,) + items[index + 1:]


def _conform(value: object, default: object, o: Override) -> object:
    """`value` in the type of `default`, or a located error."""
    if default is None:
        return value
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, tuple):
        ok = isinstance(value, tuple)
        if ok and default:
            value = tuple(_conform_element(v, default, o) for v in value)
    else:
        ok = type(value) is type(default)
    if not ok:
        raise error("E0600", f"`{o.target}` is {a_type(default)}, but the override "
                    f"gives {described(value)}", o.span,
                    help=f"give {a_type(default)}, like the default {literal(default)}")
    return value


def _conform_element(value: object, default: tuple, o: Override) -> object:
    """An element of a list override: of the type of one of the default's elements
    (VGG's cfg mixes ints and 'M')."""
    kinds = {type(v) for v in default}
    if type(value) in kinds or (isinstance(value, int) and not isinstance(value, bool)
                                and float in kinds):
        sample = next(v for v in default if type(v) is type(value) or
                      (type(v) is float and type(value) is int))
        return _conform(value, sample, o)
    return _conform(value, default[0], o)


def _freeze(value: object, name: str) -> object:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v, name) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"param `{name}`: {type(value).__name__} is not a spec value "
                    "(use numbers, booleans, strings and lists)")
