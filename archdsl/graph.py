"""The IR: a networkx graph of op nodes, and the module tree ("scopes") they sit in.

Node ids are qualified names (`layer1.0.conv1`), the same as the module paths
of the generated PyTorch code, so state_dict keys are `<node id>.weight`.
Edges carry a `port`: the position of the input in the consumer's inputs.
Scopes mirror the generated modules: the network, each block instance, each
named list; their `children` keep the order in which the spec placed members.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import networkx as nx

from archdsl.diagnostics import Label, error
from archdsl.lang.evaluate import LayerCall
from archdsl.limits import DEFAULT_LIMITS, Limits
from archdsl.names import MODULE_ATTRIBUTES, NETWORK_METHODS, Namespace
from archdsl.ops.base import Op
from archdsl.source import Span
from archdsl.tensor import TensorType

INPUT = "<input>"


class InputOp(Op):
    """The network's input; not callable from a spec."""

    name = "input"
    min_inputs = 0
    max_inputs = 0

    def __init__(self, type_: TensorType):
        super().__init__(None)
        self.type = type_

    def infer(self, inputs):
        return self.type


@dataclass(frozen=True)
class Cost:
    """What one node costs (set by passes.cost)."""

    params: int
    macs: int  # multiply-accumulates of conv and linear layers
    other_flops: int  # every other op's work, never mixed into `macs`
    activation_bytes: int  # this node's output, for one sample


@dataclass(frozen=True)
class Field:
    """What one unit of a node sees (set by passes.rf): `size` input pixels, `stride`
    pixels apart."""

    size: tuple[int, ...]
    stride: tuple[int, ...]


@dataclass
class Node:
    """One op instance. `shape` is set by shape inference (passes.shapes)."""

    name: str
    op: Op
    span: Span | None
    scope: tuple[str, ...]
    local: str
    call: LayerCall | None = None
    shape: TensorType | None = None
    cost: Cost | None = None  # set by passes.cost
    field: Field | None = None  # receptive field, set by passes.rf


@dataclass(frozen=True)
class Member:
    """A member of a scope: an op node (`node` set) or a child scope (`scope` set)."""

    local: str
    node: str | None = None
    scope: tuple[str, ...] | None = None
    hint: str | None = None  # a variable name for its value in generated code
    auxiliary: bool = False  # an auxiliary head: computed in training mode, main path unchanged


@dataclass(frozen=True)
class Ghost:
    """A shortcut projection a residual left out because shapes already agreed.

    It keeps the member's place in its scope so that the emitter can give every
    instance of a block one class with an optional submodule (`downsample`).
    """

    local: str
    input: str
    consumer: str
    port: int


@dataclass
class Scope:
    """A module of the generated code: the network, a block instance, a named list."""

    path: tuple[str, ...]
    origin: str  # what the members come from: "block:<name>", or a spec location
    span: Span | None
    positional: bool
    block: str | None = None
    doc: str = ""  # the block's doc, for the generated class
    defined_at: Span | None = None  # the block's definition
    bindings: dict[str, object] = field(default_factory=dict)  # a block's args and lets
    arg_defaults: dict[str, object] = field(default_factory=dict)  # of the block's args
    mentions: frozenset[str] = frozenset()  # names in the call that made this block
    children: list[Member | Ghost] = field(default_factory=list)
    reserved: set[str] = field(default_factory=set)  # names the spec gives members
    input: str | None = None
    output: str | None = None
    # Values of its own members that layers outside it read (`from: backbone.layer3`):
    # its module returns them after its output.
    exports: list[str] = field(default_factory=list)
    # Values of the module around it that its layers read: (value, variable name); its
    # module takes them after its input (`self.head(x, low)`).
    imports: list[tuple[str, str]] = field(default_factory=list)
    # The generated module's attribute names: its members', and what nn.Module and the
    # network's generated methods hold. Brought up to date from `children` by
    # member_names(): while a list is filled, members are only appended, or replaced in
    # place under the same name, so a module of 10,000 members costs linear time, not
    # quadratic. A new list is indexed afresh.
    _names: Namespace | None = field(default=None, init=False, repr=False, compare=False)
    _indexed: int = field(default=0, init=False, repr=False, compare=False)
    _members: int = field(default=0, init=False, repr=False, compare=False)
    _of: list | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def name(self) -> str:
        return ".".join(self.path)

    def member_names(self) -> Namespace:
        """The names taken in this module (its members'), and those it reserves."""
        if self._names is None or self._of is not self.children or \
                len(self.children) < self._indexed:
            reserved = MODULE_ATTRIBUTES | (NETWORK_METHODS if self.path == () else set())
            self._names, self._indexed, self._members = Namespace(reserved), 0, 0
            self._of = self.children
        for child in self.children[self._indexed:]:
            self._names.claim(child.local)
            self._members += isinstance(child, Member)
        self._indexed = len(self.children)
        return self._names

    def allocate(self, base: str) -> str:
        """A fresh member name: `base`, else `base_1`, `base_2`, …; never one the spec
        gives a later member, nor an attribute nn.Module or a generated method holds."""
        names = self.member_names()
        if self.positional:
            return str(self._members)
        return names.create(base, "_", 1, avoid=self.reserved)


