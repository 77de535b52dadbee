"""The zoo's table (`archdsl list`): each packaged spec's size, cost and reference."""

from __future__ import annotations

import re

from archdsl import zoo
from archdsl.api import load
from archdsl.pretrained import TWINS

_ARXIV = re.compile(r"arXiv:\d{4}\.\d{4,5}")
_TITLE = re.compile(r"\"([^\"]+)\"")


def rows() -> list[dict]:
    """One row per zoo spec, by name: params, MACs per sample, and what it reproduces."""
    out = []
    for name in zoo.names():
        arch = load(zoo.path(name))
        totals = arch.summary()["totals"]
        out.append({"name": name, "params": totals["params"], "macs": totals["macs"],
                    "reference": reference(arch.spec.name, arch.spec.doc)})
    return out


def reference(spec_name: str, doc: str) -> str:
    """What a spec reproduces: its torchvision twin (the network whose published
    weights load into it, see archdsl.pretrained), else the paper its doc cites."""
    twin = TWINS.get(spec_name)
    if twin is not None:
        return f"torchvision {twin.builder}" + (" (backbone)" if twin.prefix else "")
    doc = " ".join(doc.split())
    found = _ARXIV.search(doc) or _TITLE.search(doc)
    if found is None:
        return ""
    return found.group(0) if found.re is _ARXIV else f"\"{found.group(1)}\""


def render(table: list[dict]) -> str:
    """The rows as an aligned text table."""
    header = ("name", "params (M)", "MACs (G)", "reference")
    lines = [header] + [(r["name"], f"{r['params'] / 1e6:.2f}", f"{r['macs'] / 1e9:.3f}",
                         r["reference"]) for r in table]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) if i in (1, 2) else c.ljust(w)
                               for i, (c, w) in enumerate(zip(line, widths))).rstrip()
                     for line in lines)


__all__ = ["rows", "reference", "render"]
