"""Expand a spec into the graph: evaluate params, calls, lets, repeats and choices.

Expansion walks the syntax tree with the type of the tensor flowing through
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

from collections.abc import Mapping
from dataclasses import dataclass, replace

from archdsl.diagnostics import Label, error
from archdsl.graph import INPUT, Ghost, Graph, Member, Node, Scope, qualify
from archdsl.lang import expr as ast
from archdsl.lang import items as it
from archdsl.lang.evaluate import Evaluator, LayerCall, a_type, suggest, type_name, with_article
from archdsl.lang.init import evaluate_rule
from archdsl.lang.load import IMPLICIT_BLOCK_NAMES, BlockDef, Spec
from archdsl.lang.params import Override, resolve
from archdsl.limits import DEFAULT_LIMITS, Limits
from archdsl.names import RESERVED, is_positional, layer_name_problem
from archdsl.ops import OPS
from archdsl.passes.shapes import infer_node
from archdsl.tensor import TensorType


@dataclass(frozen=True)
class Frame:
    """Where placement happens: the module being filled and the names in scope."""

    scope: Scope
    env: Mapping[str, object]
    depth: int = 0
    hint: str = "out"  # the variable name for merges placed here (a branch's name inside it)


def expand(spec: Spec, overrides: list[Override] = (), limits: Limits = DEFAULT_LIMITS,
           input_shape: tuple[int, ...] | None = None) -> tuple[Graph, dict[str, object]]:
    """The graph of `spec` with `overrides` applied (and another input shape, if
    given), and the resolved params."""
    evaluator = Evaluator(OPS, spec.blocks, limits)
    params = resolve(spec, evaluator, list(overrides))
    shape = TensorType(tuple(input_shape or spec.input))
    return _Expander(spec, evaluator, limits, shape).run(params), params


class _Expander:
    def __init__(self, spec: Spec, evaluator: Evaluator, limits: Limits, shape: TensorType):
        self.spec = spec
        self.evaluator = evaluator
        self.limits = limits
        self.graph = Graph(spec.name, shape, limits)

    def run(self, params: dict[str, object]) -> Graph:
        network = self.spec.network
        root = self.graph.add_scope(Scope((), "network", network.span, _positional(network),
                                          reserved=_explicit_names(network)))
        root.input = INPUT
        root.output = self.graph.output = self.fill(network, Frame(root, params), INPUT)
        self.graph.outputs = self.outputs()
        self.graph.init_rules = [rule for decl in self.spec.init
                                 if (rule := evaluate_rule(decl, self.evaluator, params))]
        return self.graph

    def auxiliary(self, item: it.Head, frame: Frame, x: str, name: str, span) -> str:
        """An auxiliary head: a member computed from `x`; the main path goes on with `x`."""
        if frame.scope.path != ():
            raise error("E0203", "auxiliary heads are layers of the network's own list",
                        item.span, help="move the head to the top-level `network:` list")
        start = len(frame.scope.children)
        self.graph.heads[name] = self.member(item.body, frame, x, name, span)
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
        declared = _head_names(self.spec.network)
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

    # ------------------------------------------------------------------ placement

    def fill(self, item: it.Item, frame: Frame, x: str) -> str:
        """Place `item`'s elements into `frame.scope`, in order."""
        if isinstance(item, it.Seq):
            for element in item.items:
                x = self.element(element, frame, x)
            return x
        return self.element(item, frame, x)

    def element(self, item: it.Item, frame: Frame, x: str) -> str:
        """Place one element of a list."""
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

    def member(self, item: it.Item, frame: Frame, x: str, name: str | None, name_span) -> str:
        """Place `item` as one member of `frame.scope`, named `name` (or a fresh name)."""
        if isinstance(item, it.Call):
            return self.call(self.layer(item, frame), frame, x, name, name_span)
        if isinstance(item, it.Cond):
            chosen = self.choose(item, frame)
            return x if chosen is None else self.member(chosen, frame, x, name, name_span)
        base = {it.Seq: "seq", it.Residual: "residual", it.Branches: "branches",
                it.Repeat: "repeat", it.Named: "seq"}[type(item)]
        local = self.claim(frame.scope, name, base, name_span or item.span)
        if isinstance(item, it.Repeat):
            positional = item.name is None
        else:
            positional = _positional(item)
        child = self.child_scope(frame, local, item, positional, origin=_origin(item))
        inner = Frame(child, frame.env, frame.depth)
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

    def child_scope(self, frame: Frame, local: str, item: it.Item, positional: bool,
                    origin: str, block: BlockDef | None = None,
                    bindings: dict | None = None) -> Scope:
        scope = Scope(frame.scope.path + (local,), origin, item.span if item else None,
                      positional, block=block.name if block else None,
                      bindings=bindings or {},
                      reserved=_explicit_names(item) if item else set())
        frame.scope.children.append(Member(local, scope=scope.path))
        return self.graph.add_scope(scope)

    def claim(self, scope: Scope, name: str | None, base: str, span) -> str:
        """`name`, checked to be free in `scope`, or a fresh name from `base`."""
        if name is None:
            return scope.allocate(base)
        if name in scope.member_names():
            first = self.graph.scopes.get(scope.path + (name,))
            first_span = first.span if first else self._node_span(qualify(scope.path, name))
            raise error("E0306", f"`{name}` names two members of "
                        f"`{scope.name or self.spec.name}`", span,
                        labels=(Label(first_span, "first used here"),) if first_span else (),
                        help="give each layer of a module its own name")
        return name

    def _node_span(self, name: str):
        return self.graph.node(name).span if name in self.graph.dag else None

    # ------------------------------------------------------------------ calls

    def layer(self, item: it.Call, frame: Frame) -> LayerCall:
        value = self.evaluator.eval(item.expr.node, frame.env, item.expr.span)
        if isinstance(value, LayerCall):
            for name, patch in item.patches:
                value = value.with_keyword(
                    name, self.evaluator.eval(patch.node, frame.env, patch.span), patch.where)
        if not isinstance(value, LayerCall):
            raise error("E0307", f"`{_text(item)}` is {a_type(value)}, not a layer",
                        item.expr.where,
                        help="a layer is an op or block, called or named: `conv(64, 3)`, "
                             "`relu`, `bottleneck(planes=64)`")
        return value

    def call(self, call: LayerCall, frame: Frame, x: str, name: str | None, name_span) -> str:
        if call.kind == "op":
            return self.op(call, frame, x, name, name_span)
        if call.kind == "block":
            return self.block(self.spec.blocks[call.name], call, frame, x, name, name_span)
        return self.stage(call, frame, x, name, name_span)

    def op(self, call: LayerCall, frame: Frame, x: str, name, name_span, hint=None) -> str:
        op = OPS[call.name].bind(call)
        local = self.claim(frame.scope, name, call.name, name_span or call.span)
        node = Node(qualify(frame.scope.path, local), op, call.span, frame.scope.path, local,
                    call=call)
        self.graph.add_node(node, [x])
        frame.scope.children.append(Member(local, node=node.name, hint=hint))
        infer_node(self.graph, node.name)
        return node.name

    def block(self, block: BlockDef, call: LayerCall, frame: Frame, x: str, name, name_span
              ) -> str:
        if frame.depth >= self.limits.max_block_depth:
            raise error("E0501", f"blocks nest deeper than {self.limits.max_block_depth} "
                        f"levels (calling `{block.name}`)", call.span,
                        labels=(Label(block.span, "defined here"),),
                        help="a recursive block needs a base case (`if:`) that is reached; "
                             "or raise Limits.max_block_depth")
        local = self.claim(frame.scope, name, block.name, name_span or call.span)
        in_type = self.graph.shape(x)
        env = dict(self._params(frame))
        env.update(in_channels=in_type.channels, in_shape=in_type.dims)
        args = self.bind_args(block, call, env)
        env.update(args)
        lets = {}
        for let, value in block.lets:
            lets[let] = env[let] = self.evaluator.eval(value.node, env, value.span)
        scope = self.child_scope(frame, local, block.body, _positional(block.body),
                                 origin=f"block:{block.name}", block=block,
                                 bindings={**args, **lets})
        scope.span = call.span
        scope.mentions = call.mentions
        scope.doc = block.doc
        scope.defined_at = block.span
        scope.arg_defaults = {a.name: self.evaluator.eval(a.default.node, env, a.default.span)
                              for a in block.args if a.default is not None}
        scope.input = x
        try:
            scope.output = self.fill(block.body, Frame(scope, env, frame.depth + 1), x)
        except RecursionError:  # nested lists inside nested blocks: Python's stack runs out
            raise error("E0501", f"blocks and the lists inside them nest too deeply to "
                        f"expand ({frame.depth + 1} blocks deep at `{block.name}`)", call.span,
                        labels=(Label(block.span, "defined here"),),
                        help="flatten the lists in the block, or give the recursion an "
                             "earlier base case") from None
        return scope.output

    def _params(self, frame: Frame) -> Mapping[str, object]:
        """Only the spec's params are visible inside a block (lexical scope)."""
        names = {n for n, _ in self.spec.params}
        return {k: v for k, v in frame.env.items() if k in names}

    def bind_args(self, block: BlockDef, call: LayerCall, env: Mapping) -> dict[str, object]:
        declared = [a.name for a in block.args]
        if len(call.args) > len(declared):
            raise error("E0303", f"`{block.name}` takes {len(declared)} argument"
                        f"{'s' if len(declared) != 1 else ''}, got {len(call.args)} positional",
                        call.arg_spans[len(declared)], labels=(Label(block.span, "defined here"),))
        given = dict(zip(declared, call.args))
        spans = {d: call.arg_spans[i] for i, d in enumerate(declared[:len(call.args)])}
        for (key, value), span in zip(call.kwargs, call.kw_spans):
            if key not in declared:
                implicit = key in IMPLICIT_BLOCK_NAMES
                raise error("E0303", f"`{block.name}` has no argument `{key}`", span,
                            labels=(Label(block.span, "defined here"),),
                            help=f"`{key}` is bound to the block's input" if implicit else
                            suggest(key, declared) or
                            f"its arguments are: {', '.join(declared) or 'none'}")
            if key in given and key not in call.patched:
                raise error("E0303", f"argument `{key}` of `{block.name}` given twice", span)
            given[key], spans[key] = value, span
        out = {}
        for arg in block.args:
            if arg.name in given:
                value = given[arg.name]
                if arg.type is not None:
                    value = self._check_arg(block, arg, value, spans[arg.name])
                out[arg.name] = value
            elif arg.default is not None:
                out[arg.name] = self.evaluator.eval(arg.default.node, env, arg.default.span)
            else:
                raise error("E0303", f"`{block.name}` needs the argument `{arg.name}`",
                            call.span, labels=(Label(arg.span, f"`{arg.name}` declared here"),),
                            help=f"pass it: `{block.name}({arg.name}=…)`")
        return out

    def _check_arg(self, block, arg, value, span):
        """A required argument's value against its declared type.

        An optional argument is not typed by its default (a kernel of 1 may also be
        given as [1, 7]); the op that uses it checks it."""
        want = arg.type
        ok = {
            "int": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, (int, float)) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
            "str": isinstance(value, str),
            "list": isinstance(value, tuple),
        }.get(want, True)
        if not ok:
            raise error("E0202", f"argument `{arg.name}` of `{block.name}` is "
                        f"{with_article(want)}, but {a_type(value)} {value!r} is given", span,
                        labels=(Label(arg.span, "declared here"),))
        return float(value) if want == "float" else value

    def stage(self, call: LayerCall, frame: Frame, x: str, name, name_span) -> str:
        if not call.args or not isinstance(call.args[0], LayerCall) or \
                call.args[0].kind != "block":
            raise error("E0303", "`stage` takes a block first: stage(block, depth=N, …)",
                        call.arg_spans[0] if call.arg_spans else call.span)
        if len(call.args) > 1:
            raise error("E0303", "`stage` passes only keyword arguments to its block",
                        call.arg_spans[1], help="write them as name=value")
        inner: LayerCall = call.args[0]
        kwargs = dict(call.kwargs)
        if "depth" not in kwargs:
            raise error("E0303", "`stage` needs `depth=`", call.span,
                        help="e.g. stage(bottleneck, depth=3, planes=64)")
        depth = kwargs.pop("depth")
        depth_span = call.kwarg_span("depth")
        if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
            raise error("E0202", f"`depth` must be a non-negative int, not "
                        f"{type_name(depth)} {depth!r}", depth_span)
        if depth > self.limits.max_repeat:
            raise error("E0500", f"depth={depth} is above the limit {self.limits.max_repeat}",
                        depth_span, help="or raise Limits.max_repeat")
        block = self.spec.blocks[inner.name]
        local = self.claim(frame.scope, name, "stage", name_span or call.span)
        scope = self.child_scope(frame, local, None, True, origin="stage")
        scope.span = call.span
        scope.input = x
        spans = dict(zip([k for k, _ in call.kwargs], call.kw_spans))
        base_kwargs = list(inner.kwargs) + [(k, v) for k, v in kwargs.items()]
        base_spans = list(inner.kw_spans) + [spans[k] for k in kwargs]
        has_stride = any(a.name == "stride" for a in block.args)
        inner_frame = Frame(scope, frame.env, frame.depth)
        for i in range(depth):
            # The first copy takes the stage's stride; the others keep the resolution.
            copy_kwargs = [(k, 1 if (i and k == "stride" and has_stride) else v)
                           for k, v in base_kwargs]
            copy = LayerCall("block", inner.name, inner.args, tuple(copy_kwargs), call.span,
                             inner.arg_spans, tuple(base_spans), call.mentions)
            x = self.block(block, copy, inner_frame, x, str(i), None)
        scope.output = x
        return x

    # ------------------------------------------------------------------ constructs

    def part(self, item: it.Item | None, frame: Frame, x: str, hint: str) -> str:
        """Place a residual's or a branch's part inline; its first member gets `hint`."""
        if item is None:
            return x
        start = len(frame.scope.children)
        frame = replace(frame, hint=hint)
        out = self.element(item, frame, x) if not isinstance(item, it.Seq) or \
            frame.scope.positional else self.fill(item, frame, x)
        children = frame.scope.children
        if len(children) > start and isinstance(children[start], Member):
            children[start] = replace(children[start], hint=hint)
        return out

    def merge_op(self, merge: it.SExpr, frame: Frame) -> LayerCall:
        """The merge op a `merge:` names: add, concat, mean, join(...)."""
        call = self.evaluator.eval(merge.node, frame.env, merge.span)
        if not (isinstance(call, LayerCall) and call.kind == "op" and
                OPS[call.name].min_inputs >= 2):
            merges = sorted(n for n, cls in OPS.items() if cls.min_inputs >= 2)
            raise error("E0307", f"`merge:` needs a merge op, not {a_type(call)}", merge.where,
                        help=f"the merge ops are: {', '.join(merges)}")
        return call

    def merge(self, call: LayerCall, inputs: list[str], frame: Frame,
              mismatch_help: str = "") -> str:
        op = OPS[call.name].bind(call)
        local = frame.scope.allocate(call.name)
        node = Node(qualify(frame.scope.path, local), op, call.span, frame.scope.path, local,
                    call=call)
        self.graph.add_node(node, inputs)
        frame.scope.children.append(Member(local, node=node.name, hint=frame.hint))
        infer_node(self.graph, node.name, mismatch_help)
        return node.name

    def residual(self, item: it.Residual, frame: Frame, x: str) -> str:
        merge = self.merge_op(item.merge, frame)
        shortcut_first = OPS[merge.name].shortcut_first
        body = self.part(item.body, frame, x, "out")
        if item.drop_path is not None:
            body = self.drop_path(item.drop_path, frame, body)
        shortcut, ghost = x, None
        if item.shortcut is not None:
            keeps_shape = self.graph.shape(body) == self.graph.shape(x)
            if not shortcut_first and keeps_shape:
                if isinstance(item.shortcut, it.Named):  # its name stays taken
                    named = item.shortcut
                    name = named.name if isinstance(named.name, str) else \
                        self.render(named.name, frame.env, frame.scope)
                    ghost = Ghost(self.claim(frame.scope, name, "shortcut", named.span), x, "", 1)
                    frame.scope.reserved.add(name)
            else:
                shortcut = self.part(item.shortcut, frame, x, "identity")
        inputs = [shortcut, body] if shortcut_first else [body, shortcut]
        if ghost is not None:
            frame.scope.children.append(ghost)
        fix = ("give the residual a `shortcut:` (e.g. `downsample: [conv(C, 1, stride=s), bn]`); "
               "it is applied only where the body changes the shape" if item.shortcut is None
               else "make the shortcut's output match the body's")
        merged = self.merge(merge, inputs, frame, mismatch_help=fix)
        if ghost is not None:
            index = frame.scope.children.index(ghost)
            frame.scope.children[index] = replace(ghost, consumer=merged)
        return self.part(item.post, frame, merged, "out")

    def branches(self, item: it.Branches, frame: Frame, x: str) -> str:
        outs = []
        for i, path in enumerate(item.paths):
            # A branch's name is its variable in `forward`, unless it would shadow a name
            # the generated code uses (`x`, `self`, `torch`, a builtin).
            named = isinstance(path, it.Named) and isinstance(path.name, str) and \
                path.name.isidentifier() and path.name not in RESERVED
            hint = path.name if named else f"branch{i + 1}"
            outs.append(self.part(path, frame, x, hint))
        return self.merge(self.merge_op(item.merge, frame), outs, frame)

    def drop_path(self, value: it.SExpr, frame: Frame, x: str) -> str:
        """A drop_path node on a residual's body: a survival probability or a schedule."""
        node = value.node
        linear = isinstance(node, ast.Call) and node.func.id == "linear"
        target = node.args[0] if linear and len(node.args) == 1 and not node.kwargs else node
        if linear and target is node:
            raise error("E0303", "linear() takes one argument: the final survival probability",
                        value.where)
        survival = self.evaluator.eval(target, frame.env, value.span)
        if isinstance(survival, bool) or not isinstance(survival, (int, float)) or \
                not 0 < survival <= 1:
            raise error("E0203", f"`drop_path` takes a survival probability in (0, 1] or "
                        f"linear(p), not {survival!r}", value.where)
        # With linear(p) the schedule pass sets each node's survival from its depth.
        kwargs = (("linear_to", float(survival)),) if linear else ()
        call = LayerCall("op", "drop_path", (1.0 if linear else float(survival),), kwargs,
                         value.where)
        local = self.claim(frame.scope, None, "drop_path", value.where)
        node = Node(qualify(frame.scope.path, local), OPS["drop_path"].bind(call), value.where,
                    frame.scope.path, local, call=call)
        self.graph.add_node(node, [x])
        frame.scope.children.append(Member(local, node=node.name))
        infer_node(self.graph, node.name)
        return node.name

    def repeat(self, item: it.Repeat, frame: Frame, x: str) -> str:
        count = self.evaluator.eval(item.count.node, frame.env, item.count.span)
        where = item.count.where
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise error("E0202", f"`repeat` takes a non-negative int, not "
                        f"{type_name(count)} {count!r}", where)
        if count > self.limits.max_repeat:
            raise error("E0500", f"repeat {count} is above the limit {self.limits.max_repeat}",
                        where, help="or raise Limits.max_repeat")
        for i in range(count):
            inner = Frame(frame.scope, {**frame.env, item.index: i}, frame.depth)
            if item.name is None:  # the copies are spliced into the list
                x = self.fill(item.body, inner, x)
            else:  # each copy is one member, named by the template
                name = self.render(item.name, inner.env, frame.scope)
                x = self.member(item.body, inner, x, name, item.name.span)
        return x

    def render(self, template: it.Template, env: Mapping, scope: Scope) -> str:
        text = "".join(part if isinstance(part, str) else
                       _name_part(self.evaluator.eval(part.node, env, part.span), part)
                       for part in template.parts)
        problem = "" if scope.positional and is_positional(text) else layer_name_problem(text)
        if problem:
            raise error("E0210", f"the name template gives an invalid name: {problem}",
                        template.span, help="give the copies names, e.g. `name: layer{i+1}`; "
                        "or name the repeat itself to make its copies `0, 1, …`")
        return text

    def choose(self, item: it.Cond, frame: Frame) -> it.Item | None:
        value = self.evaluator.eval(item.cond.node, frame.env, item.cond.span)
        if not isinstance(value, bool):
            raise error("E0302", f"`if` needs true or false, not {a_type(value)} {value!r}",
                        item.cond.where, help="write a comparison, e.g. `depth == 1`")
        return item.then if value else item.orelse


