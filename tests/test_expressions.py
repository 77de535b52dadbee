"""The expression language: parsing, evaluation, bounds, and errors that point inside."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.models._utils import _make_divisible

from archdsl import ops as registry
from archdsl.diagnostics import SpecError
from archdsl.lang import expr as ast
from archdsl.lang.aliases import ALIASES
from archdsl.lang.evaluate import Evaluator, LayerCall
from archdsl.limits import DEFAULT_LIMITS, Limits
from archdsl.source import SourceFile, Span

OPS = {"conv", "bn", "relu"}
BLOCKS = {"bottleneck"}


def evaluate(text: str, ops=OPS, limits: Limits = DEFAULT_LIMITS, layer: bool = False,
             **env):
    """`text` evaluated as an expression, or with `layer`, as written where a layer goes."""
    source = SourceFile("<test>", text)
    host = Span(source, 1, 1, 1, len(text) + 1, content_col=1)
    evaluator = Evaluator(ops, BLOCKS, limits)
    return (evaluator.layer if layer else evaluator.eval)(ast.parse(text), env, host)


def failure(text: str, **kwargs):
    """The diagnostic evaluating `text` gives, and the text its span covers."""
    with pytest.raises(SpecError) as info:
        evaluate(text, **kwargs)
    diag = info.value.diagnostics[0]
    return diag, text[diag.span.col - 1:diag.span.end_col - 1]


@pytest.mark.parametrize("text, value", [
    ("1 + 2 * 3", 7),
    ("2 ** 3 ** 2", 512),
    ("-2 ** 2", -4),
    ("7 // 2", 3),
    ("-7 // 2", -4),
    ("7 % 3", 1),
    ("7 / 2", 3.5),
    ("int(64 * 4 / 64) * 32", 128),
    ("1 < 2 <= 2", True),
    ("1 < 2 > 3", False),
    ("not true or false", False),
    ("3 if 1 > 2 else 4", 4),
    ("[1, 2, 3][1]", 2),
    ("[1, 2, 3][-1]", 3),
    ("[1, 2] + [3]", (1, 2, 3)),
    ("len([1, 2, 3])", 3),
    ("max(3, 9, 4)", 9),
    ("min([3, 9, 4])", 3),
    ("sum([1, 2, 3])", 6),
    ("sum(1, 2, 3)", 6),
    ("sum([])", 0),
    ("max([3, 9.5, 4])", 9.5),
    ("sum([1, 2, 3][:2])", 3),
    ("[1, 2, 3, 4][1:3]", (2, 3)),
    ("[1, 2, 3, 4][2:]", (3, 4)),
    ("[1, 2, 3, 4][:]", (1, 2, 3, 4)),
    ("[1, 2, 3, 4][-1:]", (4,)),
    ("[1, 2, 3, 4][:-1]", (1, 2, 3)),
    ("[1, 2, 3, 4][3:1]", ()),
    ("[1, 2, 3, 4][-9:9]", (1, 2, 3, 4)),
    ("[1, 2, 3, 4][none:2]", (1, 2)),
    ("[[1, 2], [3]][:1][0][1:]", (2,)),
    ("make_divisible(32 * 0.75, 8)", 24),
    ("make_divisible(8 * 0.5, 8, min_value=1)", 8),
    ("make_divisible(v=100, divisor=64)", 128),
    ("ceil(7 / 2)", 4),
    ("floor(7 / 2)", 3),
    ("round(2.6)", 3),
    ("abs(-3)", 3),
    ("'same'", "same"),
    ("none", None),
    ("True and False", False),
])
def test_values(text, value):
    result = evaluate(text)
    assert result == value and type(result) is type(value)


def test_names_and_calls():
    assert evaluate("planes * k", planes=64, k=2) == 128
    call = evaluate("conv(width, 3, stride=s, bias=false)", width=64, s=2)
    assert isinstance(call, LayerCall)
    assert (call.kind, call.name, call.args, call.kwargs) == \
        ("op", "conv", (64, 3), (("stride", 2), ("bias", False)))
    relu = evaluate("relu")
    assert (relu.kind, relu.name, relu.args, relu.kwargs) == ("op", "relu", (), ())
    assert evaluate("bottleneck(planes=64)").kind == "block"
    assert evaluate("stage(bottleneck, depth=3)").kind == "stage"


@pytest.mark.parametrize("text, code, fragment", [
    ("widht + 1", "E0301", "widht"),
    ("cnv(3)", "E0304", "cnv"),
    ("1 / (k - 2)", "E0305", "1 / (k - 2)"),
    ("2 ** 1000", "E0305", "2 ** 1000"),
    ("10 ** 10 ** 10", "E0305", "10 ** 10 ** 10"),
    ("[1, 2][5]", "E0305", "[1, 2][5]"),
    ("1 + true", "E0302", "1 + true"),
    ("k if 1 else 2", "E0302", "1"),
    ("'a' < 1", "E0302", "'a' < 1"),
    ("max()", "E0302", "max()"),
    ("min([])", "E0305", "min([])"),
    ("sum([1, [2]])", "E0302", "sum([1, [2]])"),
    ("[1, 2][:1.5]", "E0302", "1.5"),
    ("[1, 2][true:]", "E0302", "true"),
    ("[1, 2]['a':k]", "E0302", "'a'"),
    ("k[1:]", "E0302", "k[1:]"),
    ("'abc'[1:]", "E0302", "'abc'[1:]"),
    ("make_divisible(32, 0)", "E0302", "make_divisible(32, 0)"),
    ("make_divisible(32, 2.5)", "E0302", "make_divisible(32, 2.5)"),
    ("make_divisible([32], 8)", "E0302", "make_divisible([32], 8)"),
    ("make_divisible(32, 8, min_valu=8)", "E0303", "min_valu=8"),
    ("make_divisible(32, 8, divisor=8)", "E0303", "divisor=8"),
    ("make_divisible(32)", "E0302", "make_divisible(32)"),
    ("len(3)", "E0302", "len(3)"),
    ("max(1, key=2)", "E0303", "key=2"),
])
def test_errors_point_at_the_subexpression(text, code, fragment):
    with pytest.raises(SpecError) as info:
        evaluate(text, k=2, widht_=1)
    diag = info.value.diagnostics[0]
    assert diag.code == code
    start = diag.span.col - 1
    assert text[start:diag.span.end_col - 1] == fragment


def test_did_you_mean():
    with pytest.raises(SpecError) as info:
        evaluate("planse * 2", planes=64)
    assert "did you mean `planes`?" in info.value.diagnostics[0].help


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-5, 5), max_size=6),
       st.one_of(st.none(), st.integers(-8, 8)), st.one_of(st.none(), st.integers(-8, 8)))
def test_slices_are_pythons(items, lower, upper):
    assert evaluate("d[i:j]", d=tuple(items), i=lower, j=upper) == tuple(items)[lower:upper]
    assert evaluate("d[:j]", d=tuple(items), j=upper) == tuple(items)[:upper]
    assert evaluate("d[i:]", d=tuple(items), i=lower) == tuple(items)[lower:]


def test_cumulative_block_index():
    depths = (3, 4, 6, 3)
    assert [evaluate("sum(depths[:s])", depths=depths, s=s) for s in range(5)] == \
        [0, 3, 7, 13, 16]


@pytest.mark.parametrize("text", ["d[::2]", "d[1:2:3]", "d[:", "d[1:]]"])
def test_a_slice_takes_two_bounds_at_most(text):
    with pytest.raises(ast.ExprSyntaxError):
        ast.parse(text)


@pytest.mark.parametrize("text, value", [("d[:n]", tuple(range(900))),
                                         ("sum(d)", sum(range(900))), ("max(d)", 899)])
def test_a_list_costs_its_length(text, value):
    """A slice or a sum over n elements counts as n steps of the evaluation budget."""
    limits = Limits(max_eval_steps=999)
    assert evaluate(text, d=tuple(range(900)), n=900, limits=limits) == value
    diag, _ = failure(text, d=tuple(range(1000)), n=1000, limits=limits)
    assert diag.code == "E0500"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.integers(-10, 5000), st.floats(-10, 5000, allow_nan=False)),
       st.integers(1, 128), st.one_of(st.none(), st.integers(0, 256)))
def test_make_divisible_is_torchvisions(v, divisor, min_value):
    result = evaluate("make_divisible(v, d, min_value=m)", v=v, d=divisor, m=min_value)
    assert result == _make_divisible(v, divisor, min_value) and type(result) is int
    if min_value is None:
        assert evaluate("make_divisible(v, d)", v=v, d=divisor) == \
            _make_divisible(v, divisor)


def test_make_divisible_on_mobilenet_widths():
    """MobileNetV2's channels at width multipliers 0.35 to 1.4, as torchvision computes."""
    for width_mult in (0.35, 0.5, 0.75, 1.0, 1.3, 1.4):
        for channels in (16, 24, 32, 64, 96, 160, 320, 1280):
            assert evaluate("make_divisible(c * w, 8)", c=channels, w=width_mult) == \
                _make_divisible(channels * width_mult, 8)


