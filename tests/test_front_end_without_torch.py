"""`archdsl check` and the front end never import torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

PROBE = """
import sys
from archdsl.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in ("torch", "torchvision", "numpy") if m in sys.modules)
print("IMPORTED", ",".join(heavy) or "-")
sys.exit(code)
"""


def _probe(*args):
    return subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_check_does_not_import_torch():
    result = _probe("check", "specs/")
    assert result.returncode == 0, result.stderr
    assert "IMPORTED -" in result.stdout


def test_generation_does_not_import_torch():
    code = ("import sys, archdsl; archdsl.compile_source('specs/resnet50.yaml'); "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr


def test_source_is_identical_across_hash_seeds():
    code = "import archdsl, sys; sys.stdout.write(archdsl.compile_source('specs/resnext50.yaml'))"
    outputs = set()
    for seed in ("1", "2"):
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                                text=True, timeout=120, env={"PYTHONHASHSEED": seed,
                                                             "PATH": "/usr/bin:/bin"})
        assert result.returncode == 0, result.stderr
        outputs.add(result.stdout)
    assert len(outputs) == 1
    assert outputs.pop() == (ROOT / "codegen" / "resnext50.py").read_text()


# The CLI in a Python where torch cannot be found, as after `pip install archdsl`.
WITHOUT_TORCH = """
import importlib.machinery, sys

class Hidden(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.partition(".")[0] in ("torch", "torchvision"):
            return None
        return super().find_spec(name, path, target)

sys.meta_path = [Hidden if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
from archdsl.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _without_torch(*args, cwd):
    return subprocess.run([sys.executable, "-c", WITHOUT_TORCH, *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("args", [
    ("check", "resnet18"),
    ("compile", "resnet18", "-o", "net.py"),
    ("compile", "resnet18", "--inference", "-o", "net.py"),
    ("summary", "resnet18", "--depth", "1"),
    ("graph", "resnet18", "--format", "mermaid"),
    ("diff", "resnet18", "--set", "k=2"),
    ("sweep", "resnet18", "--grid", "k=1,2"),
    ("schema",),
    ("report", "resnet18", "-o", "net.html"),
    pytest.param(("list", "--json"), marks=pytest.mark.slow),  # loads every spec
], ids=lambda args: args[0] + ("_inference" if "--inference" in args else ""))
def test_the_front_end_runs_without_torch(args, tmp_path):
    result = _without_torch(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    if args[0] == "compile":
        source = (tmp_path / "net.py").read_text()
        assert "class Resnet18(nn.Module):" in source
        if "--inference" not in args:
            assert source == (ROOT / "codegen" / "resnet18.py").read_text()
    if args[0] == "list":
        assert len(json.loads(result.stdout)) == len(list((ROOT / "specs").glob("*.yaml")))


@pytest.mark.parametrize("flag, value, extra", [
    ("--torchscript", "net.pt", "torch"), ("--onnx", "net.onnx", "onnx"),
    ("--weights", "net.pt", "torch")])
def test_the_torch_features_say_what_to_install(flag, value, extra, tmp_path):
    result = _without_torch("compile", "resnet18", flag, value, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (f"archdsl: error: {flag} needs torch: "
                             f"pip install 'archdsl[{extra}]'\n")
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_build_without_torch_is_one_clear_error(tmp_path):
    code = WITHOUT_TORCH.replace("from archdsl.cli import main\nsys.exit(main(sys.argv[1:]))",
                                 "import archdsl\narchdsl.build('resnet18')")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "archdsl.optional.MissingDependency: archdsl.build needs torch: "
        "pip install 'archdsl[torch]'")
