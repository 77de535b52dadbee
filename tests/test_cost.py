"""What a network costs: exact, from the graph, with stated conventions."""

from __future__ import annotations

import json
import re
import shutil
import textwrap

import pytest
import torch
import torchvision.models as tv
from fvcore.nn import FlopCountAnalysis

import archdsl
from archdsl.api import check
from archdsl.lang.load import parse_spec
from archdsl.ops import OPS
from archdsl.ops.base import Op
from conftest import SPECS, slow_if_deep

# spec -> torchvision weights enum, whose meta documents params and "GFLOPS" (_ops)
DOCUMENTED = {
    "alexnet": "AlexNet_Weights", "vgg11": "VGG11_Weights", "vgg13": "VGG13_Weights",
    "vgg16": "VGG16_Weights", "vgg19": "VGG19_Weights", "vgg11_bn": "VGG11_BN_Weights",
    "vgg13_bn": "VGG13_BN_Weights", "vgg16_bn": "VGG16_BN_Weights",
    "vgg19_bn": "VGG19_BN_Weights", "googlenet": "GoogLeNet_Weights",
    "inception_v3": "Inception_V3_Weights", "densenet121": "DenseNet121_Weights",
    "densenet161": "DenseNet161_Weights", "densenet169": "DenseNet169_Weights",
    "densenet201": "DenseNet201_Weights", "squeezenet1_0": "SqueezeNet1_0_Weights",
    "squeezenet1_1": "SqueezeNet1_1_Weights", "resnet18": "ResNet18_Weights",
    "resnet34": "ResNet34_Weights", "resnet50": "ResNet50_Weights",
    "resnet101": "ResNet101_Weights", "resnet152": "ResNet152_Weights",
    "resnext50": "ResNeXt50_32X4D_Weights", "resnext101_32x8d": "ResNeXt101_32X8D_Weights",
    "resnext101_64x4d": "ResNeXt101_64X4D_Weights",
    "wide_resnet50_2": "Wide_ResNet50_2_Weights",
    "wide_resnet101_2": "Wide_ResNet101_2_Weights",
}


def counted_macs(model: torch.nn.Module, shape) -> int:
    """Conv and linear multiply-accumulates of one eval forward pass, from hooks on the
    real modules (the count fvcore reports), independent of archdsl's rules."""
    total = 0

    def conv(m, inputs, out):
        nonlocal total
        kh, kw = m.kernel_size
        total += out[0].numel() * (m.in_channels // m.groups) * kh * kw

    def linear(m, inputs, out):
        nonlocal total
        total += out[0].numel() * m.in_features

    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(conv)
        elif isinstance(m, torch.nn.Linear):
            m.register_forward_hook(linear)
    with torch.no_grad():
        model.eval()(torch.empty(1, *shape, device="meta"))
    return total


@pytest.mark.parametrize("spec", slow_if_deep(sorted(DOCUMENTED)))
def test_macs_equal_the_documented_and_the_measured_count(spec):
    arch = archdsl.load(SPECS / f"{spec}.yaml")
    macs = arch.summary()["totals"]["macs"]
    assert round(macs / 1e9, 3) == getattr(tv, DOCUMENTED[spec]).IMAGENET1K_V1.meta["_ops"]
    with torch.device("meta"):
        model = archdsl.build(arch)
    assert abs(macs - counted_macs(model, arch.spec.input)) <= 1e-3 * macs


@pytest.mark.parametrize("spec", [  # SqueezeNet 1.1 in the fast subset (-m "not slow")
    s if s == "squeezenet1_1" else pytest.param(s, marks=pytest.mark.slow)
    for s in ["resnet50", "googlenet", "densenet121", "vgg16", "inception_v3",
              "squeezenet1_1", "resnext50"]])
def test_macs_equal_fvcores_conv_and_linear_count(spec):
    arch = archdsl.load(SPECS / f"{spec}.yaml")
    model = archdsl.build(arch).eval()
    analysis = FlopCountAnalysis(model, torch.zeros(1, *arch.spec.input))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    by_operator = analysis.by_operator()
    assert by_operator["conv"] + by_operator["linear"] == arch.summary()["totals"]["macs"]


@pytest.mark.parametrize("spec, fwd_bwd, params_mb, total_mb", [
    ("alexnet", 8.49, 233.08, 242.16),
    ("vgg19", 242.32, 548.05, 790.96),
])
def test_the_lectures_torchsummary_tables(cli, spec, fwd_bwd, params_mb, total_mb):
    code, out, err = cli("summary", f"specs/{spec}.yaml", "--input", "3,227,227", "--json")
    assert code == 0, err
    totals = json.loads(out)["totals"]
    assert (totals["forward_backward_mb"], totals["params_mb"], totals["total_mb"]) == \
        (fwd_bwd, params_mb, total_mb)
    code, out, err = cli("summary", f"specs/{spec}.yaml", "--input", "3,227,227")
    assert f"Forward/backward pass size (MB): {fwd_bwd:.2f}" in out
    assert f"Params size (MB): {params_mb:.2f}" in out


def test_the_readmes_memory_figures_are_the_summarys():
    readme = (SPECS.parent / "README.md").read_text()
    lecture = re.search(r"227×227 .*?AlexNet ([\d.]+) MB and ([\d.]+) MB of\s+params, "
                        r"VGG-19 ([\d.]+) MB and ([\d.]+) MB\. At the specs' own 224×224 "
                        r".*?VGG-19 ([\d.]+) MB and ([\d.]+) MB", readme, re.S)
    assert lecture, "the README's torchsummary figures"
    figures = [float(f) for f in lecture.groups()]
    measured = []
    for spec, size in (("alexnet", 227), ("vgg19", 227), ("vgg19", 224)):
        totals = archdsl.load(SPECS / f"{spec}.yaml", input=(3, size, size)).summary()["totals"]
        measured += [totals["forward_backward_mb"], totals["params_mb"]]
    assert figures == measured


def test_memory_is_in_torchsummarys_mb_in_rows_totals_and_compare(cli, tmp_path):
    # 64 x 64 x 64 float32 outputs are 2^20 bytes: 1.00 MB here, 1.05 in decimal MB.
    spec = tmp_path / "net.yaml"
    spec.write_text("archdsl: 1\nname: net\ninput: [3, 64, 64]\n"
                    "network: [{conv1: conv(64, 3, pad=1)}]\n")
    code, out, err = cli("summary", str(spec))
    assert code == 0, err
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("layer"))
    row = next(line for line in lines if line.startswith("conv1"))
    assert "act (MB)" in header and row.split()[-3] == "1.00"
    assert "Activation memory (MB): 1.00" in lines and "MB = 2^20 bytes" in out
    code, out, err = cli("summary", str(spec), "--json", "--batch", "4")
    totals = json.loads(out)["totals"]
    assert (totals["activation_bytes"], totals["forward_backward_mb"]) == (4 * 2**20, 8.0)
    code, out, err = cli("compare", str(spec))
    header, row = out.splitlines()
    assert "activations (MB)" in header and row.split()[-2:] == ["1.0", "2.0"]


