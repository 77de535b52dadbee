"""Load a spec: YAML text -> records -> the checked syntax tree (`Spec`)."""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass, replace

from archdsl import zoo
from archdsl.diagnostics import Diagnostic, Label, SpecError, error, gathered
from archdsl.lang import expr as ast
from archdsl.lang import extends
from archdsl.lang.evaluate import BUILTINS, CONSTANTS, STAGE, suggest, suggest_op
from archdsl.lang.init import InitDecl
from archdsl.lang.items import Item, ItemParser, Named, Seq, SExpr
from archdsl.lang.patch import Patch
from archdsl.lang.patch import apply as apply_patch
from archdsl.lang.records import validate
from archdsl.lang.schema import BlockRecord, SpecRecord
from archdsl.lang.yamlload import SpanTable, load_yaml, read_text
from archdsl.limits import DEFAULT_LIMITS, Limits
from archdsl.names import RESERVED, class_name, identifier_problem
from archdsl.source import SourceFile, Span

ARG_TYPES = ("int", "float", "bool", "str", "list")
# Bound in every block body to the block's input.
IMPLICIT_BLOCK_NAMES = ("in_channels", "in_shape")


@dataclass(frozen=True)
class ArgDecl:
    name: str
    type: str | None  # a required argument's type, or None for one with a default
    default: SExpr | None
    span: Span


@dataclass(frozen=True)
class BlockDef:
    name: str
    doc: str
    args: tuple[ArgDecl, ...]
    lets: tuple[tuple[str, SExpr], ...]
    body: Item
    span: Span  # the block's name in `blocks:`
    # A block that is another spec's network (`spec:`): that spec, its network cut
    # `until` a layer. Its params are the block's keyword arguments.
    spec: Spec | None = None


@dataclass(frozen=True)
class OutputsDecl:
    """The NamedTuple a network with heads returns in training mode."""

    name: str
    fields: tuple[tuple[str, str], ...]  # field -> "network" or a head's name
    span: Span


@dataclass(frozen=True)
class ReturnsDecl:
    """The named outputs a network returns as a dict: key -> a member of its list."""

    entries: tuple[tuple[str, str, Span], ...]  # key, member name (or "network"), where
    span: Span


@dataclass(frozen=True)
class Spec:
    """A loaded spec: every name checked, every expression parsed, every span kept."""

    name: str
    doc: str
    input: tuple[int, ...]
    params: tuple[tuple[str, SExpr], ...]
    blocks: dict[str, BlockDef]
    network: Item
    table: SpanTable
    outputs: OutputsDecl | None = None
    init: tuple[InitDecl, ...] = ()
    returns: ReturnsDecl | None = None
    # The real path of every file the spec was read from: itself (when read from a
    # file), its `extends` parents and the files of its `spec:` blocks.
    files: tuple[str, ...] = ()

    @property
    def source(self) -> SourceFile:
        return self.table.source

    @property
    def path(self) -> str:
        return self.table.source.path

    def param_span(self, name: str) -> Span:
        return self.table.key(("params", name))


def load_spec(path: str, limits: Limits = DEFAULT_LIMITS, patches: list[Patch] = (), *,
              ops: Collection[str], root: str | None = None) -> Spec:
    """Read and check the spec file at `path`, with `patches` (from --set) applied;
    `ops` are the names of the ops a spec may call (the registry lies above the front
    end, so its caller passes them in). The files it refers to must lie under `root`
    (default: the spec's repository, else its directory)."""
    spec = parse_spec(read_text(path, limits), path, limits, patches, ops=ops, root=root)
    return replace(spec, files=_unique((os.path.realpath(path),) + spec.files))


def parse_spec(text: str, path: str = "<spec>", limits: Limits = DEFAULT_LIMITS,
               patches: list[Patch] = (), *, ops: Collection[str],
               root: str | None = None) -> Spec:
    """Check spec `text` (shown in diagnostics as coming from `path`): every error
    of the front end is reported, in order of position (at most MAX_SHOWN)."""
    data, table = load_yaml(text, path, limits)
    if not isinstance(data, dict):
        raise error("E0202", "a spec is a mapping with `archdsl`, `name`, `input` and "
                    "`network`", table.value(()), help="start the file with `archdsl: 1`")
    root = extends.default_root(path) if root is None else os.path.realpath(root)
    try:
        return _check(data, table, path, limits, patches, ops, root)
    except SpecError as exc:
        raise SpecError(gathered(exc.diagnostics, first=path)) from None


class _Errors:
    """The errors found so far. A failed check is noted and the next one runs, as a
    compiler goes on after an error; a limit (E05xx) stops at once."""

    def __init__(self) -> None:
        self.found: list[Diagnostic] = []

    def run(self, check, *args):
        """`check(*args)`, or None if it fails."""
        try:
            return check(*args)
        except SpecError as exc:
            self.found += exc.diagnostics
            if any(d.code.startswith("E05") for d in exc.diagnostics):
                raise SpecError(self.found) from None
            return None

    def raise_any(self) -> None:
        if self.found:
            raise SpecError(self.found)


