"""Segmentation networks are torchvision's, their backbones the classification specs
called as blocks (`spec:`), with ResNet's replace_stride_with_dilation as a param.

torchvision's documented figures are for its weights, which carry the auxiliary head
(`aux_loss=True`); the specs are the constructors' default (`weights=None`: no
auxiliary head), so the documented MACs are the spec's plus that head's, computed
here from its layers.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from torchvision.models import segmentation

import archdsl
from archdsl.passes.cost import totals
from conftest import SPECS
from torchvision_reference import param_count, randomize

CASES = {"fcn_resnet50": "FCN_ResNet50_Weights",
         "deeplabv3_resnet50": "DeepLabV3_ResNet50_Weights"}


def _reference(name: str):
    return getattr(segmentation, name)(weights=None, weights_backbone=None)


@pytest.mark.parametrize("spec", sorted(CASES))
def test_equals_torchvision_at_a_small_input(spec):
    """The same weights, the same {"out": …} on a 96x96 batch (the network is the same
    at any size; the documented one is 520x520)."""
    arch = archdsl.load(SPECS / f"{spec}.yaml", input=(3, 96, 96))
    torch.manual_seed(0)
    reference = randomize(_reference(spec)).eval()
    model = archdsl.build(arch).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got, expected = model(x), reference(x)
    assert list(got) == list(expected) == ["out"]
    torch.testing.assert_close(got["out"], expected["out"], rtol=1e-4, atol=1e-4)
    assert arch.param_count == param_count(reference)


@pytest.mark.parametrize("spec", sorted(CASES))
def test_macs_are_documented_with_the_auxiliary_head(spec):
    """FCN_ResNet50_Weights: 152.717 GFLOPS at 520x520, DeepLabV3_ResNet50_Weights:
    178.722 = the spec's MACs + the auxiliary FCNHead(1024) on layer3's 65x65 map
    (3x3 conv to 256, 1x1 conv to 21), which their weights carry."""
    arch = archdsl.load(SPECS / f"{spec}.yaml")
    meta = getattr(segmentation, CASES[spec]).COCO_WITH_VOC_LABELS_V1.meta
    aux = 65 * 65 * 256 * 1024 * 9 + 65 * 65 * 21 * 256
    assert round((totals(arch.graph).macs + aux) / 1e9, 3) == meta["_ops"]
    with torch.device("meta"):
        with_aux = getattr(segmentation, spec)(weights=None, weights_backbone=None,
                                               aux_loss=True)
    aux_params = param_count(with_aux.aux_classifier)
    assert arch.param_count + aux_params == meta["num_params"] == param_count(with_aux)


def test_image_pooling_is_a_sequential_with_its_own_forward():
    """torchvision's ASPPPooling: an nn.Sequential (keys convs.4.1.weight, …) whose
    forward resizes back to its input's size; archdsl writes it the same way."""
    source = archdsl.compile_source(SPECS / "deeplabv3_resnet50.yaml")
    assert "class Convs4(nn.Sequential):" in source
    assert "        out = self[1](out)  # (N, 256, 1, 1)\n" in source


def test_the_backbone_is_resnet50_dilated():
    """layer3 and layer4 keep the 1/8 resolution; their convs dilate by 2 and 4 as
    torchvision's resnet50(replace_stride_with_dilation=[False, True, True])."""
    arch = archdsl.load(SPECS / "fcn_resnet50.yaml")
    graph = arch.graph
    assert graph.shape("backbone.layer4.2.relu_2").dims == (2048, 65, 65)
    assert graph.node("backbone.layer3.0.conv2").op.p.dilation == 1  # the previous one
    assert graph.node("backbone.layer3.1.conv2").op.p.dilation == 2
    assert graph.node("backbone.layer4.0.conv2").op.p.dilation == 2
    assert graph.node("backbone.layer4.2.conv2").op.p.dilation == 4
    with torch.device("meta"):
        reference = torchvision.models.resnet50(replace_stride_with_dilation=[False, True,
                                                                              True])
    assert reference.layer4[2].conv2.dilation == (4, 4)
