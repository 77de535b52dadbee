"""Fuzzing in the suite: broken specs fail only with located diagnostics, never otherwise.

hypothesis drives two generators: tools/fuzz.py's mutations of real specs (the
ones `tools/fuzz.py --cases 100000` runs at scale), and specs built from the
language's own constructs and hostile values, which hypothesis can shrink to a
minimal failing spec. A case fails on an uncaught exception, a hang, an
internal error, a diagnostic without a span or outside its file, or generated
code that calls what the emitter does not write (`fuzz.run_case`).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archdsl.diagnostics import MAX_SHOWN, Diagnostic, Severity
from conftest import ROOT, SPECS, tool

fuzz = tool("fuzz")

# Small specs, so that a case takes milliseconds; together they use every construct.
BASES = {path.stem: path.read_text() for path in [
    SPECS / "lenet5.yaml", SPECS / "resnet18.yaml", SPECS / "squeezenet1_1.yaml",
    SPECS / "googlenet.yaml", SPECS / "fractalnet_cifar10.yaml",
    SPECS / "resnet110_stochastic_depth.yaml", SPECS / "vgg11_bn.yaml",
    ROOT / "tests" / "specs" / "kitchen_sink.yaml"]}
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory) -> Path:
    """A folder holding the base specs, beside the cases, for `extends:`."""
    folder = tmp_path_factory.mktemp("fuzz")
    for name, text in BASES.items():
        (folder / f"{name}.yaml").write_text(text)
    return folder


def _run(folder: Path, case: bytes) -> None:
    path = folder / "case.yaml"
    path.write_bytes(case)
    outcome, detail = fuzz.run_case(str(path), timeout=5.0)
    assert not outcome.startswith("FAIL"), f"{outcome}\n{detail}\n--- the case:\n" + \
        case.decode("utf-8", errors="replace")


@SETTINGS
@given(base=st.sampled_from(sorted(BASES)), seed=st.integers(0, 2**32 - 1))
def test_mutated_specs(case_dir, base, seed):
    _run(case_dir, fuzz.make_case(BASES[base], random.Random(seed)))


# ------------------------------------------------- specs from the language's constructs

_scalars = st.one_of(st.sampled_from(fuzz.EXPRESSIONS), st.sampled_from(fuzz.NAMES),
                     st.sampled_from(fuzz.NUMBERS), st.integers(-3, 300),
                     st.text(max_size=12))
_names = st.one_of(st.sampled_from(["conv1", "bn1", "relu", "fc", "layer1", "b", "x"]),
                   st.sampled_from(fuzz.NAMES))


def _layers(inner):
    calls = st.sampled_from(["conv(8, 3)", "conv(c, 1)", "bn", "relu", "maxpool(2)", "gap",
                             "flatten", "linear(10)", "dropout(0.5)", "identity",
                             "unit(c=8)", "stage(unit, depth=2, c=4)", "tower(n=2)"])
    layer = st.one_of(calls, _scalars)
    return st.one_of(
        layer,
        st.lists(inner, max_size=4),
        st.dictionaries(_names, inner, min_size=1, max_size=1),
        st.fixed_dictionaries({"residual": st.fixed_dictionaries(
            {"body": inner}, optional={"shortcut": inner, "merge": st.sampled_from(
                ["add", "concat", "mean", "join(drop=0.1)", "relu", "x"]), "post": inner,
                "drop_path": st.sampled_from([0.5, "linear(0.5)", 0, 2, "x"])})}),
        st.fixed_dictionaries({"branches": st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(_names, inner, max_size=3)),
            "merge": st.sampled_from(["concat", "add", "mean"])}),
        st.fixed_dictionaries({"repeat": st.sampled_from([0, 1, 2, 3, -1, "c", "10**9"]),
                               "body": inner},
                              optional={"name": st.sampled_from(["l{i}", "{i}", "x{", "{j}"]),
                                        "index": _names}),
        st.fixed_dictionaries({"if": st.sampled_from(["c > 4", "true", "1", "n == 0"]),
                               "then": inner}, optional={"else": inner}),
        st.dictionaries(_names, st.fixed_dictionaries({"auxiliary": inner}), min_size=1,
                        max_size=1),
    )


_layer = st.recursive(st.sampled_from(["conv(8, 3)", "relu", "bn"]), _layers, max_leaves=12)
_block = st.fixed_dictionaries({}, optional={
    "args": st.dictionaries(_names, st.sampled_from(["int", "float", "list", 1, "2 * c"]),
                            max_size=3),
    "let": st.dictionaries(_names, _scalars, max_size=2),
    "body": _layer, "doc": st.text(max_size=20)})
_spec_data = st.fixed_dictionaries(
    {"archdsl": st.sampled_from([1, 1, 1, 2, "1"]),
     "name": st.sampled_from(["net", "net", "Net2", "class", ""]),
     "input": st.sampled_from([[3, 32, 32], [3, 32, 32], [3, 8, 8], [10], [3, 0, 4], []]),
     "network": st.lists(_layer, min_size=1, max_size=5)},
    optional={"params": st.dictionaries(_names, _scalars, max_size=3),
              "blocks": st.fixed_dictionaries({}, optional={
                  "unit": st.fixed_dictionaries({"args": st.just({"c": "int"}),
                                                 "body": _layer}),
                  "tower": st.just({"args": {"n": "int"}, "body": {
                      "if": "n == 0", "then": "identity",
                      "else": ["conv(in_channels, 3)", "tower(n=n - 1)"]}}),
                  "other": _block}),
              "outputs": st.fixed_dictionaries({"name": _names, "fields": st.dictionaries(
                  _names, st.sampled_from(["network", "aux", "x"]), max_size=2)}),
              "init": st.lists(st.fixed_dictionaries({}, optional={
                  "op": st.sampled_from(["conv", "bn", "cnv"]), "name": st.text(max_size=8),
                  "weight": _scalars, "bias": _scalars}), max_size=2)})


@SETTINGS
@given(data=_spec_data)
def test_specs_built_from_constructs(case_dir, data):
    _run(case_dir, yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode())


def test_the_checks_catch_what_they_should(tmp_path):
    """run_case's own checks fail where they should (so that a pass means something)."""
    path = tmp_path / "case.yaml"
    path.write_text("archdsl: 1\nname: net\ninput: [3, 8, 8]\nnetwork: [relu]\n")
    assert fuzz.run_case(str(path)) == ("ok", "")
    path.write_text("archdsl: 1\nname: net\n")
    assert fuzz.run_case(str(path))[0] == "SpecError E0201"
    assert fuzz.source_problem("import os\n") and fuzz.source_problem("x = open('f')\n")
    assert fuzz.source_problem("class A:\n    def f(self):\n        return eval('1')\n")
    assert fuzz.source_problem("y = self.__class__\n")
    # Every error and warning is located; a note counting the errors not shown is not.
    many = "".join(f"  - c{i}: cnv{i}\n" for i in range(MAX_SHOWN + 4))
    path.write_text(f"archdsl: 1\nname: net\ninput: [3, 8, 8]\nnetwork:\n{many}")
    assert fuzz.run_case(str(path)) == ("SpecError E0304", "")
    assert fuzz.span_problem(Diagnostic("E0304", "unknown op", None)) == "no span"
    assert fuzz.span_problem(Diagnostic("", "4 more errors", severity=Severity.NOTE)) == ""


