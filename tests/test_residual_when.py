"""A residual with a condition (`when:`) and drop_path written as an op call.

`when:` is MobileNetV2's `use_res_connect = stride == 1 and inp == oup`
(torchvision/models/mobilenetv2.py, InvertedResidual): one body, the skip only
where the condition holds. The generated class keeps torchvision's form, one class
with a flag.
"""

from __future__ import annotations

import re
import textwrap

import pytest
import torch
from torch import nn

import archdsl
from archdsl.api import check
from archdsl.diagnostics import SpecError
from archdsl.lang.load import parse_spec
from archdsl.lang.params import python_override
from archdsl.ops import OPS

# (out channels, stride) per block, from an 8-channel input: the skip where the stride
# is 1 and the channels agree (blocks 0 and 3), not where either differs.
CONFIG = [(8, 1), (12, 2), (16, 1), (16, 1), (16, 2)]

BLOCK = """
  inverted_residual:
    args: {out: int, stride: 1, expand: 2}
    let:
      hidden: in_channels * expand%(let)s
    residual:
      when: %(when)s
      body:
        conv:
          - conv(hidden, 1, bias=false)
          - bn
          - relu
          - conv(hidden, 3, stride=stride, groups=hidden, bias=false)
          - bn
          - relu
          - conv(out, 1, bias=false)
          - bn
"""


def load(body: str, input_: str = "[8, 16, 16]", **params):
    text = f"archdsl: 1\nname: net\ninput: {input_}\n" + textwrap.dedent(body)
    overrides = [python_override(k, v) for k, v in params.items()]
    return check(parse_spec(text, "<net>", ops=OPS), overrides)


def block(when: str, let: str = "") -> str:
    """The block's definition, indented for `blocks:` in `load`'s text."""
    return textwrap.indent(BLOCK % {"when": when, "let": let}, " " * 10)


def network(when: str = "stride == 1 and in_channels == out", config=CONFIG):
    return load(f"""
        params:
          cfg: {[list(c) for c in config]}
        blocks:{block(when)}
        network:
          - features:
              repeat: len(cfg)
              body: inverted_residual(out=cfg[i][0], stride=cfg[i][1])
    """)


class InvertedResidual(nn.Module):
    """torchvision's InvertedResidual (expand ratio 2, ReLU), written by hand."""

    def __init__(self, inp: int, oup: int, stride: int) -> None:
        super().__init__()
        hidden = inp * 2
        self.use_res_connect = stride == 1 and inp == oup
        self.conv = nn.Sequential(
            nn.Conv2d(inp, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.Conv2d(hidden, oup, 1, bias=False), nn.BatchNorm2d(oup))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class Reference(nn.Module):
    """The network `network()` builds, with the hand-written blocks."""

    def __init__(self, config=CONFIG, inp: int = 8) -> None:
        super().__init__()
        blocks = []
        for out, stride in config:
            blocks.append(InvertedResidual(inp, out, stride))
            inp = out
        self.features = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def _randomize(model: nn.Module) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)


def test_the_skip_is_applied_where_the_condition_holds_only():
    graph = network().graph
    merges = [n.name for n in graph.ops() if n.op.name == "add"]
    assert merges == ["features.0.add", "features.3.add"]
    assert graph.inputs("features.3.add") == ["features.3.conv.7", "features.2.conv.7"]
    # Where it is false, the block's output is its body's.
    assert graph.scope(("features", "1")).output == "features.1.conv.7"


def test_equal_to_a_hand_written_module_with_the_same_state_dict():
    torch.manual_seed(0)
    model = archdsl.build(network())
    ref = Reference()
    _randomize(model)
    assert list(model.state_dict()) == list(ref.state_dict())
    ref.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 8, 16, 16)
    for train in (False, True):
        model.train(train)
        ref.train(train)
        with torch.no_grad():
            torch.testing.assert_close(model(x), ref(x))


