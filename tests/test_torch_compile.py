"""torch.compile: generated modules trace into one graph and compute what eager does.

Tracing (torch._dynamo.explain) is what decides graph breaks, and it is backend-free.
Equality is checked with the `aot_eager` backend, which runs Dynamo and AOTAutograd
(functionalisation, the joint forward/backward graph) but no code generation, so the
test stays fast on CPU; one small spec goes through the default `inductor` backend.
`benchmarks/compile_check.py` traces every spec; `benchmarks/runtime.py` times inductor.
"""

from __future__ import annotations

import pytest
import torch
import torch._dynamo

import archdsl
from conftest import SPECS

# (spec, mode, params): a residual network with projections, GoogLeNet's branches and
# auxiliary heads (a NamedTuple in training), a DenseNet's concat chains, FractalNet's
# joins with local and global drop-path (drawn as tensors: one seed, the same draws
# compiled or not), layer norms, permutes and layer scales (ConvNeXt), attention with a
# class token and position embedding (ViT, in training: no dropout), Swin's shifted
# windows, and stochastic depth (eval only: its training-time draw is random).
CASES = [
    ("resnet18", "train", {}),
    ("googlenet", "eval", {}),
    ("googlenet", "train", {"dropout_rate": 0.0, "dropout_aux": 0.0}),
    ("densenet_bc_100_k12", "eval", {}),
    ("fractalnet_cifar10", "train", {}),
    ("convnext_tiny", "eval", {}),
    ("vit_b_16", "train", {}),
    ("swin_t", "eval", {}),
    ("resnet110_stochastic_depth", "eval", {}),
]
FAST = {"resnet18", "fractalnet_cifar10"}  # in the fast subset (-m "not slow")
# Equality for all but the last: its eval forward differs from resnet's only by a scale.
COMPILED = CASES[:-1]


def _model_and_input(spec: str, mode: str, params: dict):
    torch.manual_seed(0)
    arch = archdsl.load(SPECS / f"{spec}.yaml", **params)
    model = archdsl.build(arch).train(mode == "train")
    x = torch.randn(2, *arch.spec.input, generator=torch.Generator().manual_seed(0))
    return model, x


def _outputs(out) -> list[torch.Tensor]:
    return [out] if isinstance(out, torch.Tensor) else [o for o in out if o is not None]


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize("spec, mode, params", [
    c if c[0] in FAST else pytest.param(*c, marks=pytest.mark.slow) for c in CASES],
    ids=[f"{s}-{m}" for s, m, _ in CASES])
def test_one_graph_no_breaks(spec, mode, params):
    model, x = _model_and_input(spec, mode, params)
    with torch.no_grad():
        explained = torch._dynamo.explain(model)(x)
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1


@pytest.mark.parametrize("spec, mode, params", [  # 14 to 40 s each: the full suite only
    pytest.param(*c, marks=pytest.mark.slow) for c in COMPILED],
    ids=[f"{s}-{m}" for s, m, _ in COMPILED])
def test_compiled_equals_eager(spec, mode, params):
    model, x = _model_and_input(spec, mode, params)
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    if mode == "eval":
        with torch.no_grad():
            torch.testing.assert_close(compiled(x), model(x))
        return
    # Training: the outputs, and the gradients of their sum, as eager's. BatchNorm's
    # running statistics move on every call, so each side starts from a copy, and from
    # one seed (aot_eager keeps eager's random ops in their order).
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(1)
    got = _outputs(compiled(x))
    sum(o.sum() for o in got).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    model.load_state_dict(state)
    torch.manual_seed(1)
    expected = _outputs(model(x))
    sum(o.sum() for o in expected).backward()
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)
    for name, p in model.named_parameters():
        torch.testing.assert_close(grads[name], p.grad, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.slow
def test_inductor_compiles_a_small_network():
    """The default backend generates and compiles C++ for CPU: LeNet-5 keeps it short."""
    model, x = _model_and_input("lenet5", "eval", {})
    compiled = torch.compile(model, fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)
