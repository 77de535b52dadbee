"""Comparing a spec with the torchvision network it names.

`assert_equals_torchvision` loads the spec, builds it, loads the reference's
state_dict with strict=True, and compares eval outputs on a random batch after the
reference's batch-norm statistics, affines and layer scales are randomised (with the
initial statistics a missing clamp such as ReLU6's goes unseen). `documented` reads
the parameter count and GFLOPS torchvision's weights document.
"""

from __future__ import annotations

import torch
import torchvision

import archdsl
from conftest import SPECS


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Batch-norm statistics and affines, layer and group norms' affines, layer scales
    and class tokens drawn at random."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                c = module.num_features
                module.running_mean.copy_(torch.randn(c, generator=gen) * 0.5)
                module.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                if module.affine:
                    module.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                    module.bias.copy_(torch.randn(c, generator=gen) * 0.5)
            if isinstance(module, (torch.nn.LayerNorm, torch.nn.GroupNorm)) and \
                    module.weight is not None:
                module.weight.copy_(torch.rand(module.weight.shape, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.5)
        for name, param in model.named_parameters():
            if name.endswith("layer_scale"):
                param.copy_(torch.rand(param.shape, generator=gen) + 0.5)
            if name.endswith("class_token"):
                param.copy_(torch.randn(param.shape, generator=gen))
    return model


def param_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def assert_equals_torchvision(spec: str, constructor: str, kwargs: dict,
                              size: int = 224, **params) -> None:
    arch = archdsl.load(SPECS / f"{spec}.yaml", **params)
    torch.manual_seed(0)
    reference = randomize(getattr(torchvision.models, constructor)(**kwargs)).eval()
    with torch.device("meta"):
        model = archdsl.build(arch)
    assert arch.param_count == param_count(model) == param_count(reference)
    model.load_state_dict(reference.state_dict(), strict=True, assign=True)
    model.eval()
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = reference(x)
        torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-4)
    assert expected.shape == (2, kwargs.get("num_classes", 1000))


def documented(weights: str) -> tuple[int, float]:
    """(num_params, GFLOPS) of a torchvision weights entry, e.g. 'MobileNet_V2_Weights'."""
    meta = getattr(torchvision.models, weights).IMAGENET1K_V1.meta
    return meta["num_params"], meta["_ops"]
