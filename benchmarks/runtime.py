"""Runtime of archdsl-built networks against torchvision's, on CPU.

For each spec, the module that `archdsl.build` makes and the torchvision model it
claims to be get the same weights and are timed in one process, in rounds whose order
rotates (A B, B A, …), so that drifts in clock speed or load fall on both alike:

- eval: the forward pass under torch.inference_mode, in eval mode; with a column for
  `archdsl.build(spec, inference=True)` (batch norm folded into the convs, with
  torchvision's weights folded in by `fold_weights`);
- layout: that inference form in channels_last (its default) against the same form in
  NCHW (`arch.inference(channels_last=False)`), in eval;
- train: forward, and backward of the sum of every output (auxiliary heads included),
  in training mode;
- in eval and train, a control: a second torchvision model with the same weights,
  timed like the others. Its ratio to the first ("torchvision again / torchvision") is
  what two equal networks measure apart on this machine: the noise floor of the others.
- build: `archdsl.build(spec path)` (parse, check, emit, execute, construct, initialise)
  against torchvision's constructor, for resnet152 and vgg19;
- compile: torch.compile (inductor) of the archdsl module against its eager forward.

A sample is the mean time of enough calls to last --min-time seconds. The tables give
each side's median sample, the median of the per-round ratios archdsl / torchvision
(robust to a drift that a ratio of medians is not), and the middle half (25th to 75th
percentile) of those ratios, which shows the noise. A row whose whole middle half is
above 1.00 is marked `slower`; a row during which other processes used more than 5% of
the CPUs says so.

    .venv/bin/python benchmarks/runtime.py            # everything (about 9 min on 2 cores)
    .venv/bin/python benchmarks/runtime.py --quick    # a smoke run (about 1 min)
    .venv/bin/python benchmarks/runtime.py --specs resnet50 --batch 8 --repeat 15
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from machine import cpu_name

import archdsl

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"

# spec -> (torchvision constructor, its keyword arguments). GoogLeNet's and
# Inception-v3's weights are replaced by load_state_dict: their init is skipped.
REFERENCES = {
    "resnet50": ("resnet50", {}),
    "vgg16": ("vgg16", {}),
    "densenet121": ("densenet121", {}),
    "googlenet": ("googlenet", {"init_weights": False}),
    "squeezenet1_1": ("squeezenet1_1", {}),
    "inception_v3": ("inception_v3", {"init_weights": False}),
    "mobilenet_v2": ("mobilenet_v2", {}),
    "mobilenet_v3_large": ("mobilenet_v3_large", {}),
    "efficientnet_b0": ("efficientnet_b0", {}),
    "regnet_y_400mf": ("regnet_y_400mf", {}),
    "convnext_tiny": ("convnext_tiny", {}),
    "vit_b_16": ("vit_b_16", {}),
    "swin_t": ("swin_t", {}),
}
DEFAULT_SPECS = ["resnet50", "vgg16", "densenet121", "googlenet", "squeezenet1_1",
                 "inception_v3"]
BUILD_SPECS = ["resnet152", "vgg19"]
CONTROL = "torchvision again"  # a second torchvision model with the same weights
BUSY_NOTE = 0.05  # note rows during which other processes used more of the CPUs


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _defaults(args)
    unknown = sorted(set(args.specs) - set(REFERENCES))
    if unknown:
        print(f"no torchvision reference for {', '.join(unknown)}; "
              f"choose from {', '.join(REFERENCES)}", file=sys.stderr)
        return 2
    threads = args.threads or _cores()
    torch.set_num_threads(threads)
    started = time.perf_counter()
    _print_header(argv, threads)

    evals, layouts, trains = [], [], []
    for spec in args.specs:
        for batch in args.batch:
            eval_row, layout_row, train_row = _runtime_rows(spec, batch, args)
            evals.append(eval_row)
            layouts.append(layout_row)
            trains.append(train_row)
            print(f"  done {spec} batch {batch} ({time.perf_counter() - started:.0f} s)",
                  file=sys.stderr, flush=True)
    _print_table("Eval forward (torch.inference_mode), ms", evals,
                 ["archdsl", "inference=True", CONTROL, "torchvision"])
    _print_table("The inference form's memory layout: channels_last vs NCHW, eval forward, ms",
                 layouts, ["channels_last", "NCHW"])
    _print_table("Train forward + backward, ms", trains, ["archdsl", CONTROL, "torchvision"])
    if args.build_specs:
        _print_table("Build: archdsl.build(spec path) vs the torchvision constructor, ms",
                     [_build_row(spec, args) for spec in args.build_specs],
                     ["archdsl", "torchvision"])
    if args.compile_specs:
        _print_table("torch.compile (inductor) vs eager, the archdsl module in eval, ms",
                     [_compile_row(spec, batch, args)
                      for spec in args.compile_specs for batch in args.batch],
                     ["compiled", "eager"])
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--specs", type=_names,
                   help=f"comma-separated (default: {','.join(DEFAULT_SPECS)}; also "
                        f"{', '.join(sorted(set(REFERENCES) - set(DEFAULT_SPECS)))})")
    p.add_argument("--batch", type=_ints, help="comma-separated batch sizes (default: 1,8)")
    p.add_argument("--repeat", type=int, help="timed rounds per comparison (default: 5)")
    p.add_argument("--min-time", type=float, default=0.2,
                   help="seconds a sample lasts at least (default: 0.2)")
    p.add_argument("--threads", type=int,
                   help="torch.set_num_threads (default: the cores this process may use)")
    p.add_argument("--build-specs", type=_names,
                   help=f"specs of the build table (default: {','.join(BUILD_SPECS)}; '' for none)")
    p.add_argument("--compile-specs", type=_names,
                   help="specs of the torch.compile table (default: resnet50; '' for none)")
    p.add_argument("--quick", action="store_true",
                   help="resnet50 and squeezenet1_1 at batch 1, 3 rounds, build resnet152, "
                        "no compile")
    return p


def _defaults(args) -> None:
    if args.quick:
        args.specs = args.specs or ["resnet50", "squeezenet1_1"]
        args.batch = args.batch or [1]
        args.repeat = args.repeat or 3
        args.min_time = min(args.min_time, 0.05)
        args.build_specs = ["resnet152"] if args.build_specs is None else args.build_specs
        args.compile_specs = [] if args.compile_specs is None else args.compile_specs
    args.specs = args.specs or DEFAULT_SPECS
    args.batch = args.batch or [1, 8]
    args.repeat = args.repeat or 5
    args.build_specs = BUILD_SPECS if args.build_specs is None else args.build_specs
    args.compile_specs = ["resnet50"] if args.compile_specs is None else args.compile_specs


def _names(text: str) -> list[str]:
    return [t for t in text.split(",") if t]


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# ---------------------------------------------------------------------- the comparisons


def _runtime_rows(spec: str, batch: int, args):
    """The eval row and the train row of one spec at one batch size."""
    path = SPECS / f"{spec}.yaml"
    theirs = _reference(spec)
    with torch.device("meta"):  # every weight is replaced by torchvision's
        ours = archdsl.build(path)
    ours.load_state_dict(theirs.state_dict(), strict=True, assign=True)
    shape = archdsl.load(path).spec.input
    x = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(0))
    label = f"{spec} | {batch}"

    twin = _reference(spec)  # the control: what torchvision against itself measures
    twin.load_state_dict(theirs.state_dict(), strict=True)

    ours.eval()
    twin.eval()
    theirs.eval()
    contenders = {"archdsl": ours, "inference=True": _inference_model(path, theirs),
                  CONTROL: twin, "torchvision": theirs}
    with torch.inference_mode():
        expected = theirs(x)
        for name, model in contenders.items():
            rtol, atol = (1e-3, 1e-4) if name == "inference=True" else (1e-5, 1e-5)
            torch.testing.assert_close(model(x), expected, rtol=rtol, atol=atol, msg=name)
    eval_row = _timed_row(label, {k: _forward(m, x) for k, m in contenders.items()}, args)
    nchw = _inference_model(path, theirs, channels_last=False)
    layouts = {"channels_last": contenders["inference=True"], "NCHW": nchw}
    with torch.inference_mode():
        torch.testing.assert_close(nchw(x), expected, rtol=1e-3, atol=1e-4, msg="NCHW")
    layout_row = _timed_row(label, {k: _forward(m, x) for k, m in layouts.items()}, args)
    del contenders, layouts, nchw

    if batch == 1 and spec == "inception_v3":
        # Its auxiliary head batch-normalises a 1x1 map: training needs a batch of 2.
        train_row = (label, None, "needs batch >= 2")
    else:
        for model in (ours, twin, theirs):
            model.train()
        train_row = _timed_row(label, {"archdsl": _step(ours, x), CONTROL: _step(twin, x),
                                       "torchvision": _step(theirs, x)}, args)
    del ours, twin, theirs
    gc.collect()
    return eval_row, layout_row, train_row


def _reference(spec: str):
    name, kwargs = REFERENCES[spec]
    torch.manual_seed(0)
    return getattr(torchvision.models, name)(**kwargs)


def _inference_model(path: Path, theirs, channels_last: bool = True):
    """`archdsl.build(spec, inference=True)` with torchvision's weights folded in."""
    folded = archdsl.load(path).inference(channels_last=channels_last)
    model = archdsl.build(folded).eval()
    model.load_state_dict(folded.fold_weights(theirs.state_dict()))
    return model


