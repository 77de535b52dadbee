"""Export a built network to ONNX (imports torch; the exporter needs the `onnx` extra)."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path

from archdsl.diagnostics import error
from archdsl.limits import DEFAULT_LIMITS, Limits
from archdsl.optional import require_torch
from archdsl.source import Span

# The torch.export-based exporter (torch.onnx.export(..., dynamo=True)) writes its
# operator library at opset 18; asking for 18 avoids a version conversion and gives
# files that onnxruntime >= 1.14 runs. (The TorchScript-based exporter is deprecated
# since PyTorch 2.9 and will be removed.)
OPSET = 18
INPUT_NAME, OUTPUT_NAME = "input", "logits"
# The batch of the example input: torch.export specialises dimensions of size 1, which
# would fix the batch even when it is declared dynamic.
DYNAMIC_BATCH = 2


def check_example(input_shape, *, dynamic_batch: bool = True, span: Span | None = None,
                  limits: Limits = DEFAULT_LIMITS) -> None:
    """E0500 (at `span`, the spec's `input:`) if the example input an export traces is
    larger than `limits.max_example_elements`: it is allocated in full, and a spec's
    input of any size is otherwise valid, as its cost is counted, never allocated."""
    batch = DYNAMIC_BATCH if dynamic_batch else 1
    elements = batch * math.prod(input_shape)
    if elements > limits.max_example_elements:
        shape = " × ".join(map(str, (batch, *input_shape)))
        raise error("E0500", f"ONNX export traces the network on an example input of "
                    f"{shape} = {elements:,} elements ({elements * 4 / 2**30:,.1f} GiB); "
                    f"the limit is {limits.max_example_elements:,}", span,
                    help="export with a smaller `input:` (the graph does not depend on the "
                         "spatial size of a fully convolutional network), or raise "
                         "Limits.max_example_elements")


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

    model, input_shape = _model_and_shape(model_or_arch, input_shape, dynamic_batch)
    path = Path(path)
    _require_exporter()
    example = torch.zeros(DYNAMIC_BATCH if dynamic_batch else 1, *input_shape)
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


def _model_and_shape(model_or_arch, input_shape, dynamic_batch: bool):
    """The module and the input shape, checked (`check_example`) before either is built."""
    from torch import nn

    if isinstance(model_or_arch, nn.Module):
        if input_shape is None:
            raise TypeError("export_onnx of an nn.Module needs input_shape=(C, H, W)")
        check_example(tuple(input_shape), dynamic_batch=dynamic_batch)
        return model_or_arch, tuple(input_shape)
    from archdsl.api import Architecture, build, load
    from archdsl.graph import INPUT

    arch = model_or_arch if isinstance(model_or_arch, Architecture) else load(model_or_arch)
    input_shape = tuple(input_shape or arch.graph.shape(INPUT).dims)
    check_example(input_shape, dynamic_batch=dynamic_batch)
    return build(arch), input_shape


def _require_exporter() -> None:
    missing = [name for name in ("onnx", "onnxscript") if not _importable(name)]
    if missing:
        raise ModuleNotFoundError(
            f"ONNX export needs {' and '.join(missing)}: pip install 'archdsl[onnx]'")


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None
