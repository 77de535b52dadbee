"""The Swin helper modules load torchvision's state_dicts and compute what its modules do."""

from __future__ import annotations

import linecache
import sys
import types

import pytest
import torch
import torch._dynamo
from torchvision.models import swin_transformer as tv_swin

from archdsl.emit.swin_helpers import PATCH_MERGE_SOURCE, WINDOW_ATTENTION_SOURCE

DIM, WINDOW, HEADS = 96, 7, 3


def _helpers() -> types.ModuleType:
    """The two sources executed as a module, with the names a generated file gives them;
    registered in linecache and sys.modules so that TorchScript can read the source."""
    name = "archdsl_test_swin_helpers"
    if name in sys.modules:
        return sys.modules[name]
    source = WINDOW_ATTENTION_SOURCE + "\n\n\n" + PATCH_MERGE_SOURCE + "\n"
    filename = f"<{name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    module.__dict__.update({"torch": torch, "Tensor": torch.Tensor, "nn": torch.nn})
    exec(compile(source, filename, "exec"), module.__dict__)  # our own helper source
    sys.modules[name] = module
    return module


HELPERS = _helpers()


def _pair(shift: int, dropout: float = 0.0, attention_dropout: float = 0.0):
    """(ours, torchvision's) with the same randomised weights. The linear weights are
    small enough that the softmax is not saturated; the position bias is as large as
    the scores, so that a bias read from the wrong row shows."""
    torch.manual_seed(0)
    reference = tv_swin.ShiftedWindowAttention(
        DIM, [WINDOW, WINDOW], [shift, shift], HEADS,
        attention_dropout=attention_dropout, dropout=dropout)
    with torch.no_grad():
        for name, parameter in reference.named_parameters():
            parameter.normal_(std=1.0 if name == "relative_position_bias_table" else 0.1)
    ours = HELPERS.ShiftedWindowAttention(DIM, WINDOW, shift, HEADS, dropout=dropout,
                                          attention_dropout=attention_dropout)
    ours.load_state_dict(reference.state_dict(), strict=True)
    return ours, reference


def _input(height: int, width: int) -> torch.Tensor:
    return torch.randn(2, height, width, DIM, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("shift", [0, 3])
def test_state_dict_is_torchvisions(shift):
    ours = HELPERS.ShiftedWindowAttention(DIM, WINDOW, shift, HEADS)
    reference = tv_swin.ShiftedWindowAttention(DIM, [WINDOW, WINDOW], [shift, shift], HEADS)
    mine, theirs = ours.state_dict(), reference.state_dict()
    assert list(mine) == list(theirs)
    for key in theirs:
        assert (mine[key].shape, mine[key].dtype) == (theirs[key].shape, theirs[key].dtype), key
    assert torch.equal(mine["relative_position_index"], theirs["relative_position_index"])
    assert mine["relative_position_bias_table"].shape == ((2 * WINDOW - 1) ** 2, HEADS)


# (height, width, shift): whole windows unshifted and shifted; a window that covers the
# feature map (the shift is dropped); sizes padded to whole windows, on one axis only.
SIZES = [(56, 56, 0), (56, 56, 3), (14, 14, 3), (7, 7, 3), (9, 11, 3), (7, 10, 3)]


@pytest.mark.parametrize("height, width, shift", SIZES)
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_outputs_equal_torchvisions(height, width, shift, mode):
    ours, reference = _pair(shift)
    ours.train(mode == "train")
    reference.train(mode == "train")
    x = _input(height, width)
    expected = reference(x)
    got = ours(x)
    assert got.shape == x.shape
    torch.testing.assert_close(got, expected)


def test_mask_matters():
    """The shifted case is a real test: masking nothing would give other outputs."""
    ours, _ = _pair(3)
    unshifted, _ = _pair(0)
    x = _input(14, 14)
    shift = torch.roll(x, [-3, -3], [1, 2])
    plain = torch.roll(unshifted(shift), [3, 3], [1, 2])  # shifted windows, no mask
    assert not torch.allclose(ours(x), plain, atol=1e-3)


def test_dropouts_draw_as_torchvisions():
    """Both dropouts in the same places: the same seed drops the same elements."""
    ours, reference = _pair(3, dropout=0.1, attention_dropout=0.2)
    x = _input(14, 14)
    torch.manual_seed(2)
    expected = reference(x)
    torch.manual_seed(2)
    torch.testing.assert_close(ours(x), expected)
    torch.manual_seed(3)
    assert not torch.allclose(ours(x), expected)  # the dropouts are live


@pytest.mark.parametrize("shape", [(2, 8, 8, 5), (2, 7, 9, 5), (1, 1, 1, 3)])
def test_patch_merge_is_torchvisions(shape):
    x = torch.randn(shape)
    got = HELPERS.PatchMerge()(x)
    n, height, width, channels = shape
    assert got.shape == (n, (height + 1) // 2, (width + 1) // 2, 4 * channels)
    assert torch.equal(got, tv_swin._patch_merging_pad(x))


@pytest.mark.parametrize("height, width, shift", [(14, 14, 3), (9, 11, 3), (7, 7, 3)])
def test_attention_scripts(height, width, shift):
    ours, _ = _pair(shift)
    ours.eval()
    scripted = torch.jit.script(ours)
    x = _input(height, width)
    torch.testing.assert_close(scripted(x), ours(x))


def test_patch_merge_scripts():
    x = torch.randn(2, 7, 10, 4)
    merge = HELPERS.PatchMerge()
    assert torch.equal(torch.jit.script(merge)(x), merge(x))


def test_attention_traces_without_graph_breaks():
    torch._dynamo.reset()
    ours, _ = _pair(3)
    ours.eval()
    try:
        with torch.no_grad():
            explained = torch._dynamo.explain(ours)(_input(56, 56))
    finally:
        torch._dynamo.reset()
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1