def test_blocks_with_and_without_the_skip_have_the_same_members():
    keys = archdsl.build(network()).state_dict()
    per_block = [{k.split(".", 2)[2] for k in keys if k.startswith(f"features.{i}.")}
                 for i in range(len(CONFIG))]
    assert all(names == per_block[0] for names in per_block)


def test_one_generated_class_takes_the_skip_as_a_flag():
    source = network().source
    assert "class InvertedResidual2" not in source
    assert "self.use_res_connect = use_res_connect" in source
    assert "        if self.use_res_connect:\n            out += x\n" in source
    flags = re.findall(r"use_res_connect=(True|False)", source)
    assert flags == ["True", "False", "False", "True", "False"]


def test_the_flag_is_named_after_the_let_that_the_condition_reads():
    let = "\n      keeps_shape: in_channels == out"
    arch = load(f"""
        blocks:{block("keeps_shape", let)}
        network:
          - a: inverted_residual(out=12)
          - b: inverted_residual(out=12)
    """)
    assert "if self.keeps_shape:" in arch.source
    assert "self.a = InvertedResidual(in_channels=8, hidden=16, keeps_shape=False)" in arch.source
    assert "self.b = InvertedResidual(in_channels=12, hidden=24, keeps_shape=True)" in arch.source


def test_torchscript_runs_both_kinds_of_instance():
    torch.manual_seed(0)
    model = archdsl.build(network()).eval()
    scripted = torch.jit.script(model)
    x = torch.randn(2, 8, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x))


@pytest.mark.parametrize("when, found", [("1", "an int 1"), ("2.5", "a float 2.5"),
                                         ("in_shape", "a list [8, 16, 16]")])
def test_when_must_be_a_bool(when, found):
    with pytest.raises(SpecError) as info:
        network(when=when)
    diagnostic = info.value.diagnostics[0]
    assert diagnostic.code == "E0202"
    assert f"`when` needs true or false, not {found}" in diagnostic.message
    # BLOCK's first line is `blocks:`'s, after the header (3 lines), a blank and params (2)
    line = BLOCK.splitlines().index("      when: %(when)s") + 7
    assert (diagnostic.span.line, diagnostic.span.col) == (line, 15)


def test_without_the_skip_later_members_keep_their_names():
    """The skip's drop_path and merge names stay taken where `when:` is false."""
    body = """
        params: {skip: true}
        network:
          - stem: conv(8, 3)
          - residual: {when: skip, body: [conv(8, 3)], drop_path: 0.9}
          - residual: {body: [conv(8, 3)], drop_path: 0.9}
    """
    with_skip = [n.name for n in load(body).graph.ops()]
    without = [n.name for n in load(body, skip=False).graph.ops()]
    assert with_skip == ["stem", "conv", "drop_path", "add", "conv_1", "drop_path_1", "add_1"]
    assert without == ["stem", "conv", "conv_1", "drop_path_1", "add_1"]


# -- drop_path as an op call


def drop_path_net(drop_path: str, when: str = "true"):
    return load(f"""
        network:
          - stem: conv(8, 3, bias=false)
          - res:
              residual:
                when: {when}
                body: [conv(8, 3, bias=false), bn]
                drop_path: "{drop_path}"
                post: relu
    """)


@pytest.mark.parametrize("text, survival, mode, rescale", [
    ("0.8", 0.8, "batch", "test"),
    ("linear(0.5)", 0.5, "batch", "test"),  # the only residual: the last, so p_L
    ("drop_path(0.8, mode='sample', rescale='train')", 0.8, "sample", "train"),
    ("drop_path(1 - 0.25, rescale='test')", 0.75, "batch", "test"),
])
def test_drop_path_forms(text, survival, mode, rescale):
    (node,) = [n for n in drop_path_net(text).graph.ops() if n.op.name == "drop_path"]
    assert (node.op.p.survival, node.op.p.mode, node.op.p.rescale) == \
        (pytest.approx(survival), mode, rescale)
    assert node.name == "res.drop_path"


