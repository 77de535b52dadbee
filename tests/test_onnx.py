"""ONNX export: the file passes onnx.checker and onnxruntime computes what torch does.

The suite exports a representative subset of the torchvision-equivalent specs (each
export takes seconds); `benchmarks/onnx_check.py` runs every one of them.
"""

from __future__ import annotations

import pytest
import torch

import archdsl
from archdsl.export import INPUT_NAME, OPSET, export_onnx
from conftest import SPECS

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
pytest.importorskip("onnxscript", reason="the onnx extra is not installed")

# One of each construct: residual add with projection shortcuts (resnet18), concat of
# branches with ceil-mode pools (squeezenet1_1), auxiliary heads left out in eval mode
# (googlenet), long concat chains and average pooling (densenet121), asymmetric
# kernels and count_include_pad pools (inception_v3).
SUBSET = ["resnet18", "squeezenet1_1", "googlenet", "densenet121", "inception_v3"]


def run_onnx(path, x: torch.Tensor) -> torch.Tensor:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {INPUT_NAME: x.numpy()})
    return torch.from_numpy(out)


def assert_same_output(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """float32 agreement; atol follows the output's scale (randomly initialised
    networks in eval mode give outputs from 1e-10 to 1e12)."""
    scale = max(float(expected.abs().max()), 1.0)
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("spec", [  # SqueezeNet 1.1 in the fast subset (-m "not slow")
    s if s == "squeezenet1_1" else pytest.param(s, marks=pytest.mark.slow) for s in SUBSET])
def test_onnxruntime_equals_torch(spec, tmp_path):
    torch.manual_seed(0)
    arch = archdsl.load(SPECS / f"{spec}.yaml")
    model = archdsl.build(arch).eval()
    path = export_onnx(model, tmp_path / f"{spec}.onnx", input_shape=arch.spec.input)

    onnx.checker.check_model(str(path), full_check=True)
    proto = onnx.load(str(path), load_external_data=False)
    assert {o.domain: o.version for o in proto.opset_import}[""] == OPSET
    batch = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param == "batch"

    x = torch.randn(1, *arch.spec.input, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(x)
    assert_same_output(run_onnx(path, x), expected)


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["convnext_tiny", "vit_b_16", "swin_t"])
def test_transformers_export(spec, tmp_path):
    """Layer norms, permutes, learnable tensors, nn.MultiheadAttention and the shifted
    window attention helper, at 112 x 112 (a smaller image: the same network)."""
    torch.manual_seed(0)
    arch = archdsl.load(SPECS / f"{spec}.yaml", input=(3, 112, 112))
    model = archdsl.build(arch).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():  # ViT's head starts at zeros
            if name.startswith("heads."):
                p.normal_()
    path = export_onnx(model, tmp_path / f"{spec}.onnx", input_shape=(3, 112, 112))
    x = torch.randn(1, 3, 112, 112, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(x)
    assert float(expected.abs().max()) > 0
    assert_same_output(run_onnx(path, x), expected)


@pytest.mark.slow
def test_batch_is_dynamic_and_training_mode_is_restored(tmp_path):
    model = archdsl.build(SPECS / "resnet18.yaml", num_classes=10).train()
    path = export_onnx(model, tmp_path / "r18.onnx", input_shape=(3, 64, 64))
    assert model.training
    x = torch.randn(3, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        expected = model(x)
    out = run_onnx(path, x)
    assert out.shape == (3, 10)
    assert_same_output(out, expected)


def test_exports_from_an_architecture_with_its_input_shape(tmp_path):
    arch = archdsl.load(SPECS / "lenet5.yaml")
    path = export_onnx(arch, tmp_path / "nested" / "lenet5.onnx")
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims[1:]] == [1, 32, 32]
    assert sorted(p.name for p in path.parent.iterdir()) == ["lenet5.onnx"]


@pytest.mark.slow
def test_a_failed_export_leaves_nothing_behind(tmp_path, monkeypatch):
    target = tmp_path / "out.onnx"
    target.write_bytes(b"the previous file")

    def broken(*args, **kwargs):
        raise onnx.checker.ValidationError("broken on purpose")

    monkeypatch.setattr(onnx.checker, "check_model", broken)
    with pytest.raises(onnx.checker.ValidationError):
        export_onnx(archdsl.load(SPECS / "lenet5.yaml"), target)
    assert target.read_bytes() == b"the previous file"
    assert [p.name for p in tmp_path.iterdir()] == ["out.onnx"]


def test_a_plain_module_needs_its_input_shape(tmp_path):
    with pytest.raises(TypeError, match="input_shape"):
        export_onnx(torch.nn.Linear(2, 2), tmp_path / "x.onnx")
