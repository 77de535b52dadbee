"""Editors and other people's CI: the JSON Schema, the pre-commit hook, GitHub annotations."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml

from archdsl.lang.schema import json_schema
from conftest import ROOT, spec_files

SCHEMA = ROOT / "schema" / "archdsl.schema.json"
MODELINE = "# yaml-language-server: $schema=../schema/archdsl.schema.json"
# ::error file=F,line=L,col=C,endLine=L,endColumn=C,title=archdsl E0000::message
ANNOTATION = re.compile(r"::(error|warning) file=(?P<file>[^,:]+),line=(?P<line>\d+),"
                        r"col=(?P<col>\d+),endLine=\d+,endColumn=\d+,"
                        r"title=archdsl (?P<code>[EW]\d{4})::\S.*")


def test_the_committed_schema_is_current(cli):
    code, out, err = cli("schema")
    assert code == 0
    assert SCHEMA.read_text() == out, "stale: run `archdsl schema > schema/archdsl.schema.json`"


def test_every_spec_names_the_schema_for_its_editor():
    stale = [p.name for p in spec_files() if p.read_text().splitlines()[0] != MODELINE]
    assert not stale, f"start these specs with `{MODELINE}`: {stale}"


def test_every_reference_in_the_schema_resolves():
    schema = json_schema()
    refs = set(re.findall(r'"\$ref": "#/\$defs/(\w+)"', json.dumps(schema)))
    assert refs and refs <= set(schema["$defs"])


def test_every_spec_is_valid_by_the_schema():
    import jsonschema  # the test extra
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    for path in spec_files():
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert not errors, f"{path.name}: {errors[0].message}"
    for name in ("unknown_key", "missing_input", "wrong_version", "unknown_key_residual"):
        broken = yaml.safe_load((ROOT / "tests" / "broken" / f"{name}.yaml").read_text())
        assert not validator.is_valid(broken), name


def _broken_copy(tmp_path):
    """specs/ with one spec broken: an op misspelt. (SqueezeNet 1.0 and 1.1 warn, W0103.)"""
    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", specs)
    resnet = specs / "resnet50.yaml"
    resnet.write_text(resnet.read_text().replace("conv(width, 3,", "cnv(width, 3,", 1))
    return specs


@pytest.mark.slow
def test_github_annotations_for_a_broken_copy_of_the_specs(cli, tmp_path):
    specs = _broken_copy(tmp_path)
    code, out, err = cli("check", "--format", "github", str(specs))
    assert code == 1
    lines = out.splitlines()
    assert lines and all(ANNOTATION.fullmatch(line) for line in lines), out
    found = [ANNOTATION.fullmatch(line) for line in lines]
    broken = [m for m in found if m.group(1) == "error"]
    assert {m["code"] for m in found if m.group(1) == "warning"} == {"W0103"}
    assert [(m["file"], m["code"]) for m in broken] == [(str(specs / "resnet50.yaml"), "E0304")]
    text = (specs / "resnet50.yaml").read_text().splitlines()[int(broken[0]["line"]) - 1]
    assert text[int(broken[0]["col"]) - 1:].startswith("cnv(")
    assert "did you mean `conv`?" in lines[lines.index(broken[0].group(0))]
    for match in found:  # every annotation points at a real line of its file
        source = open(match["file"]).read().splitlines()
        assert 1 <= int(match["line"]) <= len(source)


@pytest.mark.slow
def test_json_for_a_broken_copy_of_the_specs(cli, tmp_path):
    specs = _broken_copy(tmp_path)
    code, out, err = cli("check", "--format", "json", str(specs))
    assert code == 1
    diagnostics = json.loads(out)
    assert [d["code"] for d in diagnostics if d["severity"] == "error"] == ["E0304"]
    assert all({"file", "line", "col", "message"} <= set(d) for d in diagnostics)


def test_the_pre_commit_hook_runs_archdsl_check(cli, tmp_path):
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "archdsl-check")
    assert hook["language"] == "python" and "yaml" in hook["types"]
    files = re.compile(hook["files"])
    assert files.search("specs/resnet50.yaml") and files.search("models/specs/net.yml")
    assert not files.search(".github/workflows/ci.yaml")
    command = hook["entry"].split()
    assert command[0] == "archdsl"  # the console script
    specs = _broken_copy(tmp_path)
    staged = [str(specs / "resnet50.yaml"), str(specs / "resnet18.yaml")]
    code, out, err = cli(*command[1:], *staged)  # pre-commit appends the staged files
    assert code == 1 and "error[E0304]" in err and f"ok  {staged[1]}" in out
    code, out, err = cli(*command[1:], staged[1])
    assert code == 0
