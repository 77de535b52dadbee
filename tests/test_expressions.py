"""The expression language: parsing, evaluation, bounds, and errors that point inside."""

from __future__ import annotations

import pytest

from archdsl.diagnostics import SpecError
from archdsl.lang import expr as ast
from archdsl.lang.evaluate import Evaluator, LayerCall
from archdsl.source import SourceFile, Span

OPS = {"conv", "bn", "relu"}
BLOCKS = {"bottleneck"}


def evaluate(text: str, **env):
    source = SourceFile("<test>", text)
    host = Span(source, 1, 1, 1, len(text) + 1, content_col=1)
    return Evaluator(OPS, BLOCKS).eval(ast.parse(text), env, host)


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


@pytest.mark.parametrize("text", ["conv(64,", "3 +* 4", "a $ b", "f(a=1, 2)", "f(a=1, a=2)",
                                  "", "1e999", "9" * 100, "__import__('os')"])
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
