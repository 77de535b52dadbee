"""Variants: extends and patches, --set paths, diff, weight transfer, sweeps."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch
import torchvision

import archdsl
from archdsl.diagnostics import SpecError
from conftest import ROOT, SPECS


@pytest.fixture
def tree(tmp_path):
    """A directory with resnet50.yaml, to write child specs beside it."""
    shutil.copy(SPECS / "resnet50.yaml", tmp_path / "resnet50.yaml")

    def write(name: str, text: str):
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.mark.slow
def test_child_changing_layer3_depth_is_resnet101(tree):
    child = tree("resnet101.yaml", """\
        archdsl: 1
        extends: resnet50.yaml
        name: resnet101
        patch:
          - set: network.layer3.depth
            value: 23
    """)
    model = archdsl.build(child)
    reference = torchvision.models.resnet101()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), reference.eval()(x))


def test_params_and_blocks_merge_by_name(tree):
    child = tree("child.yaml", """\
        archdsl: 1
        extends: resnet50.yaml
        params: {num_classes: 10, extra: 3}
    """)
    arch = archdsl.load(child)
    assert arch.params["num_classes"] == 10 and arch.params["cardinality"] == 1
    assert arch.params["extra"] == 3
    assert arch.graph.shape("fc").dims == (10,)


@pytest.mark.parametrize("patch, check", [
    ("- {set: 'params.depths[1]', value: 2}",
     lambda a: a.params["depths"] == (3, 2, 6, 3)),
    ("- {set: 'network[3]', value: 'maxpool(2)'}",  # an element replaced whole: unnamed now
     lambda a: a.graph.node("maxpool").op.kernel() == (2, 2)),
    ("- {set: network.fc, value: 'linear(7)'}",
     lambda a: a.graph.shape("fc").dims == (7,)),
    ("- {delete: network.maxpool}",
     lambda a: "maxpool" not in a.graph.dag and a.graph.shape("layer4.2.relu_2").dims[1] == 14),
    ("- {insert_before: network.fc, value: {drop: 'dropout(0.2)'}}",
     lambda a: a.graph.inputs("fc") == ["drop"]),
    ("- {insert_after: network.layer4, value: {extra: 'conv(2048, 1)'}}",
     lambda a: a.graph.inputs("extra") == ["layer4.2.relu_2"]),
    ("- {set: blocks.bottleneck.residual.body.conv2, value: 'conv(width, 5, stride=stride)'}",
     lambda a: a.graph.node("layer1.0.conv2").op.kernel() == (5, 5)),
    ("- {set: blocks.bottleneck.args.stride, value: 2}",
     lambda a: a.graph.shape("layer1.0.conv2").dims == (64, 28, 28)),
])
def test_patches(tree, patch, check):
    child = tree("child.yaml", "archdsl: 1\nextends: resnet50.yaml\npatch:\n" + patch + "\n")
    assert check(archdsl.load(child))


@pytest.mark.parametrize("patch", ["- {set: null, value: 3}", "- {value: 3}"])
def test_a_patch_without_a_verb_is_located_and_names_no_internals(tree, patch):
    child = tree("child.yaml", "archdsl: 1\nextends: resnet50.yaml\npatch:\n" + patch + "\n")
    with pytest.raises(SpecError) as info:
        archdsl.load(child)
    diag = info.value.diagnostics[0]
    assert diag.code == "E0203" and diag.span.line == 4
    assert diag.message.endswith("(found none)") and "{" not in diag.message


def test_chains_and_located_errors(tree):
    tree("mid.yaml", """\
        archdsl: 1
        extends: resnet50.yaml
        params: {cardinality: 32, base_width: 4}
    """)
    leaf = tree("leaf.yaml", """\
        archdsl: 1
        extends: mid.yaml
        patch:
          - {set: network.layer2.planes, value: 130}
    """)
    assert archdsl.load(leaf).params["cardinality"] == 32
    bad = tree("bad.yaml", """\
        archdsl: 1
        extends: mid.yaml
        patch:
          - {set: network.layer2.depth, value: one}
    """)
    with pytest.raises(SpecError) as info:
        archdsl.load(bad)
    diag = info.value.diagnostics[0]
    assert diag.span.file.endswith("bad.yaml") and diag.span.line == 4  # the child's line
    broken_parent = tree("parent.yaml", (SPECS / "resnet50.yaml").read_text().replace(
        "conv3: conv(planes * 4, 1, bias=false)", "conv3: conv(planes * 4, 1, bias=flase)"))
    child = tree("child.yaml", "archdsl: 1\nextends: parent.yaml\nname: child\n")
    with pytest.raises(SpecError) as info:
        archdsl.load(child)
    assert info.value.diagnostics[0].span.file == str(broken_parent)
    assert info.value.diagnostics[0].help.startswith("did you mean `false`")


def test_extends_cycle_names_every_file(tree):
    tree("a.yaml", "archdsl: 1\nextends: b.yaml\n")
    tree("b.yaml", "archdsl: 1\nextends: c.yaml\n")
    c = tree("c.yaml", "archdsl: 1\nextends: a.yaml\n")
    with pytest.raises(SpecError) as info:
        archdsl.load(c)
    diag = info.value.diagnostics[0]
    assert diag.code == "E0503"
    assert all(name in diag.message for name in ("a.yaml", "b.yaml", "c.yaml"))


@pytest.mark.parametrize("text, code", [
    ("archdsl: 1\nextends: /etc/hostname.yaml\n", "E0203"),
    ("archdsl: 1\nextends: missing.yaml\n", "E0001"),
    ("archdsl: 1\nextends: resnet50.yaml\npatch:\n  - {set: network.nope, value: relu}\n",
     "E0600"),
    ("archdsl: 1\nextends: resnet50.yaml\npatch:\n  - {set: network.fc, delete: network.fc}\n",
     "E0203"),
    ("archdsl: 1\nextends: resnet50.yaml\npatch:\n  - {delete: network.fc.out}\n", "E0600"),
    ("archdsl: 1\nname: x\npatch: []\ninput: [3, 8, 8]\nnetwork: [relu]\n", "E0203"),
])
def test_patch_errors(tree, text, code):
    with pytest.raises(SpecError) as info:
        archdsl.load(tree("child.yaml", text))
    assert info.value.diagnostics[0].code == code


def test_set_takes_the_same_paths(cli):
    code, out, err = cli("check", "specs/resnet50.yaml", "--set", "network.layer3.depth=23",
                         "--set", "params.num_classes=10")
    assert code == 0, err
    arch = archdsl.load(SPECS / "resnet50.yaml", overrides=["network.layer3.depth=23",
                                                             "params.num_classes=10"])
    assert arch.param_count == 44_549_160 - 2049 * 1000 + 2049 * 10
    code, out, err = cli("check", "specs/resnet50.yaml", "--set", "network.fc=linear(1.5)")
    assert code == 1 and "--> <--set>:1:19" in err


def test_diff_lists_exactly_the_reshaped_tensors(cli):
    code, out, err = cli("diff", "specs/resnet50.yaml", "specs/resnext50.yaml", "--json")
    assert code == 0, err
    result = json.loads(out)
    a = torchvision.models.resnet50().state_dict()
    b = torchvision.models.resnext50_32x4d().state_dict()
    differ = {k for k in a if a[k].shape != b[k].shape}
    assert {r["name"] for r in result["weights"]["reshaped"]} == differ
    assert set(result["weights"]["unchanged"]) == set(a) - differ
    assert result["weights"]["new"] == result["weights"]["gone"] == []
    summary = {s: archdsl.load(SPECS / f"{s}.yaml").summary()["totals"]
               for s in ("resnet50", "resnext50")}
    for key in ("params", "macs"):
        assert result["totals"][key]["delta"] == summary["resnext50"][key] - \
            summary["resnet50"][key]
    changed = {m["name"] for m in result["modules"] if m["status"] == "changed"}
    assert changed == {"layer1", "layer2", "layer3", "layer4"}
    code, out, err = cli("diff", "specs/resnet50.yaml", "--set", "num_classes=10")
    assert "fc (changed)" in out and "reshaped  fc.weight: (1000, 2048) -> (10, 2048)" in out


def test_transfer_loads_all_but_the_head():
    reference = torchvision.models.resnet50()
    model = archdsl.build(SPECS / "resnet50.yaml", num_classes=10)
    report = archdsl.transfer(reference.state_dict(), model)
    assert [name for name, _, _ in report.reshaped] == ["fc.weight", "fc.bias"]
    assert report.new == report.gone == []
    assert len(report.unchanged) == len(reference.state_dict()) - 2
    state = model.state_dict()
    assert all(torch.equal(state[k], reference.state_dict()[k]) for k in report.unchanged)
    assert state["fc.weight"].shape == (10, 2048)


def test_compile_init_from(cli, tmp_path):
    source = tmp_path / "r18.pt"
    torch.save(torchvision.models.resnet18().state_dict(), source)
    weights = tmp_path / "r18_10.pt"
    code, out, err = cli("compile", "specs/resnet18.yaml", "--set", "num_classes=10",
                         "-o", str(tmp_path / "r.py"), "--init-from", str(source),
                         "--weights", str(weights))
    assert code == 0, err
    assert "120 tensors load unchanged, 2 change shape" in out
    saved = torch.load(weights, weights_only=True)
    assert saved["fc.weight"].shape == (10, 512)


SWEEP_SPEC = """\
archdsl: 1
name: net
input: [3, 32, 32]
params: {width: 64, groups: 8}
network:
  - conv(width, 3)
  - conv(width, 3, groups=groups)
