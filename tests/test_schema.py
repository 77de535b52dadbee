"""Editors and other people's CI: the JSON Schema, the pre-commit hook, GitHub annotations."""

from __future__ import annotations

import ast
import json
import re
import shutil
import textwrap

import pytest
import yaml
from pydantic import ValidationError

from archdsl.lang.extends import PatchRecord
from archdsl.lang.patch import VERBS
from archdsl.lang.schema import SpecRecord, json_schema
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
    validator = _validator()
    for path in spec_files():
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert not errors, f"{path.name}: {errors[0].message}"
    for name in ("unknown_key", "missing_input", "wrong_version", "unknown_key_residual"):
        broken = yaml.safe_load((ROOT / "tests" / "broken" / f"{name}.yaml").read_text())
        assert not validator.is_valid(broken), name


def _validator():
    import jsonschema  # the test extra
    return jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))


def _yaml_in_tests() -> list:
    """Every string constant of the test modules that reads as YAML."""
    found = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    ":" in node.value:
                try:
                    found.append(yaml.safe_load(textwrap.dedent(node.value)))
                except yaml.YAMLError:
                    pass
    return found


def _child_specs_in_tests() -> list[dict]:
    """The child specs the tests write, and each patch list they apply, as a child of
    resnet50."""
    children = []
    for data in _yaml_in_tests():
        if isinstance(data, dict) and "extends" in data:
            children.append(data)
        elif isinstance(data, list) and data and all(
                isinstance(p, dict) and set(p) & set(VERBS) for p in data):
            children.append({"archdsl": 1, "extends": "resnet50.yaml", "patch": data})
    return children


def _loads_as_records(child: dict) -> bool:
    """Whether archdsl accepts the child's own keys and patches, before merging."""
    fields = {f.alias or name for name, f in SpecRecord.model_fields.items()}
    if not isinstance(child.get("patch", []), list):  # lang/extends.py's patches_of
        return False
    try:
        for patch in child.get("patch", []):
            PatchRecord.model_validate(patch)
    except ValidationError:
        return False
    return set(child) <= fields


def test_child_specs_are_valid_by_the_schema():
    validator = _validator()
    children = [p for p in spec_files() if "extends" in yaml.safe_load(p.read_text())]
    assert len(children) >= 8
    for path in children:
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert not errors, f"{path.name}: {errors[0].message}"
    readme = (ROOT / "README.md").read_text()
    variant = re.search(r"```yaml\n(archdsl: 1\nextends: .*?)```", readme, re.S)
    assert variant, "the README's variant example"
    errors = list(validator.iter_errors(yaml.safe_load(variant.group(1))))
    assert not errors, f"README.md: {errors[0].message}"


def test_the_schema_agrees_with_archdsl_on_the_tests_child_specs():
    validator = _validator()
    children = _child_specs_in_tests()
    assert len(children) >= 20
    verdicts = [(validator.is_valid(c), _loads_as_records(c)) for c in children]
    disagree = [c for c, (ours, theirs) in zip(children, verdicts) if ours != theirs]
    assert not disagree, f"the schema and archdsl disagree on: {disagree}"
    assert sum(ours for ours, _ in verdicts) >= 15  # most are valid
    assert not all(ours for ours, _ in verdicts)  # a patch with two verbs is not


@pytest.mark.parametrize("child", [
    {"archdsl": 1, "extends": "resnet50.yaml", "nmae": "x"},  # an unknown key
    {"extends": "resnet50.yaml", "name": "x"},  # no version
    {"archdsl": 1, "extends": "resnet50.yaml", "patch": [{"set": "network.fc"}]},
    {"archdsl": 1, "extends": "resnet50.yaml", "patch": [{"sett": "network.fc", "value": 1}]},
    {"archdsl": 1, "extends": "resnet50.yaml",
     "patch": [{"delete": "network.fc", "insert_after": "network.avgpool", "value": 1}]},
    {"archdsl": 1, "name": "x", "input": [3], "network": ["relu"], "patch": []},  # no parent
    {"archdsl": 1, "name": "x", "network": ["relu"]},  # not a child: needs its input
    {"archdsl": 1, "extends": "resnet50.yaml", "input": [0, 8, 8]},
])
def test_the_schema_rejects_what_archdsl_rejects(child):
    assert not _validator().is_valid(child)


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


def test_the_readmes_annotation_is_what_check_prints(cli, tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    shown = re.search(r"^::error file=models/resnet50\.yaml.*$", readme, re.M)
    assert shown, "the README's annotation example"
    models = tmp_path / "models"
    models.mkdir()
    text = (ROOT / "specs" / "resnet50.yaml").read_text()
    (models / "resnet50.yaml").write_text(text.replace("conv(width, 3,", "cnv(width, 3,", 1))
    code, out, err = cli("check", "--format", "github", str(models / "resnet50.yaml"))
    assert code == 1
    assert out.strip().replace(str(models), "models") == shown.group(0)


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
