"""Ops of your own: docs/ops.md's worked example, run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import archdsl
from archdsl.diagnostics import SpecError
from archdsl.emit.torch_ops import RENDERINGS, Rendering
from archdsl.ops import OPS
from archdsl.ops.base import Op
from conftest import ROOT

DOC = (ROOT / "docs" / "ops.md").read_text()
PYTHON, SPEC = (re.search(rf"```{kind}\n(.*?)```", DOC, re.S).group(1)
                for kind in ("python", "yaml"))


@pytest.fixture
def registered():
    """The doc's op, registered for one test only."""
    ops, renderings = dict(OPS), dict(RENDERINGS)
    namespace: dict = {}
    exec(compile(PYTHON, "docs/ops.md", "exec"), namespace)  # the doc's own example
    yield namespace
    OPS.clear()
    OPS.update(ops)
    RENDERINGS.clear()
    RENDERINGS.update(renderings)


def test_the_worked_example_builds_runs_and_scripts(registered, tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    arch = archdsl.load(spec)
    assert arch.graph.node("act").shape.dims == (16, 32, 32)
    model = archdsl.build(arch).eval()
    assert tuple(model.act.slope.shape) == (16, 1, 1)
    assert arch.param_count == sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        model.act.slope.fill_(3.0)
        x = torch.randn(2, 3, 32, 32)
        inner = model.conv1(x)
        torch.testing.assert_close(model.act(inner), (3 * inner).clamp(-2.0, 2.0))
        torch.testing.assert_close(torch.jit.script(model)(x), model(x))
    assert "class ScaledHardtanh(nn.Module):" in arch.source


def test_a_specs_arguments_are_checked_against_the_ops_params(registered, tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC.replace("bound=2.0", "bound='high'"))
    with pytest.raises(SpecError, match="E0202"):
        archdsl.load(spec)


def test_without_registration_the_name_is_unknown(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    with pytest.raises(SpecError, match="E0304"):
        archdsl.load(spec)


def test_register_op_refuses_what_would_break(registered):
    op, rendering = registered["ScaledHardtanh"], registered["ScaledHardtanhRendering"]
    with pytest.raises(ValueError, match="registered twice"):
        archdsl.register_op(op, rendering)

    def op_named(name, **body):
        return type("Custom", (op,), {"name": name, **body})

    with pytest.raises(ValueError, match="builtin"):
        archdsl.register_op(op_named("stage"), rendering)
    with pytest.raises(ValueError, match="not a name"):
        archdsl.register_op(op_named("two words"), rendering)
    with pytest.raises(TypeError, match="no cost rule"):
        archdsl.register_op(type("NoCost", (Op,), {"name": "no_cost"}), rendering)
    with pytest.raises(TypeError, match="neither module"):
        archdsl.register_op(op_named("bare"), Rendering)
    with pytest.raises(TypeError, match="Op subclass"):
        archdsl.register_op(Path, rendering)
    assert "bare" not in OPS and set(RENDERINGS) <= set(OPS.values())
