"""The constructs between calls: residual, branches, drop_path, repeat and if."""

from __future__ import annotations

from dataclasses import replace

from archdsl.construct.place import Frame, Placer
from archdsl.diagnostics import SpecError, error
from archdsl.graph import Ghost, Member, Scope
from archdsl.lang import expr as ast
from archdsl.lang import items as it
from archdsl.lang.evaluate import LayerCall, a_type, suggest
from archdsl.lang.values import described
from archdsl.names import RESERVED
from archdsl.ops import OPS
from archdsl.source import Span


class Constructs(Placer):
    """Residuals and branches (with their merges and drop_path), repeats and choices."""

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

    def merge_op(self, merge: it.SExpr, frame: Frame, count: int = 2) -> LayerCall:
        """The merge op a `merge:` names for `count` inputs: add, concat, mean, join(...),
        and for `from:` any op over several inputs (crop, resize to another's size)."""

        def takes(cls) -> bool:
            return cls.max_inputs != 1 and cls.min_inputs <= count and \
                (cls.max_inputs is None or count <= cls.max_inputs) and \
                (cls.min_inputs >= 2 or count > 1)

        call = self.evaluator.eval(merge.node, frame.env, merge.span)
        if not (isinstance(call, LayerCall) and call.kind == "op" and takes(OPS[call.name])):
            merges = sorted(n for n, cls in OPS.items() if takes(cls))
            raise error("E0307", f"`merge:` needs a merge op, not {a_type(call)}", merge.where,
                        help=f"the merge ops are: {', '.join(merges)}")
        return call

    def residual(self, item: it.Residual, frame: Frame, x: str) -> str:
        merge = self.merge_op(item.merge, frame)
        drop_path = None if item.drop_path is None else self.drop_path(item.drop_path, frame)
        skip = self.skip_applies(item, frame)
        shortcut_first = OPS[merge.name].shortcut_first
        body = self.part(item.body, frame, x, "out")
        if not skip:  # `when:` is false: post(body(x)), the body's members unchanged
            self.hold_names(item, frame, merge, drop_path)
            return self.part(item.post, frame, body, "out")
        if drop_path is not None:
            body = self.place_node(frame, drop_path, [body])
        if item.when is not None:  # the emitter names the skip's flag after what it reads
            merge = replace(merge, mentions=merge.mentions | ast.names_in(item.when.node))
        shortcut, ghost = x, None
        if item.shortcut is not None:
            keeps_shape = self.graph.shape(body) == self.graph.shape(x)
            if not shortcut_first and keeps_shape:
                if isinstance(item.shortcut, it.Named):  # its name stays taken
                    name = self.hold_shortcut_name(item.shortcut, frame)
                    ghost = Ghost(name, x, "", 1)
            else:
                shortcut = self.part(item.shortcut, frame, x, "identity")
        inputs = [shortcut, body] if shortcut_first else [body, shortcut]
        if ghost is not None:
            frame.scope.children.append(ghost)
        if shortcut_first:  # concat: the shortcut is always applied, channels may differ
            fix = (f"`{merge.name}` keeps the input's channels beside the body's: the body "
                   "must keep the spatial size (stride 1), or the shortcut change it alike")
        elif item.shortcut is None:
            fix = ("give the residual a `shortcut:` (e.g. `downsample: [conv(C, 1, "
                   "stride=s), bn]`); it is applied only where the body changes the shape")
        else:
            fix = "make the shortcut's output match the body's"
        merged = self.place_node(frame, merge, inputs, hint=frame.hint, mismatch_help=fix)
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
        return self.place_node(frame, self.merge_op(item.merge, frame), outs, hint=frame.hint)

    def skip_applies(self, item: it.Residual, frame: Frame) -> bool:
        """Whether the residual's skip is applied here: its `when:`, true by default."""
        if item.when is None:
            return True
        value = self.evaluator.eval(item.when.node, frame.env, item.when.span)
        if not isinstance(value, bool):
            raise error("E0202", f"`when` needs true or false, not {described(value)}",
                        item.when.where,
                        help="write a condition, e.g. `stride == 1 and in_channels == out`")
        return value

    def hold_names(self, item: it.Residual, frame: Frame, merge: LayerCall,
                   drop_path: LayerCall | None) -> None:
        """Where `when:` leaves the skip out, the names its members would take stay
        taken, so that every later member is named as where the skip is applied."""
        scope = frame.scope
        for call in (drop_path, merge):
            if call is not None:
                scope.reserved.add(scope.allocate(call.name))
        if isinstance(item.shortcut, it.Named):
            scope.member_names().claim(self.hold_shortcut_name(item.shortcut, frame))

    def hold_shortcut_name(self, named: it.Named, frame: Frame) -> str:
        """A named shortcut left out: its name, claimed and kept from later members."""
        name = named.name if isinstance(named.name, str) else \
            self.render(named.name, frame.env, frame.scope)
        name = self.claim(frame.scope, name, "shortcut", named.span)
        frame.scope.reserved.add(name)
        return name

    def drop_path(self, value: it.SExpr, frame: Frame) -> LayerCall:
        """The drop_path a residual's `drop_path:` gives: a survival probability, a
        schedule `linear(p)`, or a call `drop_path(survival, mode=…, rescale=…)`."""
        node = value.node
        linear = isinstance(node, ast.Call) and node.func.id == "linear"
        target = node.args[0] if linear and len(node.args) == 1 and not node.kwargs else node
        if linear and target is node:
            raise error("E0303", "linear() takes one argument: the final survival probability",
                        value.where)
        survival = self.evaluator.eval(target, frame.env, value.span)
        if not linear and isinstance(survival, LayerCall) and survival.kind == "op" and \
                survival.name == "drop_path":
            OPS["drop_path"].bind(survival)  # checked where `when:` leaves it out too
            return survival
        if isinstance(survival, bool) or not isinstance(survival, (int, float)) or \
                not 0 < survival <= 1:
            found = described(survival)
            raise error("E0203", f"`drop_path` takes a survival probability in (0, 1], "
                        f"linear(p) or drop_path(survival, mode=…, rescale=…), not {found}",
                        value.where)
        # With linear(p) the schedule pass sets each node's survival from its depth.
        kwargs = (("linear_to", float(survival)),) if linear else ()
        return LayerCall("op", "drop_path", (1.0 if linear else float(survival),), kwargs,
                         value.where)

    def repeat(self, item: it.Repeat, frame: Frame, x: str) -> str:
        count = self.evaluator.eval(item.count.node, frame.env, item.count.span)
        where = item.count.where
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise error("E0202", f"`repeat` takes a non-negative int, not "
                        f"{described(count)}", where)
        if count > self.limits.max_repeat:
            raise error("E0500", f"repeat {count} is above the limit {self.limits.max_repeat}",
                        where, help="or raise Limits.max_repeat")
        for i in range(count):
            inner = Frame(frame.scope, {**frame.env, item.index: i}, frame.depth,
                          shape_free=frame.shape_free)
            if item.name is None:  # the copies are spliced into the list
                x = self.fill(item.body, inner, x)
            else:  # each copy is one member, named by the template
                name = self.render(item.name, inner.env, frame.scope)
                x = self.member(item.body, inner, x, name, item.name.span)
        return x

    def tap(self, item: it.From, frame: Frame, x: str, name: str | None,
            name_span: Span | None) -> str:
        """Layers that read earlier members of the module: the members `from` names (or
        the module's input), merged where there are several, then `body`. Named, it
        names the body, else the merge."""
        sources = [self.reference(self.render(ref, frame.env, frame.scope, dotted=True),
                                  frame.scope, ref.span, x) for ref in item.refs]
        value = sources[0]
        if item.merge is not None:
            merge = self.merge_op(item.merge, frame, len(sources))
            named = name is not None and item.body is None
            value = self.place_node(frame, merge, sources, name=name if named else None,
                                    name_span=name_span,
                                    hint=name if named and name.isidentifier() and
                                    name not in RESERVED else frame.hint)
        if item.body is not None:
            if name is not None or frame.scope.positional:  # one member: a list nests
                return self.member(item.body, frame, value, name, name_span)
            return self.element(item.body, frame, value) \
                if not isinstance(item.body, it.Seq) else self.fill(item.body, frame, value)
        if name is not None and item.merge is None:
            raise error("E0203", "this `from` names nothing: it has no `merge` and no `body`",
                        name_span or item.span,
                        help="drop the name (`- from: …` continues from that member), or "
                             "give the layers to apply in `body:`")
        return value

    def reference(self, text: str, scope: Scope, span: Span, previous: str | None = None) -> str:
        """The value of member `text` of `scope`, written before the reference: its
        output node; `input` is the module's input, `previous` the previous layer's
        output. A name the module does not have is looked up in the module around it
        (not beyond a block), and the value is passed in (`self.head(x, low)`)."""
        if text == "input":
            return scope.input
        if text == "previous" and previous is not None:
            return previous
        value = self._member_value(text, scope, span)
        if value is not None:
            return value
        if scope.path and scope.block is None:  # a named list inside a module: look out
            try:
                value = self.reference(text, self.graph.scope(scope.path[:-1]), span)
            except SpecError:
                pass
            else:
                if value != scope.input and value not in [v for v, _ in scope.imports]:
                    last = text.rsplit(".", 1)[-1]
                    if not last.isidentifier():  # `backbone.4`: backbone_4
                        last = text.replace(".", "_")
                    hint = last if last.isidentifier() and last not in RESERVED else "skip"
                    scope.imports.append((value, hint))
                return value
        names = [c.local for c in scope.children if isinstance(c, Member)]
        where = f"`{scope.name}`" if scope.path else "the network"
        later = text in scope.reserved
        what = "not written before this layer" if later else "not a member"
        raise error("E0301", f"`{text}` is {what} of {where}", span,
                    help=("a layer reads members written before it; " if later else "") +
                         (suggest(text, set(names) | {"input", "previous"}) or
                          "`from` names a member of the same list (or of the lists around "
                          "it), one level into a member, `input` or `previous`"))

    def _member_value(self, text: str, scope: Scope, span: Span) -> str | None:
        """The value of member `text` of `scope` (`a` or `a.b`), or None."""
        if "." in text:  # a member of a member: that module returns it too (and so on in)
            outer, inner = text.split(".", 1)
            holder = self.graph.scopes.get(scope.path + (outer,))
            if holder is None or holder.output is None:
                return None
            value = self._member_value(inner, holder, span)
            if value is None:
                raise error("E0301", f"`{inner}` is not a member of `{holder.name}`", span,
                            help=suggest(inner, [c.local for c in holder.children
                                                 if isinstance(c, Member)]) or "")
            if value != holder.output and value not in holder.exports:
                holder.exports.append(value)
            return value
        for index, child in enumerate(scope.children):
            if isinstance(child, Member) and child.local == text:
                value = child.node
                if value is None:
                    value = self.graph.scope(child.scope).output
                    if value is None:
                        return None  # the member being filled: not an earlier one
                if child.hint is None and text.isidentifier() and text not in RESERVED:
                    # A value read again later: its variable in `forward` is its name.
                    scope.children[index] = replace(child, hint=text)
                return value
        return None

    def choose(self, item: it.Cond, frame: Frame) -> it.Item | None:
        """The branch of an `if` its condition picks (None: no layers)."""
        value = self.evaluator.eval(item.cond.node, frame.env, item.cond.span)
        if not isinstance(value, bool):
            raise error("E0302", f"`if` needs true or false, not {described(value)}",
                        item.cond.where, help="write a comparison, e.g. `depth == 1`")
        # The branch not taken is not expanded; the names it writes were checked with
        # the rest of the spec's (Builder.check_names).
        return item.then if value else item.orelse
