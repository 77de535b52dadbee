"""Instances of one block that differ by a residual's skip share one class.

Where a residual's `when:` is false, its instance lacks the steps of the skip (the
merge onto the input, and a drop_path before it): the body's output flows on. Such
an instance is another instance's structure with steps left out that each pass
their first input on, so both can be one class whose forward runs those steps
under a flag, `if self.use_res_connect: out += x`, as torchvision's
InvertedResidual does (torchvision/models/mobilenetv2.py).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from archdsl.emit.instances import Instance, Step


def skipped_steps(full: Instance, part: Instance) -> list[int] | None:
    """The positions of `full`'s steps that `part` lacks, if `part` is `full` with some
    steps left out that pass their first input on; else None."""
    if full.sequential_base or part.sequential_base or len(part.steps) >= len(full.steps):
        return None
    reads = Counter(v for step in full.steps for v in step.inputs)
    reads[full.scope.output] += 1
    same = {full.scope.input: part.scope.input}  # a value of `full` -> the one of `part`
    skipped: list[int] = []
    j = 0
    for i, step in enumerate(full.steps):
        other = part.steps[j] if j < len(part.steps) else None
        if other is not None and _matches(step, other, same):
            same[step.output] = other.output
            j += 1
        elif _passes_on(step, reads) and step.inputs[0] in same:
            skipped.append(i)
            same[step.output] = same[step.inputs[0]]
        else:
            return None
    left_out = {full.steps[i].local for i in skipped}
    if j < len(part.steps) or same.get(full.scope.output) != part.scope.output or \
            list(part.members) != [m for m in full.members if m not in left_out]:
        return None
    return skipped


def _matches(step: Step, other: Step, same: dict[str, str]) -> bool:
    return (step.kind, step.local, step.auxiliary) == (other.kind, other.local,
                                                       other.auxiliary) and \
        [same.get(v) for v in step.inputs] == other.inputs


def _passes_on(step: Step, reads: Counter) -> bool:
    """Whether leaving `step` out means its first input flows on in its place: it keeps
    that input's shape, is its only reader, and is a functional op (a merge) or an op
    member with one input (drop_path)."""
    if step.auxiliary or step.kind not in ("call", "expr") or \
            step.out_type != step.in_types[0] or reads[step.inputs[0]] != 1:
        return False
    return step.kind == "expr" or (step.node is not None and len(step.inputs) == 1)


def pad(part: Instance, full: Instance, skipped: list[int]) -> None:
    """Give `part` the steps and members of `full`: the left-out steps marked `skipped`
    (each passing its first input on), the left-out members absent (None)."""
    same = {full.scope.input: part.scope.input}
    types = {part.scope.input: part.in_type} | {s.output: s.out_type for s in part.steps}
    own = iter(part.steps)
    steps = []
    for i, step in enumerate(full.steps):
        if i in skipped:
            inputs = [same[v] for v in step.inputs]
            steps.append(replace(step, node=None, inputs=inputs, output=inputs[0],
                                 out_type=types[inputs[0]],
                                 in_types=[types[v] for v in inputs], skipped=True))
            same[step.output] = inputs[0]
        else:
            steps.append(next(own))
            same[step.output] = steps[-1].output
    part.steps = steps
    part.members = {local: part.members.get(local) for local in full.members}
