"""Shared fixtures: the repository root, and the CLI run in-process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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


def spec_files() -> list[Path]:
    return sorted(SPECS.glob("*.yaml"))