# -------------------------------------------------------- unknown ops and layers


@pytest.mark.parametrize("text, fragment", [("hardswsh", "hardswsh"),
                                            ("hardswsh()", "hardswsh"),
                                            ("hardswsh(inplace=true)", "hardswsh"),
                                            ("stage(bottlenek, depth=2)", "bottlenek"),
                                            ("relu if k > 1 else hardswsh", "hardswsh")])
def test_an_unknown_layer_is_one_code_bare_or_called(text, fragment):
    diag, culprit = failure(text, layer=True, k=0)
    assert (diag.code, diag.message, culprit) == \
        ("E0304", f"unknown op or block `{fragment}`", fragment)


def test_an_undefined_name_in_an_expression_stays_E0301():
    diag, culprit = failure("conv(widht, 3)", layer=True, width=16)
    assert (diag.code, culprit, diag.help) == ("E0301", "widht", "did you mean `width`?")


def test_a_layer_name_suggests_ops_and_blocks_before_params():
    diag, _ = failure("bottlenecks", layer=True, bottleneck_width=64)
    assert diag.help == "did you mean `bottleneck`?"
    # A param that holds no layer is never one; one that holds a layer is, if nothing
    # else is close.
    diag, _ = failure("hardswish", layer=True, head_width=1280)
    assert "head_width" not in diag.help and diag.help.startswith("ops are listed")
    act = evaluate("relu")
    diag, _ = failure("atc", layer=True, act=act, head_width=1280)
    assert diag.help == "did you mean `act`?"


