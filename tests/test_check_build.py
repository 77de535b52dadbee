"""check ⇒ build: every spec that `check` accepts builds, runs and scripts.

The property is tools/fuzz_build.build_problem: build on the meta device, run in
eval and training mode with the shapes `check` inferred, script with TorchScript
and run the scripted module. It holds for the small specs of the library, for
specs whose names collide with the generated file's own (tests/test_namespace.py
has more), and for fuzzer mutations of small specs that `check` accepts.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archdsl
from archdsl.diagnostics import SpecError
from conftest import ROOT, SPECS, tool

fuzz_build, fuzz = tool("fuzz_build"), tool("fuzz")

SMALL = ["lenet5", "nin_cifar10", "vgg11", "squeezenet1_1", "resnet18", "googlenet",
         "unet", "resnet50_fpn", "fractalnet_cifar10", "shufflenet_v2_x1_0", "swin_t"]

TINY = """\
archdsl: 1
name: {name}
input: [3, 16, 16]
blocks:
  head:
    body: [gap, flatten, {{fc: linear(4)}}]
  {block}:
    body: [conv(8, 3), relu]
network:
  - c1: conv(8, 3)
  - {block}
  - {aux}: {{auxiliary: head}}
  - {layer}: {{residual: {{body: [conv(8, 3)], drop_path: 0.8}}}}
  - gap
  - flatten
  - fc: linear(10)
outputs:
  name: {outputs}
  fields: {fields}
