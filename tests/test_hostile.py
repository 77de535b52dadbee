"""Hostile specs end quickly, in a located diagnostic: no crash, no hang, no runaway memory.

Each case is a spec written to hurt (an alias bomb, a depth in the billions, a
name that is a Python keyword, a binary file, …). It must be rejected with the
expected code, with a span inside the file, in a bounded time (well under a
second of CPU time on a quiet machine).
The bounds are the fields of `archdsl.Limits`; docs/limits.md lists them.
"""

from __future__ import annotations

import dataclasses
import time

import pytest

import archdsl
from archdsl.diagnostics import SpecError
from archdsl.limits import Limits
from conftest import ROOT

# Of CPU time, for any case. On a quiet machine the slowest cases take about 0.4 s and most
# under 0.05 s (`pytest tests/test_hostile.py --durations=10`); the bound is loose enough
# never to flake on a loaded one, and still catches a hang or a quadratic blow-up.
SECONDS = 2.0

HEAD = "archdsl: 1\nname: net\ninput: [3, 32, 32]\n"


def _alias_bomb() -> str:
    text = HEAD + "params:\n  a0: &a0 [relu, relu, relu, relu, relu, relu, relu, relu]\n"
    for i in range(1, 9):
        text += f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 8) + "]\n"
    return text + "network: [relu]\n"


def _list_bomb() -> str:
    lines = [f"  l{i + 1}: l{i} + l{i}" for i in range(60)]
    return HEAD + "params:\n  l0: [1, 2]\n" + "\n".join(lines) + "\nnetwork: [relu]\n"


def _block(body: str, args: str = "{}") -> str:
    return HEAD + f"blocks:\n  b:\n    args: {args}\n    body: {body}\n"