def _forward(model, x) -> Callable[[], object]:
    def run():
        with torch.inference_mode():
            return model(x)

    return run


def _step(model, x) -> Callable[[], object]:
    def run():
        model.zero_grad(set_to_none=True)
        out = model(x)
        outputs = [out] if isinstance(out, torch.Tensor) else [o for o in out if o is not None]
        sum(o.sum() for o in outputs).backward()

    return run


def _build_row(spec: str, args):
    path = SPECS / f"{spec}.yaml"
    constructor = getattr(torchvision.models, spec)  # the spec has the constructor's name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cold = _seconds(lambda: archdsl.build(path))  # executes the generated source
        front = min(_seconds(lambda: archdsl.load(path)) for _ in range(3))
        note = f"first call {cold * 1e3:.0f} ms; load and check {front * 1e3:.0f} ms"
        return _timed_row(f"{spec} | –", {"archdsl": lambda: archdsl.build(path),
                                          "torchvision": constructor},
                          args, note, min_time=0, repeat=max(args.repeat, 5))


def _compile_row(spec: str, batch: int, args):
    torch._dynamo.reset()
    path = SPECS / f"{spec}.yaml"
    model = archdsl.build(path).eval()
    x = torch.randn(batch, *archdsl.load(path).spec.input,
                    generator=torch.Generator().manual_seed(0))
    compiled = torch.compile(model, dynamic=False)
    with torch.inference_mode():
        started = time.perf_counter()
        got = compiled(x)
        seconds = time.perf_counter() - started
        torch.testing.assert_close(got, model(x), rtol=1e-3, atol=1e-4)
    note = f"compiling took {seconds:.0f} s; output equal (rtol 1e-3)"
    return _timed_row(f"{spec} | {batch}", {"compiled": _forward(compiled, x),
                                            "eager": _forward(model, x)}, args, note)


