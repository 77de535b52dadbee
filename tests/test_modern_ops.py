"""The ops of today's convolutional classifiers in small networks: relu6, silu,
hardswish, hardsigmoid, gelu, the broadcasting `mul` of squeeze-and-excitation, and
ShuffleNetV2's chunk and channel_shuffle. Each block equals torchvision's (strict
state_dict, same outputs and gradients), runs in place where the emitter says so, scripts,
and has the static shapes that hooks observe."""

from __future__ import annotations

import copy
import textwrap

import pytest
import torch
from fvcore.nn import FlopCountAnalysis
from test_emit import observed_shapes
from torch import nn
from torchvision.models import efficientnet, mobilenetv2, mobilenetv3, shufflenetv2

import archdsl
from archdsl.api import check
from archdsl.diagnostics import SpecError
from archdsl.lang.load import parse_spec
from archdsl.ops import OPS


def load(body: str, input_: str = "[16, 8, 8]"):
    return check(parse_spec(f"archdsl: 1\nname: net\ninput: {input_}\n" +
                            textwrap.dedent(body), "<net>", ops=OPS))


def randomize(model: nn.Module) -> nn.Module:
    """Batch-norm statistics and affines away from their defaults, so that every op shows."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
    return model


def without_inplace(model: nn.Module) -> nn.Module:
    """A copy of `model` with every in-place module made out of place."""
    other = copy.deepcopy(model)
    for m in other.modules():
        if hasattr(m, "inplace"):
            m.inplace = False
    return other


def assert_same_block(reference: nn.Module, model: nn.Module, shape: tuple[int, ...]) -> None:
    """`model` (the spec's one block) loads `reference`'s state_dict strictly and computes
    the same outputs in eval mode, and the same outputs and gradients in training mode."""
    randomize(reference)
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, *shape)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), reference.eval()(x))
    reference.train()
    model.train()
    x = x.requires_grad_()
    torch.testing.assert_close(model(x), reference(x.detach()))
    for net in (model, reference):
        net(x).square().sum().backward()
    grads = dict(reference.named_parameters())
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, grads[name].grad, msg=name)


def test_mobilenet_v2_block_is_torchvisions():
    arch = load("""
        network:
          - residual:
              body:
                conv:
                  - [conv(96, 1, bias=false), bn, relu6]
                  - [conv(96, 3, groups=96, bias=false), bn, relu6]
                  - conv(16, 1, bias=false)
                  - bn
    """)
    model = archdsl.build(arch)  # a list of residuals of named layers holds those layers
    assert "nn.ReLU6(inplace=True)" in arch.source
    assert_same_block(mobilenetv2.InvertedResidual(16, 16, 1, 6), model, (16, 8, 8))


def test_mobilenet_v3_block_with_hardswish_and_se_is_torchvisions():
    arch = load("""
        network:
          - residual:
              body:
                block:
                  - [conv(48, 1, bias=false), bn, hardswish]
                  - [conv(48, 5, groups=48, bias=false), bn, hardswish]
                  - residual:
                      body:
                        - avgpool: gap
                        - fc1: conv(16, 1)
                        - activation: relu
                        - fc2: conv(48, 1)
                        - scale_activation: hardsigmoid
                      merge: mul
                  - [conv(16, 1, bias=false), bn]
    """)
    config = mobilenetv3.InvertedResidualConfig(16, 5, 48, 16, True, "HS", 1, 1, 1.0)
    reference = mobilenetv3.InvertedResidual(config, nn.BatchNorm2d)
    assert "out = torch.mul(out, x)  # (N, 48, 8, 8)" in arch.source
    assert_same_block(reference, archdsl.build(arch), (16, 8, 8))


def test_efficientnet_mbconv_with_silu_and_se_is_torchvisions():
    arch = load("""
        network:
          - residual:
              body:
                block:
                  - [conv(64, 1, bias=false), bn, silu]
                  - [conv(64, 3, groups=64, bias=false), bn, silu]
                  - residual:
                      body:
                        - avgpool: gap
                        - fc1: conv(4, 1)
                        - activation: silu
                        - fc2: conv(64, 1)
                        - scale_activation: sigmoid
                      merge: mul
                  - [conv(16, 1, bias=false), bn]
    """)
    config = efficientnet.MBConvConfig(4, 3, 1, 16, 16, 1)
    reference = efficientnet.MBConv(config, 0.0, nn.BatchNorm2d)  # no stochastic depth
    assert_same_block(reference, archdsl.build(arch), (16, 8, 8))


def test_shufflenet_v2_unit_is_torchvisions():
    """torchvision's stride-1 unit: x1, x2 = x.chunk(2, 1), then
    channel_shuffle(cat(x1, branch2(x2)), 2); concat puts the shortcut first."""
    arch = load("""
        blocks:
          unit:
            residual:
              shortcut: chunk(2, 0)
              body:
                - chunk(2, 1)
                - branch2:
                    - conv(8, 1, bias=false)
                    - bn
                    - relu
                    - conv(8, 3, groups=8, bias=false)
                    - bn
                    - conv(8, 1, bias=false)
                    - bn
                    - relu
              merge: concat
              post: channel_shuffle(2)
        network:
          - unit: unit
    """)
    assert "out = torch.cat([identity, out], 1)" in arch.source
    reference = shufflenetv2.InvertedResidual(16, 16, 1)
    assert_same_block(reference, archdsl.build(arch).unit, (16, 8, 8))


def test_se_convs_are_macs_and_its_product_other_flops():
    """The convention: squeeze-and-excitation's 1x1 convs count as conv MACs (as fvcore
    and torchvision's documented GFLOPS count them); its product, one multiply per output
    element, is other work."""
    arch = load("""
        network:
          - se:
              residual:
                body: [gap, fc1: conv(4, 1), relu, fc2: conv(16, 1), hardsigmoid]
                merge: mul
    """)
    reference = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(16, 4, 1), nn.ReLU(),
                              nn.Conv2d(4, 16, 1), nn.Hardsigmoid())
    flops = FlopCountAnalysis(reference, torch.zeros(1, 16, 8, 8))
    flops.unsupported_ops_warnings(False)
    assert sum(n.cost.macs for n in arch.graph.ops()) == flops.by_operator()["conv"] == 128
    product = next(n for n in arch.graph.ops() if n.op.name == "mul")
    assert product.cost.other_flops == 16 * 8 * 8


EVERY_NEW_OP = """
    blocks:
      se:
        args: {c: int, squeeze: int}
        residual:
          body:
            - avgpool: gap
            - fc1: conv(squeeze, 1)
            - activation: relu
            - fc2: conv(c, 1)
            - scale_activation: hardsigmoid
          merge: mul
    network:
      - stem: [conv(8, 3, bias=false), bn, relu6]
      - a: [conv(8, 3), silu, relu]
      - b: [conv(8, 3), hardswish, hardsigmoid]
      - c: [conv(8, 1), sigmoid, hardswish]
      - d: [conv(8, 1), gelu, relu6]
      - e: [conv(8, 1), gelu(approximate='tanh')]
      - se: se(c=8, squeeze=4)
      - split:
          branches:
            - [chunk(2, 0), relu]
            - [chunk(2, 1), conv(4, 1), silu]
          merge: concat
      - shuffle: channel_shuffle(2)
      - gap
      - flatten
      - fc: linear(5)
"""


def test_every_new_op_in_one_network():
    arch = load(EVERY_NEW_OP, input_="[3, 12, 12]")
    model = archdsl.build(arch).eval()
    x = torch.randn(2, 3, 12, 12)
    with torch.no_grad():
        seen = observed_shapes(model, arch, x)
        out = model(x)
    assert {"split.0.0", "split.1.0", "shuffle", "e.1", "se.scale_activation"} <= set(seen)
    for name, shape in seen.items():
        assert shape == arch.graph.shape(name).dims, name
    assert out.shape == (2, 5)
    assert sum(p.numel() for p in model.parameters()) == arch.param_count
    scripted = torch.jit.script(model)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), out)


def test_activations_run_in_place_where_backward_allows_and_train_alike():
    """Each new activation runs in place over a conv's or batch norm's output, and may be
    overwritten in place itself; after sigmoid (whose backward reads its output) and
    after chunk (a view of its input) nothing runs in place. One training step equals the
    same network's with every op out of place."""
    arch = load(EVERY_NEW_OP, input_="[3, 12, 12]")
    torch.manual_seed(0)
    model = archdsl.build(arch).train()
    inplace = {name: m.inplace for name, m in model.named_modules() if hasattr(m, "inplace")}
    assert inplace == {"stem.2": True, "a.1": True, "a.2": True, "b.1": True, "b.2": True,
                       "c.2": False, "d.2": True, "se.activation": True,
                       "se.scale_activation": True, "split.0.1": False, "split.1.2": True}
    reference = without_inplace(model)
    x = torch.randn(4, 3, 12, 12)
    for net in (model, reference):
        optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
        net(x).square().mean().backward()
        optimizer.step()
    params = dict(reference.named_parameters())
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, params[name].grad, msg=name)
        torch.testing.assert_close(p, params[name], msg=name)


