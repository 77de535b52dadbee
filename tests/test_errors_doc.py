"""docs/errors.md documents every diagnostic code, and each example prints what it shows."""

from __future__ import annotations

import pytest

from archdsl.diagnostics import CODES
from conftest import tool

errors_doc = tool("errors_doc")

TEXT = errors_doc.DOC.read_text()
EXAMPLES = errors_doc.examples(TEXT)
# Codes no spec can cause: a cycle and an unused layer need a graph built by hand; an
# internal error is a bug in archdsl.
NO_SPEC_CAUSES = {"E0700", "E0900", "W0100"}


def test_every_code_has_a_section_with_its_title():
    for code, title in CODES.items():
        assert f"\n## {code} {title}\n" in TEXT, f"document {code} in docs/errors.md"


def test_every_code_a_spec_can_cause_has_an_example():
    assert {e.code for e in EXAMPLES} == set(CODES) - NO_SPEC_CAUSES


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.code)
def test_the_example_prints_what_the_doc_shows(example):
    rendered = errors_doc.render(example)
    severity = "warning" if example.code.startswith("W") else "error"
    assert rendered.startswith(f"{severity}[{example.code}]: "), rendered
    assert rendered == example.output, "stale: run .venv/bin/python tools/errors_doc.py"
