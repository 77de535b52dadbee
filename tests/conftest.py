"""Shared fixtures: the repository root, the CLI run in-process, the tools as modules."""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

import archdsl
from archdsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
CODEGEN = ROOT / "codegen"
UPDATE_GOLDENS = os.environ.get("ARCHDSL_UPDATE_GOLDENS") == "1"


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run `archdsl ARGS…` from the repository root; returns (exit code, stdout, stderr)."""

    def run(*args: str):
        monkeypatch.chdir(ROOT)
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def tool(name: str) -> ModuleType:
    """tools/NAME.py as the module NAME, executed once (tools/ is not a package)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def spec_files() -> list[Path]:
    return sorted(SPECS.glob("*.yaml"))


@functools.cache
def checked(spec: Path) -> archdsl.Architecture:
    """A library spec checked once for the tests that only read it, so that its file is
    written once too (test_all_specs builds from it, test_codegen compares it)."""
    return archdsl.load(spec)


# The deepest and widest networks take a second or more in each per-spec test: their
# cases run in the full suite only.
DEEP = {"preact_resnet164", "preact_resnet1001", "resnet101", "resnet110_stochastic_depth",
        "resnet152", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2",
        "wide_resnet101_2", "densenet161", "densenet169", "densenet201", "inception_v3"}


def slow_if_deep(names):
    """Spec names (or files) as parameters, the DEEP ones marked slow."""
    return [pytest.param(n, marks=pytest.mark.slow) if Path(n).stem in DEEP else n
            for n in names]
