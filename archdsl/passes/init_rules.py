"""Which layers the spec's `init` rules select, and which of their tensors they set."""

from __future__ import annotations

from fnmatch import fnmatchcase

from archdsl.diagnostics import Diagnostic, Severity
from archdsl.graph import Graph
from archdsl.lang.init import InitRule


def parameters(graph: Graph, node) -> tuple[str, ...]:
    return node.op.parameter_names([graph.shape(s) for s in graph.inputs(node.name)])


def matches(graph: Graph, rule: InitRule) -> list:
    """The op nodes with parameters that a rule selects."""
    return [node for node in graph.ops() if parameters(graph, node)
            and (rule.op is None or node.op.name == rule.op)
            and (rule.name is None or fnmatchcase(node.name, rule.name))]


def rule_coverage(graph: Graph) -> dict[str, set[str]]:
    """Module name -> the parameters that some init rule sets."""
    covered: dict[str, set[str]] = {}
    for rule in graph.init_rules:
        for node in matches(graph, rule):
            names = {a for a, call in (("weight", rule.weight), ("bias", rule.bias)) if call}
            covered.setdefault(node.name, set()).update(names & set(parameters(graph, node)))
    return covered


def unmatched(graph: Graph) -> list[Diagnostic]:
    """Warnings for name rules that select nothing (a typo in a glob does nothing)."""
    return [Diagnostic("W0102", f"init rule `name: {rule.name}` matches no layer with "
                       "parameters", rule.span, severity=Severity.WARNING,
                       help="check the glob against the layer names (`archdsl summary`)")
            for rule in graph.init_rules if rule.name and not matches(graph, rule)]
