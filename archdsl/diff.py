"""What changed between two variants of a network: per module, in total, in weights."""

from __future__ import annotations

from archdsl.weights import compare, state_shapes

FIGURES = ("shape", "params", "macs", "activation_bytes", "receptive_field")


def diff(a, b, depth: int = 1) -> dict:
    """Architectures `a` and `b` compared module by module (`depth` levels down)."""
    rows_a = {r["name"]: r for r in a.summary(depth=depth)["nodes"]}
    rows_b = {r["name"]: r for r in b.summary(depth=depth)["nodes"]}
    names = list(rows_a) + [n for n in rows_b if n not in rows_a]
    modules = []
    for name in names:
        ra, rb = rows_a.get(name), rows_b.get(name)
        if ra is None or rb is None:
            status = "added" if ra is None else "removed"
        else:
            status = "same" if all(ra[f] == rb[f] for f in FIGURES) else "changed"
        modules.append({"name": name, "status": status,
                        "a": _figures(ra), "b": _figures(rb)})
    totals_a, totals_b = a.summary()["totals"], b.summary()["totals"]
    totals = {key: {"a": totals_a[key], "b": totals_b[key],
                    "delta": totals_b[key] - totals_a[key]}
              for key in ("params", "macs", "activation_bytes")}
    weights = compare(state_shapes(a.graph), state_shapes(b.graph))
    return {"a": a.name, "b": b.name, "modules": modules, "totals": totals,
            "weights": weights.to_json()}


def _figures(row: dict | None) -> dict | None:
    return None if row is None else {f: row[f] for f in FIGURES}


def _number(value: int) -> str:
    return f"{value:,}"


def _change(a, b, show=_number) -> str:
    if a is None:
        return f"+ {show(b)}"
    if b is None:
        return f"- {show(a)}"
    if a == b:
        return show(a)
    if isinstance(a, int) and isinstance(b, int):
        return f"{show(a)} -> {show(b)} ({b - a:+,})"
    return f"{show(a)} -> {show(b)}"


def render(result: dict, report_lines: str) -> str:
    """The diff as a table of changed modules, the totals, and the weight report."""
    header = ("module", "output", "params", "MACs", "activations (B)", "RF")
    rows = [header]
    for m in result["modules"]:
        if m["status"] == "same":
            continue
        a, b = m["a"] or {}, m["b"] or {}
        rows.append((
            f"{m['name']} ({m['status']})",
            _change(_shape(a), _shape(b), str),
            _change(a.get("params"), b.get("params")),
            _change(a.get("macs"), b.get("macs")),
            _change(a.get("activation_bytes"), b.get("activation_bytes")),
            _change(_shape(a, "receptive_field"), _shape(b, "receptive_field"), str),
        ))
    out = [f"{result['a']} -> {result['b']}"]
    if len(rows) == 1:
        out.append("no module changed")
    else:
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    same = sum(m["status"] == "same" for m in result["modules"])
    out.append(f"({same} modules unchanged)")
    t = result["totals"]
    out.append("totals: " + "; ".join(
        f"{label} {t[key]['a']:,} -> {t[key]['b']:,} ({t[key]['delta']:+,})"
        for key, label in (("params", "params"), ("macs", "MACs"),
                           ("activation_bytes", "activation bytes"))))
    out.append(report_lines)
    return "\n".join(out)


def _shape(figures: dict, key: str = "shape"):
    value = figures.get(key)
    return None if value is None else "(" + ", ".join(map(str, value)) + ")"