"""
DEFAULTS = {"name": "tiny", "block": "blk", "aux": "aux1", "layer": "l1",
            "outputs": "NetOutputs", "fields": "{logits: network, aux: aux1}"}

# Names of the generated file (a helper class, an import, a generated method, the
# network's class) given to each kind of spec name.
HOSTILE = [
    ("block", "drop_path"), ("block", "tensor"), ("block", "tiny"), ("block", "net_outputs"),
    ("block", "forward"), ("block", "eager_outputs"), ("block", "named_tuple"),
    ("block", "optional"), ("layer", "forward"), ("layer", "eager_outputs"),
    ("layer", "DropPath"), ("layer", "Tensor"), ("layer", "super"), ("layer", "out"),
    ("layer", "aux"), ("aux", "torch"), ("aux", "Tensor"), ("aux", "x"), ("aux", "out"),
    ("aux", "NetOutputs"), ("name", "tensor"), ("name", "drop_path"), ("name", "net_outputs"),
    ("name", "named_tuple"), ("outputs", "DropPath"), ("outputs", "Net"),
    ("outputs", "Tensor"), ("outputs", "Tiny"), ("outputs", "Head"),
    ("fields", "{Tensor: network, torch: aux1}"), ("fields", "{super: network, Tiny: aux1}"),
    ("fields", "{forward: network, NetOutputs: aux1}"), ("fields", "{x: aux1, self: network}"),
    ("fields", "{logits: network, aux: aux1, again: network}"),
    ("fields", "{aux: aux1, aux2: aux1, logits: network}"), ("fields", "{aux: aux1}"),
    ("fields", "{}"), ("fields", "{logits: network}"),
]


def _accepted(path: Path):
    """The checked architecture, or None where check refuses the spec (located)."""
    try:
        return archdsl.load(path)
    except SpecError as exc:
        span = exc.diagnostics[0].span
        assert span is not None and 1 <= span.line <= len(path.read_text().splitlines())
        return None


@pytest.mark.parametrize("which,value", HOSTILE, ids=[f"{w}={v}" for w, v in HOSTILE])
def test_a_hostile_name_is_refused_or_builds(tmp_path, which, value):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY.format(**dict(DEFAULTS, **{which: value})))
    arch = _accepted(path)
    if arch is not None:
        assert fuzz_build.build_problem(arch) == ""


@pytest.mark.parametrize("fields,code", [
    ("{logits: network, aux: aux1, again: network}", "E0306"),
    ("{aux: aux1, aux2: aux1, logits: network}", "E0306"),
    ("{aux: aux1}", "E0201"),
])
def test_duplicate_and_missing_output_fields_are_refused(tmp_path, fields, code):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY.format(**dict(DEFAULTS, fields=fields)))
    with pytest.raises(SpecError) as caught:
        archdsl.load(path)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == code and diagnostic.span.line == 19


def test_the_property_catches_what_it_should(tmp_path):
    """build_problem fails where it should (so that a pass means something)."""
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY.format(**DEFAULTS))
    arch = archdsl.load(path)
    assert fuzz_build.build_problem(arch) == ""
    emitted = arch.emitted

    def edited(old: str, new: str):
        return type(emitted)(emitted.source.replace(old, new, 1), emitted.class_name,
                             emitted.line_map)

    arch.emitted = edited("-> NetOutputs:", "-> Tensor:")  # forward's declared type
    assert fuzz_build.build_problem(arch).startswith("script:")
    arch.emitted = edited("super().__init__()", "super().__init__(1)")
    assert fuzz_build.build_problem(arch, script=False).startswith("build:")


def test_a_structure_is_scripted_once_and_a_source_built_once():
    seen = fuzz_build.Seen()
    source = 'class A:\n    """Doc."""\n\n    def f(self):\n        return 3  # three\n'
    assert seen.first(source)
    assert not seen.first(source.replace("3", "7").replace("Doc.", "Other."))
    assert seen.first(source.replace("3", "3.0"))  # a float scripts otherwise
    assert seen.first_build(source, (3, 8, 8)) and not seen.first_build(source, (3, 8, 8))
    assert seen.first_build(source, (3, 9, 9))  # another input: other shapes
    assert seen.first_build(source.replace("3", "7"), (3, 8, 8))


def test_the_rename_mutation_keeps_references(tmp_path):
    from archdsl.lang.yamlload import load_yaml

    data, _ = load_yaml(TINY.format(**DEFAULTS), "<tiny>")
    renamed = fuzz_build._replace_word(data, "aux1", "Tensor")
    assert renamed["network"][2] == {"Tensor": {"auxiliary": "head"}}
    assert renamed["outputs"]["fields"] == {"logits": "network", "aux": "Tensor"}
    rng = random.Random(0)
    kinds = {repr(fuzz_build.rename_mutation(load_yaml(TINY.format(**DEFAULTS), "t")[0], rng))
             for _ in range(40)}
    assert len(kinds) > 10


def test_the_structure_mutation_makes_each_kind(tmp_path):
    from archdsl.lang.yamlload import load_yaml

    rng = random.Random(0)
    before = TINY.format(**DEFAULTS)
    cases = [fuzz._dump(fuzz_build.structure_mutation(load_yaml(before, "t")[0], rng))
             for _ in range(60)]
    assert any("init:" in case for case in cases)
    assert any("permute(0, 1, 3, 2)" in case or "transpose(2, 3)" in case for case in cases)
    assert any("body: []" in case for case in cases)
    assert any("gelu" in case or "layer_norm" in case or "conv_transpose" in case
               for case in cases)


@pytest.mark.slow
@pytest.mark.parametrize("name", SMALL)
def test_a_library_spec_builds_runs_and_scripts(name):
    assert fuzz_build.build_problem(archdsl.load(SPECS / f"{name}.yaml")) == ""


# ------------------------------------------------------------- mutated specs, as the fuzzer

BASES = {path.stem: path.read_text() for path in [
    SPECS / "lenet5.yaml", SPECS / "googlenet.yaml", SPECS / "squeezenet1_1.yaml",
    ROOT / "tests" / "specs" / "kitchen_sink.yaml", SPECS / "resnet50_fpn.yaml"]}


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory) -> Path:
    """A folder holding the library's specs, beside the cases, for `extends:`."""
    folder = tmp_path_factory.mktemp("check-build")
    for base in sorted(SPECS.glob("*.yaml")):
        (folder / base.name).write_text(base.read_text())
    return folder


@pytest.mark.slow
@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(sorted(BASES)), seed=st.integers(0, 2**32 - 1),
       mutation=st.sampled_from(["rename", "structure", "any"]))
def test_a_mutated_spec_that_checks_builds(case_dir, base, seed, mutation):
    from archdsl.lang.yamlload import load_yaml

    rng = random.Random(seed)
    if mutation == "any":
        case = fuzz.make_case(BASES[base], rng).decode("utf-8", errors="replace")
    else:
        change = getattr(fuzz_build, f"{mutation}_mutation")
        case = fuzz._dump(change(load_yaml(BASES[base], "b")[0], rng))
    path = case_dir / "case.yaml"
    path.write_text(case)
    outcome, detail = fuzz.run_case(str(path), timeout=10.0, build=True)
    assert not outcome.startswith("FAIL"), f"{outcome}\n{detail}\n--- the case:\n{case}"