CASES: dict[str, tuple[str | bytes, str]] = {
    # YAML
    "alias bomb": (_alias_bomb(), "E0103"),
    "nesting 70 deep": (HEAD + "network: " + "[" * 70 + "relu" + "]" * 70 + "\n", "E0103"),
    "nesting 100,000 deep": (HEAD + "network: " + "[" * 100_000 + "]" * 100_000, "E0103"),
    "30,000 values": (HEAD + "params:\n  big: [" + "0, " * 30_000 + "0]\nnetwork: [relu]\n",
                      "E0103"),
    "2 MiB file": (HEAD + "doc: '" + "a" * 2 * 2**20 + "'\nnetwork: [relu]\n", "E0103"),
    "duplicate key": (HEAD + "network: [relu]\nnetwork: [gap]\n", "E0101"),
    "tab indentation": (HEAD + "network:\n\t- relu\n", "E0100"),
    "python tag": (HEAD + "network: !!python/object/apply:os.system [ls]\n", "E0102"),
    "empty file": ("", "E0104"),
    "only whitespace and comments": ("\n   \n# nothing\n", "E0104"),
    "binary file": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "E0001"),
    "invalid UTF-8": (HEAD.encode() + b"network: [relu]  # \xc3\x28\n", "E0001"),
    "NUL byte": (HEAD + "network: [relu]\x00\n", "E0001"),
    "escape character": (HEAD + "network: [relu]\x1b[2J\n", "E0001"),
    "byte order mark inside a name": (HEAD + "network:\n  - \ufeffconv1: conv(8, 3)\n",
                                      "E0210"),
    # numbers
    "5,000-digit integer": (HEAD + "params: {n: " + "9" * 5000 + "}\nnetwork: [relu]\n",
                            "E0203"),
    "integer above 2^62": (HEAD + "params: {n: 9223372036854775808}\nnetwork: [relu]\n",
                           "E0203"),
    "infinity": (HEAD + "params: {p: .inf}\nnetwork: [dropout(p)]\n", "E0203"),
    "not a number": (HEAD + "params: {p: .nan}\nnetwork: [dropout(p)]\n", "E0203"),
    "huge power": (HEAD + "params: {n: '2 ** 2 ** 2 ** 2 ** 2'}\nnetwork: [relu]\n", "E0305"),
    "huge float literal": (HEAD + "network: ['dropout(1e999)']\n", "E0300"),
    "negative input": ("archdsl: 1\nname: net\ninput: [3, -32, 32]\nnetwork: [relu]\n",
                       "E0203"),
    "negative channels": (HEAD + "network: ['conv(-64, 3)']\n", "E0202"),
    "negative repeat": (HEAD + "network:\n  - repeat: -1\n    body: relu\n", "E0202"),
    # sizes and counts
    "repeat 3 billion": (HEAD + "network:\n  - repeat: 3000000000\n    body: relu\n", "E0500"),
    "stage depth 10^12": (_block("[conv(8, 3)]") + "network: ['stage(b, depth=10**12)']\n",
                          "E0500"),
    "repeats nested 10,000 x 10,000": (
        HEAD + "network:\n  - repeat: 10000\n    body:\n      repeat: 10000\n      body: relu\n",
        "E0500"),
    "10^15 weights in one conv": (HEAD + "network: ['conv(10**7, 3)', 'conv(10**7, 3)']\n",
                                  "E0500"),
    "10^20 activations": (HEAD + "network: ['conv(10**9, 3)', 'conv(10**9, 3, dilation=1)']\n",
                          "E0500"),
    "list doubling 60 times": (_list_bomb(), "E0500"),
    "expression of 5,000 characters": (HEAD + "params:\n  n: " + "1+" * 2500 + "1\n"
                                       "network: [relu]\n", "E0500"),
    "expression 1,000 levels deep": (HEAD + "params:\n  n: '" + "[" * 1000 + "]" * 1000 +
                                     "'\nnetwork: [relu]\n", "E0300"),
    "expression 80 levels deep": (HEAD + "params:\n  n: " + "+".join(["1"] * 80) +
                                  "\nnetwork: [relu]\n", "E0500"),
    "100 KB of expressions": (HEAD + "params:\n" + "".join(
        f"  p{i}: {'+'.join([str(i)] * 40)}\n" for i in range(600)) + "network: [relu]\n",
        "E0500"),
    "an evaluation in every copy": (
        HEAD + "params: {w: 4}\nnetwork:\n  - repeat: 9000\n    body: 'dropout(sum([" +
        ", ".join(["w"] * 900) + "]) / 10**4)'\n", "E0500"),
    # recursion
    "runaway recursion": (_block("[relu, b]") + "network: [b]\n", "E0501"),
    "recursion through nested lists": (
        _block("[" * 50 + "relu, b" + "]" * 50) + "network: [b]\n", "E0501"),
    "mutual recursion": (HEAD + "blocks:\n  a: {body: [relu, b]}\n  b: {body: [relu, a]}\n"
                         "network: [a]\n", "E0501"),
    # names
    "non-ASCII layer name": (HEAD + "network:\n  - сonv1: conv(8, 3)\n", "E0210"),
    "non-ASCII param": (HEAD + "params: {größe: 8}\nnetwork: [relu]\n", "E0210"),
    "keyword layer name": (HEAD + "network:\n  - lambda: conv(8, 3)\n", "E0210"),
    "keyword param": (HEAD + "params: {class: 8}\nnetwork: [relu]\n", "E0210"),
    "keyword network name": ("archdsl: 1\nname: import\ninput: [3, 32, 32]\nnetwork: [relu]\n",
                             "E0210"),
    "dunder layer name": (HEAD + "network:\n  - __class__: conv(8, 3)\n", "E0210"),
    "quote in a name": (HEAD + "network:\n  - \"a'); import os #\": conv(8, 3)\n", "E0210"),
    "newline in a name": (HEAD + "network:\n  - \"a\\nimport os\": conv(8, 3)\n", "E0210"),
    "name of 200 characters": (HEAD + "network:\n  - " + "a" * 200 + ": conv(8, 3)\n",
                               "E0210"),
}


