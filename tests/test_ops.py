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


def names_for(op, inputs: list[TensorType]) -> dict:
    """What an emitted constructor sees: torch, nn, and the op's helper module if any."""
    names = {"torch": torch, "nn": torch.nn, "Tensor": torch.Tensor}
    helper = rendering(op).helper(op, inputs)
    if helper is not None:
        exec(helper[1], names)  # our own helper source, in a test
    return names


def module_of(op, inputs: list[TensorType], inplace: bool = False) -> torch.nn.Module:
    output = op.infer(inputs)
    text = code.render(rendering(op).module(op, inputs, output, inplace))
    return eval(text, names_for(op, inputs))  # our own emitted constructor, in a test


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
    return eval(text, names_for(op, inputs))


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
    ("relu6", (), (4, 3, 3)),
    ("silu", (), (4, 3, 3)),
    ("hardswish", (), (4, 3, 3)),
    ("hardsigmoid", (), (4, 1, 1)),
    ("gelu", (), (6,)),
    ("gelu", ("tanh",), (4, 3, 3)),
    ("chunk", (2, 1), (6, 3, 3)),
    ("channel_shuffle", (3,), (6, 3, 3)),
])
def test_fixed_ops_match_torch(name, args, shape):
    check_against_torch(make(name, *args), shape)


def test_linear_without_bias_matches_torch():
    check_against_torch(make("linear", 10, bias=False), (32,))


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
    gate = TensorType((16, 1, 1))
    assert OPS["mul"](None).infer([gate, a]) == a  # squeeze-and-excitation's scale * input
    assert OPS["mul"](None).infer([gate, a, gate]) == a
    with pytest.raises(OpError, match=r"got \(16, 1, 1\) and \(32, 8, 8\) \(channels differ\)"):
        OPS["mul"](None).infer([gate, b])
    assert OPS["add"].same_shape_merge and not OPS["mul"].same_shape_merge


dims = st.lists(st.sampled_from([1, 2, 3]), min_size=1, max_size=3)


@settings(max_examples=80, deadline=None)
@given(a=dims, b=dims)
def test_mul_broadcasts_as_torch(a, b):
    """`mul` accepts what PyTorch broadcasts among inputs of one rank, and renders to it."""
    op = make("mul")
    inputs = [TensorType(tuple(a)), TensorType(tuple(b))]
    ta, tb = torch.randn(2, *a), torch.randn(2, *b)
    try:
        output = op.infer(inputs)
    except OpError as exc:
        assert f"{inputs[0]} and {inputs[1]}" in exc.message
        if len(a) == len(b):
            with pytest.raises(RuntimeError):
                torch.mul(ta, tb)
        return
    text = code.render(rendering(op).expression(op, [code.Var("a"), code.Var("b")], inputs,
                                                output))
    y = eval(text, {"torch": torch, "a": ta, "b": tb})  # our own emitted expression
    assert torch.equal(y, ta * tb)
    assert tuple(y.shape[1:]) == output.dims
    assert op.other_flops(inputs, output) == output.numel


@settings(max_examples=60, deadline=None)
@given(channels=st.integers(1, 12), chunks=st.integers(1, 5), index=st.integers(0, 5))
def test_chunk_rules_match_torch(channels, chunks, index):
    """chunk is torch.chunk where it gives `chunks` equal slices, and an error elsewhere."""
    op = make("chunk", chunks, index)
    inputs = [TensorType((channels, 3, 3))]
    x = torch.randn(2, channels, 3, 3)
    pieces = x.chunk(chunks, 1)
    equal = len(pieces) == chunks and len({p.shape[1] for p in pieces}) == 1
    try:
        output = op.infer(inputs)
    except OpError:
        assert not equal or index >= chunks
        return
    y = module_of(op, inputs)(x)
    assert equal and torch.equal(y, pieces[index])
    assert tuple(y.shape[1:]) == output.dims
    assert op.param_count(inputs) == 0 and op.other_flops(inputs, output) == 0


@settings(max_examples=60, deadline=None)
@given(channels=st.integers(1, 12), groups=st.integers(1, 6), size=st.integers(1, 3))
def test_channel_shuffle_is_torchvisions(channels, groups, size):
    from torchvision.models.shufflenetv2 import channel_shuffle

    op = make("channel_shuffle", groups)
    inputs = [TensorType((channels, size, size + 1))]
    x = torch.randn(2, channels, size, size + 1)
    try:
        output = op.infer(inputs)
    except OpError:
        with pytest.raises(RuntimeError):
            channel_shuffle(x, groups)
        return
    y = module_of(op, inputs)(x)
    assert torch.equal(y, channel_shuffle(x, groups))
    assert tuple(y.shape[1:]) == output.dims


