"""Each op's static rules agree with the PyTorch module it emits."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from archdsl.diagnostics import SpecError
from archdsl.emit import code
from archdsl.emit.torch_ops import RENDERINGS, rendering
from archdsl.lang.evaluate import LayerCall
from archdsl.ops import OPS, OpError
from archdsl.source import SourceFile, Span
from archdsl.tensor import TensorType

SPAN = Span(SourceFile("<test>", "x"), 1, 1, 1, 2)


def make(name: str, *args, **kwargs):
    return OPS[name].bind(LayerCall("op", name, args, tuple(kwargs.items()), SPAN,
                                    (SPAN,) * len(args), (SPAN,) * len(kwargs)))


def module_of(op, inputs: list[TensorType]) -> torch.nn.Module:
    output = op.infer(inputs)
    text = code.render(rendering(op).module(op, inputs, output))
    return eval(text, {"nn": torch.nn})  # our own emitted constructor, in a test


def check_against_torch(op, shape: tuple[int, ...]) -> None:
    inputs = [TensorType(shape)]
    try:
        output = op.infer(inputs)
    except OpError:
        with pytest.raises(RuntimeError):
            module_of_unchecked(op, inputs)(torch.zeros(1, *shape))
        return
    module = module_of(op, inputs).eval()
    y = module(torch.zeros(1, *shape))
    assert tuple(y.shape[1:]) == output.dims
    assert sum(p.numel() for p in module.parameters()) == op.param_count(inputs)


def module_of_unchecked(op, inputs):
    text = code.render(rendering(op).module(op, inputs, inputs[0]))
    return eval(text, {"nn": torch.nn})


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 20), kernel=st.integers(1, 7), stride=st.integers(1, 4),
       pad=st.integers(0, 3), dilation=st.integers(1, 3), groups=st.sampled_from([1, 2, 4]))
def test_conv_rules_match_torch(size, kernel, stride, pad, dilation, groups):
    op = make("conv", 8, kernel, stride=stride, pad=pad, dilation=dilation, groups=groups)
    check_against_torch(op, (4, size, size + 1))


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 20), kernel=st.integers(1, 5), stride=st.integers(1, 4),
       pad=st.integers(0, 2), ceil=st.booleans(), kind=st.sampled_from(["maxpool", "avgpool"]))
def test_pool_rules_match_torch(size, kernel, stride, pad, ceil, kind):
    op = make(kind, kernel, stride=stride, pad=pad, ceil=ceil)
    check_against_torch(op, (3, size, size))


@pytest.mark.parametrize("name, args, shape", [
    ("bn", (), (16, 5, 5)),
    ("bn", (), (16,)),
    ("relu", (), (4, 3, 3)),
    ("linear", (10,), (32,)),
    ("linear", (10, False), (32,)),
    ("gap", (), (8, 7, 7)),
    ("adaptive_avgpool", (6,), (8, 13, 13)),
    ("adaptive_avgpool", ((2, 3),), (8, 13, 13)),
    ("flatten", (), (8, 2, 2)),
    ("dropout", (0.3,), (8, 2, 2)),
    ("identity", (), (8, 2, 2)),
    ("conv", (6, (1, 7)), (3, 9, 9)),
    ("conv", (6, 3), (3, 9, 9)),
    ("tanh", (), (4, 3, 3)),
    ("sigmoid", (), (4,)),
    ("lrn", (5,), (16, 5, 5)),
    ("pad_channels", (24,), (16, 4, 4)),
])
def test_fixed_ops_match_torch(name, args, shape):
    check_against_torch(make(name, *args), shape)


def test_avgpool_count_include_pad():
    op = make("avgpool", 3, stride=1, pad=1, count_include_pad=False)
    module = module_of(op, [TensorType((1, 4, 4))])
    assert module(torch.ones(1, 1, 4, 4)).min().item() == 1.0
    check_against_torch(op, (2, 5, 5))


def test_pad_channels_appends_zeros():
    op = make("pad_channels", 6)
    module = module_of(op, [TensorType((2, 3, 3))])
    y = module(torch.ones(1, 2, 3, 3))
    assert y.shape == (1, 6, 3, 3) and y[:, :2].eq(1).all() and y[:, 2:].eq(0).all()
    with pytest.raises(OpError, match="cannot shrink"):
        make("pad_channels", 1).infer([TensorType((2, 3, 3))])


def test_same_padding():
    op = make("conv", 8, 5, pad="same", dilation=2)
    check_against_torch(op, (3, 11, 11))
    with pytest.raises(OpError, match="stride 1"):
        make("conv", 8, 3, pad="same", stride=2).infer([TensorType((3, 11, 11))])


def test_groups_must_divide_both_sides():
    with pytest.raises(OpError, match="groups=3 does not divide in_channels=64"):
        make("conv", 66, 3, groups=3).infer([TensorType((64, 8, 8))])
    with pytest.raises(OpError, match="out_channels=10"):
        make("conv", 10, 3, groups=4).infer([TensorType((64, 8, 8))])


def test_merges():
    a, b = TensorType((16, 8, 8)), TensorType((32, 8, 8))
    assert OPS["concat"](None).infer([a, b]) == TensorType((48, 8, 8))
    assert OPS["add"](None).infer([a, a]) == a
    with pytest.raises(OpError, match="channels differ"):
        OPS["add"](None).infer([a, b])
    with pytest.raises(OpError, match="spatial"):
        OPS["concat"](None).infer([a, TensorType((16, 4, 4))])


def test_costs():
    conv = make("conv", 64, 3, stride=2, groups=4, bias=False)
    x = TensorType((32, 56, 56))
    y = conv.infer([x])
    assert conv.param_count([x]) == 64 * (32 // 4) * 9
    assert conv.macs([x], y) == 64 * 28 * 28 * (32 // 4) * 9
    fc = make("linear", 1000)
    assert fc.macs([TensorType((2048,))], TensorType((1000,))) == 2048 * 1000


def test_bad_arguments_are_located():
    with pytest.raises(SpecError, match="has no argument `strid`") as info:
        make("conv", 8, 3, strid=2)
    assert "did you mean `stride`?" in info.value.diagnostics[0].help
    with pytest.raises(SpecError, match="at most 7 positional"):
        make("conv", 1, 2, 3, 4, 5, 6, 7, 8)
    with pytest.raises(SpecError, match="needs the argument `kernel`"):
        make("conv", 8)
    with pytest.raises(SpecError, match="greater than 0"):
        make("conv", 0, 3)
    with pytest.raises(SpecError, match="valid boolean"):
        make("conv", 8, 3, bias=1)


def test_registry_refuses_duplicates():
    from archdsl.ops.base import Op, register

    class Again(Op):
        name = "conv"

    with pytest.raises(ValueError, match="registered twice"):
        register(Again)


def test_every_op_has_a_module_or_expression():
    for name, cls in OPS.items():
        render = RENDERINGS.get(cls) or next(RENDERINGS[base] for base in cls.__mro__
                                              if base in RENDERINGS)
        assert render.has_module or render.functional, name


def test_ops_speak_no_pytorch_and_every_rendering_has_an_op():
    """The op table is the emitter's: ops know what they compute, not how PyTorch spells
    it, and no rendering outlives its op."""
    for name, cls in OPS.items():
        for attribute in ("module", "expression", "network_code", "functional", "support"):
            assert not hasattr(cls, attribute), f"op `{name}` has `{attribute}`"
    assert set(RENDERINGS) <= set(OPS.values())
