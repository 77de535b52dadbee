"""What a network costs, from its graph alone: per node and in total.

Conventions (also in the README and `archdsl summary --help`):
- params: exact, `sum(p.numel() for p in model.parameters())`; all trainable.
- MACs: multiply-accumulates of conv and linear layers only — what torchvision
  documents as "GFLOPS" and fvcore reports as its total. Every other op's work
  (batch norm, pooling, activations, merges) is `other_flops`, never mixed in.
- activation memory: bytes of every node's output (float32), per sample.
- MB: 2^20 bytes, torchsummary's unit, in every row, total and `*_mb` field, so
  the lecture's tables (VGG-19's 242.32 MB at 227x227) read the same.
- MACs and memory are those of an inference pass: auxiliary heads (training
  only) are listed per node but not totalled; their parameters are counted.
- forward/backward pass size: torchsummary's estimate — twice (values and
  gradients) the float32 outputs of every module except nn.Sequential
  containers and the network itself — so the lecture's tables can be checked.
- receptive field and effective stride: per spatial dimension, in input pixels.
"""

from __future__ import annotations

import networkx as nx

from archdsl.emit.torch_ops import rendering
from archdsl.graph import INPUT, Graph
from archdsl.passes.forms import CLASS, forms

MB = 2**20  # torchsummary's MB, used for every memory figure
BYTES = 4  # float32

CONVENTIONS = (
    "params: exact (sum of p.numel() over the built module's parameters). "
    "MACs: multiply-accumulates of conv and linear layers only (torchvision's "
    "documented GFLOPS, fvcore's total); the work of every other op (batch norm, "
    "pooling, activations, merges) is counted apart as other ops. Activation memory: "
    "bytes of every node's float32 output. Forward/backward pass size: torchsummary's "
    "estimate, 2 x the outputs of every module except nn.Sequential containers and the "
    "network itself. MB: 2^20 bytes (torchsummary's), in rows, totals and the JSON's *_mb "
    "fields; activation_bytes is in bytes. Receptive field and stride: input pixels per "
    "spatial dimension. MACs and memory are an inference pass's: auxiliary heads (training "
    "only) are listed but not totalled. Memory and MACs scale with --batch; params do not."
)


def _module_outputs(graph: Graph) -> list[str]:
    """The nodes whose values torchsummary would see as some module's output."""
    form = forms(graph)
    out = []
    for node in graph.ops():
        scope = graph.scope(node.scope)
        render = rendering(node.op)
        functional = render.functional and form[node.scope] == CLASS and not scope.positional
        if render.has_module and not functional:
            out.append(node.name)
    for path, scope in graph.scopes.items():
        if path and form[path] == CLASS and not scope.positional:  # a generated nn.Module
            out.append(scope.output)
    return out


def _in_heads(graph: Graph) -> set[str]:
    """Nodes of auxiliary heads, which run in training mode only."""
    return {n.name for n in graph.ops()
            if n.scope[:1] and n.scope[0] in graph.heads or n.name in graph.heads}


def summarize(graph: Graph, batch: int = 1, depth: int | None = None) -> dict:
    """Totals and a row per node (or per module down to `depth`), as plain data.

    MACs and memory are an inference pass's: auxiliary heads (training only) are
    listed but not totalled. Their parameters are counted."""
    nodes = list(graph.ops())
    heads = _in_heads(graph)
    inference = [n for n in nodes if n.name not in heads]
    params = sum(n.cost.params for n in nodes)
    macs = sum(n.cost.macs for n in inference)
    other = sum(n.cost.other_flops for n in inference)
    activations = sum(n.cost.activation_bytes for n in inference)
    module_outputs = sum(graph.shape(v).numel for v in _module_outputs(graph)
                         if v not in heads)
    input_mb = graph.shape(INPUT).numel * BYTES * batch / MB
    forward_backward_mb = 2 * module_outputs * BYTES * batch / MB
    params_mb = params * BYTES / MB
    totals = {
        "params": params,
        "trainable_params": params,
        "macs": macs * batch,
        "other_flops": other * batch,
        "activation_bytes": activations * batch,
        "input_mb": round(input_mb, 2),
        "forward_backward_mb": round(forward_backward_mb, 2),
        "params_mb": round(params_mb, 2),
        "total_mb": round(input_mb + forward_backward_mb + params_mb, 2),
    }
    rows = [_row(graph, n.name, n.op.describe(), [n], batch) for n in nodes]
    if depth is not None:
        rows = _grouped(graph, nodes, depth, batch)
    return {"name": graph.name, "input": list(graph.shape(INPUT).dims), "batch": batch,
            "totals": totals, "outputs": _per_output(graph, batch), "nodes": rows}