# ------------------------------------------- check ⇒ build: names of the generated file
# A spec name that would collide with one the generated file uses is refused here, or
# renamed by the emitter (tests/test_check_build.py builds, runs and scripts those).

_HEADS = (HEAD + "blocks:\n  head: {body: [gap, flatten, linear(4)]}\n"
          "network:\n  - conv(8, 3)\n  - aux1: {auxiliary: head}\n  - gap\n  - flatten\n"
          "  - linear(10)\n")
CASES.update({
    "an outputs field returned twice": (
        _HEADS + "outputs: {name: NetOutputs, fields: {logits: network, aux: aux1, "
        "again: network}}\n", "E0306"),
    "no outputs field for the network": (
        _HEADS + "outputs: {name: NetOutputs, fields: {aux: aux1}}\n", "E0201"),
    "no outputs fields": (_HEADS + "outputs: {name: NetOutputs, fields: {}}\n", "E0201"),
    "an auxiliary head without layers": (
        _HEADS.replace("[gap, flatten, linear(4)]", "[]") +
        "outputs: {name: NetOutputs, fields: {logits: network, aux: aux1}}\n", "E0203"),
    "a fan-based init of a batch norm's 1-d weight": (
        HEAD + "network: [{c: conv(8, 3)}, {n: bn}, relu]\n"
        "init: [{name: '*', weight: kaiming_normal}]\n", "E0203"),
    "an init interval the wrong way round": (
        HEAD + "network: [{c: conv(8, 3)}]\ninit: [{op: conv, weight: 'uniform(1, -1)'}]\n",
        "E0203"),
    "outputs type named Tensor": (
        _HEADS + "outputs: {name: Tensor, fields: {logits: network, aux: aux1}}\n", "E0210"),
    "outputs type named super": (
        _HEADS + "outputs: {name: super, fields: {logits: network, aux: aux1}}\n", "E0210"),
    "outputs type named like the network's class": (
        _HEADS + "outputs: {name: Net, fields: {logits: network, aux: aux1}}\n", "E0210"),
    "outputs field starting with _": (
        _HEADS + "outputs: {name: NetOutputs, fields: {_fields: network, aux: aux1}}\n",
        "E0210"),
    "a layer named like a generated method": (
        HEAD + "network:\n  - eager_outputs: conv(8, 3)\n", "E0210"),
    "a layer named forward": (HEAD + "network:\n  - forward: conv(8, 3)\n", "E0210"),
    "a layer named __init__": (HEAD + "network:\n  - __init__: conv(8, 3)\n", "E0210"),
    "a block named like an op's helper": (
        HEAD + "blocks:\n  drop_path: {body: [relu]}\nnetwork: [drop_path]\n", "E0210"),
})


def _located(diagnostic, path) -> bool:
    span = diagnostic.span
    if span is None or span.file != str(path):
        return False
    lines = span.source.lines
    return 1 <= span.line <= max(len(lines), 1) and \
        1 <= span.col <= len(span.source.line(span.line)) + 1


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_spec_is_rejected_quickly_and_located(name, tmp_path):
    text, code = CASES[name]
    path = tmp_path / "hostile.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    began = time.process_time()
    with pytest.raises(SpecError) as info:
        archdsl.load(path)
    spent = time.process_time() - began
    diagnostic = info.value.diagnostics[0]
    assert diagnostic.code == code, diagnostic.render()
    assert _located(diagnostic, path), diagnostic.render()
    assert spent < SECONDS, f"{name}: {spent:.2f} s"
    assert len(info.value.diagnostics[0].render().splitlines()) < 12  # readable, not a dump


def test_a_leading_byte_order_mark_is_just_text(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + (HEAD + "network: [relu]\n").encode())
    assert archdsl.load(path).name == "net"