# ---------------------------------------------------------------------- timing


def _timed_row(label: str, fns: dict[str, Callable], args, note: str = "", *,
               min_time: float | None = None, repeat: int | None = None):
    """(label, {name: (median ms, ratio to the last, (q1, q3) of ratios)}, note)."""
    min_time = args.min_time if min_time is None else min_time
    repeat = repeat or args.repeat
    busy = _Busy()
    slowest = 0.0
    for fn in fns.values():  # warm up: allocator, oneDNN primitive caches
        first = _seconds(fn)
        slowest = max(slowest, first if first > 1.0 else _seconds(fn))
    calls = max(1, math.ceil(min_time / max(slowest, 1e-6)))
    names = list(fns)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(repeat):
        for name in names[i % len(names):] + names[:i % len(names)]:
            samples[name].append(_seconds(fns[name], calls))
    reference = samples[names[-1]]
    cells = {}
    for name in names:
        ratios = [a / b for a, b in zip(samples[name], reference)]
        q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive") \
            if len(ratios) > 1 else (ratios[0],) * 3
        cells[name] = (statistics.median(samples[name]) * 1e3, statistics.median(ratios),
                       (q1, q3))
    others = busy.others()
    if others is not None and others > BUSY_NOTE:
        note = "; ".join(n for n in (note, f"other processes used {others:.0%} of the CPUs")
                         if n)
    return label, cells, note


