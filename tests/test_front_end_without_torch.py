"""`archdsl check` and the front end never import torch."""

from __future__ import annotations

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
