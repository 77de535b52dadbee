"""archdsl's front end on a 10,000-layer ResNet, against torch.fx tracing the same network.

The network is specs/resnet50.yaml with depths=[256, 256, 256, 256]: 1,024
bottlenecks, about 10,250 layers (the script raises Limits.max_graph_nodes, 5,000 by
default) and 1.5 billion parameters, which are never allocated. Timed in one process,
in rounds:

- load: `archdsl.load(spec path, ...)`: parse, expand, shapes, validate, cost,
  receptive fields; no emission;
- emit: `.source` of that freshly loaded Architecture (the generated PyTorch text);
- trace: `torch.fx.symbolic_trace` of the same network's nn.Module, built once by
  `archdsl.build(arch, allow_large=True)` under `torch.device("meta")`, so that no
  weight memory is allocated.

Both sides walk every layer once in Python: fx records one node per module call, as
archdsl makes one node per layer. The garbage collector stays on (it is part of the
cost of making 10,000 nodes), after a gc.collect() before each sample. The table gives
each median, and the median and middle half (25th to 75th percentile) of its per-round
ratios to the trace. The load average is printed because other processes on the
machine move these figures by 20-30%.

    .venv/bin/python benchmarks/front_end.py              # 7 rounds (about 1.5 min on 2 cores)
    .venv/bin/python benchmarks/front_end.py --repeat 3 --depth 64
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.fx
from machine import cpu_name

import archdsl
from archdsl.limits import Limits

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "resnet50.yaml"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    _print_header(argv)
    depths = [args.depth] * 4
    limits = Limits(max_graph_nodes=max(5_000, 12 * 4 * args.depth))  # 10 a bottleneck

    def load():
        return archdsl.load(SPEC, depths=depths, limits=limits)

    arch = load()
    built = time.perf_counter()
    with torch.device("meta"):
        model = archdsl.build(arch, allow_large=True)
    built = time.perf_counter() - built
    traced = torch.fx.symbolic_trace(model)
    calls = sum(1 for n in traced.graph.nodes if n.op in ("call_module", "call_function",
                                                         "call_method"))
    print(f"network: {SPEC.relative_to(ROOT)} with depths={depths}: {len(arch.graph):,} "
          f"layers, {arch.param_count:,} parameters; the fx graph has {calls:,} calls")
    print(f"built once on the meta device in {built:.1f} s (archdsl.build: emit, exec, "
          f"construct; not compared)")

    samples = {"load": [], "emit": [], "trace": []}
    for _ in range(args.repeat):
        fresh, seconds = _timed(load)
        samples["load"].append(seconds)
        samples["emit"].append(_timed(getattr, fresh, "source")[1])
        samples["trace"].append(_timed(torch.fx.symbolic_trace, model)[1])
        del fresh
    _print_table(samples)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--depth", type=int, default=256,
                   help="bottlenecks per stage (default: 256, about 10,250 layers)")
    p.add_argument("--repeat", type=int, default=7, help="timed rounds (default: 7)")
    return p


def _timed(fn: Callable, *args):
    gc.collect()
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


def _print_header(argv) -> None:
    command = " ".join(["benchmarks/front_end.py", *(sys.argv[1:] if argv is None else argv)])
    print(f"command: .venv/bin/python {command}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"machine: {cpu_name()}, {len(os.sched_getaffinity(0))} cores available, "
          f"{platform.system()} {platform.release()}")
    print(f"python {platform.python_version()}, torch {torch.__version__}, "
          f"archdsl {archdsl.__version__}")
    print("load average at the start (1, 5, 15 min): "
          + ", ".join(f"{v:.2f}" for v in os.getloadavg()))


def _print_table(samples: dict[str, list[float]]) -> None:
    """One row per measure: its median, and its per-round ratio to the trace."""
    rounds = list(zip(samples["load"], samples["emit"], samples["trace"]))
    rows = {
        "archdsl.load": [load for load, _, _ in rounds],
        ".source (emit, of that load)": [emit for _, emit, _ in rounds],
        "archdsl.load + .source": [load + emit for load, emit, _ in rounds],
        "torch.fx.symbolic_trace": [trace for _, _, trace in rounds],
    }
    print(f"\n### archdsl's front end against torch.fx, {len(rounds)} rounds\n")
    print("| measure | median s | / trace | middle half |")
    print("|---|---:|---:|---|")
    for label, seconds in rows.items():
        ratios = [s / trace for s, (_, _, trace) in zip(seconds, rounds)]
        low, high = _middle_half(ratios)
        print(f"| {label} | {statistics.median(seconds):.2f} | "
              f"{statistics.median(ratios):.2f} | {low:.2f}–{high:.2f} |")
    sys.stdout.flush()


def _middle_half(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    quartiles = statistics.quantiles(values, n=4, method="inclusive")
    return quartiles[0], quartiles[2]


if __name__ == "__main__":
    sys.exit(main())