def _check(data: dict, table: SpanTable, path: str, limits: Limits, patches: list[Patch],
           ops: Collection[str], root: str) -> Spec:
    data, table, parents = extends.resolve(data, table, path, limits, root)
    for patch in patches:
        data, table = apply_patch(data, table, patch)
    record: SpecRecord = validate(SpecRecord, data, (), table)
    reserved = set(ops) | set(BUILTINS) | set(CONSTANTS) | {STAGE}
    errors = _Errors()
    errors.run(_check_name, record.name, ("name",), table, set(), False)
    parser = ItemParser(table, limits)
    params = []
    for name, value in data.get("params", {}).items():
        errors.run(_check_name, name, ("params", name), table,
                   reserved | set(IMPLICIT_BLOCK_NAMES))
        params.append((name, errors.run(parser.expr, value, ("params", name))))
    blocks, files = {}, list(parents)
    for name, block in record.blocks.items():
        errors.run(_check_name, name, ("blocks", name), table, reserved | {p for p, _ in params})
        if block.spec is not None:
            blocks[name] = errors.run(_spec_block, name, block, path, table, limits, ops, root)
            files += blocks[name].spec.files if blocks[name] else ()
            continue
        blocks[name] = _block(name, block, data["blocks"][name], parser, table, reserved,
                              errors)
    network = Seq(tuple(errors.run(parser.item, item, ("network", i))
                        for i, item in enumerate(data["network"])), table.value(("network",)))
    outputs = None if record.outputs is None else \
        errors.run(_outputs, record.outputs, table, record.name)
    init = tuple(errors.run(_init, ("init", i), rule, raw, parser, table, ops)
                 for i, (rule, raw) in enumerate(zip(record.init, data.get("init", []))))
    returns = None if record.returns is None else errors.run(_returns, record, table)
    errors.raise_any()
    return Spec(record.name, record.doc, tuple(record.input), tuple(params), blocks,
                network, table, outputs, init, returns, _unique(tuple(files)))


def _unique(files: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(files))


def _returns(record: SpecRecord, table: SpanTable) -> ReturnsDecl:
    path = ("returns",)
    if record.outputs is not None:
        raise error("E0203", "a spec has `outputs` (training-mode heads) or `returns` (named "
                    "outputs), not both", table.key(path),
                    help="return the heads by name in `returns`")
    if not record.returns:
        raise error("E0203", "`returns` needs at least one output", table.value(path))
    entries = []
    for key, member in record.returns.items():
        if not key or len(key) > 64 or not key.isprintable() or not key.isascii():
            raise error("E0210", "an output key is 1 to 64 printable ASCII characters",
                        table.key(path + (key,)))
        entries.append((key, member, table.value(path + (key,))))
    return ReturnsDecl(tuple(entries), table.key(path))


def _outputs(record, table: SpanTable, network: str) -> OutputsDecl:
    path = ("outputs",)
    _check_name(record.name, path + ("name",), table, reserved=set(), key=False)
    if record.name in RESERVED or record.name == class_name(network):
        what = "the network's class" if record.name == class_name(network) else \
            "a name the generated code uses"
        raise error("E0210", f"the `outputs` type `{record.name}` is {what}",
                    table.value(path + ("name",)), help="name it like `NetOutputs`")
    for field in record.fields:
        _check_name(field, path + ("fields", field), table, reserved=set())
        if field.startswith("_"):  # a NamedTuple's own attributes start with `_`
            raise error("E0210", f"the `outputs` field `{field}` starts with `_`",
                        table.key(path + ("fields", field)),
                        help="name the field without a leading `_`")
    _check_output_sources(record.fields, path + ("fields",), table)
    return OutputsDecl(record.name, tuple(record.fields.items()), table.key(path))


def _check_output_sources(fields: dict[str, str], path: tuple, table: SpanTable) -> None:
    """Each value is returned by one field, and the main output (`network`) by one: in
    eval mode the network returns that field's value alone."""
    first: dict[str, str] = {}
    for field, source in fields.items():
        if source in first:
            raise error("E0306", f"the `outputs` fields `{first[source]}` and `{field}` both "
                        f"return `{source}`", table.value(path + (field,)),
                        labels=(Label(table.value(path + (first[source],)), "first here"),),
                        help="return each output once")
        first[source] = field
    if "network" not in first:
        raise error("E0201", "no `outputs` field returns `network`, the main output",
                    table.value(path), help="add a field for it, e.g. `logits: network`")


def _init(path: tuple, record, raw: dict, parser: ItemParser, table: SpanTable,
          ops: Collection[str]) -> InitDecl:
    if record.op is not None and record.op not in ops:
        raise error("E0304", f"unknown op `{record.op}`", table.value(path + ("op",)),
                    help=suggest_op(record.op, ops) or "init rules select ops by name")
    when = parser.expr(raw["when"], path + ("when",)) if "when" in raw else \
        SExpr(ast.Const(0, 0, True), table.value(path))
    weight, bias = (parser.expr(raw[k], path + (k,)) if raw.get(k) is not None else None
                    for k in ("weight", "bias"))
    return InitDecl(record.op, record.name, when, weight, bias, table.value(path))


