"""codegen/ is exactly what `archdsl compile` writes for every spec in specs/."""

from __future__ import annotations

import ast

import pytest

import archdsl
from conftest import CODEGEN, UPDATE_GOLDENS, checked, slow_if_deep, spec_files


@pytest.mark.parametrize("spec", slow_if_deep(spec_files()), ids=lambda p: p.stem)
def test_codegen_is_current(spec):
    generated = checked(spec).source  # as archdsl.compile_source(spec) writes it
    target = CODEGEN / f"{spec.stem}.py"
    if UPDATE_GOLDENS:
        target.write_text(generated)
    assert target.exists(), f"run `archdsl compile {spec}` and commit {target}"
    assert target.read_text() == generated, f"{target} is stale: run `archdsl compile {spec}`"


def test_every_codegen_file_has_a_spec():
    stems = {p.stem for p in spec_files()}
    orphans = [p.name for p in CODEGEN.glob("*.py") if p.stem not in stems]
    assert not orphans


@pytest.mark.parametrize("spec", spec_files()[:3], ids=lambda p: p.stem)
def test_generation_is_deterministic(spec):
    first = archdsl.compile_source(spec)
    assert archdsl.load(spec).source == first
    ast.parse(first)


def test_generated_lines_fit_the_line_length():
    """No line passes 100 characters, trailing comments included (the project's ruff
    setting): a comment that would push one past goes on a line of its own above."""
    long = [f"{p.name}:{i}" for p in sorted(CODEGEN.glob("*.py"))
            for i, line in enumerate(p.read_text().splitlines(), 1) if len(line) > 100]
    assert not long, long[:5]
