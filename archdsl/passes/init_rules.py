"""Which layers the spec's `init` rules select, and which of their tensors they set.

A rule sets the `weight` and the `bias` of the layers it selects that hold such a
parameter; a layer without one (a ReLU, an attention layer, whose tensors are
`in_proj_weight` and the like) is passed over. `check` refuses a rule whose function
cannot fill a tensor it selects (a fan-based init of a 1-d weight)."""

from __future__ import annotations

from fnmatch import fnmatchcase

from archdsl.diagnostics import Diagnostic, Severity, error
from archdsl.graph import Graph
from archdsl.lang.init import InitRule

SETTABLE = ("weight", "bias")
# The init functions that compute fan in and fan out: they need two or more dims.
FAN_FUNCTIONS = {"kaiming_normal_", "kaiming_uniform_", "xavier_normal_", "xavier_uniform_"}


def _tensors(graph: Graph, node) -> dict:
    return node.op.tensors([graph.shape(s) for s in graph.inputs(node.name)])


def settable(graph: Graph, node) -> dict[str, tuple[int, ...]]:
    """The parameters an init rule can set on `node`'s module: name -> shape."""
    tensors = _tensors(graph, node)
    return {name: tensors[name].shape for name in SETTABLE
            if name in tensors and tensors[name].parameter}


def parameters(graph: Graph, node) -> tuple[str, ...]:
    """Which of `weight` and `bias` `node`'s module holds."""
    return tuple(settable(graph, node))


def selects(graph: Graph, rule: InitRule) -> list:
    """The op nodes whose op and name a rule selects, whatever tensors they hold."""
    return [node for node in graph.ops()
            if (rule.op is None or node.op.name == rule.op)
            and (rule.name is None or fnmatchcase(node.name, rule.name))]


def matches(graph: Graph, rule: InitRule) -> list:
    """The op nodes a rule selects that hold a tensor it sets."""
    return [node for node in selects(graph, rule) if rule.sets() & set(parameters(graph, node))]


def rule_coverage(graph: Graph) -> dict[str, set[str]]:
    """Module name -> the parameters that some init rule sets."""
    covered: dict[str, set[str]] = {}
    for rule in graph.init_rules:
        for node in matches(graph, rule):
            covered.setdefault(node.name, set()).update(rule.sets() & set(parameters(graph, node)))
    return covered


def check_rules(graph: Graph) -> None:
    """Raise E0203 for a rule whose function cannot fill a tensor it selects."""
    for rule in graph.init_rules:
        for attribute, call in rule.calls():
            if call.function not in FAN_FUNCTIONS:
                continue
            for node in matches(graph, rule):
                shape = settable(graph, node).get(attribute)
                if shape is not None and len(shape) < 2:
                    function = call.function.removesuffix("_")
                    raise error("E0203", f"`{function}` computes fans from a tensor of two or "
                                f"more dims, but this rule also sets the {attribute} of "
                                f"`{node.name}` ({node.op.name}), which has shape "
                                f"{tuple(shape)}", rule.where(attribute),
                                help="select only conv and linear layers: add `op: conv`, or "
                                     "a `name:` glob that leaves the norm layers out")


def unmatched(graph: Graph) -> list[Diagnostic]:
    """Warnings for rules that set nothing: a name glob that selects no layer (a typo
    does nothing), or layers none of which holds the tensors the rule sets."""
    warnings = []
    for rule in graph.init_rules:
        if matches(graph, rule):
            continue
        setting = " and ".join(f"`{a}`" for a, _ in rule.calls())
        selected = selects(graph, rule)
        if rule.name and not selected:
            warnings.append(Diagnostic(
                "W0102", f"init rule `name: {rule.name}` matches no layer", rule.span,
                severity=Severity.WARNING,
                help="check the glob against the layer names (`archdsl summary`)"))
        elif selected:
            node = selected[0]
            warnings.append(Diagnostic(
                "W0102", f"init rule sets {setting}, but no layer it selects holds one "
                f"(`{node.name}`, {node.op.name}, holds "
                f"{_held(graph, node)})", rule.span, severity=Severity.WARNING,
                help="select layers with a weight or a bias: conv, linear, the norms"))
    return warnings


def _held(graph: Graph, node) -> str:
    tensors = _tensors(graph, node)
    names = [name or node.name.rsplit(".", 1)[-1] for name, t in tensors.items()
             if t.parameter]
    return ", ".join(f"`{n}`" for n in names) if names else "no parameters"
