"""The lecture's complexity chart as inline SVG: MACs against parameters, bubble
area = activation memory (what archdsl.plot draws with matplotlib, without it)."""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT, MARGIN = 720, 440, 60
TICKS = 5


def _ticks(top: float) -> list[float]:
    return [top * i / TICKS for i in range(TICKS + 1)]


def bubble_svg(rows: list[dict]) -> str:
    """rows: dicts with `spec`, `macs`, `params`, `activation_bytes`."""
    x_top = max([r["macs"] / 1e9 for r in rows] + [1e-9]) * 1.15
    y_top = max([r["params"] / 1e6 for r in rows] + [1e-9]) * 1.15
    largest = max([r["activation_bytes"] for r in rows] + [1])
    plot_w, plot_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN

    def x(v: float) -> float:
        return MARGIN + plot_w * v / x_top

    def y(v: float) -> float:
        return HEIGHT - MARGIN - plot_h * v / y_top

    out = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
           f'height="{HEIGHT}" role="img" aria-label="model complexity">',
           f'<rect x="{MARGIN}" y="{MARGIN}" width="{plot_w}" height="{plot_h}" '
           'class="frame"/>']
    for t in _ticks(x_top):
        out.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{MARGIN}" '
                   f'y2="{HEIGHT - MARGIN}" class="grid"/>')
        out.append(f'<text x="{x(t):.1f}" y="{HEIGHT - MARGIN + 16}" '
                   f'text-anchor="middle">{t:.2f}</text>')
    for t in _ticks(y_top):
        out.append(f'<line x1="{MARGIN}" x2="{WIDTH - MARGIN}" y1="{y(t):.1f}" '
                   f'y2="{y(t):.1f}" class="grid"/>')
        out.append(f'<text x="{MARGIN - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{t:.1f}</text>')
    for row in sorted(rows, key=lambda r: -r["activation_bytes"]):  # small ones on top
        cx, cy = x(row["macs"] / 1e9), y(row["params"] / 1e6)
        radius = 4 + 26 * (row["activation_bytes"] / largest) ** 0.5  # area ~ memory
        name = escape(row["spec"])
        out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{radius:.1f}" class="bubble">'
                   f'<title>{name}: {row["params"] / 1e6:.2f} M params, '
                   f'{row["macs"] / 1e9:.3f} G MACs, '
                   f'{row["activation_bytes"] / 2**20:.1f} MB activations</title></circle>')
        out.append(f'<text x="{cx + radius + 3:.1f}" y="{cy - 3:.1f}">{name}</text>')
    out += [f'<text x="{WIDTH / 2}" y="{HEIGHT - 18}" text-anchor="middle">'
            "multiply-accumulates per image (G)</text>",
            f'<text x="16" y="{HEIGHT / 2}" text-anchor="middle" '
            f'transform="rotate(-90 16 {HEIGHT / 2})">parameters (M)</text>',
            f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" class="title">'
            "Model complexity (bubble area: activation memory per image)</text>",
            "</svg>"]
    return "\n".join(out)
