"""The PyTorch source emitter: an annotated graph in, readable Python out.

The output is deterministic (the same graph gives byte-identical text) and
contains no text from the spec except validated identifiers and `repr` of
checked values. `emit` returns the source and a map from its lines to the
graph nodes and scopes they came from; it never writes files.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from dataclasses import dataclass

from archdsl.diagnostics import error
from archdsl.emit import arguments, code
from archdsl.emit.arguments import Argument, Vary
from archdsl.emit.generalize import Group, Grouper, Param
from archdsl.emit.init_code import init_method
from archdsl.emit.instances import Builder, Step
from archdsl.emit.shape_comments import shape_changes, shape_text
from archdsl.emit.torch_ops import RENDERINGS, rendering
from archdsl.graph import Graph
from archdsl.names import RESERVED, Namespace, class_name
from archdsl.passes.forms import dense_positions

INDENT = "    "


@dataclass(frozen=True)
class Emitted:
    """Generated source, the name of its top-level class, and where each line came from."""

    source: str
    class_name: str
    line_map: dict[int, tuple[str, ...]]


def docstring(text: str, indent: str) -> list[str]:
    """A docstring for spec-provided text that cannot break out of the literal."""
    text = " ".join(text.split())
    if not text:
        return []
    if '"""' in text or text.endswith('"') or "\\" in text or not text.isprintable():
        return [f"{indent}{code.literal(text)}"]
    lines = textwrap.wrap(text, width=88 - len(indent) - 6)
    if len(lines) == 1:
        return [f'{indent}"""{lines[0]}"""']
    return [f'{indent}"""{lines[0]}'] + [f"{indent}{line}" for line in lines[1:]] + \
        [f'{indent}"""']


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.line_map: dict[int, tuple[str, ...]] = {}

    def add(self, lines: list[str], origin: tuple[str, ...] = ()) -> None:
        for line in lines:
            self.lines.append(line)
            if origin:
                self.line_map[len(self.lines)] = origin


@dataclass(frozen=True)
class FileNames:
    """The generated file's global names (`module`: what it imports, its helper and
    generated classes), and the type a network with auxiliary heads returns."""

    module: Namespace
    outputs_type: str | None


def file_names(graph: Graph) -> FileNames:
    """The file's namespace, with the outputs type named. The spec names that type
    (the front end refuses Python's names and the network's class); where it equals a
    helper class or an import, it takes a number (`Join2`)."""
    module = Namespace(RESERVED | IMPORTED |
                       {name for r in RENDERINGS.values() for name in r.helper_classes()})
    network = class_name(graph.name)
    module.claim(network)  # the network's class keeps its name
    outputs_type = module.create(graph.outputs[0], "", 2) if graph.outputs else None
    module.release(network)  # claimed again by name_classes
    return FileNames(module, outputs_type)


@dataclass(frozen=True)
class Plan:
    """What the file will hold before it is written: its names and its classes
    (the network's last)."""

    graph: Graph
    naming: FileNames
    groups: tuple[Group, ...]

    @property
    def root(self) -> Group:
        return self.groups[-1]


def plan(graph: Graph) -> Plan:
    """Group the graph's scopes into classes, named and with their parameters."""
    naming = file_names(graph)
    module = naming.module
    builder = Builder(graph)
    grouper = Grouper()
    names: dict[str, str] = {}
    for scope in builder.class_scopes():
        inst = builder.instance(scope)
        key = "network" if scope.path == () else (
            f"block:{scope.block}" if scope.block else scope.origin)
        # A positional member is named after its parent too: `convs.4` is Convs4.
        local = "_".join(scope.path[-2:]) if scope.path and scope.path[-1].isdigit() \
            else scope.path[-1] if scope.path else graph.name
        names[key] = class_name(graph.name if scope.path == () else scope.block or local)
        grouper.add(inst, key)
    grouper.name_classes(names, module)
    for group in grouper.groups:
        grouper.parametrize(group, module)
    return Plan(graph, naming, tuple(grouper.groups))