def test_layout_errors_are_located():
    with pytest.raises(OpError, match="chunks=3 does not divide channels=8") as info:
        make("chunk", 3, 0).infer([TensorType((8, 4, 4))])
    assert (info.value.code, info.value.arg) == ("E0401", "chunks")
    with pytest.raises(OpError, match="index=2 is out of range for chunks=2") as info:
        make("chunk", 2, 2).infer([TensorType((8, 4, 4))])
    assert info.value.arg == "index"
    with pytest.raises(OpError, match="groups=3 does not divide channels=8") as info:
        make("channel_shuffle", 3).infer([TensorType((8, 4, 4))])
    assert (info.value.code, info.value.arg) == ("E0401", "groups")
    with pytest.raises(SpecError, match="input should be 'none' or 'tanh'"):
        make("gelu", "erf")


def test_gelu_renders_its_approximation():
    x = torch.linspace(-4, 4, 50).reshape(1, 50)
    for approximate in ("none", "tanh"):
        module = module_of(make("gelu", approximate=approximate), [TensorType((50,))])
        torch.testing.assert_close(module(x), torch.nn.functional.gelu(x, approximate=approximate))
    assert code.render(rendering(make("gelu")).module(make("gelu"), [], None)) == "nn.GELU()"


# A sample of every one-input op: shape and arguments.
SAMPLES = {
    "conv": ((6, 3), (4, 5, 5)),
    "bn": ((), (4, 5, 5)),
    "lrn": ((3,), (4, 5, 5)),
    "relu": ((), (4, 5, 5)),
    "relu6": ((), (4, 5, 5)),
    "silu": ((), (4, 5, 5)),
    "hardswish": ((), (4, 5, 5)),
    "hardsigmoid": ((), (4, 5, 5)),
    "gelu": ((), (4, 5, 5)),
    "tanh": ((), (4, 5, 5)),
    "sigmoid": ((), (4, 5, 5)),
    "maxpool": ((2,), (4, 5, 5)),
    "avgpool": ((2,), (4, 5, 5)),
    "adaptive_avgpool": ((2,), (4, 5, 5)),
    "gap": ((), (4, 5, 5)),
    "flatten": ((), (4, 5, 5)),
    "linear": ((3,), (6,)),
    "dropout": ((0.5,), (4, 5, 5)),
    "identity": ((), (4, 5, 5)),
    "pad_channels": ((6,), (4, 5, 5)),
    "drop_path": ((0.8,), (4, 5, 5)),
    "chunk": ((2, 1), (4, 5, 5)),
    "channel_shuffle": ((2,), (4, 5, 5)),
    "layer_norm": ((), (4, 5, 5)),
    "group_norm": ((2,), (4, 5, 5)),
    "permute": ((0, 2, 3, 1), (4, 5, 5)),
    "transpose": ((1, 3), (4, 5, 6)),
    "reshape": ((5, -1), (4, 5, 5)),
    "select": ((2, 1), (4, 5, 5)),
    "patch_merge": ((), TensorType((5, 5, 4), features_last=True)),
    "window_attention": ((2, 3, 1), TensorType((5, 5, 4), features_last=True)),
    "conv_transpose": ((6, 3), (4, 5, 5)),
    "frozen_bn": ((), (4, 5, 5)),
}
# Ops that are not a module of their own (a learnable tensor of the enclosing module;
# attention's query-key-value call): tests/test_token_ops.py covers them.
NOT_MODULES = {name for name, cls in OPS.items() if cls.needs_class}
ACTIVATIONS = {"relu", "relu6", "silu", "hardswish", "hardsigmoid", "gelu", "tanh", "sigmoid"}


def test_every_one_input_op_has_a_sample():
    ops = {name for name, cls in OPS.items() if cls.max_inputs == 1} - NOT_MODULES
    assert ops <= set(SAMPLES), f"add a sample to SAMPLES: {sorted(ops - set(SAMPLES))}"


