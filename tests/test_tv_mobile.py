"""MobileNetV2, MobileNetV3 and MnasNet are torchvision's networks, and their params are
torchvision's variants.

Each (spec, params) pair below names the torchvision constructor (and keyword arguments) it
claims to be. The built module loads that model's state_dict with strict=True and computes
its eval outputs once batch norm's statistics and affines are randomised, and its training
outputs and gradients; every module that
torchvision has is there under the same name, of the same class, with the same
hyper-parameters (eps, momentum, dropout, dilation, padding: what outputs in eval mode do
not show); and the static parameter and multiply-accumulate counts equal torchvision's
documented `num_params` and `_ops` and torch's own FLOP counter on the torchvision model.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch.nn.modules.utils import _pair
from torch.utils.flop_counter import FlopCounterMode

import archdsl
from conftest import SPECS
from torchvision_reference import assert_equals_torchvision, documented, param_count, randomize

# (spec, spec params, torchvision constructor, its keyword arguments). torchvision's
# `dropout=` is the specs' `dropout_rate` (a param cannot take an op's name).
CASES = [
    ("mobilenet_v3_small", {}, "mobilenet_v3_small", {}),
    ("mobilenet_v2", {}, "mobilenet_v2", {}),
    ("mobilenet_v2", {"width_mult": 0.5}, "mobilenet_v2", {"width_mult": 0.5}),
    ("mobilenet_v2", {"width_mult": 1.4, "round_nearest": 4, "dropout_rate": 0.3,
                      "num_classes": 10},
     "mobilenet_v2", {"width_mult": 1.4, "round_nearest": 4, "dropout": 0.3,
                      "num_classes": 10}),
    ("mobilenet_v3_large", {}, "mobilenet_v3_large", {}),
    ("mobilenet_v3_large", {"width_mult": 0.75, "reduced_tail": True, "dilated": True,
                            "dropout_rate": 0.5, "num_classes": 10},
     "mobilenet_v3_large", {"width_mult": 0.75, "reduced_tail": True, "dilated": True,
                            "dropout": 0.5, "num_classes": 10}),
    ("mobilenet_v3_small", {"width_mult": 1.25, "reduced_tail": True},
     "mobilenet_v3_small", {"width_mult": 1.25, "reduced_tail": True}),
    ("mnasnet1_0", {}, "mnasnet1_0", {}),
    ("mnasnet1_0", {"alpha": 0.5}, "mnasnet0_5", {}),
    ("mnasnet1_0", {"alpha": 0.75}, "mnasnet0_75", {}),
    ("mnasnet1_0", {"alpha": 1.3, "dropout_rate": 0.1, "num_classes": 10},
     "mnasnet1_3", {"dropout": 0.1, "num_classes": 10}),
]


def case_id(case) -> str:
    spec, params, constructor, kwargs = case
    shown = ",".join(f"{k}={v}" for k, v in params.items())
    return f"{spec}[{shown}]={constructor}" if shown else spec


# MobileNetV3-Small, the lightest, in the fast subset (pytest -m "not slow").
@pytest.mark.parametrize("spec, params, constructor, kwargs", [
    c if c is CASES[0] else pytest.param(*c, marks=pytest.mark.slow) for c in CASES],
    ids=[case_id(c) for c in CASES])
def test_equals_torchvision(spec, params, constructor, kwargs):
    assert_equals_torchvision(spec, constructor, kwargs, **params)


@pytest.mark.slow  # the fast subset trains ShuffleNetV2 (tests/test_tv_shufflenet.py)
@pytest.mark.parametrize("spec", [
    "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "mnasnet1_0"])
def test_training_step_equals_torchvisions(spec):
    """In training mode (batch statistics; dropout off, the one random op), the same
    outputs, and the same gradient for every parameter: the activations that run in place
    keep what their backward needs. At 128x128, which these networks take as they are."""
    torch.manual_seed(0)
    reference = randomize(getattr(torchvision.models, spec)(dropout=0.0)).train()
    model = archdsl.build(SPECS / f"{spec}.yaml", dropout_rate=0.0).train()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(4, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    out, expected = model(x), reference(x)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)
    for y in (out, expected):
        y.square().sum().backward()
    grads = dict(reference.named_parameters())
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, grads[name].grad, rtol=1e-3, atol=1e-5, msg=name)


def _settings(module: torch.nn.Module) -> str:
    """A module's class and hyper-parameters, whether or not it runs in place (the
    emitter decides that from the graph; torchvision sets it by hand)."""
    if isinstance(module, torch.nn.AdaptiveAvgPool2d):  # output_size 1 is (1, 1)
        return f"AdaptiveAvgPool2d({_pair(module.output_size)})"
    text = module.extra_repr().replace("inplace=True", "").replace("inplace=False", "")
    return f"{type(module).__name__}({text.strip(', ')})"


# Each spec with its defaults in the fast subset, the variants in the full suite.
@pytest.mark.parametrize("spec, params, constructor, kwargs", [
    c if not c[1] else pytest.param(*c, marks=pytest.mark.slow) for c in CASES],
    ids=[case_id(c) for c in CASES])
def test_every_torchvision_module_is_there_with_its_settings(spec, params, constructor,
                                                             kwargs):
    """Same names, classes and hyper-parameters for every leaf module of torchvision's:
    a ReLU where a ReLU6 belongs, batch norm's eps and momentum (MobileNetV3's 0.001 and
    0.01, MnasNet's 1 - 0.9997), the dropout rate and the dilation all show here."""
    arch = archdsl.load(SPECS / f"{spec}.yaml", **params)
    with torch.device("meta"):
        model = archdsl.build(arch)
        reference = getattr(torchvision.models, constructor)(**kwargs)
    ours = dict(model.named_modules())
    leaves = [(name, m) for name, m in reference.named_modules() if not list(m.children())]
    assert len(leaves) > 50
    for name, module in leaves:
        assert name in ours, name
        assert _settings(ours[name]) == _settings(module), name
    assert arch.param_count == param_count(model) == param_count(reference)


