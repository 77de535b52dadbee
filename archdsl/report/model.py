"""What the report page shows of one checked network, as plain JSON-ready data.

Every op node and every scope (the network, a stage, a block, a named list) is an
*item*, keyed by its qualified name (the network itself is ""). A scope's figures
sum the ops inside it; its shape and receptive field are those of its output.
Each scope is also a *view*: its direct members, drawn as boxes, and the edges
between them, which archdsl.report.layout places with Graphviz.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archdsl.graph import INPUT, Graph, Member, Node, Scope
from archdsl.source import Span

ENTRY, EXIT = "<in>", "<out>"  # where a view's edges enter and leave a scope
FIGURES = ("params", "macs", "other_flops", "activation_bytes")


@dataclass
class View:
    """One scope drawn by itself: its members as boxes, edges between them."""

    scope: str
    boxes: list[str] = field(default_factory=list)  # item ids, ENTRY and EXIT
    edges: list[tuple[str, str]] = field(default_factory=list)


def scope_id(path: tuple[str, ...]) -> str:
    return ".".join(path)


def _kind(scope: Scope) -> str:
    if scope.block:
        return scope.block
    return "stage" if scope.origin == "stage" else "network" if not scope.path else "list"


class Sources:
    """The source files that spans point into, numbered in the order first met."""

    def __init__(self, main):
        self.files: dict[str, list[str]] = {}
        self.add(main)

    def add(self, source) -> int:
        if source.path not in self.files:
            self.files[source.path] = list(source.lines)
        return list(self.files).index(source.path)

    def span(self, span: Span | None) -> list[int] | None:
        """[file number, first line, last line] of a span."""
        if span is None:
            return None
        return [self.add(span.source), span.line, max(span.line, span.end_line)]


def _op_item(node: Node, sources: Sources) -> dict:
    cost, rf = node.cost, node.field
    return {
        "local": node.local, "kind": node.op.describe(), "parent": scope_id(node.scope),
        "shape": list(node.shape.dims) if node.shape else [],
        **{f: getattr(cost, f) if cost else 0 for f in FIGURES},
        "rf": list(rf.size) if rf else [], "stride": list(rf.stride) if rf else [],
        "span": sources.span(node.span),
    }


def _scope_item(graph: Graph, scope: Scope, sources: Sources) -> dict:
    out = graph.node(scope.output) if scope.output else None
    return {
        "local": scope.path[-1] if scope.path else graph.name, "kind": _kind(scope),
        "parent": scope_id(scope.path[:-1]) if scope.path else None, "scope": True,
        "shape": list(out.shape.dims) if out and out.shape else [],
        **{f: 0 for f in FIGURES},
        "rf": list(out.field.size) if out and out.field else [],
        "stride": list(out.field.stride) if out and out.field else [],
        "span": sources.span(scope.span),
        "defined": sources.span(scope.defined_at),
    }


def items(graph: Graph, sources: Sources) -> dict[str, dict]:
    """Every op node and scope of the graph, with its figures and source lines."""
    found = {scope_id(p): _scope_item(graph, s, sources) for p, s in graph.scopes.items()}
    input_type = graph.shape(INPUT)
    found[INPUT] = {"local": "input", "kind": "input", "parent": "", "shape":
                    list(input_type.dims), **{f: 0 for f in FIGURES}, "rf": [], "stride": [],
                    "span": None}
    for node in graph.ops():
        found[node.name] = _op_item(node, sources)
        for depth in range(len(node.scope) + 1):  # every scope around it adds it up
            total = found[scope_id(node.scope[:depth])]
            for f in FIGURES:
                total[f] += found[node.name][f]
    return found


def _owner(name: str, path: tuple[str, ...], scopes: dict[str, tuple[str, ...]]) -> str | None:
    """The member of scope `path` that holds op node `name`, or None if outside it."""
    inner = scopes[name]
    if inner[:len(path)] != path:
        return None
    return name if inner == path else scope_id(inner[:len(path) + 1])


def views(graph: Graph) -> list[View]:
    """A view per scope: its members in the spec's order, and the edges between them,
    with edges from outside drawn from ENTRY and edges leaving it drawn to EXIT."""
    scopes = {n.name: n.scope for n in graph.ops()}
    scopes[INPUT] = ()
    drawn: dict[tuple[str, ...], View] = {}
    for path, scope in graph.scopes.items():
        view = drawn[path] = View(scope_id(path), [ENTRY] if path else [INPUT])
        view.boxes += [c.node or scope_id(c.scope) for c in scope.children
                       if isinstance(c, Member)]
    seen: set[tuple[str, str, str]] = set()

    def connect(path: tuple[str, ...], a: str, b: str) -> None:
        if a != b and (path, a, b) not in seen:
            seen.add((path, a, b))
            drawn[path].edges.append((a, b))

    # Each edge shows in the views of the scopes around either end (a few per edge,
    # so the largest network costs linear time, not views x edges).
    for src, dst in graph.dag.edges:
        around = {scopes[end][:i] for end in (src, dst) for i in range(len(scopes[end]) + 1)}
        for path in around:
            connect(path, _owner(src, path, scopes) or ENTRY, _owner(dst, path, scopes) or EXIT)
    for sink in graph.sinks():
        for i in range(len(scopes[sink]) + 1):
            path = scopes[sink][:i]
            connect(path, _owner(sink, path, scopes), EXIT)
    for view in drawn.values():
        if any(b == EXIT for _, b in view.edges):
            view.boxes.append(EXIT)
    return list(drawn.values())
