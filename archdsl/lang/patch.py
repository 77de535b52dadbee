"""Patches: change one part of a spec's data by path, keeping every span.

A path walks the spec as written: mapping keys, list elements by index (`[2]`)
or by the name of a named layer, and, at the end, a keyword argument of a call:

    params.depths[2]                         an element of a param's list
    network.layer3.depth                     the `depth=` of layer3's stage call
    blocks.bottleneck.residual.body.conv2    a named layer inside a block
    network[4]                               the fifth layer

The operations are explicit: `set` (replace a value, or add a key or keyword
argument), `delete`, `insert_before` and `insert_after` (list elements).
Nothing merges silently. Used by `extends:` + `patch:` and by `--set PATH=VALUE`.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

from archdsl.diagnostics import error
from archdsl.lang.evaluate import suggest
from archdsl.lang.yamlload import Path, SpanTable
from archdsl.source import Span

_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(-?\d+)\]")
VERBS = ("set", "delete", "insert_before", "insert_after")


class PatchedCall(str):
    """A call written in one place whose keyword arguments a patch set elsewhere."""

    kwargs: dict[str, tuple[object, Span]]

    def __new__(cls, text: str, kwargs: dict[str, tuple[object, Span]]):
        out = super().__new__(cls, text)
        out.kwargs = kwargs
        return out

    def __deepcopy__(self, memo):
        return PatchedCall(str(self), dict(self.kwargs))


@dataclass(frozen=True)
class Patch:
    verb: str  # one of VERBS
    target: tuple  # path segments: names (str) and indices (int)
    text: str  # the path as written
    value: object  # plain data (None for delete)
    value_table: SpanTable  # the spans of `value`, rooted at ()
    span: Span  # where the patch is written


@dataclass(frozen=True)
class _Target:
    """Where a path ends: a key of a mapping, an element of a list, or a keyword."""

    kind: str  # "key" | "element" | "keyword"
    container: object  # the dict or list holding the target (for a keyword: the call's holder)
    path: Path  # the container's path
    key: object  # the dict key, the list index, or the holder's key of the call
    name: str | None = None  # the layer name an element was found by, or the keyword


def parse_path(text: str, span: Span) -> tuple:
    """`network.layer3.depth` -> ("network", "layer3", "depth"); `a[2]` -> ("a", 2)."""
    segments: list = []
    position = 0
    while position < len(text):
        if segments and text[position] == "." and not text.startswith(".[", position):
            position += 1
        match = _SEGMENT.match(text, position)
        if not match:
            raise error("E0600", f"`{text}` is not a path", span,
                        help="write names separated by dots, with [N] for list elements, "
                             "e.g. network.layer3.depth or params.depths[2]")
        segments.append(match.group(1) if match.group(1) else int(match.group(2)))
        position = match.end()
    if not segments:
        raise error("E0600", "the path is empty", span)
    return tuple(segments)


def apply(data: dict, table: SpanTable, patch: Patch) -> tuple[dict, SpanTable]:
    """`data` and its spans with `patch` applied; the inputs are left as they were."""
    data = copy.deepcopy(data)
    table = table.copy()
    target = _find(data, patch)
    verb = patch.verb
    if verb == "set":
        _set(target, table, patch)
    elif target.kind == "keyword":
        raise error("E0600", f"`{patch.text}` is a keyword argument: it can be set, not "
                    f"{'deleted' if verb == 'delete' else 'inserted beside'}", patch.span)
    elif verb == "delete":
        del target.container[target.key]
        table.drop(target.path + (target.key,))
        if target.kind == "element":
            table.shift(target.path, target.key + 1, -1)
    elif target.kind != "element":
        raise error("E0600", f"`{patch.text}` is not a list element: layers are inserted "
                    "beside the elements of a list", patch.span)
    else:
        index = target.key + (verb == "insert_after")
        table.shift(target.path, index, 1)
        target.container.insert(index, patch.value)
        table.graft(patch.value_table, target.path + (index,))
    return data, table


def _find(data: dict, patch: Patch) -> _Target:
    node: object = data
    path: Path = ()
    holder: tuple[object, Path, object] | None = None  # what holds `node`, for keywords
    for depth, segment in enumerate(patch.target):
        last = depth == len(patch.target) - 1
        if isinstance(node, dict):
            if segment not in node and not (last and patch.verb == "set"):
                raise _missing(patch, depth, sorted(map(str, node)))
            if last:
                return _Target("key", node, path, segment)
            holder, node, path = (node, path, segment), node[segment], path + (segment,)
        elif isinstance(node, list):
            index = _index(node, segment, patch, depth)
            if last:
                return _Target("element", node, path, index,
                               segment if isinstance(segment, str) else None)
            element = node[index]
            if isinstance(segment, str):  # into the named layer's value
                holder, node, path = (element, path + (index,), segment), \
                    element[segment], path + (index, segment)
            else:
                holder, node, path = (node, path, index), element, path + (index,)
        elif isinstance(node, str) and last and isinstance(segment, str) and holder:
            container, container_path, key = holder
            return _Target("keyword", container, container_path, key, segment)
        else:
            where = ".".join(str(s) for s in patch.target[:depth]) or "the spec"
            raise error("E0600", f"`{where}` is a single value: `{patch.text}` cannot go "
                        "inside it", patch.span,
                        help="a path goes through mappings and lists, and may end with a "
                             "keyword argument of a call")
    raise error("E0600", "the path is empty", patch.span)


def _index(items: list, segment, patch: Patch, depth: int) -> int:
    if isinstance(segment, int):
        if not -len(items) <= segment < len(items):
            raise error("E0600", f"`{patch.text}`: index {segment} is out of range for a "
                        f"list of {len(items)}", patch.span)
        return segment % len(items)
    names = [next(iter(e)) for e in items if isinstance(e, dict) and len(e) == 1]
    for index, element in enumerate(items):
        if isinstance(element, dict) and len(element) == 1 and segment in element:
            return index
    raise _missing(patch, depth, names)


def _missing(patch: Patch, depth: int, names: list[str]):
    where = ".".join(str(s) for s in patch.target[:depth]) or "the spec"
    segment = patch.target[depth]
    listed = ", ".join(names[:12]) or "none"
    return error("E0600", f"`{patch.text}`: `{where}` has no `{segment}`", patch.span,
                 help=suggest(str(segment), names) or f"it has: {listed}")


def _set(target: _Target, table: SpanTable, patch: Patch) -> None:
    if target.kind == "keyword":
        call = target.container[target.key]
        kwargs = dict(call.kwargs) if isinstance(call, PatchedCall) else {}
        kwargs[target.name] = (patch.value, patch.value_table.value(()))
        target.container[target.key] = PatchedCall(str(call), kwargs)
        return
    value, at = patch.value, target.path + (target.key,)
    renamed = isinstance(value, dict) and len(value) == 1
    if target.kind == "element" and target.name is not None and not renamed:
        value, at = {target.name: value}, at + (target.name,)  # keep the layer's name
    new_key = target.kind == "key" and target.key not in target.container
    table.drop(at)
    target.container[target.key] = value
    table.graft(patch.value_table, at)
    if new_key:
        table.keys[at] = patch.span
