"""R3D-18, MC3-18 and R(2+1)D-18 are torchvision's video ResNets.

Each spec loads the torchvision model's state_dict with strict=True and gives its eval
outputs on clips of 16 frames of 112x112 (batch norms randomised first); its parameter
count and MACs are the `num_params` and `_ops` torchvision's weights document, and the
MACs are exactly what hooks on torchvision's Conv3d and Linear modules count.

A forward pass at full size takes seconds on a small CPU: the fast subset compares the
outputs of one network on a clip of 8 frames of 56x56 and checks the rest on the meta
device (shapes and counts, no data).
"""

from __future__ import annotations

import math

import pytest
import torch
import torchvision

import archdsl
from archdsl.passes.cost import totals
from conftest import SPECS
from torchvision_reference import param_count, randomize

WEIGHTS = {"r3d_18": "R3D_18_Weights", "mc3_18": "MC3_18_Weights",
           "r2plus1d_18": "R2Plus1D_18_Weights"}
INPUT = (3, 16, 112, 112)  # what the Kinetics-400 weights take: 16 frames of 112x112
SMALL = (3, 8, 56, 56)


def documented(spec: str) -> tuple[int, float]:
    """(num_params, GFLOPS) of the torchvision weights of a video network."""
    meta = getattr(torchvision.models.video, WEIGHTS[spec]).KINETICS400_V1.meta
    return meta["num_params"], meta["_ops"]


def reference(spec: str) -> torch.nn.Module:
    """torchvision's network (weights=None), batch norms randomised, in eval mode."""
    torch.manual_seed(0)
    model = getattr(torchvision.models.video, spec)(weights=None)
    return randomize(model).eval()


def assert_equals_torchvision(spec: str, shape: tuple[int, ...]) -> None:
    arch = archdsl.load(SPECS / f"{spec}.yaml", input=None if shape == INPUT else shape)
    assert arch.spec.input == INPUT
    expected_model = reference(spec)
    with torch.device("meta"):
        model = archdsl.build(arch)
    model.load_state_dict(expected_model.state_dict(), strict=True, assign=True)
    model.eval()
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = expected_model(x)
        torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-4)
    assert expected.shape == (2, 400)


def hooked_macs_and_shapes(model: torch.nn.Module, shape) -> tuple[int, dict]:
    """Conv3d and Linear multiply-accumulates of one eval pass on the meta device, and
    each module's output shape by name, from hooks on the real modules."""
    total = 0
    shapes: dict[str, tuple] = {}

    def hook(name):
        def count(module, inputs, out):
            nonlocal total
            shapes[name] = tuple(out.shape[1:])
            if isinstance(module, torch.nn.Conv3d):
                total += out.numel() * (module.in_channels // module.groups) * \
                    math.prod(module.kernel_size)
            elif isinstance(module, torch.nn.Linear):
                total += out.numel() * module.in_features
        return count

    for name, module in model.named_modules():
        if not list(module.children()):
            module.register_forward_hook(hook(name))
    with torch.no_grad():
        model.eval()(torch.empty(1, *shape, device="meta"))
    return total, shapes


@pytest.mark.slow
@pytest.mark.parametrize("spec", sorted(WEIGHTS))
def test_equals_torchvision(spec):
    """Full size: two clips of 16 frames of 112x112 (seconds each on a 2-core CPU)."""
    assert_equals_torchvision(spec, INPUT)


def test_r2plus1d_equals_torchvision_on_a_small_clip():
    """The network whose layout departs most from R3D's (its stem patched, every conv
    a (2+1)D block), on 8 frames of 56x56: the fast subset's comparison of outputs."""
    assert_equals_torchvision("r2plus1d_18", SMALL)


@pytest.mark.parametrize("spec", sorted(WEIGHTS))
def test_state_dict_is_torchvisions(spec):
    arch = archdsl.load(SPECS / f"{spec}.yaml")
    with torch.device("meta"):
        model = archdsl.build(arch)
        expected = getattr(torchvision.models.video, spec)()
    assert {k: v.shape for k, v in model.state_dict().items()} == \
        {k: v.shape for k, v in expected.state_dict().items()}
    assert arch.param_count == param_count(model) == param_count(expected)


@pytest.mark.parametrize("spec", sorted(WEIGHTS))
def test_parameters_and_macs_are_documented(spec):
    arch = archdsl.load(SPECS / f"{spec}.yaml")
    params, gflops = documented(spec)
    assert arch.param_count == params
    assert round(totals(arch.graph).macs / 1e9, 3) == gflops


@pytest.mark.parametrize("spec", sorted(WEIGHTS))
def test_macs_and_shapes_equal_torchvisions_modules(spec):
    """Exactly the conv and linear MACs hooks count on torchvision's network, and every
    op's output shape is that of torchvision's module of the same name (MC3 keeps all
    16 frames to the pooling, R3D and R(2+1)D halve them in layers 2 to 4)."""
    arch = archdsl.load(SPECS / f"{spec}.yaml")
    with torch.device("meta"):
        expected = getattr(torchvision.models.video, spec)()
    macs, shapes = hooked_macs_and_shapes(expected, INPUT)
    assert totals(arch.graph).macs == macs
    ops = {node.name for node in arch.graph.ops()}
    compared = [name for name in shapes if name in ops]
    assert len(compared) >= 40, compared
    for name in compared:
        assert arch.graph.shape(name).dims == shapes[name], name
    frames = {"r3d_18": 2, "mc3_18": 16, "r2plus1d_18": 2}[spec]
    assert shapes["layer4.1.relu"] == (512, frames, 7, 7)


@pytest.mark.parametrize("spec", [  # MC3, the smallest, in the fast subset
    s if s == "mc3_18" else pytest.param(s, marks=pytest.mark.slow) for s in sorted(WEIGHTS)])
def test_initialisation_follows_torchvisions(spec):
    """The `init` rules are torchvision's: per tensor, constants equal (batch norm's
    ones and zeros, the classifier's zero bias), random tensors with the reference's
    mean and std (Kaiming normal, fan-out, for convs; normal(0, 0.01) for the fc)."""
    torch.manual_seed(0)
    ours = dict(archdsl.build(SPECS / f"{spec}.yaml").named_parameters())
    theirs = dict(getattr(torchvision.models.video, spec)().named_parameters())
    assert ours.keys() == theirs.keys()
    for name, expected in theirs.items():
        value, expected = ours[name].detach(), expected.detach()
        if bool((expected == expected.flatten()[0]).all()):
            torch.testing.assert_close(value, expected, msg=name)
        else:
            assert expected.numel() >= 2048, name
            assert value.std().item() == pytest.approx(expected.std().item(), rel=0.1), name
            assert abs(value.mean().item() - expected.mean().item()) < \
                0.1 * expected.std().item() + 1e-3, name
