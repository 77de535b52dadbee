"""Trace every spec with torch._dynamo.explain, in eval and training mode, and compare
torch.compile (aot_eager backend) with eager in eval mode.

tests/test_torch_compile.py covers a few specs in the suite; this covers all of them
(several minutes: the 1001-layer ResNet alone takes a while). Prints one row per spec
and mode; exits 1 if an eval-mode trace breaks or an output differs.

    .venv/bin/python benchmarks/compile_check.py
    .venv/bin/python benchmarks/compile_check.py --specs resnet18,fractalnet_cifar10
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch._dynamo

import archdsl

SPECS = Path(__file__).resolve().parent.parent / "specs"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--specs", help="comma-separated (default: every spec in specs/)")
    args = p.parse_args(argv)
    specs = args.specs.split(",") if args.specs else sorted(f.stem for f in SPECS.glob("*.yaml"))
    print(f"torch {torch.__version__}; batch 2; equality in eval mode with backend aot_eager\n")
    print("| spec | mode | graphs | graph breaks | trace s | compiled = eager | first break |")
    print("|---|---|---:|---:|---:|---|---|")
    failed = 0
    for spec in specs:
        torch.manual_seed(0)
        arch = archdsl.load(SPECS / f"{spec}.yaml")
        model = archdsl.build(arch)
        x = torch.randn(2, *arch.spec.input, generator=torch.Generator().manual_seed(0))
        for mode in ("eval", "train"):
            model.train(mode == "train")
            torch._dynamo.reset()
            started = time.perf_counter()
            with torch.no_grad():
                explained = torch._dynamo.explain(model)(x)
            seconds = time.perf_counter() - started
            equal = "–"
            if mode == "eval":
                equal = _compiled_equals_eager(model, x)
                failed += explained.graph_break_count > 0 or equal != "yes"
            reason = ""
            if explained.break_reasons:
                reason = explained.break_reasons[0].reason.splitlines()[0][:80]
                frame = explained.break_reasons[0].user_stack[-1:]
                if frame:
                    reason += f" ({frame[0].name}, line {frame[0].lineno})"
            print(f"| {spec} | {mode} | {explained.graph_count} | "
                  f"{explained.graph_break_count} | {seconds:.1f} | {equal} | {reason} |",
                  flush=True)
    return 1 if failed else 0


def _compiled_equals_eager(model, x) -> str:
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    with torch.no_grad():
        try:
            torch.testing.assert_close(compiled(x), model(x))
        except AssertionError as e:
            return f"NO: {str(e).splitlines()[1]}"
    return "yes"


if __name__ == "__main__":
    sys.exit(main())