def _block(name: str, record: BlockRecord, raw: dict, parser: ItemParser, table: SpanTable,
           reserved: set[str], errors: _Errors) -> BlockDef:
    here = ("blocks", name)
    taken = reserved | set(IMPLICIT_BLOCK_NAMES)
    args = []
    for arg, value in raw.get("args", {}).items():
        path = here + ("args", arg)
        errors.run(_check_name, arg, path, table, taken)
        if isinstance(value, str) and value in ARG_TYPES:
            args.append(ArgDecl(arg, value, None, table.key(path)))
        else:
            args.append(ArgDecl(arg, None, errors.run(parser.expr, value, path),
                                table.key(path)))
    lets = []
    for let, value in raw.get("let", {}).items():
        path = here + ("let", let)
        errors.run(_check_name, let, path, table, taken | {a.name for a in args})
        lets.append((let, errors.run(parser.expr, value, path)))
    if record.body is not None:
        body = errors.run(parser.item, raw["body"], here + ("body",))
    elif record.residual is not None:
        body = errors.run(parser.item, {"residual": raw["residual"]}, here)
    else:
        body = errors.run(parser.item, {"branches": raw["branches"], "merge": raw["merge"]},
                          here)
    return BlockDef(name, record.doc, tuple(args), tuple(lets), body, table.key(here))


# The specs being loaded through `spec:` blocks, by real path: a cycle is an error.
_LOADING: list[str] = []


def _spec_block(name: str, record: BlockRecord, path: str, table: SpanTable, limits: Limits,
                ops: Collection[str], root: str) -> BlockDef:
    """A block that is the network of the spec file `record.spec`, cut `until` a layer."""
    here = ("blocks", name)
    where = table.value(here + ("spec",))
    # A block inherited from a zoo spec (`extends: archdsl::…`) names a file beside it.
    origin = where.source.path if zoo.contains(where.source.path) else path
    _, target = extends.confined(record.spec, origin, root, where, "spec")
    if target in _LOADING:
        raise error("E0503", f"`{record.spec}` is already being loaded: spec blocks form a "
                    "cycle", where)
    if len(_LOADING) >= limits.max_block_depth:
        raise error("E0501", f"spec blocks nest deeper than {limits.max_block_depth} files",
                    where)
    data, inner_table = extends.read_spec(target, record.spec, where, limits)
    _LOADING.append(target)
    try:
        inner = _check(data, inner_table, target, limits, (), ops, root)
    finally:
        _LOADING.pop()
    inner = replace(inner, files=_unique((target,) + inner.files))
    network = inner.network
    if record.within is not None:
        network = _within(network, record.within, table.value(here + ("within",)))
    if record.until is not None:
        network = _until(network, record.until, table.value(here + ("until",)))
    doc = record.doc or (f"The `{record.within}` of {os.path.basename(target)}"
                         if record.within else f"The network of {os.path.basename(target)}") \
        + (f", up to `{record.until}`." if record.until else ".")
    return BlockDef(name, doc, (), (), network, table.key(here), replace(inner, network=network))


def _within(network: Item, member: str, where: Span) -> Item:
    """The layers of the member named `member` of `network`."""
    items, index = _named(network, member, where)
    return items[index].item


def _until(network: Item, until: str, where: Span) -> Item:
    """`network` (a list of layers) up to and including the layer named `until`."""
    items, index = _named(network, until, where)
    return Seq(items[:index + 1], network.span)


def _named(network: Item, name: str, where: Span) -> tuple[tuple[Item, ...], int]:
    """The top-level layers of `network`, and where the one named `name` is; E0301 at
    `where` if there is none."""
    items = network.items if isinstance(network, Seq) else (network,)
    names = [item.name if isinstance(item, Named) and isinstance(item.name, str) else None
             for item in items]
    if name in names:
        return items, names.index(name)
    known = [n for n in names if n is not None]
    raise error("E0301", f"the spec's network has no layer `{name}`", where,
                help=suggest(name, known) or f"its named layers are: {', '.join(known)}")


def _check_name(name: str, path: tuple, table: SpanTable, reserved: Collection[str],
                key: bool = True) -> None:
    span = table.key(path) if key else table.value(path)
    problem = identifier_problem(name)
    if problem:
        raise error("E0210", f"invalid name: {problem}", span,
                    help="use letters, digits and `_`, starting with a letter")
    if name in reserved:
        raise error("E0210", f"`{name}` is already the name of an op, builtin or value",
                    span, help="choose another name")


__all__ = ["Spec", "BlockDef", "ArgDecl", "load_spec", "parse_spec", "SpecError"]