def _load(body: str, input_="[3, 32, 32]"):
    return check(parse_spec(f"archdsl: 1\nname: net\ninput: {input_}\n" +
                            textwrap.dedent(body), "<net>", ops=OPS))


def test_three_stacked_3x3_convs_see_7x7():
    arch = _load("network: [conv(8, 3), conv(8, 3), conv(8, 3)]")
    assert [n.field.size for n in arch.graph.ops()] == [(3, 3), (5, 5), (7, 7)]
    assert arch.graph.node("2").field.stride == (1, 1)


def test_resnet50_receptive_field():
    # torchvision's layout (stride on the first block's 3x3): conv1 7 -> 7, maxpool -> 11,
    # then each 3x3 adds 2 * jump: layer1 3 x 8 -> 35, layer2 8 + 3 x 16 -> 91,
    # layer3 16 + 5 x 32 -> 267, layer4 32 + 2 x 64 -> 427, at stride 32.
    arch = archdsl.load(SPECS / "resnet50.yaml")
    field = arch.graph.node(arch.graph.scope(("layer4",)).output).field
    assert (field.size, field.stride) == ((427, 427), (32, 32))


def test_resnet_v1_50_receptive_field_as_published():
    """TF-slim's resnet_v1_50 puts each stage's stride on its *last* unit: Araujo,
    Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks",
    Distill 2019, Table 1 gives receptive field 483 and effective stride 32."""
    arch = _load("""
        params: {depths: [3, 4, 6, 3]}
        blocks:
          unit:
            args: {planes: int, stride: 1}
            residual:
              body: [conv(planes, 1), conv(planes, 3, stride=stride), conv(planes * 4, 1)]
              shortcut: {proj: conv(planes * 4, 1, stride=stride)}
        network:
          - conv(64, 7, stride=2)
          - maxpool(3, stride=2, pad=1)
          - repeat: 4
            index: s
            body:
              repeat: depths[s]
              body: "unit(64 * 2 ** s, stride=2 if i == depths[s] - 1 and s < 3 else 1)"
    """, input_="[3, 224, 224]")
    field = arch.graph.node(arch.graph.output).field
    assert (field.size, field.stride) == ((483, 483), (32, 32))


