"""`archdsl report`: one self-contained HTML page about one network, two (a diff),
or several (a comparison).

The page holds everything it shows: its CSS and JavaScript (archdsl/report/page/,
written for it, no library) and one JSON document with each network's items,
views laid out by Graphviz, spec text, totals and per-stage rows. It makes no
request, so it works from `file://` and as a CI artifact. Spec text and names
are hostile data: they travel only inside that JSON, with `<`, `>` and `&`
escaped, and the page writes them with `textContent`, never as markup.
"""

from __future__ import annotations

import json
import re
from html import escape
from importlib import resources

from archdsl.diff import diff
from archdsl.report.chart import bubble_svg
from archdsl.report.layout import LayoutError, lay_out
from archdsl.report.model import Sources, items, views

__all__ = ["LayoutError", "network_data", "render_report"]

_SLOT = re.compile(r"/\*@(\w+)@\*/")
_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
           "\u2028": "\\u2028", "\u2029": "\\u2029"}


def network_data(arch) -> dict:
    """What the page shows of one checked Architecture."""
    sources = Sources(arch.spec.source)
    summary = arch.summary()
    return {
        "name": arch.name,
        "items": items(arch.graph, sources),
        "views": lay_out(views(arch.graph)),
        "sources": [{"path": path, "lines": lines} for path, lines in sources.files.items()],
        "totals": summary["totals"],
        "input": summary["input"],
        "stages": arch.summary(depth=1)["nodes"],
    }


def _compare_rows(archs) -> list[dict]:
    rows = []
    for arch in archs:
        t = arch.summary()["totals"]
        rows.append({"spec": arch.name, "params": t["params"], "macs": t["macs"],
                     "activation_bytes": t["activation_bytes"],
                     "forward_backward_mb": t["forward_backward_mb"]})
    return rows


def render_report(archs: list, *, compare: bool = False) -> str:
    """The HTML page: one Architecture's report; two's diff (A -> B) unless `compare`;
    with `compare`, every one's and the complexity chart of them all."""
    if not archs:
        raise ValueError("render_report needs at least one Architecture")
    mode = "compare" if compare else "diff" if len(archs) == 2 else "single"
    if mode == "single" and len(archs) > 1:
        raise ValueError("more than two networks need compare=True")
    data = {"mode": mode, "networks": [network_data(a) for a in archs]}
    chart = ""
    if mode == "diff":
        data["diff"] = diff(archs[0], archs[1])
    if mode == "compare":
        data["compare"] = _compare_rows(archs)
        chart = bubble_svg(data["compare"])
    title = " vs ".join(a.name for a in archs) if mode != "single" else archs[0].name
    return _page(title, data, chart)


def embed_json(data) -> str:
    """JSON that can stand inside a <script> element: no `</script>`, no `<!--`."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return re.sub("[<>&\u2028\u2029]", lambda m: _UNSAFE[m.group()], text)


def _page(title: str, data: dict, chart: str) -> str:
    page = resources.files("archdsl.report") / "page"
    slots = {"css": (page / "report.css").read_text(),
             "js": (page / "report.js").read_text(),
             "title": escape(f"{title} - archdsl report"),
             "chart": chart,
             "data": embed_json(data)}
    return _SLOT.sub(lambda m: slots[m.group(1)], (page / "report.html").read_text())

