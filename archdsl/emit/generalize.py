"""One class per block definition: group a block's instances, abstract what differs.

Instances of one block (or of one spec construct) that have the same structure
share a class; the literals that differ between them (channel counts, strides)
become constructor parameters, named after the block's arguments and `let`
values where their values match (`width`, `stride`), else after the block's
input and output channels, else after the member and argument they feed
(`conv2_stride`). A member present in some instances only (a shortcut
projection) becomes an optional submodule with a boolean parameter, and so does
a residual's skip that some instances lack (emit/skips.py). Instances whose
structure differs otherwise get variant classes: `Block`, `Block2`, ….
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field

from archdsl.emit import code
from archdsl.emit.instances import Instance
from archdsl.emit.skips import pad, skipped_steps
from archdsl.names import MODULE_ATTRIBUTES, RESERVED, Namespace

WILD = "<absent>"
# Constructor arguments that come from the input's shape, not from the spec's text.
INPUT_SLOTS = frozenset({"in_channels", "in_features", "num_features"})
BINDABLE_SLOTS = frozenset({"in_channels", "out_channels", "num_features", "in_features",
                            "out_features", "stride", "groups"})


NO_DEFAULT = object()


@dataclass
class Param:
    name: str
    values: list  # one per instance of the group
    flag: bool = False  # True: whether an optional member is present
    default: object = NO_DEFAULT  # the block argument's default, left out at call sites

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT


@dataclass
class Group:
    """Instances sharing one generated class."""

    key: str
    instances: list[Instance]
    signature: tuple
    members: dict[str, object]  # local -> constructor skeleton (WILD where absent)
    class_name: str = ""
    params: list[Param] = field(default_factory=list)
    holes: dict[tuple[str, tuple], Param] = field(default_factory=dict)
    optional: set[str] = field(default_factory=set)
    absent: set[str] = field(default_factory=set)
    ctors: dict[str, object] = field(default_factory=dict)  # local -> ctor with Var holes
    # Forward steps (by position) that run under a flag: a residual's skip some lack.
    skips: dict[int, Param] = field(default_factory=dict)


def _same(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b


def leaves(node: object) -> list[tuple[tuple, object]]:
    found: list[tuple[tuple, object]] = []
    code.rebuild(node, lambda pos, leaf: found.append((pos, leaf)) or leaf)
    return found


def slot_name(node: object, position: tuple) -> str:
    """The constructor argument a leaf position feeds, e.g. 'out_channels'."""
    parent, name = node, "value"
    for step in position:
        if isinstance(parent, code.Call):
            name = parent.slot(step)
        items = [child for pos, child in code.children(parent) if pos == step]
        parent = items[0] if items else None
    return name


class Grouper:
    """Assigns every class instance to a group, then names groups and their params."""

    def __init__(self) -> None:
        self.groups: list[Group] = []
        self.group_of: dict[tuple[str, ...], Group] = {}
        self.instance_of: dict[tuple[str, ...], Instance] = {}

    # -- grouping (children first, so a Ref's group is known)

    def add(self, inst: Instance, key: str) -> None:
        members = {local: WILD if ctor is None else self._skeleton(ctor)
                   for local, ctor in inst.members.items()}
        signature = (inst.sequential_base, tuple(inst.members), _step_signature(inst))
        for group in self.groups:
            if group.key == key and group.signature == signature and \
                    _compatible(group.members, members):
                _merge_skeletons(group.members, members)
                group.instances.append(inst)
                break
        else:
            group = next((g for g in self.groups if g.key == key and
                          _join_skipping(g, inst, members, signature)), None)
            if group is None:
                group = Group(key, [inst], signature, members)
                self.groups.append(group)
        self.group_of[inst.scope.path] = group
        self.instance_of[inst.scope.path] = inst

    def _skeleton(self, node: object) -> object:
        if isinstance(node, code.Ref):
            return ("ref", self.groups.index(self.group_of[node.path]))
        if code.is_leaf(node):
            return "•"
        return (type(node).__name__, getattr(node, "func", None), getattr(node, "name", None),
                tuple((pos, self._skeleton(child)) for pos, child in code.children(node)),
                tuple(k for k, _ in getattr(node, "kwargs", ())))

    # -- naming

    def name_classes(self, names: dict[str, str], module: Namespace) -> None:
        """Give each group a class name from `module`: `names[key]`, numbered for
        variants (`Block2`). The network's class (the last group) is named first, so
        that it keeps its name."""
        for group in [self.groups[-1], *self.groups[:-1]]:
            group.class_name = module.create(names[group.key], separator="", start=2)

    # -- parameters

    def resolve(self, ref_or_leaf: object) -> object:
        """A Ref replaced by the constructor call of the instance it stands for."""
        if not isinstance(ref_or_leaf, code.Ref):
            return ref_or_leaf
        group = self.group_of[ref_or_leaf.path]
        inst = self.instance_of[ref_or_leaf.path]
        kwargs = tuple((p.name, inst.param_values[p.name]) for p in group.params)
        defaults = tuple((p.name, p.default) for p in group.params if p.has_default)
        return code.Call(group.class_name, (), kwargs, (), defaults)

    def materialize(self, ctor: object, compress: bool) -> object:
        node = code.rebuild(ctor, lambda pos, leaf: self.resolve(leaf))
        return _compress(node) if compress else node

    def parametrize(self, group: Group, module: Namespace) -> None:
        """Find the literals that differ between instances and make them parameters
        (named in a namespace below `module`'s, so that none shadows a class)."""
        n = len(group.instances)
        built = [{local: None if ctor is None else self.materialize(ctor, n == 1)
                  for local, ctor in inst.members.items()} for inst in group.instances]
        candidates = _candidates(group.instances)
        used = Namespace(RESERVED, parent=module)
        present = {}
        for local in group.instances[0].members:
            present[local] = [i for i in range(n) if built[i][local] is not None]
            if not present[local]:
                group.absent.add(local)
            elif len(present[local]) < n:
                group.optional.add(local)
        vectors = {}  # (local, position) -> {instance: leaf value}
        for local, where in present.items():
            if not where:
                continue
            per_instance = {i: leaves(built[i][local]) for i in where}
            for index, (position, _) in enumerate(per_instance[where[0]]):
                vectors[(local, position)] = {i: per_instance[i][index][1] for i in where}
        for (local, position), vector in vectors.items():
            first = next(iter(vector.values()))
            if all(_same(v, first) for v in vector.values()):
                continue
            slot = slot_name(built[next(iter(vector))][local], position)
            mentions = set() if slot in INPUT_SLOTS else \
                set().union(*(inst.mentions.get(local, ()) for inst in group.instances))
            param = self._mentioned(group, candidates, vector, mentions, used) or \
                self._matching(group.params, vector, "")
            if param is None:
                param = self._new_param(candidates, vector, n, _fallback(local, slot), used)
                group.params.append(param)
            group.holes[(local, position)] = param
        # A member present in some instances only shows its channels and strides by the
        # parameters they equal, where the literal would otherwise read as a constant.
        for (local, position), vector in vectors.items():
            if local in group.optional and (local, position) not in group.holes:
                slot = slot_name(built[next(iter(vector))][local], position)
                if slot in BINDABLE_SLOTS:
                    param = self._matching(group.params, vector, slot)
                    if param is not None:
                        group.holes[(local, position)] = param
        for local, where in present.items():
            if where:
                group.ctors[local] = code.rebuild(
                    built[where[0]][local],
                    lambda pos, leaf, local=local: code.Var(group.holes[(local, pos)].name)
                    if (local, pos) in group.holes else leaf)
        self._skip_flags(group, used)
        skip_flags = [p.values for p in group.skips.values()]
        for local in [m for m in group.instances[0].members if m in group.optional]:
            if [built[i][local] is not None for i in range(n)] in skip_flags:
                continue  # a drop_path of the skip: constructed where the skip is
            name = used.create(local if local not in used else f"with_{local}")
            group.params.append(Param(name, [built[i][local] is not None for i in range(n)],
                                      flag=True))
        # Parameters with a default go last, as Python requires.
        group.params.sort(key=lambda p: p.has_default)
        for i, inst in enumerate(group.instances):
            inst.param_values = {p.name: p.values[i] for p in group.params}

    @staticmethod
    def _skip_flags(group: Group, used: Namespace) -> None:
        """A boolean parameter, kept as an attribute, for each skip some instances lack:
        named after a block argument or `let` value that the skip's `when:` names and
        that holds where the skip is applied, else `use_res_connect` (torchvision's)."""
        template = group.instances[0]
        attributes = MODULE_ATTRIBUTES | set(template.members)
        flags: dict[tuple, Param] = {}
        for index, step in enumerate(template.steps):
            vector = [not inst.steps[index].skipped for inst in group.instances]
            if all(vector) or step.kind != "expr":
                continue
            if tuple(vector) not in flags:
                mentions = template.mentions.get(step.local, frozenset())
                name = next((name for name, values, _ in _candidates(group.instances)
                             if name in mentions and name not in attributes and
                             all(_same(v, w) for v, w in zip(values, vector)) and
                             used.claim(name)), None) or \
                    used.create("use_res_connect", avoid=attributes)
                flags[tuple(vector)] = Param(name, vector, flag=True)
                group.params.append(flags[tuple(vector)])
            group.skips[index] = flags[tuple(vector)]

    def _mentioned(self, group: Group, candidates, vector, mentions, used) -> Param | None:
        """The parameter for a block argument or `let` value that the member's own spec
        text names and whose values match (`conv(e1, 1)` -> `e1`, even where e3 == e1)."""
        for name, values, default in candidates:
            if name in mentions and all(_same(values[i], v) for i, v in vector.items()):
                existing = next((p for p in group.params if p.name == name), None)
                if existing is not None:
                    return existing
                if not used.claim(name):
                    continue
                param = Param(name, list(values), default=default)
                group.params.append(param)
                return param
        return None

    @staticmethod
    def _matching(params: list[Param], vector: dict[int, object], slot: str) -> Param | None:
        """A value parameter equal to `vector` where it is given; one named `slot` first."""
        matches = [p for p in params if not p.flag and
                   all(_same(p.values[i], v) for i, v in vector.items())]
        return next((p for p in matches if p.name == slot), matches[0] if matches else None)

    def _new_param(self, candidates, vector, n, fallback, used) -> Param:
        for name, values, default in candidates:
            if name not in used and all(_same(values[i], v) for i, v in vector.items()):
                used.claim(name)
                return Param(name, list(values), default=default)
        name = used.create(fallback)
        if len(vector) == n:
            return Param(name, [vector[i] for i in range(n)])
        # Used only by a member some instances lack: those instances pass nothing.
        return Param(name, [vector.get(i) for i in range(n)], default=None)


def _fallback(local: str, slot: str) -> str:
    """A parameter named after the member and argument it feeds: `conv2_stride`,
    `layer0_padding` for the positional member `0`."""
    name = f"{local}_{slot}".replace("-", "_")
    return name if name.isidentifier() and not keyword.iskeyword(name) else f"layer{name}"


def _candidates(instances: list[Instance]) -> list[tuple[str, list]]:
    """Named values per instance that a parameter may be named after, best first."""
    scope = instances[0].scope
    out = []
    for name in reversed(list(scope.bindings)):  # `let` values (last) are the most specific
        values = [inst.scope.bindings.get(name) for inst in instances]
        if all(isinstance(v, (int, float, str, tuple)) for v in values):
            default = scope.arg_defaults.get(name, NO_DEFAULT)
            if default is not NO_DEFAULT and type(default) is not type(values[0]):
                default = NO_DEFAULT
            out.append((name, values, default))
    out.append(("in_channels", [inst.in_type.channels for inst in instances], NO_DEFAULT))
    out.append(("out_channels", [inst.out_type.channels for inst in instances], NO_DEFAULT))
    return out


def _compatible(a: dict[str, object], b: dict[str, object]) -> bool:
    return all(a[k] == b[k] or WILD in (a[k], b[k]) for k in a)


def _merge_skeletons(into: dict[str, object], members: dict[str, object]) -> None:
    for local, skel in members.items():
        if into[local] == WILD:
            into[local] = skel


def _join_skipping(group: Group, inst: Instance, members: dict[str, object],
                   signature: tuple) -> bool:
    """Join `inst` to `group` if they differ by skips only (emit/skips.py): `inst` lacks
    steps the group's first instance has, or the group's instances all lack steps that
    `inst` has (then `inst` becomes the first). Whichever lacks them is padded."""
    template = group.instances[0]
    skipped = skipped_steps(template, inst)
    if skipped is not None:
        padded = {local: members.get(local, WILD) for local in template.members}
        if not _compatible(group.members, padded):
            return False
        pad(inst, template, skipped)
        _merge_skeletons(group.members, padded)
        group.instances.append(inst)
        return True
    if any(step.skipped for other in group.instances for step in other.steps):
        return False
    skips = [skipped_steps(inst, other) for other in group.instances]
    padded = {local: group.members.get(local, WILD) for local in inst.members}
    if None in skips or not _compatible(padded, members):
        return False
    for other, skipped in zip(group.instances, skips):
        pad(other, inst, skipped)
    _merge_skeletons(padded, members)
    group.members, group.signature = padded, signature
    group.instances.insert(0, inst)
    return True


def _step_signature(inst: Instance) -> tuple:
    producer = {inst.scope.input: "in"}
    producer.update({value: ("import", k) for k, (value, _) in enumerate(inst.scope.imports)})
    out = []
    for index, step in enumerate(inst.steps):
        kind = "member" if step.kind in ("call", "optional") else "expr"
        out.append((kind, step.local, tuple(producer.get(v, v) for v in step.inputs),
                    step.form, len(step.extra)))
        producer[step.output] = index
        for k, value in enumerate(step.extra):
            producer[value] = (index, k + 1)
    out.append(("return", producer.get(inst.scope.output),
                tuple(producer.get(v, v) for v in inst.scope.exports)))
    return tuple(out)


def _compress(node: object) -> object:
    """Runs of three or more equal modules in nn.Sequential become *[m for _ in range(n)]."""
    if not isinstance(node, code.Call):
        return node
    args = tuple(_compress(a) for a in node.args)
    kwargs = tuple((k, _compress(v)) for k, v in node.kwargs)
    if node.func == "nn.Sequential":
        runs: list[object] = []
        i = 0
        while i < len(args):
            j = i
            while j < len(args) and args[j] == args[i]:
                j += 1
            runs += [code.Starred(args[i], j - i)] if j - i >= 3 else list(args[i:j])
            i = j
        args = tuple(runs)
    return code.Call(node.func, args, kwargs, node.arg_names, node.defaults)
