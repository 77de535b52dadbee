"""The lecture's complexity chart: MACs against parameters, bubble area = memory."""

from __future__ import annotations

import io


def bubble_chart(rows: list[dict]) -> bytes:
    """A PNG: x = GMACs, y = parameters (M), bubble area = activation memory, labelled.

    Needs matplotlib (the `plot` extra); raises ImportError without it."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 6), dpi=120)
    largest = max(r["activation_bytes"] for r in rows) or 1
    for row in rows:
        x, y = row["macs"] / 1e9, row["params"] / 1e6
        area = 60 + 2400 * row["activation_bytes"] / largest
        axes.scatter([x], [y], s=area, alpha=0.45, edgecolors="black", linewidths=0.5)
        axes.annotate(row["spec"], (x, y), textcoords="offset points", xytext=(6, 6),
                      fontsize=8)
    axes.set_xlabel("multiply-accumulates per image (G)")
    axes.set_ylabel("parameters (M)")
    axes.set_title("Model complexity (bubble area: activation memory per image)")
    axes.grid(True, alpha=0.3)
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()
