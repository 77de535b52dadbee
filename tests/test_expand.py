"""Graph construction (archdsl.construct): naming, stages, repeats, choices, residual
shortcuts, block scopes, and the one binder of op and block calls."""

from __future__ import annotations

import textwrap

import pytest

from archdsl.api import check
from archdsl.diagnostics import SpecError
from archdsl.graph import Ghost, Member
from archdsl.lang.binding import Callee
from archdsl.lang.evaluate import LayerCall
from archdsl.lang.load import parse_spec
from archdsl.ops import OPS
from archdsl.source import SourceFile, Span


def load(body: str, input_="[3, 16, 16]", **extra):
    text = f"archdsl: 1\nname: net\ninput: {input_}\n" + textwrap.dedent(body)
    return check(parse_spec(text, "<net>", ops=OPS))


def names(arch) -> list[str]:
    return [n.name for n in arch.graph.ops()]


def test_positional_and_named_lists():
    arch = load("""
        network:
          - features: [conv(8, 3), relu, [conv(8, 3), bn]]
          - head:
              - pool: gap
              - flatten
              - relu
              - relu
              - fc: linear(4)
    """)
    assert names(arch) == ["features.0", "features.1", "features.2.0", "features.2.1",
                           "head.pool", "head.flatten", "head.relu", "head.relu_1", "head.fc"]


def test_fresh_names_avoid_explicit_ones():
    arch = load("""
        network:
          - relu
          - relu_1: conv(8, 3)
          - relu
    """)
    assert names(arch) == ["relu", "relu_1", "relu_2"]


def test_stage_gives_the_stride_to_the_first_copy_only():
    arch = load("""
        blocks:
          unit:
            args: {planes: int, stride: 1}
            body: [conv(planes, 3, stride=stride), bn]
        network:
          - layer: stage(unit, depth=3, planes=8, stride=2)
    """, input_="[3, 32, 32]")
    strides = [arch.graph.node(f"layer.{i}.0").op.p.stride for i in range(3)]
    assert strides == [2, 1, 1]
    assert arch.graph.shape("layer.2.1").dims == (8, 16, 16)


def test_repeat_with_template_and_index():
    arch = load("""
        network:
          - block:
              repeat: 3
              name: "conv{i + 1}"
              body: conv(8 * (i + 1), 3)
    """)
    assert names(arch) == ["block.conv1", "block.conv2", "block.conv3"]
    assert arch.graph.shape("block.conv3").channels == 24


def test_repeat_splices_its_copies_into_the_list():
    arch = load("""
        params:
          cfg: [8, M, 16]
        network:
          - features:
              - conv(8, 3)
              - repeat: len(cfg)
                body:
                  if: cfg[i] == 'M'
                  then: maxpool(2)
                  else:
                    - conv(cfg[i], 3)
                    - relu
          - head:
              - repeat: 2
                body: relu
    """)
    assert names(arch) == ["features.0", "features.1", "features.2", "features.3",
                           "features.4", "features.5", "head.0", "head.1"]
    assert arch.graph.shape("features.4").dims == (16, 8, 8)


def test_templated_names_in_a_repeat():
    arch = load("""
        params: {blocks: [2, 1]}
        network:
          - stem: conv(4, 3)
          - repeat: len(blocks)
            index: b
            body:
              - "block{b + 1}":
                  repeat: blocks[b]
                  name: "layer{i + 1}"
                  body: conv(4, 3)
              - if: b < len(blocks) - 1
                then: {"pool{b + 1}": maxpool(2)}
    """)
    assert names(arch) == ["stem", "block1.layer1", "block1.layer2", "pool1", "block2.layer1"]


def test_if_chooses_while_expanding():
    arch = load("""
        params: {deep: false}
        network:
          - if: deep
            then: [c1: conv(8, 3), c2: conv(8, 3)]
            else: {c1: conv(4, 3)}
    """)
    assert names(arch) == ["c1"]
    assert arch.graph.shape("c1").channels == 4