def torch_macs(constructor: str) -> int:
    """torch.utils.flop_counter's count of torchvision's model at 224x224 (convolutions
    and matrix products, 2 FLOPs per multiply-accumulate), halved."""
    with torch.device("meta"):
        model = getattr(torchvision.models, constructor)().eval()
        x = torch.empty(1, 3, 224, 224)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() // 2


# spec, params, torchvision constructor, weights enum, static params, static MACs
DOCUMENTED = [
    ("mobilenet_v2", {}, "mobilenet_v2", "MobileNet_V2_Weights", 3_504_872, 300_774_272),
    ("mobilenet_v3_large", {}, "mobilenet_v3_large", "MobileNet_V3_Large_Weights",
     5_483_032, 216_589_760),
    ("mobilenet_v3_small", {}, "mobilenet_v3_small", "MobileNet_V3_Small_Weights",
     2_542_856, 56_510_400),
    ("mnasnet1_0", {}, "mnasnet1_0", "MNASNet1_0_Weights", 4_383_312, 314_415_872),
    ("mnasnet1_0", {"alpha": 0.5}, "mnasnet0_5", "MNASNet0_5_Weights", 2_218_512,
     104_455_968),
    ("mnasnet1_0", {"alpha": 0.75}, "mnasnet0_75", "MNASNet0_75_Weights", 3_170_208,
     215_493_104),
    ("mnasnet1_0", {"alpha": 1.3}, "mnasnet1_3", "MNASNet1_3_Weights", 6_282_256,
     526_362_432),
]


@pytest.mark.parametrize("spec, params, constructor, weights, params_count, macs",
                         DOCUMENTED, ids=[d[2] for d in DOCUMENTED])
def test_params_and_macs_are_torchvisions_documented_figures(spec, params, constructor,
                                                             weights, params_count, macs):
    """Conv and linear MACs, squeeze-and-excitation's 1x1 convs included, its product not:
    rounded to 3 decimals in G they are the documented GFLOPS."""
    totals = archdsl.load(SPECS / f"{spec}.yaml", **params).summary()["totals"]
    assert (totals["params"], totals["macs"]) == (params_count, macs)
    assert documented(weights) == (params_count, round(macs / 1e9, 3))


@pytest.mark.parametrize("constructor, macs", [  # MobileNetV3-Small in the fast subset
    (d[2], d[5]) if d[2] == "mobilenet_v3_small"
    else pytest.param(d[2], d[5], marks=pytest.mark.slow) for d in DOCUMENTED],
    ids=[d[2] for d in DOCUMENTED])
def test_macs_are_torchs_count_of_the_torchvision_model(constructor, macs):
    """The same figures, unrounded, are what torch counts on torchvision's model."""
    assert torch_macs(constructor) == macs


def test_generated_blocks_read_as_torchvisions():
    """The skip is a flag named as torchvision names it; squeeze-and-excitation is one
    class whose forward ends in the product."""
    v3 = archdsl.load(SPECS / "mobilenet_v3_large.yaml").source
    assert "class SqueezeExcitation(nn.Module):" in v3
    assert "out = torch.mul(out, x)" in v3
    assert "if self.use_res_connect:\n            out += x" in v3
    mnasnet = archdsl.load(SPECS / "mnasnet1_0.yaml").source
    assert mnasnet.count("class InvertedResidual") == 1
    assert "if self.apply_residual:\n            out += x" in mnasnet


def test_effective_stride_through_squeeze_and_excitation_is_the_maps():
    """A squeeze-and-excitation gate is 1x1: the product's units are spaced as the map's,
    so every map of MobileNetV3 has effective stride 224 / its size (2, 4, 8, 16, 32)."""
    arch = archdsl.load(SPECS / "mobilenet_v3_large.yaml")
    strides = {}
    for node in arch.graph.ops():
        dims = arch.graph.shape(node.name).dims
        if len(dims) == 3 and dims[1] > 1:
            assert node.field.stride == (224 // dims[1], 224 // dims[2]), node.name
            strides[node.name] = node.field.stride
    assert strides["features.4.block.2.mul"] == (8, 8)  # the first gated map, 28x28
    assert strides["features.16.2"] == (32, 32)
