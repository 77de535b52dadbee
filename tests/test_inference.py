"""The inference form: batch norm folded into convs, training-only layers gone."""

from __future__ import annotations

import pytest
import torch

import archdsl
from conftest import SPECS


def _trained(arch) -> torch.nn.Module:
    """A training-form module with batch-norm statistics far from their defaults."""
    torch.manual_seed(0)
    model = archdsl.build(arch).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model


@pytest.mark.parametrize("spec", [  # ShuffleNetV2 in the fast subset (-m "not slow")
    s if s == "shufflenet_v2_x1_0" else pytest.param(s, marks=pytest.mark.slow)
    for s in ["resnet50", "vgg16_bn", "googlenet", "inception_v3", "densenet121",
              "resnet110_stochastic_depth", "fractalnet_cifar10", "regnetx_400mf",
              "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "regnet_y_400mf",
              "shufflenet_v2_x1_0", "mnasnet1_0"]])
def test_folded_module_equals_the_training_module_in_eval(spec):
    small = {"inception_v3": (3, 299, 299), "googlenet": (3, 96, 96)}.get(spec, None)
    arch = archdsl.load(SPECS / f"{spec}.yaml")
    if small or arch.spec.input == (3, 224, 224):  # a smaller image: the same network
        arch = archdsl.load(SPECS / f"{spec}.yaml", input=small or (3, 112, 112))
    trained = _trained(arch)
    folded = arch.inference()
    model = archdsl.build(folded).eval()
    model.load_state_dict(folded.fold_weights(trained.state_dict()), strict=True)
    x = torch.randn(2, *arch.spec.input)
    with torch.no_grad():
        expected, got = trained(x), model(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())
    ops = [n.op.name for n in folded.graph.ops()]
    assert "bn" not in [folded.graph.node(c).op.name for n in folded.graph.ops()
                        if n.op.name == "conv" for c in folded.graph.consumers(n.name)]
    assert "dropout" not in ops and not folded.graph.heads
    assert folded.param_count < arch.param_count


def test_build_inference_keyword():
    model = archdsl.build(SPECS / "resnet18.yaml", inference=True)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert model.conv1.bias is not None


@pytest.mark.slow
def test_inference_form_is_channels_last():
    """Weights and activations NHWC in the inference form (faster convs), NCHW in the
    training form; a state_dict loads into either, and the layout survives loading."""
    channels_last = torch.channels_last
    trained = archdsl.build(SPECS / "resnet18.yaml", num_classes=10).eval()
    assert not trained.conv1.weight.is_contiguous(memory_format=channels_last)
    arch = archdsl.load(SPECS / "resnet18.yaml", num_classes=10).inference()
    model = archdsl.build(arch).eval()
    model.load_state_dict(arch.fold_weights(trained.state_dict()))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=channels_last) for c in convs)
    seen = []
    model.layer1.register_forward_hook(lambda m, i, o: seen.append(o))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), trained(x), rtol=1e-4, atol=1e-4)
    assert seen[0].is_contiguous(memory_format=channels_last)
    assert "x = x.contiguous(memory_format=torch.channels_last)" in arch.source

    nchw = archdsl.load(SPECS / "resnet18.yaml", num_classes=10).inference(channels_last=False)
    assert "memory_format" not in nchw.source
    model = archdsl.build(nchw).eval()
    model.load_state_dict(nchw.fold_weights(trained.state_dict()))
    assert not model.conv1.weight.is_contiguous(memory_format=channels_last)
    with torch.no_grad():
        torch.testing.assert_close(model(x), trained(x), rtol=1e-4, atol=1e-4)


def test_fold_weights_needs_the_inference_form():
    arch = archdsl.load(SPECS / "resnet18.yaml")
    with pytest.raises(ValueError, match="inference form"):
        arch.fold_weights({})


@pytest.mark.slow
def test_compile_inference_with_trained_weights(cli, tmp_path):
    arch = archdsl.load(SPECS / "resnet18.yaml")
    trained = _trained(arch)
    torch.save(trained.state_dict(), tmp_path / "trained.pt")
    code, out, err = cli("compile", "specs/resnet18.yaml", "--inference", "-o",
                         str(tmp_path / "r18.py"), "--init-from", str(tmp_path / "trained.pt"),
                         "--weights", str(tmp_path / "folded.pt"))
    assert code == 0, err
    model = archdsl.build(SPECS / "resnet18.yaml", inference=True).eval()
    model.load_state_dict(torch.load(tmp_path / "folded.pt", weights_only=True))
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model(x), trained(x), rtol=1e-4, atol=1e-4)
    assert "BatchNorm" not in (tmp_path / "r18.py").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["vit_b_16", "convnext_tiny", "swin_t"])
def test_inference_form_of_networks_without_batch_norm(spec):
    """Layer norms stay, stochastic depth and dropout go: the same parameters, the
    eval outputs."""
    arch = archdsl.load(SPECS / f"{spec}.yaml", input=(3, 112, 112))
    trained = _trained(arch)
    folded = arch.inference()
    ops = [n.op.name for n in folded.graph.ops()]
    assert "drop_path" not in ops and "dropout" not in ops and "layer_norm" in ops
    assert folded.param_count == arch.param_count
    model = archdsl.build(folded).eval()
    model.load_state_dict(folded.fold_weights(trained.state_dict()), strict=True)
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        expected, got = trained(x), model(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())