def test_identity_shortcut_where_shapes_agree_projection_elsewhere():
    arch = load("""
        blocks:
          res:
            args: {c: int, stride: 1}
            residual:
              body: [conv1: conv(c, 3, stride=stride), bn1: bn]
              shortcut: {proj: conv(c, 1, stride=stride)}
              post: relu
        network:
          - stem: conv(8, 3)
          - a: res(c=8)
          - b: res(c=16, stride=2)
    """)
    assert "a.proj" not in arch.graph.dag and "b.proj" in arch.graph.dag
    ghosts = [c for c in arch.graph.scope(("a",)).children if isinstance(c, Ghost)]
    assert [g.local for g in ghosts] == ["proj"]
    assert arch.graph.inputs("a.add") == ["a.bn1", "stem"]
    assert arch.graph.inputs("b.add") == ["b.bn1", "b.proj"]


def test_concat_residual_puts_the_input_first():
    arch = load("""
        network:
          - stem: conv(8, 3)
          - dense: {residual: {body: [conv(4, 3)], merge: concat}}
    """)
    assert arch.graph.inputs("dense.concat") == ["stem", "dense.conv"]
    assert arch.graph.shape("dense.concat").channels == 12


def test_branches():
    arch = load("""
        network:
          - stem: conv(8, 3)
          - mix:
              branches:
                b1: conv(4, 1)
                b2: [conv(2, 1), conv(6, 3)]
              merge: concat
    """)
    assert arch.graph.shape("mix.concat").channels == 10
    assert "mix.b2.1" in arch.graph.dag


def test_block_sees_params_args_lets_and_its_input():
    arch = load("""
        params: {k: 2}
        blocks:
          grow:
            args: {extra: 0}
            let: {out: in_channels * k + extra}
            body: conv(out, 1)
        network:
          - a: grow
          - b: grow(extra=1)
    """)
    assert arch.graph.shape("a.conv").channels == 6
    assert arch.graph.shape("b.conv").channels == 13


def test_blocks_do_not_see_the_callers_names():
    with pytest.raises(SpecError, match="undefined name `width`"):
        load("""
            blocks:
              inner:
                body: conv(width, 1)
              outer:
                let: {width: 4}
                body: inner
            network: [outer]
        """)


def test_recursion_with_a_base_case():
    arch = load("""
        blocks:
          tower:
            args: {n: int}
            body:
              if: n == 0
              then: identity
              else: [conv(4, 3), tower(n=n - 1)]
        network:
          - t: tower(n=3)
    """)
    assert [n for n in names(arch) if n.endswith("conv")] == \
        ["t.conv", "t.tower.conv", "t.tower.tower.conv"]


@pytest.mark.parametrize("body, code", [
    ("network: [conv(8, 3), add]", "E0404"),
    ("network: [{forward: relu}]", "E0210"),
    ("network: [stage(conv, depth=2)]", "E0303"),
    ("network: [{repeat: -1, body: relu}]", "E0202"),
    ("network: [{c: relu}, {repeat: 2, name: '{i}', body: relu}]", "E0210"),
    ("network: [{repeat: 2, body: {'x{i}x': relu}}, {'x0x': relu}]", "E0306"),
    ("network: [{if: 1, then: relu}]", "E0302"),
    ("network: [{c: {repeat: 2, name: 'x', body: relu}}]", "E0306"),
])
def test_errors(body, code):
    with pytest.raises(SpecError) as info:
        load(body)
    assert info.value.diagnostics[0].code == code


def test_every_node_is_placed_once_as_a_member_of_its_scope():
    arch = load("""
        network:
          - stem: conv(8, 3, pad=1)
          - res:
              residual:
                body: [conv(8, 3, pad=1), bn]
                merge: add
                drop_path: linear(0.8)
          - mix:
              branches:
                b1: conv(4, 1)
                b2: [conv(2, 1), relu]
              merge: concat
    """)
    members = [(scope.path, child.node) for scope in arch.graph.scopes.values()
               for child in scope.children if isinstance(child, Member) and child.node]
    assert sorted(node for _, node in members) == sorted(names(arch))
    assert all(arch.graph.node(node).scope == path for path, node in members)
    assert all(arch.graph.node(n).shape is not None for n in names(arch))
    assert arch.graph.inputs("res.add") == ["res.drop_path", "stem"]
    assert arch.graph.inputs("mix.concat") == ["mix.b1", "mix.b2.1"]


