"""Calls: a layer written as an op, block or stage call, placed as one member."""

from __future__ import annotations

from collections.abc import Mapping

from archdsl.construct.naming import positional
from archdsl.construct.place import Frame, Placer
from archdsl.diagnostics import Label, error
from archdsl.lang import items as it
from archdsl.lang.binding import Callee
from archdsl.lang.evaluate import Evaluator, LayerCall, a_type
from archdsl.lang.load import IMPLICIT_BLOCK_NAMES, BlockDef
from archdsl.lang.params import Override, resolve
from archdsl.lang.values import described
from archdsl.ops import OPS
from archdsl.source import Span


class Calls(Placer):
    """Op, block and stage calls: their arguments bound, their members placed."""

    def layer(self, item: it.Call, frame: Frame) -> LayerCall:
        """The call an item writes, with its patches applied."""
        with self.recovery.arguments(frame.shape_free):
            value = self.evaluator.layer(item.expr.node, frame.env, item.expr.span)
            if isinstance(value, LayerCall):
                for name, patch in item.patches:
                    value = value.with_keyword(
                        name, self.evaluator.eval(patch.node, frame.env, patch.span),
                        patch.where)
            if not isinstance(value, LayerCall):
                raise error("E0307", f"`{_text(item)}` is {a_type(value)}, not a layer",
                            item.expr.where,
                            help="a layer is an op or block, called or named: `conv(64, 3)`, "
                                 "`relu`, `bottleneck(planes=64)`")
        return value

    def call(self, call: LayerCall, frame: Frame, x: str, name: str | None,
             name_span: Span | None) -> str:
        if call.kind == "op":
            return self.place_node(frame, call, [x], name, name_span)
        if call.kind == "block":
            block = self.spec.blocks[call.name]
            if block.spec is not None:
                return self.spec_block(block, call, frame, x, name, name_span)
            return self.block(block, call, frame, x, name, name_span)
        return self.stage(call, frame, x, name, name_span)

    def block(self, block: BlockDef, call: LayerCall, frame: Frame, x: str, name: str | None,
              name_span: Span | None) -> str:
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
        with self.recovery.arguments(frame.shape_free):  # as its caller wrote them
            args = self.block_args(block, call, env)
        env.update(args)
        lets = {}
        for let, value in block.lets:
            lets[let] = env[let] = self.evaluator.eval(value.node, env, value.span)
        scope = self.child_scope(frame, local, block.body, positional(block.body),
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
            scope.output = self.fill(block.body, Frame(scope, env, frame.depth + 1,
                                                       shape_free=False), x)
        except RecursionError:  # nested lists inside nested blocks: Python's stack runs out
            raise error("E0501", f"blocks and the lists inside them nest too deeply to "
                        f"expand ({frame.depth + 1} blocks deep at `{block.name}`)", call.span,
                        labels=(Label(block.span, "defined here"),),
                        help="flatten the lists in the block, or give the recursion an "
                             "earlier base case") from None
        return scope.output

    def spec_block(self, block: BlockDef, call: LayerCall, frame: Frame, x: str,
                   name: str | None, name_span: Span | None) -> str:
        """Another spec's network as a member: its params set by the call's keywords, its
        own blocks and params in scope while it is placed (as if it were built alone)."""
        inner = block.spec
        if call.args:
            raise error("E0303", f"`{block.name}` takes its spec's params by name",
                        call.arg_spans[0], help=f"e.g. {block.name}(num_classes=10)")
        if frame.depth >= self.limits.max_block_depth:
            raise error("E0501", f"blocks nest deeper than {self.limits.max_block_depth} "
                        f"levels (calling `{block.name}`)", call.span)
        overrides = [Override(key, (), value, span)
                     for (key, value), span in zip(call.kwargs, call.kw_spans)]
        outer_spec, outer_evaluator = self.spec, self.evaluator
        self.evaluator = Evaluator(OPS, inner.blocks, self.limits)
        try:
            params = resolve(inner, self.evaluator, overrides)
            self.spec = inner
            if id(inner) not in self.names_checked:  # as the top spec's, before it expands
                self.names_checked.add(id(inner))
                with self.recovery.arguments(frame.shape_free):
                    self.check_names(params)
            local = self.claim(frame.scope, name, block.name, name_span or call.span)
            scope = self.child_scope(frame, local, block.body, positional(block.body),
                                     origin=f"block:{block.name}", block=block,
                                     bindings=dict(call.kwargs))
            scope.span, scope.mentions = call.span, call.mentions
            scope.doc, scope.defined_at = block.doc, block.span
            scope.input = x
            scope.output = self.fill(block.body, Frame(scope, params, frame.depth + 1,
                                                       shape_free=frame.shape_free), x)
        finally:
            self.spec, self.evaluator = outer_spec, outer_evaluator
        return scope.output

    def _params(self, frame: Frame) -> Mapping[str, object]:
        """Only the spec's params are visible inside a block (lexical scope)."""
        names = {n for n, _ in self.spec.params}
        return {k: v for k, v in frame.env.items() if k in names}

    def block_args(self, block: BlockDef, call: LayerCall, env: Mapping) -> dict[str, object]:
        """The block's arguments: given (and checked against a declared type), or the
        default evaluated in `env`.

        An optional argument is not typed by its default (a kernel of 1 may also be
        given as [1, 7]); the op that uses it checks it."""
        bound = Callee(block.name, tuple(a.name for a in block.args), defined=block.span,
                       declared=tuple(a.span for a in block.args),
                       bound_to_input=IMPLICIT_BLOCK_NAMES).bind(call)
        out = {}
        for arg in block.args:
            if arg.name in bound.values:
                out[arg.name] = bound.typed(arg.name, arg.type) if arg.type is not None \
                    else bound.values[arg.name]
            elif arg.default is not None:
                out[arg.name] = self.evaluator.eval(arg.default.node, env, arg.default.span)
            else:
                raise bound.missing(arg.name)
        return out

    def stage(self, call: LayerCall, frame: Frame, x: str, name: str | None,
              name_span: Span | None) -> str:
        """`stage(block, depth=N, …)`: N copies of a block, named `0, 1, …`."""
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
                        f"{described(depth)}", depth_span)
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
        inner_frame = Frame(scope, frame.env, frame.depth, shape_free=frame.shape_free)
        for i in range(depth):
            # The first copy takes the stage's stride; the others keep the resolution.
            copy_kwargs = [(k, 1 if (i and k == "stride" and has_stride) else v)
                           for k, v in base_kwargs]
            copy = LayerCall("block", inner.name, inner.args, tuple(copy_kwargs), call.span,
                             inner.arg_spans, tuple(base_spans), call.mentions)
            x = self.block(block, copy, inner_frame, x, str(i), None)
        scope.output = x
        return x


def _text(item: it.Call) -> str:
    """The call as written, for a message."""
    span = item.expr.span
    return span.source.line(span.line)[span.col - 1:span.end_col - 1].strip() or "this"