def _seconds(fn: Callable, calls: int = 1) -> float:
    gc_was = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - started) / calls
    finally:
        if gc_was:
            gc.enable()


class _Busy:
    """The share of the machine's CPU time that other processes used since creation
    (Linux: /proc/stat less this process's own time); None elsewhere."""

    def __init__(self):
        self.start = self._read()

    @staticmethod
    def _read():
        try:
            with open("/proc/stat") as f:
                cpu = [int(v) for v in f.readline().split()[1:]]
            with open("/proc/self/stat") as f:
                own = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        busy = sum(cpu) - cpu[3] - cpu[4]  # all but idle and iowait
        return busy, sum(cpu), int(own[11]) + int(own[12])  # utime + stime, in ticks

    def others(self) -> float | None:
        end = self._read()
        if self.start is None or end is None or end[1] == self.start[1]:
            return None
        busy, total, own = (e - s for e, s in zip(end, self.start))
        return max(0.0, (busy - own) / total)


# ---------------------------------------------------------------------- output


def _print_header(argv, threads: int) -> None:
    command = " ".join(["benchmarks/runtime.py", *(sys.argv[1:] if argv is None else argv)])
    print(f"command: .venv/bin/python {command}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"machine: {cpu_name()}, {_cores()} cores available, {platform.system()} "
          f"{platform.release()}")
    print(f"python {platform.python_version()}, torch {torch.__version__}, torchvision "
          f"{torchvision.__version__}, archdsl {archdsl.__version__}")
    print(f"threads: torch.set_num_threads({threads}), the cores this process may use")
    busy = _Busy()
    time.sleep(1)
    others = busy.others()
    if others is not None:
        print(f"other processes used {others:.0%} of the CPUs in the second before the start")


def _print_table(title: str, rows, columns: list[str]) -> None:
    """Columns: each contender's median, then each one's ratio to the last contender."""
    reference = columns[-1]
    others = columns[:-1]
    head = [*columns, *(f"{c} / {reference}" for c in others),
            *("middle half" for _ in others)]
    print(f"\n### {title}\n")
    print("| spec | batch | " + " | ".join(head) + " | note |")
    print("|---|---|" + "---:|" * (len(columns) + len(others)) + "---|" * len(others) + "---|")
    for label, cells, note in rows:
        if cells is None:
            print(f"| {label} | " + "– | " * len(head) + f"{note} |")
            continue
        times = [f"{cells[c][0]:.1f}" for c in columns]
        ratios = [f"{cells[c][1]:.3f}" for c in others]
        spreads = [f"{cells[c][2][0]:.3f}–{cells[c][2][1]:.3f}" for c in others]
        slower = [c for c in others if cells[c][2][0] > 1.0]
        flags = [f"{c} slower" for c in slower] if len(others) > 1 else \
            ["slower"] if slower else []
        note = "; ".join(n for n in (*flags, note) if n)
        print(f"| {label} | " + " | ".join(times + ratios + spreads) + f" | {note} |")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