"""


def test_sweep_without_torch_reports_invalid_rows(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(SWEEP_SPEC)
    probe = ("import sys; from archdsl.cli import main; "
             "code = main(sys.argv[1:]); print('torch' in sys.modules); sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", probe, "sweep", str(spec),
                             "--grid", "groups=8,16,24", "--grid", "width=64,96",
                             "--csv", str(tmp_path / "s.csv")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "False"  # torch was never imported
    assert len(lines) == 1 + 6 + 1
    invalid = [line for line in lines if "error[" in line]
    assert len(invalid) == 1 and invalid[0].startswith("24      64")
    assert "error[E0401]: groups=24 does not divide in_channels=64" in invalid[0]
    assert sum(line.endswith(" ok") for line in lines) == 5
    assert (tmp_path / "s.csv").read_text().count("\n") == 7


# ----------------------------------------------------------------- RegNet


@pytest.mark.slow
def test_regnetx_400mf_equals_torchvision():
    torch.manual_seed(0)
    model = archdsl.build(SPECS / "regnetx_400mf.yaml")
    reference = torchvision.models.regnet_x_400mf()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), reference.eval()(x))


def test_regnet_builtin_matches_every_torchvision_design():
    import inspect
    import re

    from torchvision.models import regnet as tv_regnet

    from archdsl.lang.designs import regnet

    calls = re.findall(r"BlockParams\.from_init_params\(([^)]*)\)",
                       inspect.getsource(tv_regnet))
    assert len(calls) >= 15
    for call in calls:
        kw = {k: float(v) if "." in v else int(v) for k, v in re.findall(r"(\w+)=([\d.]+)", call)}
        expected = tv_regnet.BlockParams.from_init_params(**kw)
        ours = regnet(kw["w_0"], kw["w_a"], kw["w_m"], kw["depth"], kw["group_width"],
                      kw.get("bottleneck_multiplier", 1.0))
        assert ours == (tuple(expected.widths), tuple(expected.depths),
                        tuple(expected.group_widths)), call


def test_hyphenated_names_only_in_plain_sequences(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text("archdsl: 1\nname: net\ninput: [3, 8, 8]\nnetwork:\n"
                    "  - block-1: conv(4, 3)\n  - flatten\n")
    with pytest.raises(SpecError) as info:
        archdsl.load(spec)
    assert info.value.diagnostics[0].code == "E0210"
    assert "rename it with `_`" in info.value.diagnostics[0].help
    spec.write_text("archdsl: 1\nname: net\ninput: [3, 8, 8]\nnetwork:\n"
                    "  - stage: [block-0: conv(4, 3), block-1: conv(4, 3)]\n  - flatten\n")
    model = archdsl.build(spec)
    assert "stage.block-1.weight" in model.state_dict()
