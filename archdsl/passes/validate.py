"""Structural checks of the graph: acyclic, every node used, names unique."""

from __future__ import annotations

import networkx as nx

from archdsl.diagnostics import Diagnostic, Severity, error
from archdsl.graph import INPUT, Graph
from archdsl.lang.load import Spec
from archdsl.names import is_attribute_name, is_positional
from archdsl.passes import lint
from archdsl.passes.forms import CLASS, forms


def run(graph: Graph, spec: Spec | None = None) -> list[Diagnostic]:
    """Raise on a broken graph; return warnings about a suspicious one (and, given its
    spec, about unused params and blocks and constant conditions: passes.lint)."""
    if not nx.is_directed_acyclic_graph(graph.dag):
        cycle = nx.find_cycle(graph.dag)
        names = " -> ".join(src for src, _ in cycle)
        first = graph.node(cycle[0][0])
        raise error("E0700", f"the graph has a cycle: {names}", first.span,
                    help="a layer cannot consume its own output")
    _check_attribute_names(graph)
    _check_named_attributes(graph)
    inputs = {node.name: [graph.node(s).shape for s in graph.inputs(node.name)]
              for node in graph.ops()}
    _check_weights(graph, inputs)
    warnings = []
    roots = set(graph.sinks()) | {value for _, value in graph.returns}
    live = set(roots)
    for root in roots:
        live |= nx.ancestors(graph.dag, root)
    for node in graph.ops():
        if node.name not in live:
            warnings.append(Diagnostic(
                "W0100", f"the output of `{node.name}` is never used", node.span,
                help="remove it, or merge it into the network", severity=Severity.WARNING))
    if INPUT not in live:
        root = graph.scopes.get(())
        warnings.append(Diagnostic("W0100", "the network's output does not depend on its "
                                   "input", root.span if root else None,
                                   severity=Severity.WARNING))
    return warnings + lint.run(graph, spec, inputs)


def _check_weights(graph: Graph, inputs: dict[str, list]) -> None:
    """Shape inference bounds every activation; this bounds every layer's weights."""
    limit = graph.limits.max_tensor_elements
    for node in graph.ops():
        if None in inputs[node.name]:
            continue  # a graph built by hand, without shape inference
        count = node.op.param_count(inputs[node.name])
        if count > limit:
            raise error("E0500", f"`{node.name}` has {count:,} parameters, above the limit "
                        f"{limit:,} for one layer", node.span,
                        help="check the channel counts, or raise Limits.max_tensor_elements")


def _check_attribute_names(graph: Graph) -> None:
    """Names with hyphens name layers of plain sequences only: elsewhere they would be
    attributes of a generated class."""
    form = forms(graph)
    for path, scope in graph.scopes.items():
        if form[path] != CLASS:
            continue
        for child in scope.children:
            if is_attribute_name(child.local) or is_positional(child.local):
                continue
            span = graph.scopes[path + (child.local,)].span \
                if getattr(child, "scope", None) else graph.node(child.node).span \
                if getattr(child, "node", None) else scope.span
            raise error("E0210", f"`{child.local}` is not a Python name, and "
                        f"`{scope.name or graph.name}` is a class, not a plain sequence",
                        span, help="a name with `-` can only name a layer of a list whose "
                                   "layers run one after another (no merge, not a block's "
                                   "own layers); rename it with `_`")


def _check_named_attributes(graph: Graph) -> None:
    """An op whose state is an attribute of its module (a learnable tensor) or that is
    not called with one input (attention) needs a name: an nn.Sequential's layers are
    modules called one after another."""
    for scope in graph.scopes.values():
        if not scope.positional:
            continue
        for child in scope.children:
            node = graph.node(child.node) if getattr(child, "node", None) else None
            if node is not None and node.op.needs_class:
                raise error("E0210", f"`{node.op.name}` needs a name: the list it is in is a "
                            "plain sequence of layers", node.span,
                            help=f"name it, e.g. `{_suggested_name(node.op.name)}: "
                                 f"{node.op.describe()}`; its list then becomes a class")


def _suggested_name(op: str) -> str:
    return {"channel_scale": "layer_scale", "position_embedding": "pos_embedding",
            "attention": "self_attention"}.get(op, op)
