"""Sweeps: every combination of param values, checked and costed without torch.

An invalid combination (groups not dividing a width, a map shrinking to
nothing) is a row with its diagnostic, not the end of the sweep.
"""

from __future__ import annotations

import csv
import io
import itertools
import math

from archdsl.diagnostics import SpecError, error
from archdsl.lang.params import parse_override
from archdsl.limits import DEFAULT_LIMITS, Limits


def grid(specs: list[str]) -> list[tuple[str, list[str]]]:
    """`["cardinality=8,16,32", "k=1,2"]` -> [("cardinality", ["8", "16", "32"]), …]."""
    out = []
    for text in specs:
        name, equals, values = text.partition("=")
        if not equals or not name.strip() or not values.strip():
            raise error("E0600", f"`--grid {text}` is not NAME=V1,V2,…",
                        help="e.g. --grid cardinality=8,16,32")
        out.append((name.strip(), _split(values)))
    return out


def _split(values: str) -> list[str]:
    """Split on commas outside brackets: `depths=[3,4,6,3],[3,4,23,3]` gives two lists."""
    parts, depth, current = [], 0, ""
    for ch in values:
        depth += ch in "([" and 1 or ch in ")]" and -1 or 0
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return [p for p in parts if p]


def run(spec: str, axes: list[tuple[str, list[str]]], input_shape=None,
        limits: Limits = DEFAULT_LIMITS) -> list[dict]:
    """One row per combination: its values, totals, or the diagnostic that stops it.
    A grid of more than `limits.max_sweep_points` combinations is refused before the
    first is checked."""
    from archdsl.api import load

    points = math.prod(len(values) for _, values in axes)
    if points > limits.max_sweep_points:
        sizes = " × ".join(str(len(values)) for _, values in axes)
        raise error("E0500", f"the grid has {sizes} = {points:,} combinations; the limit "
                    f"is {limits.max_sweep_points:,}",
                    help="sweep fewer values at once, or call archdsl.sweep.run with "
                         "Limits(max_sweep_points=…)")
    names = [name for name, _ in axes]
    rows = []
    for values in itertools.product(*(v for _, v in axes)):
        overrides = [f"{n}={v}" for n, v in zip(names, values)]
        row = {"label": " ".join(overrides), "values": dict(zip(names, values)),
               "params": None, "macs": None, "activation_bytes": None, "error": None}
        try:
            for override in overrides:
                parse_override(override)
            totals = load(spec, overrides=overrides, input=input_shape,
                          limits=limits).summary()["totals"]
            row.update(params=totals["params"], macs=totals["macs"],
                       activation_bytes=totals["activation_bytes"])
        except SpecError as exc:
            first = exc.diagnostics[0]
            row["error"] = f"error[{first.code}]: {first.message}"
        rows.append(row)
    return rows


def render_table(rows: list[dict]) -> str:
    names = list(rows[0]["values"]) if rows else []
    header = names + ["params", "MACs", "activations (MB)", "result"]
    lines = [header]
    for r in rows:
        cells = [r["values"][n] for n in names]
        if r["error"]:
            cells += ["-", "-", "-", r["error"]]
        else:
            cells += [f"{r['params']:,}", f"{r['macs'] / 1e9:.3f}G",
                      f"{r['activation_bytes'] / 2**20:.1f}", "ok"]
        lines.append(cells)
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip()
                     for line in lines)


def render_csv(rows: list[dict]) -> str:
    names = list(rows[0]["values"]) if rows else []
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(names + ["params", "macs", "activation_bytes", "error"])
    for r in rows:
        writer.writerow([r["values"][n] for n in names] +
                        [r["params"], r["macs"], r["activation_bytes"], r["error"] or ""])
    return out.getvalue()
