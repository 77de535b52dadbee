"""Export a built network to ONNX (imports torch; the exporter needs the `onnx` extra)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from archdsl.optional import require_torch

# The torch.export-based exporter (torch.onnx.export(..., dynamo=True)) writes its
# operator library at opset 18; asking for 18 avoids a version conversion and gives
# files that onnxruntime >= 1.14 runs. (The TorchScript-based exporter is deprecated
# since PyTorch 2.9 and will be removed.)
OPSET = 18
INPUT_NAME, OUTPUT_NAME = "input", "logits"


def export_onnx(model_or_arch, path: str | os.PathLike, *, input_shape=None,
                opset: int = OPSET, dynamic_batch: bool = True, check: bool = True) -> Path:
    """Write the eval-mode network to `path` as ONNX and return the path.

    `model_or_arch` is an nn.Module, an `archdsl.Architecture` or a spec path (built
    with its default params). `input_shape` is (C, H, W) without the batch; it defaults
    to the architecture's input, and is required for a plain nn.Module. With `dynamic_batch`
    the batch dimension is symbolic (`batch`). The file is written to a temporary
    directory beside `path`, checked with `onnx.checker`, and then renamed into place,
    so a failed export leaves nothing half-written. A model whose weights pass the 2 GiB
    protobuf limit gets its weights in `<path>.data` beside it (onnx external data).
    """
    require_torch("ONNX export", "onnx")
    import torch

    model, input_shape = _model_and_shape(model_or_arch, input_shape)
    path = Path(path)
    _require_exporter()
    # A batch of 2: torch.export specialises dimensions of size 1, which would fix
    # the batch even when it is declared dynamic.
    example = torch.zeros(2 if dynamic_batch else 1, *input_shape)
    dynamic_shapes = ({0: torch.export.Dim("batch")},) if dynamic_batch else None
    training = model.training
    model.eval()  # auxiliary heads and dropout are training-time only
    try:
        program = torch.onnx.export(
            model, (example,), dynamo=True, opset_version=opset, verbose=False,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_shapes=dynamic_shapes)
    finally:
        model.train(training)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        program.save(staging / path.name)  # weights beside it only past 2 GiB
        if check:
            import onnx

            onnx.checker.check_model(str(staging / path.name))
        # The weights file first: the model file names it, so it must never be
        # in place without it.
        written = sorted(staging.iterdir(), key=lambda f: f.name == path.name)
        for file in written:
            os.replace(file, path.parent / file.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def _model_and_shape(model_or_arch, input_shape):
    from torch import nn

    if isinstance(model_or_arch, nn.Module):
        if input_shape is None:
            raise TypeError("export_onnx of an nn.Module needs input_shape=(C, H, W)")
        return model_or_arch, tuple(input_shape)
    from archdsl.api import Architecture, build, load
    from archdsl.graph import INPUT

    arch = model_or_arch if isinstance(model_or_arch, Architecture) else load(model_or_arch)
    return build(arch), tuple(input_shape or arch.graph.shape(INPUT).dims)


def _require_exporter() -> None:
    missing = [name for name in ("onnx", "onnxscript") if not _importable(name)]
    if missing:
        raise ModuleNotFoundError(
            f"ONNX export needs {' and '.join(missing)}: pip install 'archdsl[onnx]'")


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None