def test_a_trillion_parameters_check_with_a_warning_and_do_not_build(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("archdsl: 1\nname: big\ninput: [1000000]\nnetwork: ['linear(1000000)']\n")
    began = time.process_time()
    arch = archdsl.load(path)
    assert arch.param_count == 10**12 + 10**6
    with pytest.raises(SpecError) as info:
        archdsl.build(arch)
    assert time.process_time() - began < SECONDS  # refused before any allocation
    assert info.value.diagnostics[0].code == "E0500"
    assert _located(info.value.diagnostics[0], path)


def test_the_limits_are_adjustable(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(HEAD + "network:\n  - repeat: 30\n    body: relu\n")
    assert len(archdsl.load(path).graph) == 30
    with pytest.raises(SpecError) as info:
        archdsl.load(path, limits=Limits(max_repeat=20))
    assert info.value.diagnostics[0].code == "E0500"
    assert "Limits.max_repeat" in info.value.diagnostics[0].help
    with pytest.raises(SpecError):
        archdsl.load(path, limits=Limits(max_graph_nodes=10))


def test_every_limit_is_documented():
    doc = (ROOT / "docs" / "limits.md").read_text()
    for field in dataclasses.fields(Limits):
        assert f"`{field.name}`" in doc, f"document Limits.{field.name} in docs/limits.md"
        assert f"{field.default:,}" in doc or f"2^{field.default.bit_length() - 1}" in doc, \
            f"docs/limits.md: give the default of {field.name}"


def test_the_largest_spec_is_within_every_limit():
    arch = archdsl.load(ROOT / "specs" / "preact_resnet1001.yaml")
    limits = Limits()
    assert len(arch.graph) * 1.4 < limits.max_graph_nodes
    assert (ROOT / "specs" / "inception_v3.yaml").stat().st_size * 50 < limits.max_file_bytes


def test_the_broken_corpus_has_forty_specs_with_golden_diagnostics():
    broken = sorted((ROOT / "tests" / "broken").glob("*.yaml"))
    assert len(broken) >= 40
    for spec in broken:
        assert spec.with_suffix(".txt").exists() and spec.with_suffix(".json").exists(), spec


# ------------------------------------------------------------------------------------------
# Bounded cost per operation, and PyTorch habits that would build another network.
#
# Each case's cost is bounded by construction (a check before the work), so the cases run
# in one `archdsl check` subprocess whose timeout is only a guard against a regression that
# hangs: it never decides a pass.

GUARD_SECONDS = 60


def _param(expr: str) -> str:
    return HEAD + f"params:\n  n: '{expr}'\nnetwork: ['conv(8 + n, 3)']\n"


# name: (spec, the code of its first diagnostic, or None where it checks with no error)
COST_CASES: dict[str, tuple[str, str | None]] = {
    "2 ** 10**8": (_param("2 ** 10**8"), "E0305"),
    "(-3) ** 10**18": (_param("(-3) ** 10**18"), "E0305"),
    "10**18 * 10**18": (_param("10**18 * 10**18"), "E0305"),
    "round(4, -10**8) is 0": (_param("round(4, -10**8)"), None),
    "round(2**62, -10**18) is 0": (_param("round(2**62, -10**18)"), None),
    "round(4.5, -10**8) is 0": (_param("int(round(4.5, -10**8))"), None),
    "float(10**18) ** 10**18": (_param("float(10**18) ** 10**18"), "E0305"),
    "int(1e308)": (_param("int(1e308)"), "E0305"),
    "base-60 number of 10,000 segments": (
        HEAD + "params:\n  n: " + ":".join(["30"] * 10_000) + "\nnetwork: [relu]\n", "E0500"),
    "base-60 number of 3 segments": (HEAD + "params:\n  n: 1:30:00\nnetwork: [relu]\n",
                                     "E0300"),
}

HABIT_CASES: dict[str, tuple[str, str | None]] = {
    "bn(16)": (HEAD + "network: ['conv(16, 3)', 'bn(16)']\n", "E0303"),
    "conv(3, 16, 3) in PyTorch's order": (HEAD + "network: ['conv(3, 16, 3)']\n", "E0303"),
    "linear(512, 10)": ("archdsl: 1\nname: net\ninput: [512]\nnetwork: ['linear(512, 10)']\n",
                        "E0303"),
    "group_norm(32, 256)": (HEAD + "network: ['conv(256, 3)', 'group_norm(32, 256)']\n",
                            "E0303"),
    "layer_norm(768)": (HEAD + "network: ['conv(8, 3)', 'layer_norm(768)']\n", "E0303"),
    "attention(768, 12)": ("archdsl: 1\nname: net\ninput: [197, 768]\n"
                           "network: ['attention(768, 12)']\n", "E0303"),
    "input H, W, C": ("archdsl: 1\nname: net\ninput: [224, 224, 3]\nnetwork: ['conv(8, 3)']\n",
                      "W0106"),
    "input T, H, W, C": ("archdsl: 1\nname: net\ninput: [16, 112, 112, 3]\n"
                         "network: ['conv(8, 3)']\n", "W0106"),
    "input C, H, W": (HEAD + "network: ['conv(8, 3)']\n", None),
    "a 3-channel 3-wide map is not H, W, C": (
        "archdsl: 1\nname: net\ninput: [64, 56, 3]\nnetwork: ['conv(8, 1)']\n", None),
    # The names of a branch not taken are checked too.
    "typo in an untaken `else`": (
        HEAD + "params: {deep: true}\nnetwork:\n  - if: deep\n    then: conv(8, 3)\n"
        "    else: conv(8, 3, groups=grups)\n", "E0301"),
    "op typo in an untaken `then`": (
        HEAD + "params: {deep: false}\nnetwork:\n  - if: deep\n    then: [conv(8, 3), rlu]\n",
        "E0304"),
    "typo in an untaken repeat": (
        HEAD + "params: {deep: false}\nnetwork:\n  - if: deep\n    then:\n      repeat: 2\n"
        "      body: conv(8 * i + widht, 3)\n", "E0301"),
    "a repeat's index is defined in an untaken branch": (
        HEAD + "params: {deep: false}\nnetwork:\n  - if: deep\n    then:\n      repeat: 2\n"
        "      body: conv(8 * i + 8, 3)\n    else: conv(8, 3)\n", None),
    "typo in an untaken conditional expression": (
        HEAD + "params: {deep: false}\nnetwork: ['conv(8, 3) if deep else conv(8, 3, "
        "groups=grups)', 'conv(8, 3, groups=grups) if deep else relu']\n", "E0301"),
}


def _check_all(cases: dict, tmp_path) -> dict[str, list[dict]]:
    """`archdsl check --format json` of every case at once: the diagnostics of each."""
    import json
    import os
    import subprocess
    import sys

    files = {}
    for i, (name, (text, _)) in enumerate(cases.items()):
        files[name] = tmp_path / f"case{i}.yaml"
        files[name].write_text(text)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "archdsl", "check", "--format", "json",
                           str(tmp_path)], capture_output=True, text=True, env=env,
                          timeout=GUARD_SECONDS)
    found = json.loads(done.stdout)
    return {name: [d for d in found if d["file"] == str(path)]
            for name, path in files.items()}