def emit(graph: Graph, spec_path: str, doc: str = "", params: dict | None = None,
         vary: Vary | None = None) -> Emitted:
    """Generate the PyTorch source of `graph` (which must carry shapes).

    Given the spec's `params`, the network class's docstring says which are baked
    into the file; given `vary` too (the graph with one param moved, see
    emit/arguments.py), those that only change its literals become arguments of
    its constructor, with the spec's values as defaults."""
    base = plan(graph)
    found = arguments.find(base, params, vary, plan, lambda p, a: _render(p, spec_path, doc, a)
                           .source) if params and vary else ()
    note = arguments.note(params, found) if params else []
    return _render(base, spec_path, doc, found, note)


def _render(plan: Plan, spec_path: str, doc: str, found: tuple[Argument, ...] = (),
            note: list[tuple[str, list[str]]] = ()) -> Emitted:
    graph, naming = plan.graph, plan.naming
    groups = arguments.apply(plan.groups, found)
    file_name = code.safe_file_name(spec_path)
    out = _Writer()
    out.add(docstring(doc or f"{graph.name}, generated by archdsl.", ""))
    header = f"# Generated by `archdsl compile` from {file_name}: edit the spec, not this file."
    out.add(([header] if len(header) <= code.MAX_LINE else
             [f"# Generated by `archdsl compile` from {file_name}:",
              "# edit the spec, not this file."]) + [""])
    body = _Writer()
    supports = []
    for node in graph.ops():
        render = rendering(node.op)
        types = [graph.shape(s) for s in graph.inputs(node.name)]
        helper = render.helper(node.op, types)
        if helper is not None and helper[1] not in supports:
            supports.append(helper[1])
    for support in supports:
        body.add(["", ""] + support.splitlines())
    if graph.outputs:
        body.add(["", ""] + _outputs_class(graph, naming.outputs_type))
    for group in groups:
        body.add(["", ""])
        _class(body, group, graph, naming, note if group is groups[-1] else [])
    root = groups[-1].class_name
    out.add(_imports("\n".join(body.lines)) + ["", f"__all__ = [{code.literal(root)}]"])
    offset = len(out.lines)
    out.lines += body.lines
    out.line_map.update({line + offset: origin for line, origin in body.line_map.items()})
    return Emitted("\n".join(out.lines) + "\n", root, out.line_map)


# Names the generated file may import besides torch's (RESERVED has those).
IMPORTED = frozenset({"OrderedDict", "fnmatchcase", "Dict", "NamedTuple", "Optional",
                      "Tuple"})


def _imports(text: str) -> list[str]:
    """The imports the generated text uses, grouped like isort."""
    standard = []
    if "OrderedDict(" in text:
        standard.append("from collections import OrderedDict")
    if "fnmatchcase(" in text:
        standard.append("from fnmatch import fnmatchcase")
    typing = [name for name in ("Dict", "NamedTuple", "Optional", "Tuple") if f"{name}[" in text or
              f"({name})" in text]
    if typing:
        standard.append(f"from typing import {', '.join(typing)}")
    third = (["import torch"] if "torch." in text else []) + ["from torch import Tensor, nn"]
    return standard + ([""] if standard else []) + third


# ---------------------------------------------------------------------- classes


