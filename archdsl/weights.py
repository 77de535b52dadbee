"""Weights across variants: which tensors of one network fit another.

`state_shapes` reads a network's state_dict (names and shapes, parameters and
buffers) from its graph alone; `compare` sorts two such states into unchanged,
reshaped, new and gone tensors; `transfer` loads into a module every tensor of
a state_dict that fits and reports the rest in the same form. A tensor whose
shape differs is never loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archdsl.graph import Graph


@dataclass
class WeightReport:
    """How the tensors of A (a state_dict) map onto B (a network)."""

    unchanged: list[str] = field(default_factory=list)  # same name and shape: loadable
    reshaped: list[tuple[str, tuple, tuple]] = field(default_factory=list)  # name, A, B
    new: list[str] = field(default_factory=list)  # in B only
    gone: list[str] = field(default_factory=list)  # in A only

    def to_json(self) -> dict:
        return {"unchanged": self.unchanged,
                "reshaped": [{"name": n, "from": list(a), "to": list(b)}
                             for n, a, b in self.reshaped],
                "new": self.new, "gone": self.gone}

    def render(self) -> str:
        lines = [f"weights: {len(self.unchanged)} tensors load unchanged, "
                 f"{len(self.reshaped)} change shape, {len(self.new)} new, "
                 f"{len(self.gone)} gone"]
        lines += [f"  reshaped  {n}: {tuple(a)} -> {tuple(b)}" for n, a, b in self.reshaped]
        lines += [f"  new       {n}" for n in self.new]
        lines += [f"  gone      {n}" for n in self.gone]
        return "\n".join(lines)


def state_shapes(graph: Graph) -> dict[str, tuple[int, ...]]:
    """The state_dict of the network built from `graph`: key -> shape, in order."""
    out = {}
    for node in graph.ops():
        inputs = [graph.shape(s) for s in graph.inputs(node.name)]
        for name, slot in node.op.tensors(inputs).items():
            out[f"{node.name}.{name}" if name else node.name] = tuple(slot.shape)
    return out


def compare(a: dict[str, tuple], b: dict[str, tuple]) -> WeightReport:
    """Sort the tensors of state A against those of state B (both name -> shape)."""
    report = WeightReport()
    for name, shape in a.items():
        if name not in b:
            report.gone.append(name)
        elif tuple(b[name]) == tuple(shape):
            report.unchanged.append(name)
        else:
            report.reshaped.append((name, tuple(shape), tuple(b[name])))
    report.new = [name for name in b if name not in a]
    return report


def transfer(state_dict: dict, model) -> WeightReport:
    """Load into `model` every tensor of `state_dict` with the same name and shape.

    Returns what was loaded (`unchanged`) and what was not, and why; a tensor whose
    shape differs is reported, never loaded."""
    own = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    report = compare({name: tuple(t.shape) for name, t in state_dict.items()}, own)
    fitting = {name: state_dict[name] for name in report.unchanged}
    model.load_state_dict(fitting, strict=False)
    return report
