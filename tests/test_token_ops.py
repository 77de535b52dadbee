"""Tensor kinds, the dim ops, layer and group norm, learnable tensors and attention:
static shapes and state_dicts equal what the built modules give, and the diagnostics
speak both kinds of tensor."""

from __future__ import annotations

import textwrap

import pytest
import torch

import archdsl
from archdsl.api import check
from archdsl.diagnostics import SpecError
from archdsl.lang.load import parse_spec
from archdsl.ops import OPS
from archdsl.weights import state_shapes


def spec(network: str, input_: str = "[8, 6, 6]", blocks: str = "") -> archdsl.Architecture:
    text = f"archdsl: 1\nname: net\ninput: {input_}\n{textwrap.dedent(blocks)}" \
           f"network:\n{textwrap.indent(textwrap.dedent(network), '  ')}"
    return check(parse_spec(text, "<net>", ops=OPS))


def shapes_agree(arch: archdsl.Architecture, batch: int = 2) -> torch.nn.Module:
    """Build `arch`; every node's static shape is what its module gives, and the
    state_dict is the one the graph predicts."""
    model = archdsl.build(arch).eval()
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == \
        state_shapes(arch.graph)
    x = torch.randn(batch, *arch.spec.input)
    with torch.no_grad():
        y = model(x)
    assert tuple(y.shape[1:]) == arch.graph.shape(arch.graph.output).dims
    return model


def test_a_map_becomes_tokens_and_back():
    arch = spec("""
        - conv(16, 2, stride=2, pad=0)
        - flatten(2)            # (16, 9): a (C, L) map
        - permute(0, 2, 1)      # (9, 16): tokens
        - layer_norm
        - linear(32)            # per token
        - transpose(1, 2)       # (32, 9): channels first again
        - reshape(32, 3, 3)
        - bn
        - gap
        - flatten
        - linear(10)
    """)
    kinds = [(n.shape.dims, n.shape.features_last) for n in arch.graph.ops()]
    assert kinds[:6] == [((16, 3, 3), False), ((16, 9), False), ((9, 16), True),
                         ((9, 16), True), ((9, 32), True), ((32, 9), False)]
    shapes_agree(arch)


def test_channels_last_map_and_per_position_ops():
    arch = spec("""
        - permute(0, 2, 3, 1)   # (6, 6, 8)
        - layer_norm(eps=1e-6)
        - linear(12, bias=false)
        - patch_merge           # (3, 3, 48)
        - permute(0, 3, 1, 2)
        - group_norm(4)
    """)
    assert arch.graph.shape(arch.graph.output).dims == (48, 3, 3)
    shapes_agree(arch)


def test_learnable_tensors_are_attributes_named_as_written():
    arch = spec("""
        - conv(16, 2, stride=2, pad=0)
        - flatten(2)
        - permute(0, 2, 1)
        - class_token: class_token
        - pos_embedding: position_embedding(std=0.02)
        - attn: attention(4)
        - select(1, 0)
        - head: linear(5)
    """)
    model = shapes_agree(arch)
    keys = set(model.state_dict())
    assert {"class_token", "pos_embedding", "attn.in_proj_weight"} <= keys
    assert model.state_dict()["pos_embedding"].shape == (1, 10, 16)
    assert float(model.state_dict()["class_token"].abs().sum()) == 0  # zeros at start
    assert 0.01 < float(model.state_dict()["pos_embedding"].std()) < 0.03


def test_channel_scale_holds_a_tensor_of_its_block():
    arch = spec("""
        - blk
        - blk
    """, blocks="""
        blocks:
          blk:
            residual:
              body: [conv: conv(8, 3), layer_scale: channel_scale(0.5)]
    """)
    model = shapes_agree(arch)
    assert model.state_dict()["0.layer_scale"].shape == (8, 1, 1)
    assert torch.all(model.state_dict()["0.layer_scale"] == 0.5)
    torch.jit.script(model)


def test_unnamed_learnable_tensor_is_an_error():
    with pytest.raises(SpecError, match="`channel_scale` needs a name") as info:
        spec("""
            - conv(8, 3)
            - channel_scale(0.5)
        """)
    assert "layer_scale: channel_scale" in info.value.diagnostics[0].help


@pytest.mark.parametrize("network, message, hint", [
    ("- linear(10)", "`linear` acts on the last dimension; its input is a (C, H, W) "
                     "feature map (8, 6, 6)", "`flatten` the map"),
    ("- permute(0, 2, 3, 1)\n- conv(8, 3)", "needs a channels-first feature map ((C, L), "
                                           "(C, H, W) or (C, T, H, W)), but its input is "
                                           "a (H, W, C) channels-last map (6, 6, 8)",
     "permute(0, 3, 1, 2)"),
    ("- permute(0, 2, 1, 3)", "channels of a (C, H, W) feature map (8, 6, 6) would end up in "
                             "the middle", "first or last"),
    ("- permute(1, 0, 2, 3)", "with the batch (0) first", "0 first"),
    ("- flatten(0)", "dim 0 is the batch", "the batch as 0"),
    ("- select(1, 0)", "would remove the channels", "`chunk`"),
    ("- reshape(7, -1)", "7 does not divide it", ""),
    ("- flatten(2)\n- permute(0, 2, 1)\n- attention(3)", "heads=3 does not divide the width 8",
     "dividing 8"),
    ("- attention(2)", "`attention` needs a (L, D) token sequence", "`flatten(2)`"),
])
def test_diagnostics_speak_both_kinds(network, message, hint):
    with pytest.raises(SpecError) as info:
        spec(network)
    diagnostic = info.value.diagnostics[0]
    assert message in diagnostic.message
    assert hint in diagnostic.help


def test_window_attention_counts_the_padded_windows():
    arch = spec("""
        - permute(0, 2, 3, 1)
        - attn: window_attention(2, 4, shift=2)
        - permute(0, 3, 1, 2)
    """, input_="[8, 6, 6]")
    node = arch.graph.node("attn")
    # The 6x6 map padded to 8x8: 64 positions; q·kᵀ and ·v over 4x4 windows.
    assert node.cost.macs == 4 * 64 * 8 * 8 + 2 * 64 * 16 * 8
    shapes_agree(arch)


def test_attention_macs_count_both_products_once():
    arch = spec("""
        - flatten(2)
        - permute(0, 2, 1)      # 36 tokens of width 8
        - attn: attention(2)
        - select(1, 0)
    """)
    length, d = 36, 8
    assert arch.graph.node("attn").cost.macs == 4 * length * d * d + 2 * length * length * d