def _class(out: _Writer, group: Group, graph: Graph, naming: FileNames,
           note: list[tuple[str, list[str]]] = ()) -> None:
    first = group.instances[0]
    scope = first.scope
    base = "nn.Sequential" if first.sequential_base else "nn.Module"
    out.add([f"class {group.class_name}({base}):"])
    span = scope.defined_at or scope.span
    where = f" ({code.origin(span)})" if span else ""
    if scope.block:
        text = f"{scope.block}: {scope.doc}{where}" if scope.doc else \
            f"The {scope.block} block{where}."
    elif scope.path == ():
        text = f"The {graph.name} network{where}."
    else:
        text = f"{'.'.join(scope.path)}{where}."
    out.add(arguments.with_note(docstring(text, INDENT), note, INDENT))
    out.add([""])
    out.add(_signature([f"{p.name}: {_annotation(p)}" +
                        (f" = {code.literal(p.default)}" if p.has_default else "")
                        for p in group.params]))
    origins = {local: _origins(group, local) for local in group.ctors}
    if first.sequential_base:
        ctors = tuple(group.ctors[local] for local in first.members)
        if not dense_positions(scope):  # a transform removed some: keep the other names
            pairs = tuple(code.TupleOf((local, ctor)) for local, ctor in zip(first.members,
                                                                                ctors))
            ctors = (code.Call("OrderedDict", (code.ListOf(pairs),)),)
        out.add(code.format_lines(code.Call("super().__init__", ctors), INDENT * 2))
        if first.steps:  # not a chain: its own forward over self[0], self[1], …
            out.add([""])
            _forward(out, group, graph, naming)
        return
    out.add([f"{INDENT * 2}super().__init__()"])
    for flag in dict.fromkeys(p.name for p in group.skips.values()):
        out.add([f"{INDENT * 2}self.{flag} = {flag}"])
    for local, ctor in group.ctors.items():
        comment = _source_comment(graph, group, local)
        target = f"self.{local} = "
        if local in group.optional:
            flag = next(p.name for p in group.params if p.flag and p.values ==
                        [inst.members[local] is not None for inst in group.instances])
            out.add([f"{INDENT * 2}self.{local} = None", f"{INDENT * 2}if {flag}:"])
            out.add(code.format_lines(ctor, INDENT * 3, target, comment=comment),
                    origins[local])
        else:
            out.add(code.format_lines(ctor, INDENT * 2, target, comment=comment),
                    origins[local])
    init = init_method(graph) if scope.path == () else []
    if init:
        out.add([f"{INDENT * 2}self.init_weights()"])
    if scope.path == () and graph.memory_format:
        out.add([f"{INDENT * 2}self.to(memory_format=torch.{graph.memory_format})"
                 f"  # NHWC: faster convs"])
    out.add([""])
    _forward(out, group, graph, naming)
    out.add(init)


def _signature(params: list[str]) -> list[str]:
    flat = f"{INDENT}def __init__({', '.join(['self'] + params)}) -> None:"
    if len(flat) <= 88:
        return [flat]
    return [f"{INDENT}def __init__(", f"{INDENT * 2}self,"] + \
        [f"{INDENT * 2}{p}," for p in params] + [f"{INDENT}) -> None:"]


def _annotation(param: Param) -> str:
    kinds = {type(v) for v in param.values if v is not None}
    if len(kinds) == 1:
        kind = {bool: "bool", int: "int", float: "float", str: "str"}.get(kinds.pop(), "tuple")
    else:
        kind = "float" if kinds <= {int, float} else "object"
    return f"Optional[{kind}]" if None in param.values else kind


def _origins(group: Group, local: str) -> tuple[str, ...]:
    return tuple(".".join(inst.scope.path + (local,)) for inst in group.instances
                 if inst.members.get(local) is not None)


def _source_comment(graph: Graph, group: Group, local: str) -> str:
    scope = group.instances[0].scope
    name = ".".join(scope.path + (local,))
    span = graph.node(name).span if name in graph.dag else \
        getattr(graph.scopes.get(scope.path + (local,)), "span", None)
    return f"  # {code.origin(span)}" if span else ""


# ---------------------------------------------------------------------- forward


