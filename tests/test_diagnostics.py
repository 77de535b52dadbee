"""Broken specs give located diagnostics (golden text and JSON), exit 1, write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ROOT, UPDATE_GOLDENS

BROKEN = sorted((ROOT / "tests" / "broken").glob("*.yaml"))


def _golden(path: Path, text: str) -> str:
    if UPDATE_GOLDENS:
        path.write_text(text)
    assert path.exists(), f"missing golden {path}; run with ARCHDSL_UPDATE_GOLDENS=1"
    return path.read_text()


def test_corpus_is_large_enough():
    assert len(BROKEN) >= 15


@pytest.mark.parametrize("spec", BROKEN, ids=lambda p: p.stem)
def test_check_text(cli, spec):
    code, out, err = cli("check", f"tests/broken/{spec.name}")
    assert code == 1
    assert "Traceback" not in err
    assert err.startswith("error[E")
    assert f"--> tests/broken/{spec.name}:" in err
    assert err == _golden(spec.with_suffix(".txt"), err)


@pytest.mark.parametrize("spec", BROKEN, ids=lambda p: p.stem)
def test_check_json(cli, spec):
    code, out, err = cli("check", "--format", "json", f"tests/broken/{spec.name}")
    assert code == 1
    diagnostics = json.loads(out)
    assert diagnostics and all(d["severity"] == "error" for d in diagnostics)
    first = diagnostics[0]
    assert first["file"] == f"tests/broken/{spec.name}" and first["line"] >= 1
    assert out == _golden(spec.with_suffix(".json"), out)


@pytest.mark.parametrize("spec", BROKEN, ids=lambda p: p.stem)
def test_compile_writes_nothing(cli, spec, tmp_path):
    target = tmp_path / "out.py"
    code, out, err = cli("compile", f"tests/broken/{spec.name}", "-o", str(target))
    assert code == 1
    assert not list(tmp_path.iterdir())


def test_the_caret_sits_under_the_culprit(cli):
    code, out, err = cli("check", "tests/broken/groups.yaml")
    lines = err.splitlines()
    source = next(i for i, line in enumerate(lines) if "conv(64, 3, groups=cardinality)" in line)
    caret = lines[source + 1]
    start = caret.index("^")
    text = lines[source]
    assert text[start:start + caret.count("^")] == "groups=cardinality"


def test_github_format(cli):
    code, out, err = cli("check", "--format", "github", "tests/broken/unknown_op.yaml")
    assert code == 1
    assert out.startswith("::error file=tests/broken/unknown_op.yaml,line=5,col=12,")
    assert "title=archdsl E0304::unknown op or block `cnv` (help: did you mean `conv`?)" in out
