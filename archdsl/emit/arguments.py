"""Constructor arguments: the spec params that only change literals of the file.

`Resnet50(num_classes=10)` should work as `torchvision.models.resnet50(num_classes=10)`
does. A spec param becomes an argument of the generated network class's
constructor, with the spec's value as its default, when moving it changes
nothing in the generated file but constructor literals equal to the param's
value: `nn.Linear(2048, num_classes)`, `nn.Dropout(p=dropout_rate)`. That is
found by trial, not by reading the spec's expressions: the spec is checked again
with the param moved (to two other values), both files are written with those
literals replaced by the param's name, and they must read the same, comments
aside (the shape comments show what the literal does). The literals may sit in
the network class or in a class it makes itself (a classifier head), which then
takes the argument from it. A param that changes a block, a shape or a layer
count stays baked into the file, and the network class's docstring lists it with
its value.
"""

from __future__ import annotations

import io
import tokenize
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any

from archdsl.emit import code
from archdsl.emit.generalize import Group, Param, leaves
from archdsl.graph import Graph
from archdsl.names import Namespace, identifier_problem

# The graph of the spec with one param given another value; None where that is invalid.
Vary = Callable[[str, object], Graph | None]

# Each trial checks the spec again, so the search is bounded: it runs on graphs of up
# to the default Limits.max_graph_nodes (larger networks bake every param), and it
# skips params of value 0 or 1, which would be tried against every kernel size, stride
# and flag of the file (a network's `k: 1` or `dilation: 1` is structural) and would
# cost a check each. Baking is never wrong: `--set` changes a baked param.
MAX_SEARCH_NODES = 5_000
_UNSEARCHED = (0, 1)

# A literal: the index of a class in the plan (the network's last), a member of it,
# and a leaf position in that member's constructor call.
Hole = tuple[int, str, tuple]


@dataclass(frozen=True)
class Argument:
    """A constructor argument of the network class: its name, its default (the spec's
    value), and the literals it replaces."""

    name: str
    default: int | float
    holes: tuple[Hole, ...]


def find(base: Any, params: dict[str, object], vary: Vary, plan: Callable[[Graph], Any],
         text: Callable[[Any, tuple[Argument, ...]], str]) -> tuple[Argument, ...]:
    """The params of `base` (a torch_source.Plan) that only change literals of its
    classes; `plan` makes another graph's plan, `text` writes a plan's file with
    arguments."""
    found: list[Argument] = []
    taken: set[Hole] = set()
    if len(base.graph.dag) > MAX_SEARCH_NODES:
        return ()
    for name, value in _candidates(params, base.groups, base.naming.module):
        argument = _trial(base, name, value, vary, plan, text)
        if argument is not None and not taken & set(argument.holes):
            found.append(argument)
            taken |= set(argument.holes)
    return tuple(found)


def _trial(base: Any, name: str, value: int | float, vary: Vary, plan, text) -> Argument | None:
    """`name` as an argument, if moving it to each of two other values changes the same
    literals, to the new value, and nothing else; and if every class it must pass
    through can take a parameter of that name."""
    argument = base_code = None
    for other in moves(value):
        graph = vary(name, other)
        if graph is None:
            return None
        varied = plan(graph)
        holes = _holes(base.groups, varied.groups, value, other)
        if not holes or argument is not None and holes != argument.holes:
            return None
        argument = Argument(name, value, holes)
        if not _reachable(base.groups, argument):
            return None
        base_code = base_code or _code(text(base, (argument,)))  # the holes are the same
        if base_code != _code(text(varied, (argument,))):
            return None
    return argument


def moves(value: int | float) -> tuple[int | float, int | float]:
    """Two other values of the same type, to see which literals a param reaches: two,
    so that a literal that follows the param near its value only (`max(n, 10)`) is
    less likely to pass for the param itself."""
    if isinstance(value, int):
        return value + 1, value * 2 if value else 2
    return (value / 2, (1 + value) / 2) if value else (0.5, 0.25)


