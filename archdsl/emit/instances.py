"""From the graph's scopes to what the generated code is made of.

Each scope becomes a class or a sequence (passes/forms.py). A class scope is
described as an `Instance`: its members' constructors (code trees where another
class's instance is a `Ref`) and its forward `Step`s.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from archdsl.emit import code
from archdsl.emit.torch_ops import rendering
from archdsl.graph import Ghost, Graph, Member, Scope
from archdsl.passes.forms import CLASS, SEQUENTIAL, forms, is_chain
from archdsl.tensor import TensorType


@dataclass
class Step:
    """One line (or one optional call) of a forward method."""

    kind: str  # "call": self.<local>(x); "expr": a functional op; "optional": maybe-absent member
    local: str | None
    node: str | None  # the op node of a call/expr step
    inputs: list[str]  # value ids: node ids, or "ghost:<local>"
    output: str
    hint: str | None
    out_type: TensorType
    in_types: list[TensorType]
    auxiliary: bool = False  # an auxiliary head: run in training mode only
    inplace: bool = False  # a merge that may accumulate into its first input (`out += x`)
    # The forward expression of an "expr" step over placeholder inputs: instances of one
    # class must agree on it, literals included (a class's forward is written once).
    form: str = ""
    # A member that returns values of its own members too (`from: backbone.layer3`):
    # those values, assigned after `output` (`out, layer3 = self.backbone(x)`).
    extra: tuple[str, ...] = ()
    extra_hints: tuple[str, ...] = ()  # their variable names: the members' names
    # Absent from this instance, which another of its class has: its first input flows on
    # (a residual's skip where its `when:` is false). Set by emit.generalize.
    skipped: bool = False


@dataclass
class Instance:
    """One class-form scope: member constructors and forward steps."""

    scope: Scope
    members: dict[str, object]  # local -> constructor code (None: a ghost)
    steps: list[Step]
    in_type: TensorType
    out_type: TensorType
    sequential_base: bool  # the class is an nn.Sequential subclass (positional block)
    mentions: dict[str, frozenset[str]] = field(default_factory=dict)  # per member
    param_values: dict[str, object] = field(default_factory=dict)


class Builder:
    """Builds constructors and instances for every scope of one graph."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.forms = forms(graph)

    # -- values and their uses inside one scope

    def _member_inputs(self, scope: Scope, child: Member) -> list[str]:
        if child.node is not None:
            return self.graph.inputs(child.node)
        sub = self.graph.scope(child.scope)
        return [sub.input] + [value for value, _ in sub.imports]

    def _member_output(self, child: Member) -> str:
        return child.node if child.node is not None else self.graph.scope(child.scope).output

    def uses(self, scope: Scope) -> Counter:
        """How many times each value is read inside `scope` (its output counts once)."""
        uses: Counter = Counter()
        for child in scope.children:
            if isinstance(child, Ghost):
                uses[child.input] += 1
            else:
                for value in self._member_inputs(scope, child):
                    uses[value] += 1
        ghosts = [c for c in scope.children if isinstance(c, Ghost)]
        for ghost in ghosts:  # the consumer reads the ghost, not its input
            uses[ghost.input] -= 1
        uses[scope.output] += 1
        for value in scope.exports:  # returned too, read by layers outside
            uses[value] += 1
        return uses

    def _inplace(self, scope: Scope, value: str, uses: Counter) -> bool:
        """May a member overwrite `value`? Only if it is the sole reader of a fresh value:
        not the scope's input, not kept for a backward pass, not a view, and, where
        `value` may be its input (identity, dropout), the same holds for that input."""
        while True:
            if value == scope.input or uses[value] != 1:
                return False
            render = rendering(self.graph.node(value).op)
            if render.saves_output or render.returns_view:
                return False
            if not render.aliases_input:
                return True
            (value,) = self.graph.inputs(value)

    # -- constructors

    def constructor(self, path: tuple[str, ...]) -> object:
        """The code that constructs scope `path` as a member of its parent."""
        form = self.forms[path]
        if form == CLASS:
            return code.Ref(path)
        scope = self.graph.scope(path)
        ctors = self.member_constructors(scope)
        if form == SEQUENTIAL:
            return code.Call("nn.Sequential", tuple(ctors.values()))
        pairs = tuple(code.TupleOf((local, ctor)) for local, ctor in ctors.items())
        return code.Call("nn.Sequential", (code.Call("OrderedDict", (code.ListOf(pairs),)),))

    def member_constructors(self, scope: Scope) -> dict[str, object]:
        """local -> constructor for every module member (None for a ghost)."""
        uses = self.uses(scope)
        out: dict[str, object] = {}
        for child in scope.children:
            if isinstance(child, Ghost):
                out[child.local] = None
            elif child.scope is not None:
                out[child.local] = self.constructor(child.scope)
            else:
                node = self.graph.node(child.node)
                render = rendering(node.op)
                sources = self.graph.inputs(node.name)
                if render.functional and self.forms[scope.path] == CLASS and \
                        (not scope.positional or len(sources) > 1):
                    continue  # written in the class's forward
                types = [self.graph.shape(s) for s in sources]
                inplace = render.can_run_inplace and self._inplace(scope, sources[0], uses)
                out[child.local] = render.module(node.op, types, node.shape, inplace)
        return out

    # -- class instances

    def instance(self, scope: Scope) -> Instance:
        members = self.member_constructors(scope)
        # A positional chain is nn.Sequential's forward; anything else has its own.
        own_forward = not (scope.positional and is_chain(self.graph, scope)) or \
            bool(scope.exports or scope.imports)
        steps = self.steps(scope, members) if own_forward else []
        mentions = {}
        for child in scope.children:
            if isinstance(child, Member) and child.node is not None:
                call = self.graph.node(child.node).call
                mentions[child.local] = call.mentions if call else frozenset()
            elif isinstance(child, Member):
                mentions[child.local] = self._mentions_below(child.scope)
        return Instance(scope, members, steps, self.graph.shape(scope.input),
                        self.graph.shape(scope.output), sequential_base=scope.positional,
                        mentions=mentions)

    def _mentions_below(self, path: tuple[str, ...]) -> frozenset[str]:
        """Names mentioned by the calls that built scope `path` and its inline members."""
        scope = self.graph.scope(path)
        found = set(scope.mentions)
        if scope.block is None:
            for child in scope.children:
                if isinstance(child, Member) and child.node is not None:
                    call = self.graph.node(child.node).call
                    found |= call.mentions if call else set()
                elif isinstance(child, Member):
                    found |= self._mentions_below(child.scope)
        return frozenset(found)

    def steps(self, scope: Scope, members: dict[str, object]) -> list[Step]:
        redirect = {(g.consumer, g.port): f"ghost:{g.local}" for g in scope.children
                    if isinstance(g, Ghost)}
        uses = self.uses(scope)
        steps = []
        for child in scope.children:
            if isinstance(child, Ghost):
                t = self.graph.shape(child.input)
                steps.append(Step("optional", child.local, None, [child.input],
                                  f"ghost:{child.local}", "identity", t, [t]))
                continue
            inputs = self._member_inputs(scope, child)
            if child.node is not None:
                inputs = [redirect.get((child.node, port), v) for port, v in enumerate(inputs)]
            output = self._member_output(child)
            kind = "call" if child.local in members else "expr"
            types = [self.graph.shape(v) for v in self._member_inputs(scope, child)]
            accumulate = kind == "expr" and \
                rendering(self.graph.node(child.node).op).accumulates and \
                len(inputs) == 2 and self._inplace(scope, inputs[0], uses)
            form = ""
            if kind == "expr":
                op = self.graph.node(child.node).op
                placeholders = [code.Var(f"_{i}") for i in range(len(types))]
                form = code.render(rendering(op).expression(op, placeholders, types,
                                                            self.graph.shape(output)))
            extra = tuple(self.graph.scope(child.scope).exports) if child.scope else ()
            hints = tuple(self._member_named(child.scope, v) for v in extra)
            hint = child.hint
            if extra and hint is None:  # several values come back: each by its name
                hint = self._member_named(child.scope, output)
            steps.append(Step(kind, child.local, child.node, inputs, output, hint,
                              self.graph.shape(output), types, child.auxiliary, accumulate,
                              form, extra, hints))
        return steps

    def _member_named(self, path: tuple[str, ...], value: str) -> str:
        """A variable name for `value`, a member's output inside scope `path`: the
        member's name (`layer3`), or its path below `path` (`backbone_4`,
        `layer_blocks_0`) where that is not a name."""
        for child in self.graph.scope(path).children:
            if not isinstance(child, Member):
                continue
            if self._member_output(child) == value:
                name = child.local if child.local.isidentifier() else \
                    f"{path[-1]}_{child.local}"
                sub = self.graph.scopes.get(child.scope) if child.scope else None
                if sub is not None and sub.positional and sub.exports:  # its last member's
                    name = f"{name}_{sub.children[-1].local}"
                return name
            if child.scope is not None and value in self.graph.scope(child.scope).exports:
                inner = self._member_named(child.scope, value)
                return inner if inner.startswith(f"{child.local}_") else f"{child.local}_{inner}"
        return "out"

    def class_scopes(self) -> list[Scope]:
        """Class-form scopes, children before parents (post-order)."""
        order: list[Scope] = []

        def visit(path):
            scope = self.graph.scope(path)
            for child in scope.children:
                if isinstance(child, Member) and child.scope is not None:
                    visit(child.scope)
            if self.forms[path] == CLASS:
                order.append(scope)

        visit(())
        return order
