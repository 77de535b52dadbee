"""check ⇒ build over the variants a user tries first: every spec of the library with
other inputs (a quarter of the size, three pixels more, 37 pixels, one channel, 7
pixels) and with each numeric or boolean param moved (n + 1 and 2n + 1, x / 2, not b).

Each variant that `check` accepts is built on the meta device and run in eval and
training mode (tools/fuzz_build.build_problem); --script scripts it too (slower).
A variant `check` refuses must be refused with a located diagnostic. Prints the
outcomes and every failure; exits 1 if there is one.

    .venv/bin/python tools/build_variants.py                  # all specs, about 25 min
    .venv/bin/python tools/build_variants.py resnet18 unet    # some
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from fuzz_build import build_problem  # noqa: E402

import archdsl  # noqa: E402
from archdsl.diagnostics import SpecError  # noqa: E402


def variants(arch) -> list[tuple[str, dict]]:
    """(what, keyword arguments of archdsl.load) for each variant of a checked spec."""
    channels, *spatial = arch.graph.shape("<input>").dims
    inputs = [(channels, *(max(1, d // 4) for d in spatial)),
              (channels, *(d + 3 for d in spatial)), (channels, *(37 for _ in spatial)),
              (1, *spatial), (channels, *(7 for _ in spatial))]
    out = [(f"input {list(shape)}", {"input": shape}) for shape in inputs]
    for name, value in arch.params.items():
        if isinstance(value, bool):
            moved = [not value]
        elif isinstance(value, int):
            moved = [value + 1, 2 * value + 1]
        elif isinstance(value, float):
            moved = [value / 2]
        else:
            continue
        out += [(f"{name}={v}", {name: v}) for v in moved]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("specs", nargs="*", help="names in specs/ (default: all)")
    parser.add_argument("--script", action="store_true", help="also script each variant")
    args = parser.parse_args(argv)
    paths = [ROOT / "specs" / f"{n}.yaml" for n in args.specs] or \
        sorted((ROOT / "specs").glob("*.yaml"))
    began = time.perf_counter()
    outcomes: collections.Counter = collections.Counter()
    failures = []
    for path in paths:
        for what, kwargs in variants(archdsl.load(path)):
            try:
                arch = archdsl.load(path, **kwargs)
            except SpecError as exc:
                first = exc.diagnostics[0]
                located = first.span is not None and first.span.line >= 1
                outcomes[f"SpecError {first.code}" if located else "FAIL unlocated"] += 1
                if not located:
                    failures.append((path.stem, what, first.render()))
                continue
            problem = build_problem(arch, script=args.script)
            outcomes["FAIL " + problem.split(":")[0] if problem else "ok (built)"] += 1
            if problem:
                failures.append((path.stem, what, problem))
    total = sum(outcomes.values())
    print(f"{total} variants of {len(paths)} specs, {time.perf_counter() - began:.0f} s")
    for outcome, n in sorted(outcomes.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"{n:8d}  {outcome}")
    print(f"{len(failures)} failures")
    for spec, what, problem in failures:
        print(f"--- {spec} with {what}:\n{problem.rstrip()}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