class Graph:
    """Op nodes in a DAG, plus the scope tree; annotated in place by the passes."""

    def __init__(self, name: str, input_type: TensorType, limits: Limits = DEFAULT_LIMITS):
        self.name = name
        self.limits = limits
        self.dag = nx.DiGraph()
        self.scopes: dict[tuple[str, ...], Scope] = {}
        self.dag.add_node(INPUT, node=Node(INPUT, InputOp(input_type), None, (), INPUT,
                                           shape=input_type))
        # Each node's inputs in order; the DAG's edges say the same without the order
        # (and once for a node read twice), and networkx's algorithms run on them.
        self._inputs: dict[str, list[str]] = {INPUT: []}
        self.output: str = INPUT
        self.heads: dict[str, str] = {}  # auxiliary head name -> its output node
        # The training-mode return value when heads exist: (type name, [(field, node)]).
        self.outputs: tuple[str, list[tuple[str, str]]] | None = None
        # Named outputs (`returns:`): key -> value, returned as a dict in every mode.
        self.returns: list[tuple[str, str]] = []
        self.init_rules: list = []  # archdsl.lang.init.InitRule, in order
        # "channels_last": the generated module keeps its weights and activations NHWC
        # (the inference form of a convolutional network, where it is faster).
        self.memory_format: str | None = None

    # -- building

    def add_scope(self, scope: Scope) -> Scope:
        self.scopes[scope.path] = scope
        return scope

    def add_node(self, node: Node, inputs: list[str]) -> Node:
        if node.name in self.dag:
            raise error("E0306", f"two layers are named `{node.name}`", node.span,
                        labels=_first_label(self.node(node.name)))
        if self.dag.number_of_nodes() >= self.limits.max_graph_nodes:
            raise error("E0500", f"the network has more than {self.limits.max_graph_nodes} "
                        "layers", node.span,
                        help="reduce the depths, or raise Limits.max_graph_nodes")
        self.dag.add_node(node.name, node=node)
        for port, src in enumerate(inputs):
            self.dag.add_edge(src, node.name, port=port)
        self._inputs[node.name] = list(inputs)
        return node

    def discard(self, name: str) -> None:
        """Remove node `name`, which nothing reads yet: a layer that failed to place."""
        assert not self.consumers(name), name
        self.dag.remove_node(name)
        del self._inputs[name]

    # -- editing (transforms such as the inference form)

    def bypass(self, name: str) -> str:
        """Remove the one-input node `name`; what read it reads its input instead.
        Returns that input."""
        (source,) = self.inputs(name)
        for consumer in self.consumers(name):
            self.dag.add_edge(source, consumer, port=self.dag.edges[name, consumer]["port"])
            self._inputs[consumer] = [source if s == name else s for s in self._inputs[consumer]]
        node = self.node(name)
        self.dag.remove_node(name)
        del self._inputs[name]
        scope = self.scope(node.scope)
        scope.children = [c for c in scope.children
                          if not (isinstance(c, Member) and c.node == name)]
        for s in self.scopes.values():
            s.input = source if s.input == name else s.input
            s.output = source if s.output == name else s.output
            s.children = [Ghost(c.local, source, c.consumer, c.port)
                          if isinstance(c, Ghost) and c.input == name else c
                          for c in s.children]
        if self.output == name:
            self.output = source
        self.returns = [(key, source if value == name else value) for key, value in self.returns]
        return source

    def remove_subtree(self, path: tuple[str, ...]) -> list[str]:
        """Remove the member at `path` (an op node, or a scope with everything in it)
        from its parent. Returns the op nodes removed; the caller rewires their readers."""
        name = ".".join(path)
        doomed = [n.name for n in self.ops() if n.name == name or n.scope[:len(path)] == path]
        self.dag.remove_nodes_from(doomed)
        for name in doomed:
            del self._inputs[name]
        for inner in [p for p in self.scopes if p[:len(path)] == path]:
            del self.scopes[inner]
        parent = self.scope(path[:-1])
        parent.children = [c for c in parent.children if c.local != path[-1]]
        return doomed

    # -- reading

    def node(self, name: str) -> Node:
        return self.dag.nodes[name]["node"]

    def inputs(self, name: str) -> list[str]:
        """The nodes `name` reads, in the order of its inputs (a node read twice, twice)."""
        return list(self._inputs[name])

    def consumers(self, name: str) -> list[str]:
        return list(self.dag.successors(name))

    def shape(self, name: str) -> TensorType:
        shape = self.node(name).shape
        if shape is None:
            raise RuntimeError(f"node {name} has no shape yet; run passes.shapes first")
        return shape

    def sinks(self) -> list[str]:
        """The nodes whose values leave the network: the output and the heads."""
        return [self.output, *self.heads.values()]

    def ops(self) -> Iterator[Node]:
        """Every op node except the input, in creation (= topological) order."""
        for name in self.dag.nodes:
            if name != INPUT:
                yield self.node(name)

    def scope(self, path: tuple[str, ...]) -> Scope:
        return self.scopes[path]

    def __len__(self) -> int:
        return self.dag.number_of_nodes() - 1


def _first_label(node: Node) -> tuple[Label, ...]:
    return (Label(node.span, "first defined here"),) if node.span else ()


def qualify(scope: tuple[str, ...], local: str) -> str:
    return ".".join(scope + (local,))
