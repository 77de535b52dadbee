"""The ResNet family specs are torchvision's networks: same state_dict, same outputs."""

from __future__ import annotations

import pytest
import torch
import torchvision

import archdsl
from conftest import SPECS

# spec file -> torchvision constructor
REFERENCES = {
    "resnet18": "resnet18",
    "resnet34": "resnet34",
    "resnet50": "resnet50",
    "resnet101": "resnet101",
    "resnet152": "resnet152",
    "resnext50": "resnext50_32x4d",
    "resnext101_32x8d": "resnext101_32x8d",
    "wide_resnet50_2": "wide_resnet50_2",
}


def param_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def assert_same_network(model: torch.nn.Module, reference: torch.nn.Module) -> None:
    """`model` loads `reference`'s weights with strict=True and computes the same function."""
    model.load_state_dict(reference.state_dict(), strict=True)
    model.eval()
    reference.eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))


@pytest.mark.parametrize("spec, ref", [  # ResNet-18 in the fast subset (-m "not slow")
    (s, r) if s == "resnet18" else pytest.param(s, r, marks=pytest.mark.slow)
    for s, r in sorted(REFERENCES.items())])
def test_equals_torchvision(spec, ref):
    torch.manual_seed(0)
    arch = archdsl.load(SPECS / f"{spec}.yaml")
    model = archdsl.build(arch)
    reference = getattr(torchvision.models, ref)()
    assert arch.param_count == param_count(model) == param_count(reference)
    assert_same_network(model, reference)


@pytest.mark.slow
def test_overrides_make_resnext101_32x8d():
    model = archdsl.build(SPECS / "resnext50.yaml", depths=[3, 4, 23, 3], base_width=8)
    assert_same_network(model, torchvision.models.resnext101_32x8d())


def test_num_classes_changes_only_the_head():
    base = archdsl.build(SPECS / "resnet50.yaml").state_dict()
    small = archdsl.build(SPECS / "resnet50.yaml", num_classes=10).state_dict()
    assert base.keys() == small.keys()
    changed = {k for k in base if base[k].shape != small[k].shape}
    assert changed == {"fc.weight", "fc.bias"}
    assert small["fc.weight"].shape == (10, 2048)


def test_set_overrides_from_the_command_line_form():
    arch = archdsl.load(SPECS / "resnet50.yaml", overrides=["depths[2]=23"])
    assert arch.params["depths"] == (3, 4, 23, 3)
    assert arch.param_count == param_count(torchvision.models.resnet101())


@pytest.mark.slow
def test_torchscript_file_loads_and_matches(cli, tmp_path):
    source, script = tmp_path / "r18.py", tmp_path / "r18.pt"
    code, out, err = cli("compile", "specs/resnet18.yaml", "-o", str(source),
                         "--torchscript", str(script))
    assert code == 0, err
    loaded = torch.jit.load(str(script))
    model = archdsl.build(SPECS / "resnet18.yaml")
    model.load_state_dict(loaded.state_dict())
    model.eval()
    loaded.eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
    assert source.read_text() == archdsl.compile_source(SPECS / "resnet18.yaml")