def _name_part(value: object, part: it.SExpr) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise error("E0302", f"a name template takes ints and strings, not {a_type(value)}",
                    part.where)
    return str(value)


def _head_names(item: it.Item | None) -> set[str]:
    """Names of the auxiliary heads written in a list (whether or not expanded)."""
    if isinstance(item, it.Named):
        return {item.name} if isinstance(item.item, it.Head) and isinstance(item.name, str) \
            else set()
    if isinstance(item, it.Seq):
        return set().union(*(_head_names(e) for e in item.items)) if item.items else set()
    if isinstance(item, it.Cond):
        return _head_names(item.then) | _head_names(item.orelse)
    return set()


def _positional(item: it.Item | None) -> bool:
    """A list whose elements carry no names fills an nn.Sequential-like module."""
    if isinstance(item, it.Seq):
        return not any(_names_itself(e) for e in item.items if not isinstance(e, it.Seq))
    return isinstance(item, it.Repeat) and not _names_itself(item)


def _names_itself(item: it.Item) -> bool:
    """Whether placing `item` in a list gives that list a named member."""
    if isinstance(item, it.Named):
        return True
    if isinstance(item, it.Repeat):
        return item.name is not None or _names_itself(item.body)
    if isinstance(item, it.Cond):
        return any(_names_itself(b) for b in (item.then, item.orelse) if b is not None)
    if isinstance(item, it.Seq):
        return any(_names_itself(e) for e in item.items)
    return False


def _explicit_names(item: it.Item | None) -> set[str]:
    """Names the spec gives to members placed in one module (for fresh-name allocation)."""
    if isinstance(item, it.Named):
        return {item.name} if isinstance(item.name, str) else set()
    if isinstance(item, it.Seq):
        return set().union(*(_explicit_names(e) for e in item.items)) if item.items else set()
    if isinstance(item, it.Residual):
        return set().union(*(_explicit_names(p) for p in (item.body, item.shortcut, item.post)))
    if isinstance(item, it.Branches):
        return set().union(*(_explicit_names(p) for p in item.paths))
    if isinstance(item, it.Cond):
        return _explicit_names(item.then) | _explicit_names(item.orelse)
    return set()


def _origin(item: it.Item) -> str:
    span = item.span
    return f"{span.file}:{span.line}:{span.col}"


def _text(item: it.Call) -> str:
    span = item.expr.span
    return span.source.line(span.line)[span.col - 1:span.end_col - 1].strip() or "this"
