"""Structural checks of the graph: acyclic, every node used, names unique."""

from __future__ import annotations

import networkx as nx

from archdsl.diagnostics import Diagnostic, Severity, error
from archdsl.graph import INPUT, Graph


def run(graph: Graph) -> list[Diagnostic]:
    """Raise on a broken graph; return warnings about a suspicious one."""
    if not nx.is_directed_acyclic_graph(graph.dag):
        cycle = nx.find_cycle(graph.dag)
        names = " -> ".join(src for src, _ in cycle)
        first = graph.node(cycle[0][0])
        raise error("E0700", f"the graph has a cycle: {names}", first.span,
                    help="a layer cannot consume its own output")
    warnings = []
    live = set(graph.sinks())
    for sink in graph.sinks():
        live |= nx.ancestors(graph.dag, sink)
    for node in graph.ops():
        if node.name not in live:
            warnings.append(Diagnostic(
                "W0100", f"the output of `{node.name}` is never used", node.span,
                help="remove it, or merge it into the network", severity=Severity.WARNING))
    if INPUT not in live:
        warnings.append(Diagnostic("W0100", "the network's output does not depend on its "
                                   "input", None, severity=Severity.WARNING))
    return warnings
