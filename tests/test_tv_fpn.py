"""resnet50_fpn is torchvision's resnet_fpn_backbone(backbone_name="resnet50",
weights=None, trainable_layers=5): frozen batch norm in the body (resnet50.yaml's
`frozen_batch_norm`), a feature pyramid whose lateral and output convs read the
body's four stages by name, and five named outputs."""

from __future__ import annotations

import torch
from test_cost import counted_macs
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone

import archdsl
from archdsl.passes.cost import totals
from conftest import SPECS
from torchvision_reference import param_count


def _reference():
    model = resnet_fpn_backbone(backbone_name="resnet50", weights=None, trainable_layers=5)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # frozen batch norm: buffers, drawn away from the identity
        for name, buffer in model.named_buffers():
            if name.endswith("running_var") or name.endswith("weight"):
                buffer.copy_(torch.rand(buffer.shape, generator=gen) + 0.5)
            else:
                buffer.copy_(torch.randn(buffer.shape, generator=gen) * 0.5)
    return model.eval()


def test_equals_torchvision_with_five_named_outputs():
    arch = archdsl.load(SPECS / "resnet50_fpn.yaml", input=(3, 96, 128))
    reference = _reference()
    model = archdsl.build(arch).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got, expected = model(x), reference(x)
        scripted = torch.jit.script(model)(x)
    assert list(got) == list(expected) == ["0", "1", "2", "3", "pool"]
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value)
        torch.testing.assert_close(scripted[key], value)
    assert [tuple(v.shape[2:]) for v in got.values()] == [(24, 32), (12, 16), (6, 8),
                                                          (3, 4), (2, 2)]
    assert arch.param_count == param_count(reference)  # frozen statistics are buffers


def test_macs_equal_a_hook_count():
    arch = archdsl.load(SPECS / "resnet50_fpn.yaml")
    with torch.device("meta"):
        reference = resnet_fpn_backbone(backbone_name="resnet50", weights=None,
                                        trainable_layers=5)
    assert totals(arch.graph).macs == counted_macs(reference, (3, 224, 224))


def test_the_pyramid_reads_the_body_by_name():
    """The generated body returns layer1-3 after its output; the pyramid takes them."""
    source = archdsl.compile_source(SPECS / "resnet50_fpn.yaml")
    assert "        layer4, layer1, layer2, layer3 = self.body(x)" in source
    assert "        merged3 = inner_blocks_2 + down3\n" in source
    assert '"pool": pool' in source