def apply(groups: tuple[Group, ...], found: tuple[Argument, ...]) -> tuple[Group, ...]:
    """The classes with each argument's literals replaced by its name. The network
    class takes it with its default; a block class that holds such a literal, or makes
    a block that does, takes it as a parameter (without a default, as its others),
    and every place that makes that block passes it on: `InceptionAux(512,
    num_classes=num_classes)`."""
    if not found:
        return groups
    names = {hole: a.name for a in found for hole in a.holes}
    takers = _takers(groups, found)
    passes = {groups[i].class_name: [a.name for a in found if i in takers[a.name]]
              for i in range(len(groups) - 1)}
    out = []
    for index, group in enumerate(groups):
        ctors = {local: _pass_on(code.rebuild(
            ctor, lambda pos, leaf, hole=(index, local): code.Var(names[(*hole, pos)])
            if (*hole, pos) in names else leaf), passes)
            for local, ctor in group.ctors.items()}
        taken = [a for a in found if index in takers[a.name]]
        if index == len(groups) - 1:
            params = group.params + [Param(a.name, [a.default], default=a.default)
                                     for a in taken]
        else:  # before the parameters with defaults, as Python requires
            new = [Param(a.name, [a.default] * len(group.instances)) for a in taken]
            params = [p for p in group.params if not p.has_default] + new + \
                [p for p in group.params if p.has_default]
        out.append(replace(group, ctors=ctors, params=params))
    return tuple(out)


def _reachable(groups: tuple[Group, ...], argument: Argument) -> bool:
    """Whether the classes that would take `argument` are the network's and those it
    makes itself (a classifier head), none with a parameter of that name already.
    Deeper, the argument would be passed through every block that makes one (each
    batch norm's `eps` through every layer); there it stays baked."""
    root = groups[-1]
    for index in _takers(groups, (argument,))[argument.name]:
        group = groups[index]
        if argument.name in {p.name for p in group.params} or group is not root and \
                not any(_makes(ctor, {group.class_name}) for ctor in root.ctors.values()):
            return False
    return True


def _takers(groups: tuple[Group, ...], found: tuple[Argument, ...]) -> dict[str, set[int]]:
    """For each argument, the classes that take it: those that hold one of its
    literals, those that make one of those, and so on up to the network's."""
    out = {}
    for argument in found:
        takers = {index for index, _, _ in argument.holes} | {len(groups) - 1}
        for index, group in enumerate(groups):  # children come before their parents
            made = {g.class_name for i, g in enumerate(groups) if i in takers}
            if any(_makes(ctor, made) for ctor in group.ctors.values()):
                takers.add(index)
        out[argument.name] = takers
    return out


def _makes(node: object, classes: set[str]) -> bool:
    """Whether a constructor call makes one of `classes`, directly or in its arguments."""
    if isinstance(node, code.Call) and node.func in classes:
        return True
    return any(_makes(child, classes) for _, child in code.children(node))


def _pass_on(node: object, passes: dict[str, list[str]]) -> object:
    """`node` with each call of a class in `passes` given those arguments by name,
    wherever the call sits (an nn.Sequential's item, a `*[…]` run, an OrderedDict)."""
    if isinstance(node, tuple):
        return tuple(_pass_on(item, passes) for item in node)
    if not is_dataclass(node) or isinstance(node, type):
        return node
    node = replace(node, **{f.name: _pass_on(getattr(node, f.name), passes)
                            for f in fields(node)})
    if isinstance(node, code.Call) and isinstance(node.func, str) and node.func in passes:
        node = replace(node, kwargs=node.kwargs + tuple(
            (name, code.Var(name)) for name in passes[node.func]))
    return node


def _candidates(params: dict[str, object], groups: tuple[Group, ...],
                module: Namespace) -> list[tuple[str, int | float]]:
    """Numeric params whose value is a literal of some class, and whose name can be a
    parameter (no keyword, nothing the file's code already names)."""
    literals = {(type(leaf), leaf) for group in groups for ctor in group.ctors.values()
                for _, leaf in leaves(ctor)}
    own = {p.name for p in groups[-1].params}
    return [(name, value) for name, value in params.items()
            if type(value) in (int, float) and (type(value), value) in literals and
            not (type(value) is int and value in _UNSEARCHED) and
            not identifier_problem(name) and not name.startswith("_") and
            name not in module and name not in own]