def _per_output(graph: Graph, batch: int) -> list[dict]:
    """For a network with several named outputs (`returns:`), what each one alone
    costs: the parameters and MACs of the layers it depends on."""
    if len(graph.returns) < 2:
        return []
    out = []
    for key, value in graph.returns:
        needed = nx.ancestors(graph.dag, value) | {value}
        nodes = [graph.node(n) for n in needed if n != INPUT]
        out.append({"output": key, "shape": list(graph.shape(value).dims),
                    "params": sum(n.cost.params for n in nodes),
                    "macs": sum(n.cost.macs for n in nodes) * batch})
    return out


def _row(graph: Graph, name: str, op: str, members: list, batch: int) -> dict:
    last = members[-1]
    return {
        "name": name,
        "op": op,
        "shape": list(last.shape.dims),
        "params": sum(n.cost.params for n in members),
        "macs": sum(n.cost.macs for n in members) * batch,
        "other_flops": sum(n.cost.other_flops for n in members) * batch,
        "activation_bytes": sum(n.cost.activation_bytes for n in members) * batch,
        "receptive_field": list(last.field.size),
        "stride": list(last.field.stride),
    }


def _grouped(graph: Graph, nodes: list, depth: int, batch: int) -> list[dict]:
    """Rows for the modules `depth` levels down: each sums the nodes inside it."""
    groups: dict[str, list] = {}
    for node in nodes:
        path = node.scope[:depth]
        key = ".".join(path) if len(node.scope) >= depth else node.name
        groups.setdefault(key, []).append(node)
    rows = []
    for key, members in groups.items():
        if len(members) == 1 and members[0].name == key:
            rows.append(_row(graph, key, members[0].op.describe(), members, batch))
            continue
        scope = graph.scopes[tuple(key.split("."))]
        kind = scope.block or ("stage" if scope.origin == "stage" else "module")
        out = graph.node(scope.output)
        row = _row(graph, key, kind, members, batch)
        row["shape"], row["receptive_field"] = list(out.shape.dims), list(out.field.size)
        row["stride"] = list(out.field.stride)
        rows.append(row)
    return rows


# ------------------------------------------------------------------------ text


def _si(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{unit}"
    return str(int(value))


def _dims(values: list[int]) -> str:
    return "x".join(str(v) for v in values) if values else "-"


def _mb(nbytes: int) -> str:
    if 0 < nbytes < MB / 200:
        return "<0.01"
    return f"{nbytes / MB:.2f}"


def render(summary: dict) -> str:
    """The summary as a table and totals, like torchsummary's, with more columns."""
    header = ("layer", "op", "output", "params", "MACs", "other", "act (MB)", "RF", "stride")
    rows = [header]
    for r in summary["nodes"]:
        rows.append((r["name"], r["op"], "(" + ", ".join(map(str, r["shape"])) + ")",
                     f"{r['params']:,}", _si(r["macs"]), _si(r["other_flops"]),
                     _mb(r["activation_bytes"]), _dims(r["receptive_field"]),
                     _dims(r["stride"])))
    widths = [min(max(len(str(row[i])) for row in rows), 40) for i in range(len(header))]
    right = {3, 4, 5, 6, 7, 8}

    def line(row):
        cells = [str(c)[:40].rjust(w) if i in right else str(c)[:40].ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()

    rule = "-" * len(line(header))
    t = summary["totals"]
    out = [rule, line(header), rule] + [line(r) for r in rows[1:]] + [rule]
    out += [
        f"Total params: {t['params']:,}",
        f"Trainable params: {t['trainable_params']:,}",
        f"MACs (conv + linear): {t['macs']:,} ({t['macs'] / 1e9:.3f} G)",
        f"Other ops (bn, pooling, activations, merges): {t['other_flops']:,}",
        f"Activation memory (MB): {_mb(t['activation_bytes'])}",
    ]
    out += [f"  output {o['output']!r} {tuple(o['shape'])}: {o['params']:,} params, "
            f"{o['macs'] / 1e9:.3f} G MACs (the layers it depends on)"
            for o in summary.get("outputs", [])]
    out += [
        rule,
        f"Input size (MB): {t['input_mb']:.2f}",
        f"Forward/backward pass size (MB): {t['forward_backward_mb']:.2f}",
        f"Params size (MB): {t['params_mb']:.2f}",
        f"Estimated Total Size (MB): {t['total_mb']:.2f}",
        rule,
        f"batch {summary['batch']}, input {tuple(summary['input'])}; MB = 2^20 bytes; "
        "MACs count conv and linear only (see `archdsl summary --help`)",
    ]
    return "\n".join(out)