def _storage(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_saves_output_is_what_backward_reads(name):
    """The emitter lets the op after this one overwrite its output in place unless
    `saves_output`: that must hold wherever autograd keeps the output for backward, in
    either form of the op (in place or not)."""
    args, shape = SAMPLES[name]
    op = make(name, *args)
    render = rendering(op)
    inputs = [shape if isinstance(shape, TensorType) else TensorType(shape)]
    torch.manual_seed(0)
    data = torch.randn(2, *inputs[0].dims)
    expected = None
    for inplace in sorted({False, render.can_run_inplace}):
        torch.manual_seed(1)
        module = module_of(op, inputs, inplace).train()
        x = data.clone().requires_grad_().clone()  # not a leaf, so it may be overwritten
        torch.manual_seed(2)
        y = module(x)
        saved = [getattr(y.grad_fn, key) for key in dir(y.grad_fn) if key.startswith("_saved_")]
        reads = any(isinstance(t, torch.Tensor) and _storage(t) == _storage(y) for t in saved)
        if name in ACTIVATIONS:
            assert render.saves_output == reads, (inplace, y.grad_fn)
        else:
            assert render.saves_output or not reads, (inplace, y.grad_fn)
        if inplace:
            assert _storage(y) == _storage(x)  # it did run in place
        expected = y.detach() if expected is None else expected
        torch.testing.assert_close(y.detach(), expected)  # in place computes the same


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


@settings(max_examples=40, deadline=None)
@given(rank=st.sampled_from([1, 3]), size=st.integers(1, 9), kernel=st.integers(1, 4),
       stride=st.integers(1, 3), pad=st.integers(0, 2), dilation=st.integers(1, 2))
def test_conv_of_one_or_three_spatial_dims_matches_torch(rank, size, kernel, stride, pad,
                                                         dilation):
    """(C, L) maps get nn.Conv1d, (C, T, H, W) maps nn.Conv3d, with the same rules."""
    op = make("conv", 4, kernel, stride=stride, pad=pad, dilation=dilation, groups=2)
    check_against_torch(op, (2,) + (size,) * (rank - 1) + (size + 1,))


@settings(max_examples=40, deadline=None)
@given(rank=st.sampled_from([1, 3]), size=st.integers(1, 9), kernel=st.integers(1, 4),
       stride=st.integers(1, 3), ceil=st.booleans(), kind=st.sampled_from(["maxpool",
                                                                           "avgpool"]))
def test_pooling_of_one_or_three_spatial_dims_matches_torch(rank, size, kernel, stride,
                                                            ceil, kind):
    op = make(kind, kernel, stride=stride, pad=kernel // 2, ceil=ceil)
    check_against_torch(op, (3,) + (size + 2,) * rank)


@pytest.mark.parametrize("shape, module", [((6,), "BatchNorm1d"), ((6, 5), "BatchNorm1d"),
                                           ((6, 5, 4), "BatchNorm2d"),
                                           ((6, 3, 5, 4), "BatchNorm3d")])
def test_batch_norm_follows_the_rank(shape, module):
    op = make("bn")
    assert type(module_of(op, [TensorType(shape)])).__name__ == module
    check_against_torch(op, shape)


@pytest.mark.parametrize("shape", [(6, 5), (6, 5, 4), (6, 3, 5, 4)])
def test_layer_norm_of_a_map_normalises_the_channels_at_each_position(shape):
    """LayerNorm1d/2d/3d: nn.LayerNorm over the channels moved last, and back."""
    op = make("layer_norm", eps=1e-3)
    module = module_of(op, [TensorType(shape)])
    assert type(module).__name__ == f"LayerNorm{len(shape) - 1}d"
    check_against_torch(op, shape)
    torch.nn.init.normal_(module.weight), torch.nn.init.normal_(module.bias)
    x = torch.randn(2, *shape)
    reference = torch.nn.LayerNorm(shape[0], eps=1e-3)
    reference.load_state_dict(module.state_dict())
    expected = torch.movedim(reference(torch.movedim(x, 1, -1)), -1, 1)
    torch.testing.assert_close(module(x), expected)


@pytest.mark.parametrize("name, args", [("gap", ()), ("adaptive_avgpool", ((2, 2, 1),))])
def test_adaptive_pooling_of_a_video_map(name, args):
    op = make(name, *args)
    assert type(module_of(op, [TensorType((4, 3, 5, 6))])).__name__ == "AdaptiveAvgPool3d"
    check_against_torch(op, (4, 3, 5, 6))


def test_a_size_per_dim_must_match_the_input():
    op = make("conv", 8, (3, 3))
    with pytest.raises(OpError, match=r"`kernel` \[3, 3\] has 2 numbers, but the input "
                                      r"\(4, 8, 8, 8\) has 3 spatial dims"):
        op.infer([TensorType((4, 8, 8, 8))])
    assert make("conv", 8, (1, 3, 3)).infer([TensorType((4, 8, 8, 8))]).dims == (8, 8, 8, 8)


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 12), kernel=st.integers(1, 4), stride=st.integers(1, 3),
       dilation=st.integers(1, 3), ceil=st.booleans())
def test_dilated_max_pooling_matches_torch(size, kernel, stride, dilation, ceil):
    op = make("maxpool", kernel, stride=stride, pad=kernel // 2, dilation=dilation, ceil=ceil)
    check_against_torch(op, (3, size, size + 2))


def test_dilation_widens_the_receptive_field():
    op = make("maxpool", 3, stride=1, pad=1, dilation=2)
    assert op.window([TensorType((3, 9, 9))]).dilation == (2, 2)