def _forward(out: _Writer, group: Group, graph: Graph, naming: FileNames) -> None:
    first = group.instances[0]
    root = first.scope.path == ()
    absent = {f"ghost:{s.local}": s.inputs[0] for s in first.steps if s.local in group.absent}
    steps = [(i, s) for i, s in enumerate(first.steps) if s.local not in group.absent]
    uses = Counter(absent.get(v, v) for _, s in steps for v in s.inputs)
    returned = [absent.get(first.scope.output, first.scope.output)]
    if root and graph.outputs:
        returned = [value for _, value in graph.outputs[1]]
    if root and graph.returns:
        returned = [value for _, value in graph.returns]
    exports = [] if root else list(first.scope.exports)
    uses.update(returned + exports)
    var = {first.scope.input: "x"}
    live: dict[str, str] = {"x": first.scope.input}
    arguments = ["x: Tensor"]
    for value, hint in first.scope.imports:  # values of the module around it
        name = _fresh(hint, live, uses, naming.module)
        var[value], live[name] = name, value
        arguments.append(f"{name}: Tensor")
    result = naming.outputs_type if root and graph.outputs else \
        "Dict[str, Tensor]" if root and graph.returns else \
        f"Tuple[{', '.join(['Tensor'] * (1 + len(exports)))}]" if exports else "Tensor"
    flat = f"{INDENT}def forward(self, {', '.join(arguments)}) -> {result}:"
    out.add([flat] if len(flat) <= 88 else
            [f"{INDENT}def forward(", f"{INDENT * 2}self,"] +
            [f"{INDENT * 2}{a}," for a in arguments] + [f"{INDENT}) -> {result}:"])
    out.add([f"{INDENT * 2}# x: {shape_text(group, None)}"])
    if root and graph.memory_format:
        out.add([f"{INDENT * 2}x = x.contiguous(memory_format=torch.{graph.memory_format})"])
    extras = _network_code(graph) if root else []
    # An nn.Sequential subclass reaches its members by position: self[0], self[1], ….
    positions = {local: i for i, local in enumerate(first.members)} \
        if first.sequential_base else {}
    for prologue, _ in extras:
        out.add([INDENT * 2 + line for line in prologue])
    for index, step in steps:
        inputs = [absent.get(v, v) for v in step.inputs]
        args = [code.Var(var[v]) for v in inputs]
        for v in inputs:
            uses[v] -= 1
        # A skip's step, where it runs, replaces its first input (dead after it).
        target = var[inputs[0]] if index in group.skips else \
            _target(step, inputs[0], var, uses, live, naming.module)
        var[step.output] = target
        live[target] = step.output
        targets = [target]
        for value, hint in zip(step.extra, step.extra_hints):  # out, layer3 = self.backbone(x)
            name = _fresh(hint, live, uses, naming.module)
            var[value] = name
            live[name] = value
            targets.append(name)
        origin = _step_origins(group, index)
        if step.kind == "optional" or step.local in group.optional:
            out.add(([f"{INDENT * 2}{target} = {args[0].name}"] if target != args[0].name
                     else []) +
                    [f"{INDENT * 2}if self.{step.local} is not None:",
                     f"{INDENT * 3}{target} = self.{step.local}({args[0].name})"], origin)
            continue
        member = code.Attr(str(positions.get(step.local, step.local)))
        if step.kind == "call" and step.node:
            op = graph.node(step.node).op
            value = rendering(op).apply(op, member, args, step.in_types, step.out_type)
        elif step.kind == "call":
            value = code.Call(member, tuple(args))
        else:
            op = graph.node(step.node).op
            value = rendering(op).expression(op, args, step.in_types, step.out_type)
        comment = f"  # {shape_text(group, index, first.mentions.get(step.local, ()))}" \
            if shape_changes(group, index) else ""
        if step.auxiliary:
            out.add([f"{INDENT * 2}{target}: Optional[Tensor] = None",
                     f"{INDENT * 2}if self.training:"])
            out.add(code.format_lines(value, INDENT * 3, f"{target} = ", comment=comment),
                    origin)
            continue
        if isinstance(value, code.Var) and value.name == target:
            continue  # identity: nothing to do
        indent = INDENT * 2
        if index in group.skips:  # a residual's skip that some instances lack
            out.add([f"{indent}if self.{group.skips[index].name}:"])
            indent += INDENT
        if step.inplace and args[0].name == target:  # torchvision's `out += identity`
            out.add([f"{indent}{target} += {args[1].name}{comment}"], origin)
            continue
        out.add(code.format_lines(value, indent, f"{', '.join(targets)} = ", comment=comment),
                origin)
    names = [var[v] for v in returned]
    if root and graph.returns:
        items = [f"{code.literal(key)}: {name}" for (key, _), name in zip(graph.returns, names)]
        flat = f"{INDENT * 2}return {{{', '.join(items)}}}"
        out.add([flat] if len(flat) <= 88 else
                [f"{INDENT * 2}return {{"] + [f"{INDENT * 3}{item}," for item in items] +
                [f"{INDENT * 2}}}"])
        _add_methods(out, extras)
        return
    if not (root and graph.outputs):
        out.add([f"{INDENT * 2}return {', '.join([names[0]] + [var[v] for v in exports])}"])
        _add_methods(out, extras)
        return
    kind = naming.outputs_type
    out.add([f"{INDENT * 2}if torch.jit.is_scripting():",
             f"{INDENT * 3}return {kind}({', '.join(names)})",
             f"{INDENT * 2}return self.eager_outputs({', '.join(names)})", "",
             f"{INDENT}@torch.jit.unused"])
    main = var[graph.output]
    params = [f"{n}: {'Tensor' if n == main else 'Optional[Tensor]'}" for n in names]
    flat = f"{INDENT}def eager_outputs(self, {', '.join(params)}) -> {kind}:"
    out.add([flat] if len(flat) <= code.MAX_LINE else
            [f"{INDENT}def eager_outputs(", f"{INDENT * 2}self,",
             *(f"{INDENT * 2}{p}," for p in params), f"{INDENT}) -> {kind}:"])
    out.add([f'{INDENT * 2}"""The outputs in training mode, the main output alone in eval mode."""',
             f"{INDENT * 2}if self.training:",
             f"{INDENT * 3}return {kind}({', '.join(names)})",
             f"{INDENT * 2}return {main}  # type: ignore[return-value]"])
    _add_methods(out, extras)