@pytest.mark.parametrize("cases", [COST_CASES, HABIT_CASES], ids=["cost", "habits"])
def test_each_operation_is_bounded_and_pytorch_habits_are_caught(cases, tmp_path):
    diagnostics = _check_all(cases, tmp_path)
    for name, (text, code) in cases.items():
        got = diagnostics[name]
        if code is None:
            assert not got, f"{name}: {got}"
            continue
        assert got and got[0]["code"] == code, f"{name}: {got}"
        assert got[0]["line"] and 1 <= got[0]["line"] <= len(text.splitlines()), name
        assert "LayerCall" not in got[0]["message"] + got[0].get("help", ""), name


def _habit_diagnostic(tmp_path, case: str):
    """The first diagnostic of HABIT_CASES[case], loaded from a file."""
    path = tmp_path / "net.yaml"
    path.write_text(HABIT_CASES[case][0])
    with pytest.raises(SpecError) as info:
        archdsl.load(path)
    return info.value.diagnostics[0]


def test_a_positional_bn_says_channels_are_inferred(tmp_path):
    diagnostic = _habit_diagnostic(tmp_path, "bn(16)")
    assert diagnostic.message == "`bn` takes no positional arguments, got 1"
    assert "did you mean `bn`?" in diagnostic.help and "bn(eps=1e-5)" in diagnostic.help


