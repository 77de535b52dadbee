"""Pictures of a graph: Graphviz dot and Mermaid, with blocks as clusters.

Nodes are labelled with their name, op and output shape. With `depth`, every
module deeper than `depth` levels is drawn as one node (its name, its block,
its output shape), so a ResNet-152 reads as its stages.
"""

from __future__ import annotations

from dataclasses import dataclass

from archdsl.graph import INPUT, Graph


@dataclass(frozen=True)
class _Box:
    """One drawn node: an op node, or a module collapsed to one node."""

    key: str
    name: str
    kind: str
    shape: str
    scope: tuple[str, ...]  # the cluster it is drawn in


def _boxes(graph: Graph, depth: int | None) -> tuple[dict[str, _Box], list[tuple[str, str]]]:
    """Drawn nodes (by graph node) and the edges between them."""
    owner: dict[str, _Box] = {
        INPUT: _Box("input", "input", "input", str(graph.shape(INPUT)), ())}
    for node in graph.ops():
        if depth is not None and len(node.scope) > depth:
            path = node.scope[:depth + 1]
            scope = graph.scope(path)
            kind = scope.block or ("stage" if scope.origin == "stage" else "module")
            owner[node.name] = _Box(".".join(path), ".".join(path), kind,
                                    str(graph.shape(scope.output)), path[:-1])
        else:
            owner[node.name] = _Box(node.name, node.name, node.op.describe(),
                                    str(node.shape), node.scope)
    edges = []
    for src, dst in graph.dag.edges:
        a, b = owner[src].key, owner[dst].key
        if a != b and (a, b) not in edges:
            edges.append((a, b))
    return owner, edges


def _clusters(graph: Graph, boxes: list[_Box]) -> dict[tuple[str, ...], list]:
    """Boxes grouped by the cluster (scope) that holds them, every ancestor present."""
    clusters: dict[tuple[str, ...], list] = {(): []}
    for box in boxes:
        for i in range(1, len(box.scope) + 1):
            clusters.setdefault(box.scope[:i], [])
        clusters[box.scope].append(box)
    return clusters


def _title(graph: Graph, path: tuple[str, ...]) -> str:
    scope = graph.scope(path)
    return f"{'.'.join(path)} ({scope.block})" if scope.block else ".".join(path)


def _unique(owner: dict[str, _Box]) -> list[_Box]:
    seen, out = set(), []
    for box in owner.values():
        if box.key not in seen:
            seen.add(box.key)
            out.append(box)
    return out


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(graph: Graph, depth: int | None = None) -> str:
    """Graphviz source; blocks and named lists are clusters."""
    owner, edges = _boxes(graph, depth)
    boxes = _unique(owner)
    ids = {box.key: f"n{i}" for i, box in enumerate(boxes)}
    clusters = _clusters(graph, boxes)
    lines = [f'digraph "{_dot_text(graph.name)}" {{', "  rankdir=TB;",
             '  node [shape=box, style="rounded,filled", fillcolor="#f4f4f4", '
             'fontname="Helvetica", fontsize=10];']

    def emit(path: tuple[str, ...], indent: str) -> None:
        for box in clusters[path]:
            label = "\\n".join(_dot_text(t) for t in (box.name, box.kind, box.shape))
            lines.append(f'{indent}{ids[box.key]} [label="{label}"];')
        children = [p for p in clusters if len(p) == len(path) + 1 and p[:len(path)] == path]
        for child in children:
            lines.append(f'{indent}subgraph "cluster_{_dot_text(".".join(child))}" {{')
            lines.append(f'{indent}  label="{_dot_text(_title(graph, child))}"; '
                         'style="rounded"; color="#999999";')
            emit(child, indent + "  ")
            lines.append(f"{indent}}}")

    emit((), "  ")
    lines += [f"  {ids[a]} -> {ids[b]};" for a, b in edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def to_mermaid(graph: Graph, depth: int | None = None) -> str:
    """Mermaid flowchart source; blocks and named lists are subgraphs."""
    owner, edges = _boxes(graph, depth)
    boxes = _unique(owner)
    ids = {box.key: f"n{i}" for i, box in enumerate(boxes)}
    clusters = _clusters(graph, boxes)
    subgraphs = {path: f"s{i}" for i, path in enumerate(clusters)}
    lines = ["flowchart TD"]

    def emit(path: tuple[str, ...], indent: str) -> None:
        for box in clusters[path]:
            label = "<br/>".join(_mermaid_text(t) for t in (box.name, box.kind, box.shape))
            lines.append(f'{indent}{ids[box.key]}["{label}"]')
        children = [p for p in clusters if len(p) == len(path) + 1 and p[:len(path)] == path]
        for child in children:
            title = _mermaid_text(_title(graph, child))
            lines.append(f'{indent}subgraph {subgraphs[child]}["{title}"]')
            emit(child, indent + "  ")
            lines.append(f"{indent}end")

    emit((), "  ")
    lines += [f"  {ids[a]} --> {ids[b]}" for a, b in edges]
    return "\n".join(lines) + "\n"


__all__ = ["to_dot", "to_mermaid"]