def test_a_run_in_parts_runs_the_same_cases(tmp_path):
    """Case i of a seed does not depend on --start or --jobs: a long run can be split.
    With --build, the case that check accepts is built, run and scripted."""
    import subprocess

    run = subprocess.run([sys.executable, str(ROOT / "tools" / "fuzz.py"), "--seed", "3",
                          "--start", "48", "--cases", "4", "--jobs", "1", "--build",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("4 cases (48 to 51) of seed 3 from ")
    assert "       1  ok (built, scripted)\n" in run.stdout
    assert "4 of 4 cases, 0 failures" in run.stderr


def test_a_run_of_one_spec_runs_that_specs_cases_alone(tmp_path):
    """--spec NAME keeps the cases of the range that mutate specs/NAME.yaml: one in
    every len(specs), at the same indices as in the whole run."""
    import subprocess

    names = [name for name, _ in fuzz._bases()]
    fuzz_py = [sys.executable, str(ROOT / "tools" / "fuzz.py"), "--seed", "3", "--jobs", "1",
               "--out", str(tmp_path)]
    run = subprocess.run(fuzz_py + ["--cases", str(2 * len(names)), "--spec", "lenet5"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"2 cases (0 to {2 * len(names) - 1}) of seed 3 of lenet5, ")
    assert [i for i in range(2 * len(names)) if names[fuzz._base_of(i, names)] == "lenet5"] \
        == [names.index("lenet5"), names.index("lenet5") + len(names)]
    unknown = subprocess.run(fuzz_py + ["--spec", "lenet"], capture_output=True, text=True,
                             timeout=300)
    assert unknown.returncode == 2 and "no spec specs/lenet.yaml" in unknown.stderr
