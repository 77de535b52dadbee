"""ConvNeXt-T, ViT-B/16 and Swin-T are torchvision's networks, and their params make
the other sizes torchvision builds.

Each spec loads the torchvision model's state_dict with strict=True and gives its eval
outputs (layer norms' affines, layer scales and the class token randomised first);
its parameter count and MACs equal the `num_params` and `_ops` torchvision's weights
document. Attention's MACs are its projections and its two matrix products counted
once each (README, "Ops"); the arithmetic for ViT-B/16 is spelled out below.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from test_cost import counted_macs
from torch.utils.flop_counter import FlopCounterMode

import archdsl
from archdsl.passes.cost import totals
from conftest import SPECS
from torchvision_reference import assert_equals_torchvision, documented, param_count

WEIGHTS = {"convnext_tiny": "ConvNeXt_Tiny_Weights", "vit_b_16": "ViT_B_16_Weights",
           "swin_t": "Swin_T_Weights"}

# (spec, torchvision constructor, params): each variant as the spec's params.
VARIANTS = [
    ("convnext_tiny", "convnext_small", {"depths": [3, 3, 27, 3],
                                         "stochastic_depth_prob": 0.4}),
    ("convnext_tiny", "convnext_base", {"depths": [3, 3, 27, 3],
                                        "dims": [128, 256, 512, 1024],
                                        "stochastic_depth_prob": 0.5}),
    ("convnext_tiny", "convnext_large", {"depths": [3, 3, 27, 3],
                                         "dims": [192, 384, 768, 1536],
                                         "stochastic_depth_prob": 0.5}),
    ("vit_b_16", "vit_b_32", {"patch_size": 32}),
    ("vit_b_16", "vit_l_16", {"num_layers": 24, "num_heads": 16, "hidden_dim": 1024,
                              "mlp_dim": 4096}),
    ("vit_b_16", "vit_l_32", {"patch_size": 32, "num_layers": 24, "num_heads": 16,
                              "hidden_dim": 1024, "mlp_dim": 4096}),
    ("swin_t", "swin_s", {"depths": [2, 2, 18, 2], "stochastic_depth_prob": 0.3}),
    ("swin_t", "swin_b", {"embed_dim": 128, "depths": [2, 2, 18, 2],
                          "num_heads": [4, 8, 16, 32], "stochastic_depth_prob": 0.5}),
]


@pytest.mark.slow
@pytest.mark.parametrize("spec", sorted(WEIGHTS))
def test_equals_torchvision(spec):
    assert_equals_torchvision(spec, spec, {})


def test_vit_b_32_equals_torchvision():
    """The patch size as a param: ViT-B/32 (49 tokens, in the fast subset)."""
    assert_equals_torchvision("vit_b_16", "vit_b_32", {}, patch_size=32)


@pytest.mark.parametrize("spec, constructor, params", VARIANTS,
                         ids=[v[1] for v in VARIANTS])
def test_variants_have_torchvisions_parameters(spec, constructor, params):
    arch = archdsl.load(SPECS / f"{spec}.yaml", **params)
    with torch.device("meta"):
        reference = getattr(torchvision.models, constructor)()
        model = archdsl.build(arch)
    assert arch.param_count == param_count(reference)
    assert {k: v.shape for k, v in model.state_dict().items()} == \
        {k: v.shape for k, v in reference.state_dict().items()}
    # The stochastic-depth rate of every block, as torchvision schedules it.
    rates = [m.p for m in reference.modules()
             if type(m).__name__ == "StochasticDepth"]
    survivals = [m.survival for m in model.modules() if type(m).__name__ == "DropPath"]
    if spec == "swin_t":  # one DropPath per residual, torchvision's module is shared
        survivals = survivals[::2]
    assert survivals == pytest.approx([1 - p for p in rates])


@pytest.mark.parametrize("spec", sorted(WEIGHTS))
def test_parameters_and_macs_are_documented(spec):
    arch = archdsl.load(SPECS / f"{spec}.yaml")
    params, gflops = documented(WEIGHTS[spec])
    assert arch.param_count == params
    assert round(totals(arch.graph).macs / 1e9, 3) == gflops


def test_vit_attention_arithmetic():
    """ViT-B/16 at 224: 197 tokens of width 768 in 12 layers. torchvision documents
    17.564 GFLOPS; that is the conv and linear MACs plus q·kᵀ and ·v once each.
    torch.utils.flop_counter reports 16.849: the same without the two products, whose
    fused kernel it does not count."""
    arch = archdsl.load(SPECS / "vit_b_16.yaml")
    length, d, layers = 197, 768, 12
    patches = 768 * 3 * 16 * 16 * 196                    # conv_proj:           0.116 G
    projections = layers * 4 * length * d * d            # in_proj, out_proj:   5.577 G
    products = layers * 2 * length * length * d          # q·kᵀ and ·v:         0.715 G
    mlp = layers * 2 * length * d * 3072                 # two linears:        11.155 G
    head = 768 * 1000                                    # heads.head:          0.001 G
    assert totals(arch.graph).macs == patches + projections + products + mlp + head
    assert round((patches + projections + products + mlp + head) / 1e9, 3) == 17.564
    reference = torchvision.models.vit_b_16().eval()
    with FlopCounterMode(display=False) as counter:  # with autograd on, as documented
        reference(torch.randn(1, 3, 224, 224))
    assert counter.get_total_flops() // 2 == patches + projections + mlp + head
    assert round(counter.get_total_flops() / 2e9, 3) == 16.849
    # The hooks see the patch conv, the MLPs and the head (attention's projections run
    # inside nn.MultiheadAttention's functional form).
    with torch.device("meta"):
        reference = torchvision.models.vit_b_16()
    assert counted_macs(reference, (3, 224, 224)) == patches + mlp + head


def test_swin_macs_equal_flop_counter():
    """Swin's attention runs as plain matmuls, which flop_counter counts: its total is
    the documented 4.491 and archdsl's count."""
    arch = archdsl.load(SPECS / "swin_t.yaml")
    reference = torchvision.models.swin_t().eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        reference(torch.randn(1, 3, 224, 224))
    assert totals(arch.graph).macs == counter.get_total_flops() // 2
