"""The wheel: every module, the grammar, the zoo as specs/ holds it, and no torch
unless asked for (`archdsl[torch]`)."""

from __future__ import annotations

import email.parser
import shutil
import subprocess
import sys
import zipfile

import pytest

import archdsl
from conftest import ROOT, SPECS


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """A wheel built, offline, from a copy of what the build reads."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("archdsl", "specs"):
        shutil.copytree(ROOT / name, source / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                             "--no-build-isolation", "-q", "-w", str(out), str(source)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    (built,) = out.glob("archdsl-*.whl")
    with zipfile.ZipFile(built) as opened:
        yield opened


@pytest.mark.slow
def test_the_wheel_holds_every_file_of_the_package(wheel):
    names = set(wheel.namelist())
    package = ROOT / "archdsl"
    files = {str(p.relative_to(ROOT)) for p in package.rglob("*")
             if p.is_file() and "__pycache__" not in p.parts}
    assert files - names == set()  # modules, the grammar, the report's page
    assert {"archdsl/grammar.lark", "archdsl/version.py"} <= names


@pytest.mark.slow
def test_the_packaged_zoo_equals_specs(wheel):
    packaged = {n.removeprefix("archdsl/specs/"): wheel.read(n) for n in wheel.namelist()
                if n.startswith("archdsl/specs/")}
    assert packaged == {p.name: p.read_bytes() for p in SPECS.iterdir()}


@pytest.mark.slow
def test_torch_is_an_extra(wheel):
    (meta,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    metadata = email.parser.Parser().parsestr(wheel.read(meta).decode())
    assert metadata["Version"] == archdsl.__version__
    requires = metadata.get_all("Requires-Dist")
    core = [r for r in requires if "extra ==" not in r]
    assert sorted(r.split("<")[0].split(">")[0] for r in core) == [
        "lark", "networkx", "pydantic", "pyyaml"]
    assert 'torch>=2.1; extra == "torch"' in requires
    assert 'torch>=2.1; extra == "test"' in requires
    assert {"torch", "onnx", "test", "plot"} <= set(metadata.get_all("Provides-Extra"))
