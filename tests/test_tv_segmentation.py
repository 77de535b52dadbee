"""Segmentation networks are torchvision's, their backbones the classification specs
called as blocks (`spec:`; MobileNetV3's `features` with `within:`), with ResNet's
replace_stride_with_dilation and MobileNetV3's dilated last stage as params. The
heads read the backbone's inner maps by name (`backbone.layer3`, `backbone.4`).

torchvision's documented figures are for its weights, which carry the auxiliary head
on layer3 (`aux_loss=True`, the spec's `aux_loss: true`, a layer that reads
`backbone.layer3`); the constructors' default (`weights=None`) has none, nor have
the specs by default.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from torchvision.models import segmentation

import archdsl
from archdsl.passes.cost import totals
from archdsl.summary import render
from conftest import SPECS
from torchvision_reference import param_count, randomize

CASES = {"fcn_resnet50": "FCN_ResNet50_Weights",
         "deeplabv3_resnet50": "DeepLabV3_ResNet50_Weights",
         "deeplabv3_mobilenet_v3_large": "DeepLabV3_MobileNet_V3_Large_Weights",
         "lraspp_mobilenet_v3_large": "LRASPP_MobileNet_V3_Large_Weights"}
NO_AUX = {"lraspp_mobilenet_v3_large"}  # its constructor has no auxiliary head


def _reference(name: str):
    return getattr(segmentation, name)(weights=None, weights_backbone=None)


# In the fast subset (-m "not slow"): one network, with its auxiliary head.
FAST = {("fcn_resnet50", True)}


@pytest.mark.parametrize("spec, aux", [
    (s, a) if (s, a) in FAST else pytest.param(s, a, marks=pytest.mark.slow)
    for s in sorted(CASES) for a in (False, True) if not (a and s in NO_AUX)])
def test_equals_torchvision_at_a_small_input(spec, aux):
    """The same weights, the same {"out": …} (and "aux") on a 96x96 batch (the network
    is the same at any size; the documented one is 520x520), scripted too."""
    flag = {} if spec in NO_AUX else {"aux_loss": aux}
    arch = archdsl.load(SPECS / f"{spec}.yaml", input=(3, 96, 96), **flag)
    torch.manual_seed(0)
    reference = randomize(getattr(segmentation, spec)(weights=None, weights_backbone=None,
                                                      **flag)).eval()
    model = archdsl.build(arch).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got, expected = model(x), reference(x)
        scripted = torch.jit.script(model)(x)
    assert list(got) == list(expected) == (["out", "aux"] if aux else ["out"])
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(scripted[key], expected[key], rtol=1e-4, atol=1e-4)
    assert arch.param_count == param_count(reference)


@pytest.mark.parametrize("spec", sorted(CASES))
def test_parameters_and_macs_are_documented(spec):
    """FCN_ResNet50_Weights: 35,322,218 parameters, 152.717 GFLOPS at 520x520;
    DeepLabV3_ResNet50_Weights: 42,004,074 and 178.722; the MobileNetV3 ones 11,029,328
    and 10.452 (DeepLabV3), 3,221,538 and 2.086 (LR-ASPP); their auxiliary heads
    included. Without it, a ResNet-50 one's MACs are fewer by that FCNHead(1024) on
    layer3's 65x65 map."""
    meta = getattr(segmentation, CASES[spec]).COCO_WITH_VOC_LABELS_V1.meta
    with_aux = archdsl.load(SPECS / f"{spec}.yaml",
                            **({} if spec in NO_AUX else {"aux_loss": True}))
    assert with_aux.param_count == meta["num_params"]
    assert round(totals(with_aux.graph).macs / 1e9, 3) == meta["_ops"]
    if spec.endswith("resnet50"):
        plain = archdsl.load(SPECS / f"{spec}.yaml")
        aux = 65 * 65 * 256 * 1024 * 9 + 65 * 65 * 21 * 256
        assert totals(plain.graph).macs + aux == totals(with_aux.graph).macs


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


def test_summary_gives_each_output_its_own_totals():
    """With two outputs, each is costed by the layers it depends on: "out" is the
    network without the auxiliary head; "aux" the backbone to layer3 and that head."""
    arch = archdsl.load(SPECS / "fcn_resnet50.yaml", aux_loss=True)
    plain = archdsl.load(SPECS / "fcn_resnet50.yaml")
    outputs = {o["output"]: o for o in arch.summary()["outputs"]}
    assert outputs["out"]["macs"] == totals(plain.graph).macs
    assert outputs["out"]["params"] == plain.param_count
    with torch.device("meta"):
        reference = segmentation.fcn_resnet50(weights=None, weights_backbone=None,
                                              aux_loss=True)
    backbone = reference.backbone
    to_layer3 = sum(param_count(getattr(backbone, m)) for m in
                    ("conv1", "bn1", "layer1", "layer2", "layer3"))
    assert outputs["aux"]["params"] == to_layer3 + param_count(reference.aux_classifier)
    assert "output 'aux' (21, 520, 520): 10,908,501 params" in render(arch.summary())
