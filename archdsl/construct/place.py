"""Placement: putting nodes and child modules into the module being filled.

Every op node of the graph, whether written as a layer, made as a merge or
added for drop_path, goes through `Placer.place_node`: named, added, listed as
a member and given its shape, in that order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

from archdsl.construct.naming import explicit_names
from archdsl.construct.recovery import Recovery
from archdsl.diagnostics import Label, SpecError, error
from archdsl.graph import Graph, Member, Node, Scope, qualify
from archdsl.lang import items as it
from archdsl.lang.evaluate import Evaluator, LayerCall, a_type
from archdsl.lang.load import BlockDef, Spec
from archdsl.limits import Limits
from archdsl.names import NETWORK_METHODS, is_positional, layer_name_problem
from archdsl.ops import OPS
from archdsl.passes.shapes import infer_node
from archdsl.source import Span
from archdsl.tensor import TensorType


@dataclass(frozen=True)
class Frame:
    """Where placement happens: the module being filled and the names in scope."""

    scope: Scope
    env: Mapping[str, object]
    depth: int = 0
    hint: str = "out"  # the variable name for merges placed here (a branch's name inside it)
    # Whether no value in `env` depends on the tensor flowing in: false inside a block
    # (`in_channels`, and what its arguments' defaults and `let`s make of it) and in a
    # `spec:` block called from one.
    shape_free: bool = True


class Placer(ABC):
    """The graph under construction, and how members are placed into its modules."""

    def __init__(self, spec: Spec, evaluator: Evaluator, limits: Limits, shape: TensorType,
                 recover: bool = True):
        self.spec = spec
        self.evaluator = evaluator
        self.limits = limits
        self.graph = Graph(spec.name, shape, limits)
        self.recovery = Recovery(recover, spec.path)
        self.names_checked: set[int] = set()  # the specs whose names were checked (by id)

    # -- the walk over a list, which the Builder (archdsl.construct) defines: the
    # constructs and calls placed inside a list recurse through it.

    @abstractmethod
    def fill(self, item: it.Item, frame: Frame, x: str) -> str:
        """Place `item`'s elements into `frame.scope`, in order; the output's node."""

    @abstractmethod
    def check_names(self, params: dict[str, object]) -> None:
        """Check every name `self.spec`'s network and blocks write, before expanding."""

    @abstractmethod
    def element(self, item: it.Item, frame: Frame, x: str) -> str:
        """Place one element of a list; the output's node."""

    @abstractmethod
    def member(self, item: it.Item, frame: Frame, x: str, name: str | None,
               name_span: Span | None) -> str:
        """Place `item` as one member of `frame.scope`; the output's node."""

    # -- nodes and modules

    def place_node(self, frame: Frame, call: LayerCall, inputs: list[str],
                   name: str | None = None, name_span: Span | None = None,
                   hint: str | None = None, mismatch_help: str = "") -> str:
        """Place op `call` on `inputs` as a member of `frame.scope`, named `name` (or
        after the op), and infer its shape; `hint` names its variable in `forward`,
        `mismatch_help` is the help of a merge's shape mismatch."""
        with self.recovery.arguments(frame.shape_free):
            op = OPS[call.name].bind(call)
        local = self.claim(frame.scope, name, call.name, name_span or call.span)
        node = Node(qualify(frame.scope.path, local), op, call.span, frame.scope.path, local,
                    call=call)
        self.graph.add_node(node, inputs)
        frame.scope.children.append(Member(local, node=node.name, hint=hint))
        try:
            infer_node(self.graph, node.name, mismatch_help)
        except SpecError:  # nothing half-made stays for the walk going on past it
            frame.scope.children.pop()
            self.graph.discard(node.name)
            raise
        return node.name

    def child_scope(self, frame: Frame, local: str, item: it.Item | None, positional: bool,
                    origin: str, block: BlockDef | None = None,
                    bindings: dict | None = None) -> Scope:
        """A module placed as member `local` of `frame.scope`, for `item`'s elements."""
        scope = Scope(frame.scope.path + (local,), origin, item.span if item else None,
                      positional, block=block.name if block else None,
                      bindings=bindings or {},
                      reserved=explicit_names(item) if item else set())
        frame.scope.children.append(Member(local, scope=scope.path))
        return self.graph.add_scope(scope)

    # -- names

    def claim(self, scope: Scope, name: str | None, base: str, span: Span) -> str:
        """`name`, checked to be free in `scope`, or a fresh name from `base`."""
        if name is None:
            return scope.allocate(base)
        names = scope.member_names()
        if name in names.reserved:  # nn.Module's own, or a method generated for the network
            what = "a method of the generated network class" if name in NETWORK_METHODS \
                else "an attribute of torch.nn.Module"
            raise error("E0210", f"`{name}` is {what}", span,
                        help="give the layer another name")
        if name in names:
            first = self.graph.scopes.get(scope.path + (name,))
            first_span = first.span if first else self._node_span(qualify(scope.path, name))
            raise error("E0306", f"`{name}` names two members of "
                        f"`{scope.name or self.spec.name}`", span,
                        labels=(Label(first_span, "first used here"),) if first_span else (),
                        help="give each layer of a module its own name")
        return name

    def _node_span(self, name: str) -> Span | None:
        return self.graph.node(name).span if name in self.graph.dag else None

    def render(self, template: it.Template, env: Mapping, scope: Scope,
               dotted: bool = False) -> str:
        """The member name a template (`layer{i+1}`) gives in `env`, checked; `dotted`:
        a reference, `member.layer`, each part a name."""
        text = "".join(part if isinstance(part, str) else
                       _name_part(self.evaluator.eval(part.node, env, part.span), part)
                       for part in template.parts)
        if dotted:
            problem = next((p for part in text.split(".")
                            if (p := "" if is_positional(part) else layer_name_problem(part))),
                           "")
            if problem:
                raise error("E0210", f"`{text}` is not a reference: {problem}", template.span,
                            help="name a member, `member.layer`, `input` or `previous`")
            return text
        problem = "" if scope.positional and is_positional(text) else layer_name_problem(text)
        if problem:
            raise error("E0210", f"the name template gives an invalid name: {problem}",
                        template.span, help="give the copies names, e.g. `name: layer{i+1}`; "
                        "or name the repeat itself to make its copies `0, 1, …`")
        return text


def _name_part(value: object, part: it.SExpr) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise error("E0302", f"a name template takes ints and strings, not {a_type(value)}",
                    part.where)
    return str(value)
