"""Classic CNNs written from their papers: exact parameter counts, real shapes.

Each spec in PAPER_SPECS must count exactly the parameters of its paper's
reference implementation, statically and in the built nn.Module, and every
shape archdsl infers must be the one a real forward pass produces.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pytest
import torch

import archdsl
from conftest import SPECS

# spec stem -> the parameter count of the paper's reference implementation
PAPER_SPECS = {
    "lenet5": 61_706,
    "alexnet_original": 60_965_224,
    "zfnet": 62_357_608,
    "nin_cifar10": 966_986,
    "preact_resnet164": 1_703_258,
    "preact_resnet1001": 10_327_706,
    "wrn_28_10": 36_479_194,
    "densenet_bc_100_k12": 769_162,
    "resnext29_8x64d": 34_426_698,
    "resnext29_16x64d": 68_155_210,
}

# ops that the generated code applies inline rather than as a submodule
INLINE_OPS = {"add", "concat", "mean", "flatten", "identity"}

BATCH = 2

specs = pytest.mark.parametrize("name", list(PAPER_SPECS))
# Building and running the larger ones takes 2 to 16 s each: the full suite only.
built_specs = pytest.mark.parametrize("name", [
    n if n in ("lenet5", "nin_cifar10") else pytest.param(n, marks=pytest.mark.slow)
    for n in PAPER_SPECS])


@dataclass(frozen=True)
class Run:
    """What one spec's tests need from its built model and one forward pass."""

    arch: archdsl.Architecture
    n_params: int
    owners: frozenset[str]      # modules that hold a parameter or buffer
    hooked: tuple[str, ...]     # op nodes that are submodules
    seen: dict[str, tuple]      # their output shapes (without batch) in the forward pass
    out_shape: tuple[int, ...]
    out_finite: bool


@functools.cache
def _run(name: str) -> Run:
    """Load and build the spec and run one forward pass, hooking every op node.

    Cached per spec, so that each model is built and run once; the model itself
    is dropped on return, so the big ones do not pile up in memory.
    """
    arch = archdsl.load(SPECS / f"{name}.yaml")
    torch.manual_seed(0)
    model = archdsl.build(arch).eval()
    modules = dict(model.named_modules())
    seen: dict[str, tuple] = {}
    hooked, handles = [], []

    def record(node_name):
        def hook(module, inputs, output):
            seen.setdefault(node_name, tuple(output.shape[1:]))
        return hook

    for node in arch.graph.ops():
        module = modules.get(node.name)
        if module is not None:
            hooked.append(node.name)
            handles.append(module.register_forward_hook(record(node.name)))
    x = torch.randn(BATCH, *arch.spec.input)
    with torch.no_grad():
        out = model(x)
    for handle in handles:
        handle.remove()
    return Run(
        arch=arch,
        n_params=sum(p.numel() for p in model.parameters()),
        owners=frozenset(key.rsplit(".", 1)[0] for key in model.state_dict()),
        hooked=tuple(hooked),
        seen=seen,
        out_shape=tuple(out.shape),
        out_finite=bool(torch.isfinite(out).all()),
    )


def test_every_paper_spec_exists():
    for name in PAPER_SPECS:
        assert (SPECS / f"{name}.yaml").is_file(), name


@specs
def test_static_count_is_the_papers(name):
    arch = archdsl.load(SPECS / f"{name}.yaml")
    assert arch.param_count == PAPER_SPECS[name]
    assert arch.name == name
    assert f"{PAPER_SPECS[name]:,}" in arch.spec.doc, "the doc states the count"


@built_specs
def test_built_model_has_the_static_count(name):
    run = _run(name)
    assert run.n_params == run.arch.param_count == PAPER_SPECS[name]
    # every parameter (and buffer) belongs to a module that is an op node
    assert run.owners <= {node.name for node in run.arch.graph.ops()}


@built_specs
def test_forward_gives_the_static_output_shape(name):
    run = _run(name)
    assert run.out_shape == (BATCH, *run.arch.graph.shape(run.arch.graph.output).dims)
    assert run.out_finite


@built_specs
def test_static_shapes_are_the_observed_ones(name):
    run = _run(name)
    assert set(run.seen) == set(run.hooked), "every op submodule ran"
    for node in run.arch.graph.ops():
        if node.name in run.seen:
            assert run.seen[node.name] == run.arch.graph.shape(node.name).dims, node.name
        else:
            assert node.op.name in INLINE_OPS, f"{node.name} ({node.op.name}) is no submodule"
