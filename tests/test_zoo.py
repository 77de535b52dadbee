"""The zoo: the packaged specs by name, `archdsl list`, and `extends: archdsl::NAME`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import tomllib

import archdsl
from archdsl import zoo
from archdsl.diagnostics import SpecError, render_text
from conftest import ROOT, SPECS, spec_files


def test_the_zoo_is_the_repositorys_specs():
    assert zoo.directory() == SPECS  # run from the checkout
    assert zoo.names() == [p.stem for p in spec_files()]
    assert zoo.path("resnet50") == zoo.path("archdsl::resnet50") == SPECS / "resnet50.yaml"
    assert zoo.path("archdsl::resnet50.yaml") == SPECS / "resnet50.yaml"
    assert zoo.path("resnet5") is None and zoo.path("../specs/resnet50") is None


def test_the_wheel_carries_every_spec():
    # pyproject.toml maps specs/ into the package; its glob must take every file there.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"]["archdsl.specs"] == "specs"
    assert "archdsl.specs" in config["packages"]
    assert config["package-data"]["archdsl.specs"] == ["*.yaml"]
    assert sorted(os.listdir(SPECS)) == [p.name for p in spec_files()]


def test_version_is_written_once():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "archdsl.version.__version__"}
    assert archdsl.__version__ == "0.2.0"


def test_version_flag_prints_the_version(capsys):
    from archdsl.cli import main

    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out == f"archdsl {archdsl.__version__}\n"


@pytest.mark.slow
def test_list_has_a_row_per_spec():
    from archdsl.catalog import rows

    listed = {row["name"]: row for row in rows()}
    assert list(listed) == zoo.names()
    resnet50 = listed["resnet50"]
    totals = archdsl.load(SPECS / "resnet50.yaml").summary()["totals"]
    assert (resnet50["params"], resnet50["macs"]) == (totals["params"], totals["macs"])
    assert resnet50["reference"] == "torchvision resnet50"
    assert listed["resnext50"]["reference"] == "torchvision resnext50_32x4d"
    assert listed["resnet50_fpn"]["reference"] == \
        "torchvision fasterrcnn_resnet50_fpn (backbone)"
    assert listed["wrn_28_10"]["reference"] == "arXiv:1605.07146"
    assert listed["lenet5"]["reference"] == \
        "\"Gradient-Based Learning Applied to Document Recognition\""
    assert all(row["reference"] for row in listed.values())


def test_list_command(cli, monkeypatch):
    monkeypatch.setattr(zoo, "names", lambda: ["lenet5", "resnet50"])  # two, for speed
    code, out, _ = cli("list")
    assert code == 0 and out.splitlines() == [
        "name      params (M)  MACs (G)  reference",
        "lenet5          0.06     0.000  \"Gradient-Based Learning Applied to Document "
        "Recognition\"",
        "resnet50       25.56     4.089  torchvision resnet50"]
    code, out, _ = cli("list", "--json")
    assert code == 0 and json.loads(out) == [
        {"name": "lenet5", "params": 61706, "macs": 416520,
         "reference": "\"Gradient-Based Learning Applied to Document Recognition\""},
        {"name": "resnet50", "params": 25557032, "macs": 4089184256,
         "reference": "torchvision resnet50"}]


def _archdsl(*args, cwd):
    return subprocess.run([sys.executable, "-m", "archdsl", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_compile_by_name_from_any_directory(tmp_path):
    result = _archdsl("compile", "resnet50", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("wrote codegen/resnet50.py (resnet50: 25,557,032 ")
    assert (tmp_path / "codegen" / "resnet50.py").read_text() == \
        (ROOT / "codegen" / "resnet50.py").read_text()


def test_commands_take_a_zoo_name(cli):
    code, out, _ = cli("check", "resnet18", "archdsl::lenet5")
    assert code == 0 and out.count("ok  ") == 2
    code, out, _ = cli("summary", "archdsl::resnet18", "--depth", "1")
    assert code == 0 and "11,689,512" in out


def test_an_unknown_name_says_what_is_near(cli):
    code, _, err = cli("summary", "resnet5")
    assert code == 2
    assert err == ("archdsl: error: no such spec file or zoo name: resnet5 (did you mean "
                   "`resnet50`, `resnext50`, `resnet152`, `resnet34`?)\n")
    code, _, err = cli("compile", "nothing_like_it")
    assert code == 2 and "`archdsl list` shows the specs of the zoo" in err


def test_a_file_that_exists_wins_over_a_zoo_name(tmp_path, monkeypatch):
    (tmp_path / "resnet50").write_text((SPECS / "lenet5.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    assert archdsl.load("resnet50").name == "lenet5"
    assert archdsl.load("archdsl::resnet50").name == "resnet50"


@pytest.mark.slow
def test_build_by_name_with_a_param():
    torch = pytest.importorskip("torch")
    model = archdsl.build("resnet50", num_classes=10).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 10)
    assert model.fc.out_features == 10


def _child(tmp_path, parent: str, extra: str = "") -> str:
    path = tmp_path / "elsewhere" / "child.yaml"
    path.parent.mkdir()
    path.write_text(f"archdsl: 1\nextends: {parent}\nname: child\n{extra}")
    return str(path)


def test_extends_a_zoo_spec_from_anywhere(tmp_path):
    child = archdsl.load(_child(tmp_path, "archdsl::resnet50", "params:\n  num_classes: 10\n"))
    parent = archdsl.load("resnet50")
    assert child.name == "child"
    assert child.param_count == parent.param_count - 990 * 2049
    assert str(SPECS / "resnet50.yaml") in child.spec.files


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "deeplabv3_resnet50"])
def test_a_zoo_parent_reads_its_own_files(tmp_path, name):
    # mobilenet_v3_small extends mobilenet_v3_large.yaml; deeplabv3_resnet50 has a
    # `spec: resnet50.yaml` block: both files beside the parent, outside the child's root.
    child = archdsl.load(_child(tmp_path, f"archdsl::{name}"))
    assert child.param_count == archdsl.load(name).param_count


def test_an_unknown_zoo_parent_is_located(tmp_path):
    path = _child(tmp_path, "archdsl::resnet5")
    with pytest.raises(SpecError) as caught:
        archdsl.load(path)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E0001" and diagnostic.span.line == 2
    assert diagnostic.message == "the zoo has no spec `resnet5`"
    assert render_text(diagnostic).endswith(
        "help: did you mean `archdsl::resnet50`, `archdsl::resnext50`, `archdsl::resnet152`, "
        "`archdsl::resnet34`?")


def test_the_root_still_holds_for_files(tmp_path):
    path = _child(tmp_path, "../../outside.yaml")
    with pytest.raises(SpecError) as caught:
        archdsl.load(path, root=tmp_path / "elsewhere")
    assert caught.value.diagnostics[0].code == "E0203"


def test_a_spec_block_from_the_zoo(tmp_path):
    path = tmp_path / "probe.yaml"
    path.write_text("archdsl: 1\nname: probe\ninput: [3, 64, 64]\n"
                    "blocks:\n  backbone:\n    spec: archdsl::resnet18\n    until: layer4\n"
                    "network:\n  - features: backbone\n  - gap\n  - flatten\n"
                    "  - head: linear(10)\n")
    arch = archdsl.load(path)
    assert arch.param_count == archdsl.load("resnet18").param_count - 513 * 1000 + 513 * 10


def test_load_of_an_unknown_name_lists_the_close_ones():
    with pytest.raises(SpecError) as caught:
        archdsl.load("archdsl::resnt50")
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.message == "no spec file or zoo spec `archdsl::resnt50`"
    assert diagnostic.help.startswith("did you mean `archdsl::resnet50`")