def _network_code(graph: Graph) -> list[tuple[list[str], list[str]]]:
    """What ops need at the network level (e.g. FractalNet's per-batch column)."""
    by_class: dict[type, list] = {}
    for node in graph.ops():
        by_class.setdefault(type(node.op), []).append(node)
    out = []
    for nodes in by_class.values():
        try:
            extra = rendering(nodes[0].op).network_code([n.op for n in nodes])
        except ValueError as exc:
            raise error("E0405", str(exc), nodes[0].span) from None
        if extra:
            out.append(extra)
    return out


def _add_methods(out: _Writer, extras) -> None:
    for _, methods in extras:
        out.add([""] + [INDENT + line for line in methods])


def _outputs_class(graph: Graph, kind: str) -> list[str]:
    """The NamedTuple a network with auxiliary heads returns in training mode."""
    fields = graph.outputs[1]
    lines = [f"class {kind}(NamedTuple):",
             f'{INDENT}"""What {class_name(graph.name)} returns in training mode."""', ""]
    for field, value in fields:
        kind = "Tensor" if value == graph.output else "Optional[Tensor]"
        lines.append(f"{INDENT}{field}: {kind}")
    return lines


def _target(step: Step, first_input: str, var: dict, uses: Counter, live: dict,
            module: Namespace) -> str:
    """The variable a step assigns: its hint, else its input's if that is dead, else fresh.

    Locals are reused once their value is dead (`live`); none takes a name of the
    file's namespace (`module`: a builtin, an import, a class), which it would shadow."""
    def free(name: str) -> bool:
        return _fresh(name, live, uses, module) == name

    if step.auxiliary:  # an auxiliary head's output, named after it, kept to the end
        base = step.local if step.local not in module else f"{step.local}_out"
        name, k = base, 1
        while live.get(name) is not None:
            k += 1
            name = f"{base}_{k}"
        return name
    hint = step.hint if step.hint and step.hint not in module else None
    if hint and (free(hint) or var.get(first_input) == hint and uses[first_input] <= 0):
        return hint
    if uses[first_input] <= 0 and first_input in var:
        return var[first_input]
    return _fresh(hint or "out", live, uses, module)


def _fresh(base: str, live: dict, uses: Counter, module: Namespace) -> str:
    """A variable name from `base` (`out`, `out_2`, …) that holds no value still to be
    read and shadows no global of the file."""
    name, k = base, 1
    while name in module or (live.get(name) is not None and uses[live[name]] > 0):
        k += 1
        name = f"{base}_{k}"
    return name


def _step_origins(group: Group, index: int) -> tuple[str, ...]:
    out = []
    for inst in group.instances:
        step = inst.steps[index] if index < len(inst.steps) else None
        if step is not None and step.local and not step.skipped:
            out.append(".".join(inst.scope.path + (step.local,)))
    return tuple(out)