@pytest.mark.parametrize("text, code, message", [
    ("drop_path(1.5)", "E0202", "argument `survival` of `drop_path`"),
    ("drop_path(0.5, mode='row')", "E0202", "argument `mode` of `drop_path`"),
    ("relu", "E0203", "`drop_path` takes a survival probability in (0, 1], linear(p) or "
                      "drop_path(survival, mode=…, rescale=…), not"),
])
def test_drop_path_errors(text, code, message):
    for when in ("true", "false"):  # checked where the skip is left out too
        with pytest.raises(SpecError) as info:
            drop_path_net(text, when)
        assert info.value.diagnostics[0].code == code
        assert message in info.value.diagnostics[0].message


def test_torchvision_stochastic_depth_schedule_with_block_indices():
    """EfficientNet's p_i = p * i / N over all N blocks (torchvision's efficientnet.py),
    written with the index; the blocks without the skip have no drop_path."""
    arch = load("""
        params:
          cfg: [[8, 1], [8, 1], [12, 2], [12, 1]]
          p: 0.2
        blocks:
          unit:
            args: {out: int, stride: 1, index: int}
            residual:
              when: stride == 1 and in_channels == out
              body: {block: [conv(out, 3, stride=stride, bias=false), bn]}
              drop_path: drop_path(1 - p * index / len(cfg), mode='sample', rescale='train')
        network:
          - features:
              repeat: len(cfg)
              body: unit(out=cfg[i][0], stride=cfg[i][1], index=i)
    """)
    survival = {n.name: n.op.p.survival for n in arch.graph.ops() if n.op.name == "drop_path"}
    assert survival == pytest.approx({"features.0.drop_path": 1.0,
                                      "features.1.drop_path": 0.95,
                                      "features.3.drop_path": 0.85})
    source = arch.source
    assert "class Unit2" not in source
    assert "        if self.drop_path is not None:\n            out = self.drop_path(out)\n" \
           "        if self.use_res_connect:\n            out += x\n" in source
    torch.manual_seed(0)
    model = archdsl.build(arch).train()
    scripted = torch.jit.script(model)
    x = torch.randn(4, 8, 16, 16)
    torch.manual_seed(1)
    expected = model(x)
    torch.manual_seed(1)
    torch.testing.assert_close(scripted(x), expected)


@pytest.mark.parametrize("rescale", ["train", "test"])
def test_inference_form_drops_or_folds_the_call_form(rescale):
    arch = drop_path_net(f"drop_path(0.8, mode='sample', rescale='{rescale}')")
    torch.manual_seed(0)
    trained = archdsl.build(arch).eval()
    _randomize(trained)
    folded = arch.inference(channels_last=False)
    assert "drop_path" not in [n.op.name for n in folded.graph.ops()]
    fold = next(f for f in folded.plan.folds if f.conv == "res.conv")
    model = archdsl.build(folded).eval()
    model.load_state_dict(folded.fold_weights(trained.state_dict()), strict=True)
    x = torch.randn(2, 8, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(x), trained(x), rtol=1e-4, atol=1e-4)
    assert fold.scale == pytest.approx(0.8 if rescale == "test" else 1.0)


def test_two_residuals_in_one_module_each_add_their_own_input():
    """The second residual's body must not overwrite the variable holding its input,
    which its skip still reads (`out += out` was generated here)."""
    arch = load("""
        params: {first: true}
        network:
          - stem: conv(8, 3)
          - residual: {when: first, body: [conv(8, 3), bn], post: relu}
          - residual: {body: [conv(8, 3), bn], post: relu}
    """)
    assert "out += out" not in arch.source
    torch.manual_seed(0)
    m = archdsl.build(arch).eval()
    _randomize(m)
    x = torch.randn(2, 8, 16, 16)
    with torch.no_grad():
        a = m.stem(x)
        b = m.relu(m.bn(m.conv(a)) + a)
        expected = m.relu_1(m.bn_1(m.conv_1(b)) + b)
        torch.testing.assert_close(m(x), expected)