# ------------------------------------------- init rules: what a rule meets, what it can fill

INIT_NET = """\
archdsl: 1
name: tiny
input: [3, 16, 16]
network:
  - c1: conv(8, 3, bias=false)
  - bn1: bn
  - relu
  - frozen: frozen_bn
  - ln1: layer_norm
  - ln2: layer_norm(affine=false)
  - gap
  - flatten
  - fc: linear(10)
init:
{rules}"""


def _init_net(tmp_path, rules: str) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(INIT_NET.format(rules=rules))
    return path


@pytest.mark.parametrize("rules", [
    '  - name: "*"\n    weight: 2\n    bias: 3\n',  # a ReLU, buffers, no affine, no bias
    '  - name: "relu"\n    weight: 2\n',
    '  - name: "frozen"\n    weight: 2\n    bias: 3\n',  # buffers, not parameters
    '  - op: layer_norm\n    weight: 2\n    bias: 3\n',  # one of two without affine
    '  - op: conv\n    bias: 3\n',  # the conv has no bias
])
def test_a_rule_sets_only_what_its_layers_hold(tmp_path, rules):
    arch = archdsl.load(_init_net(tmp_path, rules))
    assert fuzz_build.build_problem(arch) == ""
    model = archdsl.build(arch)
    state = model.state_dict()
    assert (state["frozen.weight"] == 1).all() and (state["frozen.bias"] == 0).all()
    assert "ln2.weight" not in state and model.c1.bias is None
    if rules.startswith('  - name: "*"'):
        assert (state["c1.weight"] == 2).all() and (state["bn1.bias"] == 3).all()
        assert (state["fc.weight"] == 2).all() and (state["fc.bias"] == 3).all()


@pytest.mark.parametrize("rules", [
    '  - name: "relu"\n    weight: 2\n', '  - op: conv\n    bias: 3\n',
    '  - name: "nothing*"\n    weight: 2\n'])
def test_a_rule_that_sets_nothing_is_a_warning(tmp_path, rules):
    (warning,) = [w for w in archdsl.load(_init_net(tmp_path, rules)).warnings
                  if w.code == "W0102"]
    assert warning.span.line == 15


@pytest.mark.parametrize("rules,column", [
    ('  - name: "*"\n    weight: kaiming_normal(mode="fan_out")\n', 13),  # bn1.weight is 1-d
    ('  - op: bn\n    weight: 1\n    bias: xavier_uniform\n', 11),
    ('  - op: linear\n    weight: uniform(1, -1)\n', 13),  # torch refuses a > b
    ('  - op: linear\n    weight: trunc_normal(a=2, b=2)\n', 13),
])
def test_a_rule_whose_function_cannot_fill_a_tensor_is_refused(tmp_path, rules, column):
    with pytest.raises(SpecError) as caught:
        archdsl.load(_init_net(tmp_path, rules))
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E0203" and diagnostic.span.col == column
    assert diagnostic.span.line == 16 + rules.count("bias")


def test_a_name_rule_tests_the_module_class_in_the_generated_code(tmp_path):
    source = archdsl.load(_init_net(tmp_path, '  - name: "*"\n    weight: 2\n')).source
    assert 'isinstance(module, (nn.Conv2d, nn.BatchNorm2d, LayerNorm2d, nn.Linear))' in source
    assert max(len(line) for line in source.splitlines()) <= 100


# ------------------------------------------------- auxiliary heads, and views written in place


def test_an_auxiliary_head_without_layers_is_refused(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY.format(**DEFAULTS).replace("body: [gap, flatten, {fc: linear(4)}]",
                                                    "body: []"))
    with pytest.raises(SpecError) as caught:
        archdsl.load(path)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E0203" and diagnostic.span.line == 12
    assert "no layers" in diagnostic.message


def test_nothing_is_written_in_place_into_a_view(tmp_path):
    """TorchScript's autodiff refuses `out += x` into LayerNorm2d's output (a permute of a
    tensor made in a differentiable graph) from the second training call on."""
    import torch

    path = tmp_path / "tiny.yaml"
    path.write_text(TINY.format(**DEFAULTS).replace(
        "{residual: {body: [conv(8, 3)], drop_path: 0.8}}",
        "{residual: {body: [conv(8, 3), layer_norm, relu, conv(8, 1), permute(0, 1, 3, 2)]}}"))
    arch = archdsl.load(path)
    assert "+=" not in arch.source and arch.source.count("inplace=True") == 1  # blk's relu
    assert fuzz_build.build_problem(arch) == ""
    scripted = torch.jit.script(archdsl.build(arch)).train()
    for _ in range(3):
        scripted(torch.randn(2, 3, 16, 16)).logits.sum().backward()


