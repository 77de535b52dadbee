"""The Python API: load a spec, compile it to source, build the module."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from functools import cached_property

from archdsl import zoo
from archdsl.construct import construct
from archdsl.diagnostics import Diagnostic, SpecError, error
from archdsl.emit.torch_ops import Rendering, renders
from archdsl.emit.torch_source import Emitted, emit
from archdsl.graph import Graph
from archdsl.lang.evaluate import BUILTINS, CONSTANTS, STAGE
from archdsl.lang.load import Spec, load_spec
from archdsl.lang.params import Override, parse_set, python_override
from archdsl.lang.patch import Patch
from archdsl.limits import DEFAULT_LIMITS, Limits
from archdsl.names import RESERVED, identifier_problem
from archdsl.ops import OPS
from archdsl.ops.base import Op, Params, register
from archdsl.optional import require_torch
from archdsl.passes import cost, inference, lint, rf, schedule, validate
from archdsl.passes.init_rules import rule_coverage
from archdsl.summary import summarize


@dataclass
class Architecture:
    """A checked spec: its graph with shapes and costs, ready to summarise or compile."""

    spec: Spec
    params: dict[str, object]
    graph: Graph
    warnings: list[Diagnostic] = field(default_factory=list)
    plan: inference.InferencePlan | None = None  # set on an inference form
    overrides: tuple[Override, ...] = ()  # as checked, to vary one param (emit/arguments.py)
    input: tuple[int, ...] | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def param_count(self) -> int:
        return cost.totals(self.graph).params

    def summary(self, batch: int = 1, depth: int | None = None) -> dict:
        """Totals and per-node cost, shape, receptive field (see archdsl.summary)."""
        return summarize(self.graph, batch, depth)

    def inference(self, *, channels_last: bool = True) -> Architecture:
        """The inference form: heads, dropout gone; batch norm folded into convs;
        channels_last memory where the network has 2-d convs, unless asked not to.

        Load training weights into its module with `fold_weights`."""
        graph, plan = inference.run(self.graph, channels_last=channels_last)
        cost.run(graph)
        rf.run(graph)
        return Architecture(self.spec, self.params, graph, [], plan)

    def fold_weights(self, state_dict: dict) -> dict:
        """A training state_dict made into this inference form's (folding batch norms)."""
        if self.plan is None:
            raise ValueError("fold_weights is for an inference form: use arch.inference()")
        return inference.fold_state_dict(self.plan, state_dict)

    @cached_property
    def emitted(self) -> Emitted:
        # The inference form bakes every param: moving one would need the transform again.
        vary = self._varied if self.plan is None else None
        return emit(self.graph, self.spec.path, self.spec.doc, self.params, vary)

    def _varied(self, name: str, value: object) -> Graph | None:
        """The graph of the spec with param `name` set to `value`; None if invalid."""
        overrides = [*self.overrides, python_override(name, value)]
        try:
            graph, _ = construct(self.spec, overrides, self.graph.limits, self.input,
                                 recover=False)
            schedule.run(graph)
            validate.run(graph)
        except SpecError:
            return None
        return graph

    @property
    def source(self) -> str:
        return self.emitted.source


def load(spec: str | os.PathLike, *, overrides: list[str] = (),
         limits: Limits = DEFAULT_LIMITS, input: tuple[int, ...] | None = None,
         root: str | os.PathLike | None = None, **params) -> Architecture:
    """Load and check a spec; `overrides` are `--set` strings, `params` keyword values,
    `input` another input shape (C, H, W) than the spec's. The files the spec refers
    to (`extends:`, `spec:` blocks) must lie under `root`: by default the git
    repository the spec is in, else its directory. A name of the zoo ("resnet50",
    "archdsl::resnet50") loads the packaged spec, from any directory."""
    sets = [parse_set(o) for o in overrides]
    patches = [s for s in sets if isinstance(s, Patch)]
    path = zoo.resolve(os.fspath(spec))
    if not os.path.exists(path) and (zoo.is_reference(path) or zoo.close_names(path)):
        raise error("E0001", f"no spec file or zoo spec `{path}`", help=zoo.unknown(path))
    parsed = load_spec(path, limits, patches, ops=OPS,
                       root=None if root is None else os.fspath(root))
    return check(parsed, [s for s in sets if isinstance(s, Override)] +
                 [python_override(k, v) for k, v in params.items()], limits, input)


