"""Generated code: runs, scripts, trains, and its static shapes are the real ones."""

from __future__ import annotations

import ast
import re

import pytest
import torch

import archdsl
from conftest import ROOT, SPECS

KITCHEN_SINK = ROOT / "tests" / "specs" / "kitchen_sink.yaml"
SPEC_SAMPLE = [KITCHEN_SINK, SPECS / "resnet18.yaml", SPECS / "resnext50.yaml"]


def observed_shapes(model: torch.nn.Module, arch, x: torch.Tensor) -> dict[str, tuple]:
    """Output shape of every op node that is a submodule, from forward hooks."""
    modules = dict(model.named_modules())
    seen: dict[str, tuple] = {}
    handles = []

    def record(name):
        def hook(module, inputs, output):
            seen.setdefault(name, tuple(output.shape[1:]))
        return hook

    for node in arch.graph.ops():
        module = modules.get(node.name)
        if module is not None:
            handles.append(module.register_forward_hook(record(node.name)))
    model(x)
    for handle in handles:
        handle.remove()
    return seen


@pytest.mark.parametrize("spec", [  # the kitchen sink in the fast subset (-m "not slow")
    s if s == KITCHEN_SINK else pytest.param(s, marks=pytest.mark.slow) for s in SPEC_SAMPLE],
    ids=lambda p: p.stem)
def test_static_shapes_are_the_observed_ones(spec):
    arch = archdsl.load(spec)
    model = archdsl.build(arch).eval()
    x = torch.randn(2, *arch.spec.input)
    with torch.no_grad():
        seen = observed_shapes(model, arch, x)
        out = model(x)
    assert len(seen) > 0.6 * len(arch.graph)
    for name, shape in seen.items():
        assert shape == arch.graph.shape(name).dims, name
    assert tuple(out.shape[1:]) == arch.graph.shape(arch.graph.output).dims
    assert sum(p.numel() for p in model.parameters()) == arch.param_count


@pytest.mark.parametrize("spec", SPEC_SAMPLE, ids=lambda p: p.stem)
def test_state_dict_keys_are_node_names(spec):
    arch = archdsl.load(spec)
    model = archdsl.build(arch)
    owners = {key.rsplit(".", 1)[0] for key in model.state_dict()}
    assert owners <= {node.name for node in arch.graph.ops()}


def test_trains_with_inplace_activations():
    """Backward through every construct: in-place ops must not clobber saved tensors."""
    torch.manual_seed(0)
    model = archdsl.build(KITCHEN_SINK).train()
    x = torch.randn(4, 3, 32, 32)
    loss = model(x).square().mean()
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_scripted_module_matches_eager():
    model = archdsl.build(KITCHEN_SINK).eval()
    scripted = torch.jit.script(model)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x))


def test_one_class_per_block_with_abstracted_parameters():
    source = archdsl.compile_source(SPECS / "resnet50.yaml")
    tree = ast.parse(source)
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    assert classes == ["Bottleneck", "Resnet50"]
    init = next(n for n in tree.body if isinstance(n, ast.ClassDef)
                and n.name == "Bottleneck").body[1]
    assert [a.arg for a in init.args.args] == ["self", "in_channels", "width", "out_channels",
                                               "downsample", "stride"]
    assert [ast.unparse(d) for d in init.args.defaults] == ["1"]  # stride's default
    assert "self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)" \
        in source
    assert "out = self.conv3(out)  # (N, out_channels, H/stride, W/stride)" in source


def test_generated_code_calls_only_what_the_emitter_writes():
    source = archdsl.compile_source(KITCHEN_SINK)
    tree = ast.parse(source)
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    allowed = {"super", "range", "OrderedDict"} | classes
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = ast.unparse(node.func)
            assert func in allowed or func.startswith(("nn.", "torch.", "self.", "self[",
                                                       "super().")), \
                func
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            assert ast.unparse(node) in {"import torch", "from torch import Tensor, nn",
                                         "from collections import OrderedDict"}


def test_comments_name_the_file_each_line_is_in():
    """A child spec's generated code cites its parent for what the parent wrote."""
    source = archdsl.compile_source(SPECS / "regnet_y_400mf.yaml")
    parent_lines = len((SPECS / "regnetx_400mf.yaml").read_text().splitlines())
    child_lines = len((SPECS / "regnet_y_400mf.yaml").read_text().splitlines())
    cited = re.findall(r"(regnetx?_y?_?400mf\.yaml):(\d+)", source)
    assert {name for name, _ in cited} == {"regnetx_400mf.yaml", "regnet_y_400mf.yaml"}
    for name, line in cited:
        assert int(line) <= (parent_lines if name == "regnetx_400mf.yaml" else child_lines)
    assert "(regnetx_400mf.yaml:19)" in source  # conv_norm_act, defined in the parent
