"""The classic ImageNet specs are torchvision's networks: same state_dict, same outputs.

AlexNet, the VGGs, the SqueezeNets, the DenseNets and the largest ResNet variants: each
spec's static parameter count equals the built module's and torchvision's, the built
module loads the torchvision model's `state_dict` with strict=True, and in eval mode
both compute the same function on a random batch.
"""

from __future__ import annotations

import pytest
import torch
import torchvision

import archdsl
from conftest import SPECS

# spec file -> torchvision constructor (the same name for every one of these)
REFERENCES = [
    "alexnet",
    "vgg11", "vgg13", "vgg16", "vgg19",
    "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
    "squeezenet1_0", "squeezenet1_1",
    "densenet121", "densenet161", "densenet169", "densenet201",
    "resnext101_64x4d", "wide_resnet101_2",
]


def param_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", [  # AlexNet in the fast subset (pytest -m "not slow")
    n if n == "alexnet" else pytest.param(n, marks=pytest.mark.slow) for n in REFERENCES])
def test_equals_torchvision(name):
    arch = archdsl.load(SPECS / f"{name}.yaml")
    torch.manual_seed(0)
    reference = getattr(torchvision.models, name)()
    # The spec's module is made without initialising its weights (they are all replaced
    # by torchvision's), which saves about a third of the time for the large networks;
    # load_state_dict still checks every key (strict) and every shape.
    with torch.device("meta"):
        model = archdsl.build(arch)
    assert arch.param_count == param_count(model) == param_count(reference)

    model.load_state_dict(reference.state_dict(), strict=True, assign=True)
    assert not any(t.is_meta for t in [*model.parameters(), *model.buffers()])
    model.eval()
    reference.eval()
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = reference(x)
        torch.testing.assert_close(model(x), expected)
    assert expected.shape == (1, 1000)


def test_squeezenet_has_50x_fewer_parameters_than_alexnet():
    """SqueezeNet's claim (and CS231n's): AlexNet-level accuracy with 50x fewer parameters."""
    alexnet = archdsl.load(SPECS / "alexnet.yaml").param_count
    squeezenet = archdsl.load(SPECS / "squeezenet1_0.yaml").param_count
    assert (alexnet, squeezenet) == (61_100_840, 1_248_424)
    assert 45 < alexnet / squeezenet < 55


def test_batch_norm_param_makes_the_bn_vgg():
    """vgg16.yaml with batch_norm=true is vgg16_bn.yaml: a BatchNorm2d after every conv."""
    arch = archdsl.load(SPECS / "vgg16.yaml", batch_norm=True)
    assert arch.param_count == archdsl.load(SPECS / "vgg16_bn.yaml").param_count == 138_365_992
    assert arch.graph.shape("features.43").dims == (512, 7, 7)  # the last max pool


def test_cfg_param_makes_the_other_vggs():
    """vgg11.yaml with VGG-19's `cfg` is VGG-19."""
    vgg19 = archdsl.load(SPECS / "vgg19.yaml")
    arch = archdsl.load(SPECS / "vgg11.yaml", cfg=list(vgg19.params["cfg"]))
    assert arch.param_count == vgg19.param_count == 143_667_240


def test_densenet_names_match_torchvision():
    keys = archdsl.build(SPECS / "densenet121.yaml").state_dict().keys()
    for key in ("features.conv0.weight", "features.denseblock1.denselayer1.norm1.weight",
                "features.denseblock4.denselayer16.conv2.weight",
                "features.transition1.conv.weight", "features.norm5.weight",
                "classifier.weight"):
        assert key in keys
    assert not any("transition4" in k for k in keys)
