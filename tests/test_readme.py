"""The README tells the truth: its commands, its op table, its spec table."""

from __future__ import annotations

import re

from archdsl.ops import OPS
from conftest import ROOT, spec_files

README = (ROOT / "README.md").read_text()


def test_starts_with_the_two_commands():
    assert README.startswith("```sh\n")
    block = README.split("```sh\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(block) == 2
    install, test = block
    assert install.endswith("archdsl compile specs/resnext50.yaml")
    assert "pip install -e '.[test]'" in test and "pytest" in test
    ci = (ROOT / ".ci" / "run").read_text()
    assert "sed -n 2p" in ci and "README.md" in ci  # CI runs the README's second line


def test_every_op_is_documented():
    ops_table = README.split("### Ops", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)`(?:, `(\w+)`)?", ops_table, re.M))
    names = {n for pair in documented for n in pair if n}
    assert set(OPS) <= names, f"document in the README: {sorted(set(OPS) - names)}"


def test_every_spec_is_in_the_table():
    table = README.split("## Specs", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`(\w+)`", table))
    missing = [spec.stem for spec in spec_files() if spec.stem not in listed]
    assert not missing, f"add to the README's spec table: {missing}"