SPAN = Span(SourceFile("<test>", "f(1, 2, c=3)"), 1, 1, 1, 13)


def _call(*args, **kwargs) -> LayerCall:
    spans = [Span(SPAN.source, 1, 3 + 3 * i, 1, 4 + 3 * i) for i in range(len(args))]
    kw_spans = [Span(SPAN.source, 1, 20 + 5 * i, 1, 23 + 5 * i) for i in range(len(kwargs))]
    return LayerCall("op", "f", args, tuple(kwargs.items()), SPAN, tuple(spans), tuple(kw_spans))


def test_binder_matches_positions_then_keywords_and_keeps_each_span():
    call = _call(1, 2, c=3)
    bound = Callee("f", ("a", "b", "c", "d")).bind(call)
    assert bound.values == {"a": 1, "b": 2, "c": 3}
    assert list(bound.spans.values()) == [*call.arg_spans, *call.kw_spans]


def test_a_patch_may_set_a_positional_argument_again_a_call_may_not():
    callee = Callee("f", ("a", "b"))
    with pytest.raises(SpecError, match="argument `a` of `f` given twice"):
        callee.bind(_call(1, a=2))
    patch = Span(SPAN.source, 1, 1, 1, 2)
    bound = callee.bind(_call(1).with_keyword("a", 5, patch))
    assert (bound.values, bound.spans) == ({"a": 5}, {"a": patch})


@pytest.mark.parametrize("body, message, help", [
    ("network: [conv(8, 3, kernel=3)]", "argument `kernel` of `conv` given twice", ""),
    ("blocks: {b: {args: {c: int}, body: conv(c, 1)}}\nnetwork:\n  - b(1, c=2)",
     "argument `c` of `b` given twice", ""),
    ("network: [conv(8, 3, strid=2)]", "`conv` has no argument `strid`",
     "did you mean `stride`?"),
    ("blocks: {b: {args: {stride: 1}, body: relu}}\nnetwork:\n  - b(strid=2)",
     "`b` has no argument `strid`", "did you mean `stride`?"),
    ("blocks: {b: {args: {c: 1}, body: relu}}\nnetwork:\n  - b(in_channels=2)",
     "`b` has no argument `in_channels`", "`in_channels` is bound to the block's input"),
    ("network: [conv(8)]", "`conv` needs the argument `kernel`",
     "`conv` takes conv(out, kernel, *, stride=1, pad=none, dilation=1, groups=1, bias=true)"),
    ("blocks: {b: {args: {c: int}, body: conv(c, 1)}}\nnetwork: [b]",
     "`b` needs the argument `c`", "pass it: `b(c=…)`"),
    ("blocks: {b: {args: {c: int}, body: conv(c, 1)}}\nnetwork:\n  - b(1, 2)",
     "`b` takes 1 argument, got 2 positional", ""),
    ("network: [relu(1)]", "`relu` takes at most 0 positional arguments, got 1",
     "`relu` takes relu()"),
])
def test_op_and_block_calls_are_bound_alike(body, message, help):
    with pytest.raises(SpecError) as info:
        load(body)
    diag = info.value.diagnostics[0]
    assert (diag.code, diag.message, diag.help) == ("E0303", message, help)


def test_a_block_argument_is_checked_against_its_declared_type():
    arch = load("""
        blocks:
          b:
            args: {scale: float}
            body: relu
        network:
          - x: b(scale=2)
    """)
    assert arch.graph.scope(("x",)).bindings["scale"] == 2.0
    assert isinstance(arch.graph.scope(("x",)).bindings["scale"], float)
    with pytest.raises(SpecError) as info:
        load("blocks: {b: {args: {scale: float}, body: relu}}\nnetwork:\n  - b(scale='x')")
    diag = info.value.diagnostics[0]
    assert diag.code == "E0202"
    assert diag.message == "argument `scale` of `b` is a float, but a string 'x' is given"
    assert [label.message for label in diag.labels] == ["declared here"]
