"""Static shape inference: each node's output type from its inputs' types."""

from __future__ import annotations

from archdsl.diagnostics import Label, SpecError, error
from archdsl.graph import INPUT, Graph, Node
from archdsl.ops.base import OpError


def infer_node(graph: Graph, name: str, mismatch_help: str = "") -> None:
    """Set `graph.node(name).shape` by the op's rule; errors point at the spec.

    `mismatch_help` replaces the help of a merge's shape-mismatch error, for the
    construct that knows the fix (a residual suggests a shortcut)."""
    node = graph.node(name)
    sources = graph.inputs(name)
    types = [graph.shape(s) for s in sources]
    op = node.op
    if len(types) < op.min_inputs or (op.max_inputs is not None and len(types) > op.max_inputs):
        want = (f"{op.min_inputs}" if op.max_inputs == op.min_inputs else
                f"at least {op.min_inputs}")
        raise error("E0404", f"`{op.name}` takes {want} input{'s' if want != '1' else ''}, "
                    f"but receives {len(types)}", node.span,
                    help="merge ops (add, concat) combine paths: use them as the `merge:` of "
                         "a residual or branches, not as a step of a sequence"
                    if op.min_inputs > 1 else "")
    try:
        node.shape = op.infer(types)
    except OpError as exc:
        if mismatch_help and exc.code == "E0400":
            exc.help = mismatch_help
        raise _located(graph, node, exc, sources) from None
    except SpecError:
        raise
    except Exception as exc:  # a bug in an op's rule: report it with the node
        raise error("E0900", f"internal error inferring the shape of `{name}` "
                    f"({op.name}): {exc!r}", node.span,
                    help="this is a bug in archdsl; please report it with this spec") from exc
    if node.shape.numel > graph.limits.max_tensor_elements:
        raise error("E0500", f"`{name}` outputs {node.shape.numel} values per sample, above "
                    f"the limit {graph.limits.max_tensor_elements}", node.span,
                    help="check the channel counts, or raise Limits.max_tensor_elements")


def _located(graph: Graph, node: Node, exc: OpError, sources: list[str]) -> SpecError:
    span = node.span
    if exc.arg is not None and node.call is not None:
        fields = list(type(node.op.p).model_fields) if node.op.p is not None else []
        position = fields.index(exc.arg) if exc.arg in fields else None
        given = position is not None and position < len(node.call.args)
        if given or any(k == exc.arg for k, _ in node.call.kwargs):
            span = node.call.argument_span(position if given else None, exc.arg)
    labels: tuple[Label, ...] = ()
    if len(sources) > 1:
        labels = tuple(_producer_label(graph, s, i) for i, s in enumerate(sources)
                       if graph.node(s).span is not None)
    inputs = ", ".join(str(graph.shape(s)) for s in sources)
    return error(exc.code, exc.message, span, label=f"`{node.op.name}` of {inputs}",
                 labels=labels, help=exc.help)


def _producer_label(graph: Graph, name: str, port: int) -> Label:
    node = graph.node(name)
    what = "the input" if name == INPUT else f"`{node.name}`"
    return Label(node.span, f"input {port + 1}: {what} gives {node.shape}")


def run(graph: Graph) -> Graph:
    """Infer every node's shape, in topological order."""
    for node in graph.ops():
        infer_node(graph, node.name)
    return graph