def test_conv_in_pytorchs_order_points_at_the_third_argument(tmp_path):
    diagnostic = _habit_diagnostic(tmp_path, "conv(3, 16, 3) in PyTorch's order")
    assert "takes 2 positional arguments (out, kernel), got 3" in diagnostic.message
    assert diagnostic.span.source.line(diagnostic.span.line)[diagnostic.span.col - 1:] \
        .startswith("3)")
    assert "`conv(16, 3)`" in diagnostic.help


def test_a_layer_given_as_a_number_is_named_not_shown_as_a_repr(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(HEAD + "network: ['conv(relu, 3)']\n")
    with pytest.raises(SpecError) as info:
        archdsl.load(path)
    assert info.value.diagnostics[0].message.endswith("found layer `relu`")


def test_a_sweep_too_large_is_refused_before_the_first_point(monkeypatch):
    from archdsl import api
    from archdsl.sweep import grid, run

    def never(*args, **kwargs):
        raise AssertionError("a point was loaded")

    monkeypatch.setattr(api, "load", never)
    axes = grid(["a=" + ",".join(map(str, range(10)))] * 3 + ["d=1,2"])
    with pytest.raises(SpecError) as info:
        run(str(ROOT / "specs" / "resnet18.yaml"), axes)
    assert info.value.diagnostics[0].code == "E0500"
    assert "10 × 10 × 10 × 2 = 2,000 combinations" in info.value.diagnostics[0].message
    with pytest.raises(AssertionError, match="a point was loaded"):  # the limit is the bound
        run(str(ROOT / "specs" / "resnet18.yaml"), axes, limits=Limits(max_sweep_points=2000))


def test_an_onnx_example_too_large_is_refused_before_the_network_is_built(
        cli, tmp_path, monkeypatch):
    from archdsl import api

    def never(*args, **kwargs):
        raise AssertionError("the network was built")

    monkeypatch.setattr(api, "build", never)
    spec = tmp_path / "big.yaml"
    spec.write_text("archdsl: 1\nname: big\ninput: [3, 100000, 100000]\n"
                    "network: ['conv(8, 3, stride=64)', gap]\n")
    code, out, err = cli("compile", str(spec), "-o", str(tmp_path / "big.py"),
                         "--onnx", str(tmp_path / "big.onnx"))
    assert code == 1
    assert "error[E0500]: ONNX export traces the network on an example input of " \
        "2 × 3 × 100000 × 100000" in err
    assert f"{spec}:3:8" in err
    assert not (tmp_path / "big.onnx").exists()


def test_a_residuals_concat_mismatch_gets_concats_help_not_adds(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(HEAD + "network:\n  - residual:\n      body: conv(16, 3, stride=2)\n"
                    "      merge: concat\n")
    with pytest.raises(SpecError) as info:
        archdsl.load(path)
    diagnostic = info.value.diagnostics[0]
    assert diagnostic.code == "E0400" and diagnostic.message.startswith("`concat` needs")
    assert "`concat` keeps the input's channels" in diagnostic.help
    assert "shortcut:" not in diagnostic.help