@pytest.mark.parametrize("op", [
    "chunk(1, 0)",
    "channel_shuffle(1)",
    "identity", "flatten", "dropout",
])
def test_nothing_overwrites_a_view_of_a_value_another_path_reads(op):
    """Here `op` returns its input's memory, which the other path reads too: the relu
    after it must not run in place."""
    arch = load(f"""
        network:
          - conv1: conv(16, 3)
          - gap
          - mix:
              branches: [[{op}, relu], {op}]
              merge: add
    """, input_="[3, 6, 6]")
    torch.manual_seed(0)
    model = archdsl.build(arch).eval()
    x = torch.randn(4, 3, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(model(x), without_inplace(model)(x))


def test_broadcast_mismatch_and_chunk_errors_name_what_they_got():
    with pytest.raises(SpecError, match=r"error\[E0400\]: `mul` needs inputs of one rank "
                       r"whose dims agree or are 1; got \(8, 1, 1\) and \(16, 8, 8\) "
                       r"\(channels differ\)"):
        load("""
            network:
              - residual:
                  body: [gap, conv(4, 1), relu, conv(8, 1), hardsigmoid]
                  merge: mul
        """)
    with pytest.raises(SpecError, match=r"error\[E0401\]: chunks=3 does not divide "
                       r"channels=16") as info:
        load("network: [chunk(3, 0)]")
    assert "^" in str(info.value) and "chunk(3, 0)" in str(info.value)
