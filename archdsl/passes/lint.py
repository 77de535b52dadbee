"""Warnings about a spec that is valid but probably not what its author meant.

From the graph: a window whose stride leaves the last input pixels unused
(W0103), init rules that select nothing (W0102), a network too large to build
(W0105). From the spec: params, blocks, block arguments and `let` values that
nothing refers to (W0101), and `if` conditions that depend on nothing, so that
one branch is dead (W0104), and an input written channels last, `[224, 224, 3]` (W0106).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator

from archdsl.diagnostics import Diagnostic, Severity, SpecError
from archdsl.graph import Graph, Node
from archdsl.lang import expr as ast
from archdsl.lang import items as it
from archdsl.lang.evaluate import CONSTANTS, Evaluator
from archdsl.lang.load import Spec
from archdsl.ops.base import window_output
from archdsl.passes.init_rules import unmatched
from archdsl.source import Span
from archdsl.tensor import TensorType


def run(graph: Graph, spec: Spec | None = None,
        inputs: dict[str, list[TensorType]] | None = None) -> list[Diagnostic]:
    """The warnings for a checked graph, and for its spec where given (`inputs`: each
    node's input types, where the caller has them)."""
    warnings = []
    if all(node.shape is not None for node in graph.ops()):  # shape inference has run
        inputs = inputs or {node.name: [graph.shape(s) for s in graph.inputs(node.name)]
                            for node in graph.ops()}
        warnings += [w for node in graph.ops() for w in
                     _unused_pixels(node, inputs[node.name])]
        warnings += unmatched(graph) + _too_large(graph, inputs)
    if spec is not None:
        warnings += _unused_names(spec) + _constant_conditions(spec) + channels_last(spec)
    return warnings


def _warning(code: str, message: str, span: Span | None, help: str = "") -> Diagnostic:
    return Diagnostic(code, message, span, help=help, severity=Severity.WARNING)


# ------------------------------------------------------------------------ graph


def _unused_pixels(node: Node, inputs: list[TensorType]) -> list[Diagnostic]:
    """A sliding window whose last position ends before the input does.

    A window narrower than its stride skips pixels by design (a strided 1x1
    projection); only windows that tile the input without gaps are checked."""
    if len(inputs) != 1 or inputs[0].rank != 3 or node.shape.rank != 3:
        return []
    window = node.op.window(inputs)
    if window is None:
        return []
    lost, fixes = [], []
    for axis, size, length, k, s, d, p in zip(("row", "column"), inputs[0].spatial,
                                              node.shape.spatial, window.kernel, window.stride,
                                              window.dilation, window.padding):
        reach = d * (k - 1) + 1
        if reach < s or length not in (window_output(size, k, s, p, d),
                                       window_output(size, k, s, p, d, ceil=True)):
            continue  # gaps by design, or not a plain sliding window (adaptive pooling)
        n = p + size - ((length - 1) * s + reach)
        if n > 0:
            lost.append(f"{n} {axis}{'s' if n > 1 else ''}")
            fits = next((q for q in range(p + 1, reach) if
                         q + size - ((window_output(size, k, s, q, d) - 1) * s + reach) <= 0),
                        None)
            fixes.append(f"pad={fits}" if fits is not None else f"an input {axis} count of "
                         f"{size - n}")
    if not lost:
        return []
    return [_warning(
        "W0103", f"`{node.name}` never reads the last {' and '.join(lost)} of its "
        f"{'x'.join(map(str, inputs[0].spatial))} input: its kernel, stride and padding do "
        f"not tile it", node.span,
        help=f"with {' and '.join(dict.fromkeys(fixes))} every pixel is read; to reproduce a "
             "reference network that drops them, leave it")]


def _too_large(graph: Graph, inputs: dict[str, list[TensorType]]) -> list[Diagnostic]:
    limit = graph.limits.max_build_params
    counts = {node.name: node.op.param_count(inputs[node.name]) for node in graph.ops()}
    total = sum(counts.values())
    if total <= limit:
        return []
    largest = graph.node(max(counts, key=counts.get))
    return [_warning("W0105", f"`{graph.name}` has {total:,} parameters, more than the "
                     f"{limit:,} that build() makes without allow_large=True", largest.span,
                     help=f"its largest layer, `{largest.name}`, has "
                          f"{counts[largest.name]:,}; check the channel counts")]


# ------------------------------------------------------------------------- spec


_NODES = (it.SExpr, it.Template, *typing.get_args(it.Item))


def _walk(value: object) -> Iterator[object]:
    """Every item, template and expression in an item (or a tuple of them), itself included."""
    if isinstance(value, tuple):
        for element in value:
            yield from _walk(element)
    elif isinstance(value, _NODES):
        yield value
        if not isinstance(value, it.SExpr):
            for field in dataclasses.fields(value):
                yield from _walk(getattr(value, field.name))


def _names(*sources: object) -> set[str]:
    """The names the expressions in `sources` (items, SExprs, tuples of them) refer to."""
    return set().union(*(ast.names_in(e.node) for e in _walk(sources)
                         if isinstance(e, it.SExpr)))


def _unused_names(spec: Spec) -> list[Diagnostic]:
    """Params and blocks nothing refers to (a block calling itself does not count),
    and block arguments and `let` values their block does not use."""
    outside = _names(tuple(v for _, v in spec.params), spec.network,
                     tuple((r.when, r.weight, r.bias) for r in spec.init))
    inside = {}  # block -> the names its definition refers to
    members = []
    for name, block in spec.blocks.items():
        lets = tuple(value for _, value in block.lets)
        body = _names(block.body)
        inside[name] = _names(tuple(a.default for a in block.args), lets) | body
        for arg in block.args:
            if arg.name not in _names(lets) | body:
                members.append(_warning("W0101", f"argument `{arg.name}` of block `{name}` "
                                        "is never used", arg.span,
                                        help="remove it, or use it in the block"))
        for i, (let, _) in enumerate(block.lets):
            if let not in _names(lets[i + 1:]) | body:
                members.append(_warning("W0101", f"`let` value `{let}` of block `{name}` is "
                                        "never used", spec.table.key(("blocks", name, "let", let)),
                                        help="remove it, or use it in the block"))
    everything = outside.union(*inside.values())
    warnings = [_warning("W0101", f"param `{name}` is never used", spec.param_span(name),
                         help="remove it, or use it")
                for name, _ in spec.params if name not in everything]
    for name, block in spec.blocks.items():
        if name not in outside.union(*(inside[b] for b in spec.blocks if b != name)):
            warnings.append(_warning("W0101", f"block `{name}` is never used", block.span,
                                     help=f"remove it, or call it: `{name}(…)`"))
    return warnings + members


def _constant_conditions(spec: Spec) -> list[Diagnostic]:
    """`if:` conditions that name nothing but constants: one of their branches is dead."""
    conditions = [c for c in _walk((spec.network, *(b.body for b in spec.blocks.values())))
                  if isinstance(c, it.Cond)]
    warnings = []
    for cond in conditions:
        if not ast.names_in(cond.cond.node) <= set(CONSTANTS):
            continue
        try:
            value = Evaluator((), ()).eval(cond.cond.node, {}, cond.cond.span)
        except SpecError:
            continue  # expansion reports it
        if not isinstance(value, bool):
            continue
        dead = "`then`" if not value else "`else`" if cond.orelse is not None else ""
        message = f"this `if` is always {str(value).lower()}" + \
            (f": its {dead} is never expanded" if dead else "")
        warnings.append(_warning("W0104", message, cond.cond.where,
                                 help="make the condition depend on a param or an argument, "
                                      "or write the layers without `if`"))
    return warnings


def channels_last(spec: Spec) -> list[Diagnostic]:
    """An input that reads as an image written (H, W, C), as PIL and NumPy hold one: a
    last dim of 1, 3 or 4 after two equal dims of at least 8. archdsl's input is channels
    first, as PyTorch's, and `[224, 224, 3]` is a valid map of 224 channels, 224 by 3,
    so the network it gives is another one, silently. (`archdsl.check` runs this one of
    the spec's checks always: the others are for a linter, this one is a wrong network.)"""
    dims = spec.input
    if not (len(dims) >= 3 and dims[-1] in (1, 3, 4) and dims[-3] == dims[-2] >= 8):
        return []
    fixed = [dims[-1], *dims[:-1]]
    return [_warning("W0106", f"the input {list(dims)} reads as {dims[0]} channels of "
                     f"{' × '.join(map(str, dims[1:]))}", spec.table.value(("input",)),
                     help=f"the input is channels first, [C, H, W] as in PyTorch: did you "
                          f"mean {fixed}?")]