def check(spec: Spec, overrides: list[Override] = (), limits: Limits = DEFAULT_LIMITS,
          input: tuple[int, ...] | None = None) -> Architecture:
    """Expand, validate and cost a loaded spec."""
    graph, params = construct(spec, overrides, limits, input)
    schedule.run(graph)
    warnings = validate.run(graph) + (lint.channels_last(spec) if input is None else [])
    cost.run(graph)
    rf.run(graph)
    return Architecture(spec, params, graph, warnings, overrides=tuple(overrides), input=input)


def _architecture(spec, params: dict) -> Architecture:
    if isinstance(spec, Architecture):
        if params:
            raise TypeError("pass params when loading, not with an Architecture")
        return spec
    return load(spec, **params)


def compile_source(spec: str | os.PathLike | Architecture, **params) -> str:
    """The generated PyTorch source of a spec (what `archdsl compile` writes)."""
    return _architecture(spec, params).source


def build(spec: str | os.PathLike | Architecture, *, allow_large: bool = False,
          inference: bool = False, weights: str | None = None, **params):
    """The nn.Module of a spec, made by executing exactly `compile_source`'s text.

    With `inference=True`, the inference form (see Architecture.inference): weights
    trained on the usual form load into it through `fold_weights`. With `weights`,
    torchvision's published weights for a spec that is a torchvision network
    ("IMAGENET1K_V2", "DEFAULT" or "ResNet50_Weights.IMAGENET1K_V2"; see
    archdsl.pretrained), read through torch's hub cache and downloaded once.
    `spec` may be a zoo name, and `params` override the spec's: build("resnet50",
    num_classes=10)."""
    require_torch("archdsl.build")
    arch = _architecture(spec, params)
    if weights is not None:
        return _pretrained(arch, weights, allow_large, inference)
    if inference and arch.plan is None:
        arch = arch.inference()
    count = arch.param_count
    limit = arch.graph.limits.max_build_params
    if count > limit and not allow_large:
        raise error("E0500", f"`{arch.name}` has {count:,} parameters, above the build limit "
                    f"{limit:,}", arch.spec.table.value(("name",)),
                    help="pass allow_large=True to build it anyway")
    from archdsl.runtime import instantiate

    return instantiate(arch.emitted, rule_coverage(arch.graph))


def _pretrained(arch: Architecture, weights: str, allow_large: bool, inference: bool):
    """`arch`'s module with torchvision's published `weights`, in the inference form
    if asked (the weights folded into it)."""
    from archdsl.pretrained import load_pretrained

    if arch.plan is not None:
        raise ValueError("published weights load into the usual form: pass it, with "
                         "inference=True")
    module = build(arch, allow_large=allow_large)
    report = load_pretrained(module, arch, weights)
    if report.note:
        warnings.warn(f"{report.weights}: {report.note}", UserWarning, stacklevel=3)
    if not inference:
        return module
    folded = arch.inference()
    model = build(folded, allow_large=allow_large)
    model.load_state_dict(folded.fold_weights(module.state_dict()))
    return model


def register_op(op: type[Op], rendering: type[Rendering]) -> type[Op]:
    """Add an op of your own, and how PyTorch writes it, to the ops specs can name.

    `op` says what it computes (params, shape rule, cost; see archdsl/ops/base.py),
    `rendering` how the generated file writes it (archdsl/emit/torch_ops.py). Only
    Python that imports archdsl can add an op: a spec can never name or import code.
    docs/ops.md has a worked example."""
    if not (isinstance(op, type) and issubclass(op, Op)):
        raise TypeError(f"register_op takes an Op subclass, not {op!r}")
    if not (isinstance(rendering, type) and issubclass(rendering, Rendering)):
        raise TypeError(f"register_op takes a Rendering subclass, not {rendering!r}")
    name = getattr(op, "name", None)
    problem = identifier_problem(name) or (
        f"`{name}` is a builtin of the expression language"
        if name in BUILTINS or name in CONSTANTS or name == STAGE else "")
    if problem:
        raise ValueError(f"op name: {problem}")
    if not issubclass(op.Params, Params):
        raise TypeError(f"`{name}`.Params must subclass archdsl.ops.base.Params")
    if op.other_flops is Op.other_flops:
        raise TypeError(f"op `{name}` states no cost rule: define other_flops (0 included)")
    if rendering.module is Rendering.module and rendering.expression is Rendering.expression:
        raise TypeError(f"the rendering of `{name}` has neither module() nor expression()")
    if rendering.support_class and (not rendering.support_class.isidentifier() or
                                    rendering.support_class in RESERVED):
        raise ValueError(f"support_class `{rendering.support_class}` is not a free name")
    register(op)
    try:
        renders(op)(rendering)
    except ValueError:
        del OPS[name]
        raise
    return op
