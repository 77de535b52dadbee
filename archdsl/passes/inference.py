"""The inference form of a network: what only training needs, folded away.

- auxiliary heads are removed (they run in training only);
- dropout, and drop_path that is the identity in eval mode, are removed;
- batch norm after a conv is folded into the conv's weight and bias;
- drop_path that scales by its survival in eval mode (stochastic depth) is
  folded into the preceding conv as well;
- a network with 2-d convs keeps its weights and activations channels_last (NHWC),
  the layout oneDNN's and cuDNN's convolutions run fastest on (benchmarks/runtime.py
  measures it against NCHW).

The graph is transformed on a copy; `Fold` records say how the training
state_dict becomes the inference one (`fold_state_dict`, the one function that
loads training weights into an inference module).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from archdsl.graph import Ghost, Graph, Member
from archdsl.ops import OPS


@dataclass
class Fold:
    """How one conv's inference weights come from the training state_dict."""

    conv: str  # the conv node (kept, now with a bias)
    had_bias: bool
    bn: str | None = None  # a batch norm folded into it
    eps: float = 1e-5
    scale: float = 1.0  # a drop_path survival folded into it


@dataclass
class InferencePlan:
    folds: list[Fold] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # nodes gone (their tensors too)


def run(graph: Graph, *, channels_last: bool = True) -> tuple[Graph, InferencePlan]:
    """A transformed copy of `graph`, and the plan for its weights."""
    graph = copy.deepcopy(graph)
    plan = InferencePlan()
    _drop_heads(graph, plan)
    for node in list(graph.ops()):
        if node.op.name == "dropout" or (node.op.name == "drop_path" and
                                         node.op.p.rescale == "train"):
            _bypass(graph, node.name, plan)
    folds: dict[str, Fold] = {}
    for node in list(graph.ops()):
        conv = _sole_producer(graph, node.name, "conv")
        if conv is None:
            continue
        if node.op.name == "bn":
            fold = folds.setdefault(conv, Fold(conv, graph.node(conv).op.p.bias))
            if fold.bn is not None or fold.scale != 1.0:
                continue
            fold.bn, fold.eps = node.name, node.op.p.eps
        elif node.op.name == "drop_path" and node.op.p.rescale == "test":
            folds.setdefault(conv, Fold(conv, graph.node(conv).op.p.bias)).scale *= \
                node.op.p.survival
        else:
            continue
        _bypass(graph, node.name, plan)
    for fold in folds.values():
        conv = graph.node(fold.conv)
        conv.op = OPS["conv"](conv.op.p.model_copy(update={"bias": True}))
    plan.folds = list(folds.values())
    if channels_last and any(node.op.name == "conv" and node.shape.rank == 3
                             for node in graph.ops()):
        graph.memory_format = "channels_last"
    return graph, plan


def _sole_producer(graph: Graph, name: str, op: str) -> str | None:
    """The node feeding `name`, if it is an `op` node read by `name` alone."""
    sources = graph.inputs(name)
    if len(sources) != 1:
        return None
    source = sources[0]
    if source not in graph.dag or graph.node(source).op.name != op:
        return None
    if graph.consumers(source) != [name] or source in graph.heads.values():
        return None
    return source


def _bypass(graph: Graph, name: str, plan: InferencePlan) -> None:
    """Remove a one-input node, its consumers reading its input instead."""
    (source,) = graph.inputs(name)
    for consumer in graph.consumers(name):
        port = graph.dag.edges[name, consumer]["port"]
        graph.dag.add_edge(source, consumer, port=port)
    node = graph.node(name)
    graph.dag.remove_node(name)
    plan.removed.append(name)
    scope = graph.scope(node.scope)
    scope.children = [c for c in scope.children
                      if not (isinstance(c, Member) and c.node == name)]
    for s in graph.scopes.values():
        s.input = source if s.input == name else s.input
        s.output = source if s.output == name else s.output
        s.children = [c if not (isinstance(c, Ghost) and c.input == name) else
                      Ghost(c.local, source, c.consumer, c.port) for c in s.children]
    if graph.output == name:
        graph.output = source


def _drop_heads(graph: Graph, plan: InferencePlan) -> None:
    root = graph.scope(())
    for head in list(graph.heads):
        doomed = [n.name for n in graph.ops() if n.name == head or n.scope[:1] == (head,)]
        for name in doomed:
            graph.dag.remove_node(name)
        plan.removed += doomed
        for path in [p for p in graph.scopes if p[:1] == (head,)]:
            del graph.scopes[path]
        root.children = [c for c in root.children if c.local != head]
    graph.heads, graph.outputs = {}, None


def fold_state_dict(plan: InferencePlan, state_dict: dict) -> dict:
    """The inference module's state_dict from the training module's (torch tensors)."""
    import torch

    removed = tuple(f"{name}." for name in plan.removed)
    out = {k: v for k, v in state_dict.items() if not k.startswith(removed)}
    with torch.no_grad():
        for fold in plan.folds:
            weight = state_dict[f"{fold.conv}.weight"]
            bias = state_dict[f"{fold.conv}.bias"] if fold.had_bias else \
                torch.zeros(weight.shape[0], dtype=weight.dtype)
            if fold.bn is not None:
                gamma, beta = state_dict[f"{fold.bn}.weight"], state_dict[f"{fold.bn}.bias"]
                mean, var = (state_dict[f"{fold.bn}.running_mean"],
                             state_dict[f"{fold.bn}.running_var"])
                factor = gamma / torch.sqrt(var + fold.eps)
                weight = weight * factor.reshape(-1, 1, 1, 1)
                bias = (bias - mean) * factor + beta
            out[f"{fold.conv}.weight"] = weight * fold.scale
            out[f"{fold.conv}.bias"] = bias * fold.scale
    return out
