"""The command line: exit codes, outputs, and atomic writes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from archdsl.cli import main
from conftest import ROOT, SPECS


def test_check_all_specs(cli):
    code, out, err = cli("check", "specs/")
    assert code == 0, err
    assert out.count("ok  ") == len(list(SPECS.glob("*.yaml")))
    assert "resnet50: 25,557,032 parameters" in out


def test_check_reports_every_file(cli):
    code, out, err = cli("check", "specs/resnet18.yaml", "tests/broken/groups.yaml",
                         "tests/broken/unknown_op.yaml")
    assert code == 1
    assert "ok  specs/resnet18.yaml" in out
    assert "E0401" in err and "E0304" in err
    assert "1 of 3 specs valid" in err


@pytest.mark.parametrize("args", [[], ["check"], ["check", "nope.yaml"],
                                  ["compile", "nope.yaml"], ["frobnicate"],
                                  ["check", "--format", "xml", "specs/"]])
def test_usage_errors_exit_2(args, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    assert code == 2


def test_compile_default_output(tmp_path, monkeypatch, capsys):
    shutil.copy(SPECS / "resnet18.yaml", tmp_path / "r18.yaml")
    monkeypatch.chdir(tmp_path)
    assert main(["compile", "r18.yaml"]) == 0
    assert (tmp_path / "codegen" / "r18.py").read_text().startswith('"""ResNet-18')
    assert "wrote codegen/r18.py (resnet18: 11,689,512 parameters)" in capsys.readouterr().out


def test_failed_compile_leaves_the_old_file(cli, tmp_path):
    target = tmp_path / "net.py"
    target.write_text("previous contents\n")
    code, out, err = cli("compile", "tests/broken/groups.yaml", "-o", str(target))
    assert code == 1
    assert target.read_text() == "previous contents\n"
    assert [p.name for p in tmp_path.iterdir()] == ["net.py"]


def test_compile_with_set(cli, tmp_path):
    target = tmp_path / "net.py"
    code, out, err = cli("compile", "specs/resnext50.yaml", "-o", str(target),
                         "--set", "cardinality=64", "--set", "depths[2]=23")
    assert code == 0, err
    text = target.read_text()
    assert "groups=64" in text and "range(22)" in text


def test_schema_is_json(cli):
    import json

    code, out, err = cli("schema")
    schema = json.loads(out)
    assert schema["title"] == "archdsl spec"
    assert "network" in schema["else"]["required"]  # a child spec (`extends:`) may omit it
    assert schema["then"]["required"] == ["archdsl", "extends"]


def test_console_script_runs():
    exe = shutil.which("archdsl", path=str(Path(sys.executable).parent))
    assert exe, "the `archdsl` console script is not installed beside this Python"
    result = subprocess.run([exe, "check", "specs/resnet18.yaml"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("module", ["archdsl", "archdsl.cli"])
def test_module_entry_point(module):
    result = subprocess.run([sys.executable, "-m", module, "check",
                             "tests/broken/empty.yaml"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1
    assert "error[E0104]" in result.stderr and "Traceback" not in result.stderr