ALIASED = [("batchnorm", "bn"), ("batch_norm", "bn"), ("BatchNorm2d", "bn"),
           ("conv2d", "conv"), ("Conv2d", "conv"), ("ReLU", "relu"), ("Linear", "linear"),
           ("fc", "linear"), ("dense", "linear"), ("maxpool2d", "maxpool"),
           ("MaxPool2d", "maxpool"), ("avgpool2d", "avgpool"),
           ("AdaptiveAvgPool2d", "adaptive_avgpool"), ("global_avgpool", "gap"),
           ("GlobalAvgPool", "gap"), ("Dropout", "dropout"), ("Identity", "identity"),
           ("cat", "concat")]


@pytest.mark.parametrize("name, op", ALIASED)
@pytest.mark.parametrize("form", ["{}", "{}()"])
def test_another_frameworks_name_suggests_the_op(name, op, form):
    diag, _ = failure(form.format(name), ops=registry.OPS, layer=True, head_width=1280)
    assert (diag.code, diag.help) == ("E0304", f"did you mean `{op}`?")


def test_an_op_named_as_an_argument_suggests_the_op():
    diag, _ = failure("bottleneck(act=ReLU)", ops=registry.OPS, layer=True)
    assert (diag.code, diag.help) == ("E0301", "did you mean `relu`?")


def test_every_alias_names_a_registered_op():
    assert set(ALIASES) <= set(registry.OPS)
    aliases = [a for names in ALIASES.values() for a in names]
    assert not set(aliases) & set(registry.OPS)  # an alias never shadows an op's own name
    assert len(aliases) == len(set(aliases))


@pytest.mark.parametrize("text", ["conv(64,", "3 +* 4", "a $ b", "f(a=1, 2)", "f(a=1, a=2)",
                                  "", "1e999", "9" * 100, "__import__('os')", "d[0:1:2]"])
def test_syntax_errors_and_unsafe_text_do_not_evaluate(text):
    with pytest.raises((ast.ExprSyntaxError, SpecError)):
        evaluate(text)


def test_no_attribute_access_in_the_grammar():
    with pytest.raises(ast.ExprSyntaxError):
        ast.parse("x.__class__")
    with pytest.raises(ast.ExprSyntaxError):
        ast.parse("(1).real")


def test_parse_is_cached_and_frozen():
    a, b = ast.parse("conv(64, 3)"), ast.parse("conv(64, 3)")
    assert a is b
    with pytest.raises(AttributeError):
        a.func = None
