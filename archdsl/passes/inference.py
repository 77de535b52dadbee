"""The inference form of a network: what only training needs, folded away.

- auxiliary heads are removed (they run in training only);
- dropout, and drop_path that is the identity in eval mode, are removed;
- batch norm after a conv is folded into the conv's weight and bias;
- drop_path that scales by its survival in eval mode (stochastic depth) is
  folded into the preceding conv as well;
- a network whose work is mostly 2-d convs keeps its weights and activations
  channels_last (NHWC), the layout oneDNN's and cuDNN's convolutions run fastest on
  (benchmarks/runtime.py measures it against NCHW); a transformer, whose one conv
  embeds the patches, stays NCHW (there channels_last measured 3-7% slower).

The graph is transformed on a copy; `Fold` records say how the training
state_dict becomes the inference one (`fold_state_dict`, the one function that
loads training weights into an inference module).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from archdsl.diagnostics import WeightsError
from archdsl.graph import Graph


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
    for head in list(graph.heads):
        plan.removed += graph.remove_subtree((head,))
    graph.heads, graph.outputs = {}, None
    for node in list(graph.ops()):
        if node.op.training_only:
            graph.bypass(node.name)
            plan.removed.append(node.name)
    folds: dict[str, Fold] = {}
    for node in list(graph.ops()):
        affine = node.op.eval_affine()
        target = _sole_producer(graph, node.name)
        if affine is None or target is None:
            continue
        fold = folds.setdefault(target, Fold(target, graph.node(target).op.p.bias))
        if affine.eps is not None:  # batch norm: first, and once
            if fold.bn is not None or fold.scale != 1.0:
                continue
            fold.bn, fold.eps = node.name, affine.eps
        fold.scale *= affine.scale
        graph.bypass(node.name)
        plan.removed.append(node.name)
    for fold in folds.values():
        graph.node(fold.conv).op = graph.node(fold.conv).op.with_bias()
    plan.folds = list(folds.values())
    if channels_last and _conv_bound(graph):
        graph.memory_format = "channels_last"
    return graph, plan


def _sole_producer(graph: Graph, name: str) -> str | None:
    """The node feeding `name`, if it can absorb an affine map and `name` alone reads it."""
    sources = graph.inputs(name)
    if len(sources) != 1:
        return None
    source = sources[0]
    if source not in graph.dag or not graph.node(source).op.absorbs_affine:
        return None
    if graph.consumers(source) != [name] or source in graph.heads.values():
        return None
    return source


def fold_state_dict(plan: InferencePlan, state_dict: dict) -> dict:
    """The inference module's state_dict from the training module's (torch tensors).

    A batch norm whose statistics make the fold non-finite (a running variance plus
    eps not above zero, a NaN or inf) is a WeightsError naming the layer; so is any
    tensor of the result that is not finite."""
    import torch

    removed = tuple(f"{name}." for name in plan.removed)
    out = {k: v for k, v in state_dict.items() if not k.startswith(removed)}
    with torch.no_grad():
        for fold in plan.folds:
            weight = _tensor(state_dict, f"{fold.conv}.weight")
            bias = _tensor(state_dict, f"{fold.conv}.bias") if fold.had_bias else \
                torch.zeros(weight.shape[0], dtype=weight.dtype)
            if fold.bn is not None:
                gamma, beta, mean, var = (_tensor(state_dict, f"{fold.bn}.{name}") for name in
                                          ("weight", "bias", "running_mean", "running_var"))
                _check_statistics(fold, gamma, beta, mean, var)
                factor = gamma / torch.sqrt(var + fold.eps)
                weight = weight * factor.reshape(-1, *[1] * (weight.dim() - 1))
                bias = (bias - mean) * factor + beta
            out[f"{fold.conv}.weight"] = weight * fold.scale
            out[f"{fold.conv}.bias"] = bias * fold.scale
        for key, value in out.items():
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise WeightsError(f"the inference weights are not finite: {key} holds "
                                   f"{int((~torch.isfinite(value)).sum())} NaN or inf values")
    return out


def _tensor(state_dict: dict, key: str):
    """The tensor under `key` of a training state_dict."""
    if key not in state_dict:
        raise WeightsError(f"the training state_dict has no {key}, which the inference "
                           "form folds")
    return state_dict[key]


def _check_statistics(fold: Fold, gamma, beta, mean, var) -> None:
    """Refuse batch-norm statistics that would fold into NaN or inf weights."""
    import torch

    for name, value in (("weight", gamma), ("bias", beta), ("running_mean", mean),
                        ("running_var", var)):
        if not bool(torch.isfinite(value).all()):
            raise WeightsError(f"batch norm {fold.bn} cannot be folded into {fold.conv}: "
                               f"its {name} holds NaN or inf")
    low = var + fold.eps
    if bool((low <= 0).any()):
        channel = int(torch.nonzero(low <= 0)[0, 0])
        raise WeightsError(f"batch norm {fold.bn} cannot be folded into {fold.conv}: "
                           f"running_var[{channel}] + eps = {float(var[channel]):g} + "
                           f"{fold.eps:g} is not above zero")


def _conv_bound(graph: Graph) -> bool:
    """Whether 2-d convs do most of the network's multiply-accumulates."""
    total = conv = 0
    for node in graph.ops():
        inputs = [graph.shape(s) for s in graph.inputs(node.name)]
        macs = node.op.macs(inputs, node.shape)
        total += macs
        if node.op.absorbs_affine and node.shape.rank == 3:
            conv += macs
    return total > 0 and 2 * conv > total