def _holes(base: tuple[Group, ...], varied: tuple[Group, ...], old: object,
           new: object) -> tuple[Hole, ...] | None:
    """Where `varied`'s constructor calls hold `new` and `base`'s `old`; None if they
    differ anywhere else."""
    if len(base) != len(varied):
        return None
    found = []
    for index, (ours, theirs) in enumerate(zip(base, varied)):
        if ours.ctors.keys() != theirs.ctors.keys():
            return None
        for local, ctor in ours.ctors.items():
            a_leaves, b_leaves = leaves(ctor), leaves(theirs.ctors[local])
            if [p for p, _ in a_leaves] != [p for p, _ in b_leaves]:
                return None
            for (position, a), (_, b) in zip(a_leaves, b_leaves):
                if type(a) is type(b) and a == b:
                    continue
                if not (type(a) is type(old) and a == old and type(b) is type(new) and
                        b == new):
                    return None
                found.append((index, local, position))
    return tuple(found)


def _code(source: str) -> list[tuple[int, str]]:
    """The tokens of generated source, without its comments."""
    skip = {tokenize.COMMENT, tokenize.NL}
    return [(t.type, t.string) for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t.type not in skip]


# ---------------------------------------------------------------------- docstring

MAX_VALUE = 60  # a baked list longer than this is shown as `name=[...]`


def note(params: dict[str, object],
         found: tuple[Argument, ...]) -> list[tuple[str, list[str]]]:
    """The paragraphs the network class's docstring adds: its constructor arguments,
    and the params baked into the file."""
    given = {a.name for a in found}
    baked = [_spec_value(name, value) for name, value in params.items()
             if name not in given and not identifier_problem(name)]
    out = []
    if found:
        out.append(("Constructor arguments:", [f"{a.name}={code.literal(a.default)}"
                                               for a in found]))
    if baked:
        out.append(("Baked into this file (recompile with `--set NAME=VALUE` to change):",
                    baked))
    return out


def _spec_value(name: str, value: object) -> str:
    """`name=value` as a spec writes it (`k=1`, `depths=[3, 4, 6, 3]`); `cfg=[...]` for
    a long list, the name alone for a value with no short plain text (a layer)."""
    text = _plain(value)
    if text is not None and len(text) <= MAX_VALUE:
        return f"{name}={text}"
    return f"{name}=[...]" if isinstance(value, tuple) else name


def _plain(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "none"}[value]
    if isinstance(value, (int, float)):
        return code.literal(value)
    if isinstance(value, str):
        plain = value.isascii() and value.isprintable() and not set(value) & set("\"'\\")
        return f'"{value}"' if plain else None
    if isinstance(value, tuple):
        items = [_plain(v) for v in value]
        return None if None in items else f"[{', '.join(items)}]"
    return None


def with_note(lines: list[str], paragraphs: list[tuple[str, list[str]]], indent: str,
              width: int = 88) -> list[str]:
    """A class docstring's lines with `paragraphs` (a heading and its items) added,
    broken between items only, so that a list value stays on one line."""
    if not paragraphs or not lines or not lines[0].startswith(f'{indent}"""'):
        return lines
    if len(lines) == 1:  # """Text."""  ->  """Text.  …  """
        lines = [lines[0][:-3], f'{indent}"""']
    added = []
    for paragraph in paragraphs:
        added += [""] + _wrap(*paragraph, indent, width)
    return lines[:-1] + added + lines[-1:]


def _wrap(head: str, items: list[str], indent: str, width: int) -> list[str]:
    """`head item, item, ….` on lines of at most `width` where the items allow."""
    pieces = [head] + [f"{item}," for item in items[:-1]] + [f"{items[-1]}."]
    lines: list[str] = []
    line = indent
    for piece in pieces:
        if line.strip() and len(line) + 1 + len(piece) > width:
            lines.append(line)
            line = indent + piece
        else:
            line = f"{line} {piece}" if line.strip() else indent + piece
    return lines + [line]
