"""Export every torchvision-equivalent spec to ONNX and compare onnxruntime with torch.

tests/test_onnx.py checks a subset in the suite; this checks them all (about 10 min on
2 cores; the VGGs and the ResNeXt-101s write files of 350 to 550 MB, in a temporary
directory removed as it goes). Prints one row per spec; exits 1 if any fails.

    .venv/bin/python benchmarks/onnx_check.py
    .venv/bin/python benchmarks/onnx_check.py --specs resnet50,googlenet --batch 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import onnx
import onnxruntime as ort
import torch

import archdsl
from archdsl.export import INPUT_NAME, OPSET, export_onnx

SPECS = Path(__file__).resolve().parent.parent / "specs"
# The specs that equal a torchvision model (tests/test_torchvision_resnet.py,
# tests/test_torchvision_zoo.py, tests/test_lecture.py), in eval mode.
TORCHVISION = [
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnext50", "resnext101_32x8d", "resnext101_64x4d",
    "wide_resnet50_2", "wide_resnet101_2",
    "alexnet",
    "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
    "squeezenet1_0", "squeezenet1_1",
    "densenet121", "densenet161", "densenet169", "densenet201",
    "googlenet", "inception_v3",
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--specs", default=",".join(TORCHVISION), help="comma-separated")
    p.add_argument("--batch", type=int, default=1, help="batch of the comparison (default 1)")
    args = p.parse_args(argv)
    print(f"torch {torch.__version__}, onnx {onnx.__version__}, onnxruntime "
          f"{ort.__version__}; opset {OPSET}; batch {args.batch}\n")
    print("| spec | parameters | export s | file MB | max abs error | output scale | ok |")
    print("|---|---:|---:|---:|---:|---:|---|")
    failed = 0
    for spec in [s for s in args.specs.split(",") if s]:
        failed += not _check(spec, args.batch)
    return 1 if failed else 0


def _check(spec: str, batch: int) -> bool:
    torch.manual_seed(0)
    arch = archdsl.load(SPECS / f"{spec}.yaml")
    model = archdsl.build(arch).eval()
    x = torch.randn(batch, *arch.spec.input, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(x)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{spec}.onnx"
        started = time.perf_counter()
        export_onnx(model, path, input_shape=arch.spec.input)  # runs onnx.checker
        seconds = time.perf_counter() - started
        megabytes = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 1e6
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (got,) = session.run(None, {INPUT_NAME: x.numpy()})
    got = torch.from_numpy(got)
    scale = max(float(expected.abs().max()), 1.0)
    error = float((got - expected).abs().max())
    try:
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5 * scale)
        ok = True
    except AssertionError:
        ok = False
    print(f"| {spec} | {arch.param_count:,} | {seconds:.1f} | {megabytes:.0f} | {error:.2e} | "
          f"{float(expected.abs().max()):.2e} | {'yes' if ok else 'NO'} |", flush=True)
    return ok


if __name__ == "__main__":
    sys.exit(main())
