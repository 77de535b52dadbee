"""Box and edge positions for every view, from Graphviz's `dot`.

All views go to one `dot -Tplain` run (one digraph each, in order), so a
network of a thousand blocks costs one process. Boxes have a fixed size, so the
page can draw their text without the fonts Graphviz would measure. Positions
come back in points, y downwards, the way SVG counts.
"""

from __future__ import annotations

import shutil
import subprocess

from archdsl.report.model import ENTRY, EXIT, View

BOX = (2.2, 0.62)  # inches: a member's box
PORT = (0.5, 0.3)  # inches: a view's entry and exit
POINTS = 72  # points per inch


class LayoutError(Exception):
    """Graphviz is missing or failed; the message says what to do."""


def _dot_source(views: list[View]) -> str:
    out = []
    for view in views:
        ids = {box: f"n{i}" for i, box in enumerate(view.boxes)}
        out.append("digraph { rankdir=TB; nodesep=0.25; ranksep=0.35;")
        for box, name in ids.items():
            w, h = PORT if box in (ENTRY, EXIT) else BOX
            out.append(f'{name} [shape=box, fixedsize=true, width={w}, height={h}, label=""];')
        out += [f"{ids[a]} -> {ids[b]};" for a, b in view.edges]
        out.append("}")
    return "\n".join(out) + "\n"


def _parse(text: str, views: list[View]) -> list[dict]:
    """`dot -Tplain`'s output (one `graph … stop` run per view) as positions."""
    placed, current, height, view = [], None, 0.0, None
    for line in text.splitlines():
        word = line.split()
        if not word:
            continue
        if word[0] == "graph":
            view = views[len(placed)]
            height = float(word[3])
            current = {"w": round(float(word[2]) * POINTS, 1), "h": round(height * POINTS, 1),
                       "boxes": [], "edges": []}
            placed.append(current)
        elif word[0] == "node":
            box = view.boxes[int(word[1][1:])]
            x, y, w, h = (float(v) for v in word[2:6])
            current["boxes"].append([box, *_point(x, y, height), round(w * POINTS, 1),
                                     round(h * POINTS, 1)])
        elif word[0] == "edge":
            count = int(word[3])
            points = [v for i in range(count)
                      for v in _point(float(word[4 + 2 * i]), float(word[5 + 2 * i]), height)]
            current["edges"].append(points)
    return placed


def _point(x: float, y: float, height: float) -> tuple[float, float]:
    return round(x * POINTS, 1), round((height - y) * POINTS, 1)


def lay_out(views: list[View]) -> dict[str, dict]:
    """Each view's size, boxes ([id, centre x, centre y, w, h]) and edges (the flat
    points of a cubic B-spline), by scope id."""
    dot = shutil.which("dot")
    if dot is None:
        raise LayoutError("the report lays out graphs with Graphviz's `dot`, which is not "
                          "installed (Debian/Ubuntu: apt install graphviz; macOS: brew "
                          "install graphviz)")
    result = subprocess.run([dot, "-Tplain"], input=_dot_source(views).encode(),
                            capture_output=True, timeout=600)
    if result.returncode != 0:
        raise LayoutError(f"dot failed: {result.stderr.decode(errors='replace').strip()}")
    placed = _parse(result.stdout.decode(), views)
    if len(placed) != len(views):
        raise LayoutError(f"dot laid out {len(placed)} of {len(views)} graphs")
    return {view.scope: p for view, p in zip(views, placed)}
