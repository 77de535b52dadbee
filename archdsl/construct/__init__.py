"""Construct the graph of a spec: evaluate params, calls, lets, repeats and choices.

Construction walks the syntax tree with the type of the tensor flowing through
it, so that every node's shape is inferred as it is created: a residual's
shortcut is the identity exactly where the body keeps the shape, a block sees
its `in_channels`, and every error is reported where the spec caused it.

Placement rules (how members of a module get their names):
- In a *positional* list (no element is named), each element is one member,
  named by its position `0, 1, …` like nn.Sequential; a nested list is a nested
  nn.Sequential.
- In a *named* list, a named element keeps its name; an unnamed op or block
  call is named after the op or block (`relu`, `relu_1`); an unnamed list,
  residual or branches places its own elements directly into the module.
- `repeat` and `if` expand in place into their copies or their chosen branch.
"""

from __future__ import annotations

from dataclasses import replace

from archdsl.construct.calls import Calls
from archdsl.construct.constructs import Constructs
from archdsl.construct.naming import explicit_names, head_names, origin, positional
from archdsl.construct.place import Frame
from archdsl.construct.recovery import CAUGHT
from archdsl.diagnostics import SpecError, error, gathered
from archdsl.graph import INPUT, Graph, Member, Scope
from archdsl.lang import items as it
from archdsl.lang.evaluate import Evaluator, suggest
from archdsl.lang.init import evaluate_rule
from archdsl.lang.load import IMPLICIT_BLOCK_NAMES, Spec
from archdsl.lang.params import Override, resolve
from archdsl.limits import DEFAULT_LIMITS, Limits
from archdsl.ops import OPS
from archdsl.passes.init_rules import check_rules
from archdsl.source import Span
from archdsl.tensor import TensorType


def construct(spec: Spec, overrides: list[Override] = (), limits: Limits = DEFAULT_LIMITS,
              input_shape: tuple[int, ...] | None = None, recover: bool = True
              ) -> tuple[Graph, dict[str, object]]:
    """The graph of `spec` with `overrides` applied (and another input shape, if
    given), and the resolved params. With `recover`, the walk goes on after an error
    and reports the file's independent errors together (archdsl.construct.recovery);
    without, it stops at the first, which is all a caller that only asks whether the
    spec is valid needs."""
    evaluator = Evaluator(OPS, spec.blocks, limits)
    params = resolve(spec, evaluator, list(overrides))
    shape = TensorType(tuple(input_shape or spec.input))
    return Builder(spec, evaluator, limits, shape, recover).run(params), params


