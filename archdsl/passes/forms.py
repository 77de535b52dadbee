"""What each scope of the graph becomes in code: a class, or a plain sequence.

- `sequential`: an nn.Sequential written inline in its parent (`features.0`, `.1`, …);
- `ordered`:    an nn.Sequential(OrderedDict(...)) for a chain of named members;
- `class`:      a generated nn.Module class (always for the network and for blocks);
                a positional one that is not a chain is an nn.Sequential subclass with
                its own forward (torchvision's ASPPPooling), its members `self[0]`, ….

A scope can be a sequence only when its members run one after another, each
reading the previous one's output alone, and each is a module called with it
(not a learnable tensor, not attention's query-key-value call: `needs_class`).
"""

from __future__ import annotations

from archdsl.graph import Ghost, Graph, Member, Scope

SEQUENTIAL, ORDERED, CLASS = "sequential", "ordered", "class"


def forms(graph: Graph) -> dict[tuple[str, ...], str]:
    """The form of every scope."""
    out = {}
    for path, scope in graph.scopes.items():
        if path == () or scope.block is not None or scope.exports or scope.imports or \
                not is_chain(graph, scope):
            out[path] = CLASS
        else:
            out[path] = SEQUENTIAL if dense_positions(scope) else ORDERED
    return out


def dense_positions(scope: Scope) -> bool:
    """Positional members named 0, 1, …, n-1 (none removed by a transform)."""
    names = [c.local for c in scope.children if isinstance(c, Member)]
    return scope.positional and names == [str(i) for i in range(len(names))]


def is_chain(graph: Graph, scope: Scope) -> bool:
    """Members applied one after another, each a module (no functional op, no ghost)."""
    value = scope.input
    for child in scope.children:
        if isinstance(child, Ghost):
            return False
        if child.node is not None:
            if graph.inputs(child.node) != [value]:  # a merge is never a link of a chain
                return False
            if graph.node(child.node).op.needs_class:  # a tensor attribute, attention
                return False
            value = child.node
        else:
            sub = graph.scope(child.scope)
            if sub.input != value or sub.imports:
                return False
            value = sub.output
    return value == scope.output