def test_nothing_is_written_in_place_into_window_attentions_output(tmp_path):
    """ShiftedWindowAttention ends in a crop to the unpadded size; where it cuts nothing
    (one window over the whole map) its output is a view, and `out += x` into it was the
    same TorchScript error on the meta device (fuzz seed 2030, case 87744: Swin-T with
    its first stochastic depth dropped)."""
    path = tmp_path / "tiny.yaml"
    path.write_text("archdsl: 1\nname: tiny\ninput: [3, 16, 16]\nnetwork:\n"
                    "  - conv(8, 2, stride=2, pad=0)\n  - permute(0, 2, 3, 1)\n"
                    "  - r: {residual: {body: [layer_norm, window_attention(2, 8)]}}\n"
                    "  - permute(0, 3, 1, 2)\n  - gap\n  - flatten\n  - fc: linear(3)\n")
    arch = archdsl.load(path)
    assert "+=" not in arch.source
    assert fuzz_build.build_problem(arch) == ""


@pytest.mark.parametrize("shape", ["[8, 12]", "[8, 4, 12, 12]"])
def test_layer_norm_of_a_sequence_or_a_video_map_builds(tmp_path, shape):
    """Layer norm of a (C, L) or (C, T, H, W) map once built LayerNorm2d, whose permute
    takes four dims: a run-time error in a spec `check` accepted."""
    path = tmp_path / "tiny.yaml"
    path.write_text(f"archdsl: 1\nname: tiny\ninput: {shape}\nnetwork:\n  - c: conv(8, 1)\n"
                    "  - r: {residual: {body: [conv(8, 1), layer_norm]}}\n  - gap\n"
                    "  - flatten\n  - fc: linear(3)\n")
    arch = archdsl.load(path)
    assert f"class LayerNorm{shape.count(',')}d(nn.LayerNorm):" in arch.source
    assert fuzz_build.build_problem(arch) == ""


@pytest.mark.slow
def test_the_variants_a_user_tries_first_build(capsys):
    """tools/build_variants.py: other inputs and moved params of a spec, built."""
    assert tool("build_variants").main(["lenet5", "r3d_18"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("14 variants of 2 specs") and "12  ok (built)" in out


def _batch_norm_on_meta(training: bool, shape: tuple, dtype, channels_last: bool):
    """native_batch_norm's outputs on the meta device: (shape, strides, dtype) each."""
    x = torch.empty(shape, device="meta", dtype=dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    w = torch.empty(shape[1], device="meta", dtype=dtype)
    out = torch.ops.aten.native_batch_norm(x, w, w, w.clone(), w.clone(), training, 0.1, 1e-5)
    return [(tuple(t.shape), t.stride(), t.dtype) for t in out]


def _meta_kernel_file() -> str:
    dump = torch._C._dispatch_dump("aten::native_batch_norm")
    (line,) = [line for line in dump.splitlines() if line.startswith("Meta:")]
    return line


def test_the_fuzzers_batch_norm_kernel_gives_torchs_shapes_and_goes_away():
    """fast_meta_batch_norm returns what torch's meta kernel returns, a norm that does
    not fit its input still fails, and torch's kernel is back after the block."""
    cases = [(training, shape, dtype, False) for training in (False, True)
             for shape in [(2, 8), (2, 8, 7), (2, 8, 5, 5), (2, 8, 3, 4, 5)]
             for dtype in (torch.float32, torch.float16, torch.bfloat16)]
    cases += [(training, (2, 8, 5, 5), torch.float32, True) for training in (False, True)]
    torchs = [_batch_norm_on_meta(*case) for case in cases]
    assert "fuzz_build.py" not in _meta_kernel_file()
    with fuzz_build.fast_meta_batch_norm():
        assert "fuzz_build.py" in _meta_kernel_file()
        assert [_batch_norm_on_meta(*case) for case in cases] == torchs
        norm = torch.nn.BatchNorm2d(16, device="meta")
        with pytest.raises(RuntimeError, match="should contain 8 elements not 16"):
            norm.eval()(torch.empty(2, 8, 4, 4, device="meta"))
    assert "fuzz_build.py" not in _meta_kernel_file()