class Builder(Calls, Constructs):
    """Builds one graph: the walk over the network's lists, placing each element."""

    def run(self, params: dict[str, object]) -> Graph:
        self.names_checked.add(id(self.spec))
        self.check_names(params)
        network = self.spec.network
        root = self.graph.add_scope(Scope((), "network", network.span, positional(network),
                                          reserved=explicit_names(network)))
        root.input = INPUT
        root.output = self.graph.output = self.fill(network, Frame(root, params), INPUT)
        if self.recovery.errors:
            raise SpecError(self.recovery.report())
        self.graph.outputs = self.outputs()
        self.graph.returns = self.returns(root)
        self.graph.init_rules = [rule for decl in self.spec.init
                                 if (rule := evaluate_rule(decl, self.evaluator, params))]
        check_rules(self.graph)
        return self.graph

    def check_names(self, params: dict[str, object]) -> None:
        """Every name the network and its blocks write, checked before anything expands,
        so that the misspellings of a file are reported together (a compiler goes on
        after an error), the first of each expression: `rlu` in a block and `nosuchop`
        in the network are two errors of one run. Names in a branch not taken are
        checked too. The walk then reports the errors of arguments that do not cascade
        (archdsl.construct.recovery)."""
        visible = dict.fromkeys(params)
        scopes: list[tuple[object, dict]] = [(self.spec.network, visible)]
        for block in self.spec.blocks.values():
            if block.spec is None:  # another spec's is checked as it expands (spec_block)
                names = [*IMPLICIT_BLOCK_NAMES, *(a.name for a in block.args),
                         *(let for let, _ in block.lets)]
                scopes.append(((block.args, tuple(v for _, v in block.lets), block.body),
                               {**visible, **dict.fromkeys(names)}))
        found = []
        for item, env in scopes:
            for expr, bound, layer in it.expressions(item):
                try:
                    self.evaluator.check_names(expr.node, env, expr.span, bound, layer)
                except SpecError as exc:
                    if any(d.code.startswith("E05") for d in exc.diagnostics):
                        raise  # a limit: stop at once
                    found += exc.diagnostics
        if found:
            raise SpecError(gathered(found, first=self.spec.path))

    def fill(self, item: it.Item, frame: Frame, x: str) -> str:
        if isinstance(item, it.Seq):
            for element in item.items:
                x = self.element(element, frame, x)
            return x
        return self.element(item, frame, x)

    def element(self, item: it.Item, frame: Frame, x: str) -> str:
        """Place one element of a list; the output's node. Where it fails, its error
        is kept and the walk goes on past it (archdsl.construct.recovery)."""
        try:
            return self.place(item, frame, x)
        except CAUGHT as exc:
            if not self.recovery.goes_on(exc):
                raise
            return x

    def place(self, item: it.Item, frame: Frame, x: str) -> str:
        if isinstance(item, it.Named):
            name = item.name if isinstance(item.name, str) else \
                self.render(item.name, frame.env, frame.scope)
            if isinstance(item.item, it.Head):
                return self.auxiliary(item.item, frame, x, name, item.span)
            return self.member(item.item, frame, x, name, item.span)
        if isinstance(item, it.Head):
            raise error("E0210", "an auxiliary head needs a name", item.span,
                        help="write `- aux1: {auxiliary: …}`")
        if isinstance(item, it.Repeat):
            return self.repeat(item, frame, x)
        if isinstance(item, it.From):
            return self.tap(item, frame, x, None, None)
        if isinstance(item, it.Cond):  # the chosen layers are spliced into the list
            chosen = self.choose(item, frame)
            return x if chosen is None else self.fill(chosen, frame, x)
        if frame.scope.positional or isinstance(item, it.Call):
            return self.member(item, frame, x, None, None)
        if isinstance(item, it.Seq):
            return self.fill(item, frame, x)
        if isinstance(item, it.Residual):
            return self.residual(item, frame, x)
        return self.branches(item, frame, x)

    def member(self, item: it.Item, frame: Frame, x: str, name: str | None,
               name_span: Span | None) -> str:
        if isinstance(item, it.Call):
            return self.call(self.layer(item, frame), frame, x, name, name_span)
        if isinstance(item, it.Cond):
            chosen = self.choose(item, frame)
            return x if chosen is None else self.member(chosen, frame, x, name, name_span)
        if isinstance(item, it.From):
            return self.tap(item, frame, x, name, name_span)
        base = {it.Seq: "seq", it.Residual: "residual", it.Branches: "branches",
                it.Repeat: "repeat", it.Named: "seq"}[type(item)]
        local = self.claim(frame.scope, name, base, name_span or item.span)
        is_positional = item.name is None if isinstance(item, it.Repeat) else positional(item)
        child = self.child_scope(frame, local, item, is_positional, origin=origin(item))
        inner = Frame(child, frame.env, frame.depth, shape_free=frame.shape_free)
        child.input = x
        if isinstance(item, it.Residual):
            child.output = self.residual(item, inner, x)
        elif isinstance(item, it.Branches):
            child.output = self.branches(item, inner, x)
        elif isinstance(item, it.Repeat):
            child.output = self.repeat(item, inner, x)
        else:
            child.output = self.fill(item, inner, x)
        return child.output

    # -- auxiliary heads and the training-mode outputs

    def auxiliary(self, item: it.Head, frame: Frame, x: str, name: str, span: Span) -> str:
        """An auxiliary head: a member computed from `x`; the main path goes on with `x`."""
        if frame.scope.path != ():
            raise error("E0203", "auxiliary heads are layers of the network's own list",
                        item.span, help="move the head to the top-level `network:` list")
        start = len(frame.scope.children)
        head = self.graph.heads[name] = self.member(item.body, frame, x, name, span)
        if head == x:
            raise error("E0203", f"auxiliary head `{name}` has no layers: it would return its "
                        "input, the network's own feature map", item.span,
                        help="give the head layers, e.g. `gap`, `flatten`, "
                             "`linear(num_classes)`; to return a feature map, use `returns:`")
        frame.scope.children[start] = replace(frame.scope.children[start], auxiliary=True)
        return x

    def outputs(self) -> tuple[str, list[tuple[str, str]]] | None:
        """What the network returns in training mode, from the spec's `outputs:`."""
        decl, heads = self.spec.outputs, self.graph.heads
        if decl is None:
            if heads:
                raise error("E0201", "a network with auxiliary heads needs `outputs:`",
                            self.graph.node(next(iter(heads.values()))).span,
                            help="add `outputs: {name: NetOutputs, fields: {logits: network, "
                                 "aux: <head name>}}`")
            return None
        declared = head_names(self.spec.network)
        fields = []
        for field, source in decl.fields:
            if source != "network" and source not in declared:
                raise error("E0301", f"`outputs` field `{field}` names `{source}`, which is "
                            "not an auxiliary head", decl.span,
                            help=suggest(source, declared | {"network"}) or
                            "give `network` or the name of an `auxiliary:` layer")
            if source != "network" and source not in heads:
                return None  # a head left out (e.g. aux_logits: false): return logits alone
            fields.append((field, self.graph.output if source == "network" else heads[source]))
        missing = set(heads) - {s for _, s in decl.fields}
        if missing:
            raise error("E0201", f"auxiliary head `{sorted(missing)[0]}` is not in `outputs`",
                        decl.span, help="add it to `outputs: fields:`")
        return decl.name, fields

    def returns(self, root: Scope) -> list[tuple[str, str]]:
        """The named outputs of `returns:`: key -> the value of a member of the network's
        list (or of the network's last layer)."""
        decl = self.spec.returns
        if decl is None:
            return []
        placed = {c.local for c in root.children if isinstance(c, Member)}
        out = []
        for key, member, span in decl.entries:
            if member != "network" and member not in placed and member in root.reserved:
                continue  # written under an `if` that left it out (aux_loss: false)
            out.append((key, self.graph.output if member == "network" else
                        self.reference(member, root, span)))
        return out
