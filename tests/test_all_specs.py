"""Every spec: static shapes are the observed ones, params agree, TorchScript compiles.

Models are built on PyTorch's meta device: shapes are computed without data or
weights, so the whole library is checked in seconds.
"""

from __future__ import annotations

import pytest
import torch

import archdsl
from conftest import checked, slow_if_deep, spec_files


def build_on_meta(arch) -> torch.nn.Module:
    with torch.device("meta"):
        return archdsl.build(arch, allow_large=True).eval()


# TorchScript of every spec takes two minutes; the fast subset scripts three.
SCRIPTED_FAST = {"lenet5", "resnet18", "squeezenet1_1"}


def _slow_unless(specs, fast):
    """The spec files as parameters, marked slow where `fast(stem)` is false."""
    return [s if fast(s.stem) else pytest.param(s, marks=pytest.mark.slow) for s in specs]


@pytest.mark.parametrize("spec", slow_if_deep(spec_files()), ids=lambda p: p.stem)
def test_static_shapes_and_params_match_the_module(spec):
    arch = checked(spec)
    model = build_on_meta(arch)
    assert sum(p.numel() for p in model.parameters()) == arch.param_count
    modules = dict(model.named_modules())
    seen: dict[str, tuple] = {}

    def record(name):
        def hook(module, inputs, output):
            if isinstance(output, tuple):  # nn.MultiheadAttention: (output, weights)
                output = output[0]
            seen[name] = tuple(output.shape[1:])
        return hook

    for node in arch.graph.ops():
        if node.name in modules:
            modules[node.name].register_forward_hook(record(node.name))
    with torch.no_grad():
        out = model(torch.empty(2, *arch.spec.input, device="meta"))
    if arch.graph.returns:  # several named outputs: a dict
        assert list(out) == [key for key, _ in arch.graph.returns]
        for key, value in arch.graph.returns:
            assert tuple(out[key].shape) == (2, *arch.graph.shape(value).dims), key
    else:
        assert tuple(out.shape) == (2, *arch.graph.shape(arch.graph.output).dims)
    assert seen, "no op node is a submodule"
    for name, shape in seen.items():
        assert shape == arch.graph.shape(name).dims, name


@pytest.mark.parametrize("spec", _slow_unless(spec_files(), SCRIPTED_FAST.__contains__),
                         ids=lambda p: p.stem)
def test_torchscript_compiles(spec):
    scripted = torch.jit.script(build_on_meta(archdsl.load(spec)))
    assert "forward" in scripted.code