def test_every_op_states_its_cost_and_window_rules():
    for name, cls in OPS.items():
        assert cls.other_flops is not Op.other_flops, f"{name} has no cost rule"
        # Parameters are counted from the state_dict shapes each op states (tensors()).
        assert cls.param_count is Op.param_count, f"{name} counts params twice"
    spatial = {"conv", "maxpool", "avgpool", "adaptive_avgpool", "gap", "flatten"}
    for name in spatial:
        assert OPS[name].window is not Op.window, f"{name} changes the map but has no window"


def test_depth_groups_sum_to_the_totals_and_batch_scales():
    arch = archdsl.load(SPECS / "resnet50.yaml")
    flat, grouped = arch.summary(), arch.summary(depth=1)
    assert [r["name"] for r in grouped["nodes"]] == [
        "conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool",
        "flatten", "fc"]
    for key in ("params", "macs", "activation_bytes"):
        assert sum(r[key] for r in grouped["nodes"]) == sum(r[key] for r in flat["nodes"])
    assert sum(r["params"] for r in flat["nodes"]) == flat["totals"]["params"]
    eight = arch.summary(batch=8)["totals"]
    assert eight["macs"] == 8 * flat["totals"]["macs"]
    assert eight["params"] == flat["totals"]["params"]
    assert eight["forward_backward_mb"] == pytest.approx(8 * flat["totals"]["forward_backward_mb"],
                                                         abs=0.05)
    required = {"params", "trainable_params", "macs", "activation_bytes",
                "forward_backward_mb", "params_mb", "total_mb"}
    assert required <= flat["totals"].keys()
    assert {"name", "op", "shape", "params", "macs", "receptive_field", "stride"} <= \
        flat["nodes"][0].keys()


def test_auxiliary_heads_count_params_not_inference_macs():
    with_aux = archdsl.load(SPECS / "googlenet.yaml").summary()["totals"]
    without = archdsl.load(SPECS / "googlenet.yaml", aux_logits=False).summary()["totals"]
    assert with_aux["macs"] == without["macs"]
    assert with_aux["params"] - without["params"] == 13_004_888 - 6_624_904


def test_summary_help_states_the_conventions(cli, capsys):
    with pytest.raises(SystemExit):
        cli("summary", "--help")
    text = capsys.readouterr().out
    assert "multiply-accumulates of conv and linear layers only" in text
    assert "torchsummary" in text and "MB: 2^20 bytes" in text


def test_budgets(cli):
    code, out, err = cli("check", "specs/resnet50.yaml", "--max-params", "20M")
    assert code == 1
    assert "error[E0502]: `resnet50` has 25,557,032 parameters, over the budget of " \
        "20,000,000 (--max-params)" in err
    code, out, err = cli("check", "specs/resnet50.yaml", "--max-macs", "4G")
    assert code == 1 and "4,089,184,256 MACs per sample" in err
    code, out, err = cli("check", "specs/resnet50.yaml", "--max-params", "30M",
                         "--max-macs", "4.1e9")
    assert code == 0, err


def test_graph_dot_and_mermaid(cli):
    code, out, err = cli("graph", "specs/resnet18.yaml", "--depth", "1")
    assert code == 0
    assert out.startswith('digraph "resnet18" {')
    assert out.count('subgraph "cluster_') == 4  # the four stages
    assert 'label="layer2.0\\nbasic\\n(128, 28, 28)"' in out
    code, out, err = cli("graph", "specs/resnet18.yaml", "--format", "mermaid")
    assert out.startswith("flowchart TD") and 'subgraph s2["layer1.0 (basic)"]' in out
    assert "n0 --> n1" in out


def test_graph_svg(cli, tmp_path, monkeypatch):
    target = tmp_path / "g.svg"
    if shutil.which("dot"):
        code, out, err = cli("graph", "specs/resnet18.yaml", "--format", "svg", "--depth", "1",
                             "-o", str(target))
        assert code == 0 and target.read_text().lstrip().startswith(("<?xml", "<svg"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot on this PATH
    code, out, err = cli("graph", "specs/resnet18.yaml", "--format", "svg", "-o",
                         str(tmp_path / "none.svg"))
    assert code == 2 and "Graphviz's `dot`, which is not installed" in err
    assert not (tmp_path / "none.svg").exists()


def test_compare(cli, tmp_path):
    plot = tmp_path / "chart.png"
    code, out, err = cli("compare", "specs/alexnet.yaml", "specs/vgg16.yaml",
                         "specs/resnet50.yaml", "--json", "--plot", str(plot))
    assert code == 0, err
    rows = json.loads(out)
    assert [r["spec"] for r in rows] == ["alexnet", "vgg16", "resnet50"]
    assert rows[1]["macs"] == 15_470_264_320
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
