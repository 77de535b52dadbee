"""YAML text -> plain data plus a table of where every key and value came from.

The data has `yaml.safe_load` semantics (only null, bool, int, float, str,
lists and string-keyed mappings) with three differences that make it safe to
accept from anyone: a duplicate key is an error rather than a silent overwrite,
aliases are counted as they expand (an "alias bomb" hits a limit instead of
memory), and nesting depth is bounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from archdsl.diagnostics import Label, error
from archdsl.limits import DEFAULT_LIMITS, Limits
from archdsl.spec.source import SourceFile, Span, whole_line_span

Path = tuple  # a path into the data: mapping keys (str) and list indices (int)

_COLLECTION_TAGS = {"tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"}
_SCALAR_TAGS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:str",
}


@dataclass
class SpanTable:
    """Where each value (and each mapping key) of a loaded document came from."""

    source: SourceFile
    values: dict[Path, Span] = field(default_factory=dict)
    keys: dict[Path, Span] = field(default_factory=dict)

    def value(self, path: Path) -> Span:
        """The span of the value at `path`, or of its nearest located ancestor."""
        path = tuple(path)
        while path not in self.values and path:
            path = path[:-1]
        return self.values.get(path) or whole_line_span(self.source)

    def key(self, path: Path) -> Span:
        """The span of the key that introduces `path` (the value's, for list items)."""
        return self.keys.get(tuple(path)) or self.value(path)

    def update(self, other: SpanTable, prefix: Path = ()) -> None:
        """Take `other`'s spans, re-rooted under `prefix`."""
        for p, s in other.values.items():
            self.values[prefix + p] = s
        for p, s in other.keys.items():
            self.keys[prefix + p] = s


def _mark_span(source: SourceFile, node: yaml.Node) -> Span:
    start, end = node.start_mark, node.end_mark
    line, col = start.line + 1, start.column + 1
    end_line, end_col = end.line + 1, end.column + 1
    content_col = None
    if isinstance(node, yaml.ScalarNode) and end_line == line:
        width = end_col - col
        if node.style is None and len(node.value) == width:
            content_col = col
        elif node.style in ("'", '"') and len(node.value) == width - 2:
            content_col = col + 1
    return Span(source, line, col, end_line, end_col, content_col)


class _Converter:
    """Walks the composed node tree, building data and spans, within limits."""

    def __init__(self, source: SourceFile, limits: Limits):
        self.source = source
        self.limits = limits
        self.table = SpanTable(source)
        self.count = 0
        self._constructor = yaml.SafeLoader("")

    def convert(self, node: yaml.Node, path: Path, depth: int):
        self.count += 1
        span = _mark_span(self.source, node)
        if self.count > self.limits.max_yaml_nodes:
            raise error("E0103", f"the document expands to more than "
                        f"{self.limits.max_yaml_nodes} values", span,
                        label="expansion reaches the limit here",
                        help="aliases (*name) are expanded in full; write the spec without "
                             "repeated aliases, or raise Limits.max_yaml_nodes")
        if depth > self.limits.max_yaml_depth:
            raise error("E0103", f"the document nests deeper than "
                        f"{self.limits.max_yaml_depth} levels", span,
                        help="flatten the structure, or raise Limits.max_yaml_depth")
        self.table.values[path] = span
        if node.tag not in _COLLECTION_TAGS and not isinstance(node, yaml.ScalarNode):
            raise error("E0102", f"unsupported YAML tag `{node.tag}`", span,
                        help="a spec holds only numbers, strings, booleans, null, "
                             "lists and mappings")
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, span)
        if isinstance(node, yaml.SequenceNode):
            children = _rejoin_calls(self.source, node) if node.flow_style else node.value
            return [self.convert(child, path + (i,), depth + 1)
                    for i, child in enumerate(children)]
        return self._mapping(node, path, depth)

    def _scalar(self, node: yaml.ScalarNode, span: Span):
        if node.tag not in _SCALAR_TAGS:
            raise error("E0102", f"unsupported YAML tag `{node.tag}`", span,
                        help="a spec holds only numbers, strings, booleans, null, "
                             "lists and mappings")
        return self._constructor.construct_object(node)

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> dict:
        out: dict = {}
        pairs = _rejoin_calls(self.source, node) if node.flow_style else node.value
        for key_node, value_node in pairs:
            key_span = _mark_span(self.source, key_node)
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise error("E0102", "YAML merge keys (`<<`) are not supported", key_span,
                            help="write the keys out, or share structure with a block")
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                raise error("E0102", "mapping keys must be plain strings", key_span,
                            help="quote the key, e.g. \"1\": ...")
            key = key_node.value
            if key in out:
                first = self.table.keys[path + (key,)]
                raise error("E0101", f"duplicate key `{key}`", key_span,
                            label="second definition",
                            labels=(Label(first, "first defined here"),),
                            help="remove one of the two; YAML would silently keep the last")
            self.table.keys[path + (key,)] = key_span
            out[key] = self.convert(value_node, path + (key,), depth + 1)
        return out


def _mark(source: SourceFile, mark) -> Span:
    if mark is None:
        return whole_line_span(source)
    return Span(source, mark.line + 1, mark.column + 1, mark.line + 1, mark.column + 2)


def _depth(text: str) -> int:
    return sum(text.count(c) for c in "([") - sum(text.count(c) for c in ")]")


def _plain(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.style is None


def _open_scalar(node: yaml.Node) -> yaml.ScalarNode | None:
    """The plain scalar ending `node` if its brackets are unbalanced: the node itself,
    or the value of a one-pair mapping like `c1: conv(8` inside a flow list."""
    if isinstance(node, yaml.MappingNode) and len(node.value) == 1:
        node = node.value[0][1]
    return node if _plain(node) and _depth(node.value) > 0 else None


def _joined(source: SourceFile, start: yaml.ScalarNode, end) -> yaml.ScalarNode | None:
    text = source.text[start.start_mark.index:end.index]
    if _depth(text) != 0:
        return None
    return yaml.ScalarNode("tag:yaml.org,2002:str", text, start.start_mark, end)


def _replace_tail(node: yaml.Node, scalar: yaml.ScalarNode) -> yaml.Node:
    if isinstance(node, yaml.MappingNode):
        key = node.value[0][0]
        return yaml.MappingNode(node.tag, [(key, scalar)], node.start_mark, scalar.end_mark,
                                flow_style=node.flow_style)
    return scalar


def _rejoin_calls(source: SourceFile, node: yaml.Node) -> list:
    """Undo YAML's split of a call at its commas inside a flow collection.

    In `[conv(64, 1, bias=false), bn]` YAML sees the items `conv(64`, `1`,
    `bias=false)` and `bn`; in `{proj: conv(c, 1)}` the pairs `proj: conv(c` and
    `1:`. While a plain scalar's brackets are unbalanced, the fragments that follow
    it are joined back to it, from the source text.
    """
    entries = list(node.value)
    is_map = isinstance(node, yaml.MappingNode)
    out = []
    i = 0
    while i < len(entries):
        entry = entries[i]
        tail = _open_scalar(entry[1] if is_map else entry)
        if tail is None:
            out.append(entry)
            i += 1
            continue
        j, joined = i + 1, None
        while j < len(entries):
            fragment = entries[j]
            if is_map:
                key, value = fragment
                if not (_plain(key) and _plain(value) and value.value == ""):
                    break
                end = key.end_mark
            elif _plain(fragment):
                end = fragment.end_mark
            else:
                break
            j += 1
            joined = _joined(source, tail, end)
            if joined is not None:
                break
        if joined is None:
            out.append(entry)
            i += 1
            continue
        out.append((entry[0], joined) if is_map else _replace_tail(entry, joined))
        i = j
    return out


def load_yaml(text: str, path: str, limits: Limits = DEFAULT_LIMITS) -> tuple[object, SpanTable]:
    """Parse YAML text into plain data and its span table; errors are SpecErrors."""
    source = SourceFile(path, text)
    if len(text) > limits.max_file_bytes:
        raise error("E0103", f"the file is {len(text)} characters; the limit is "
                    f"{limits.max_file_bytes}", whole_line_span(source),
                    help="raise Limits.max_file_bytes if this is intended")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        span = _mark(source, exc.problem_mark or exc.context_mark)
        labels = ()
        if exc.context and exc.context_mark and exc.problem_mark and \
                exc.context_mark.line != exc.problem_mark.line:
            labels = (Label(_mark(source, exc.context_mark), exc.context),)
        problem = exc.problem or exc.context or "invalid YAML"
        if "\\t" in problem or "tab" in problem:
            hint = "YAML indents with spaces only"
        elif exc.context and "flow" in exc.context:
            hint = ("inside a YAML flow list or mapping (`[…]`, `{…}`) an expression with "
                    "brackets must be quoted; or write it as a block list (`- item` lines)")
        else:
            hint = "check the indentation and the brackets or quotes around this point"
        raise error("E0100", problem, span, labels=labels, help=hint) from None
    except yaml.YAMLError as exc:
        raise error("E0100", str(exc).splitlines()[0], whole_line_span(source),
                    help="the file must be UTF-8 YAML text") from None
    except RecursionError:
        raise error("E0103", "the document is nested too deeply to parse",
                    whole_line_span(source), help="flatten the structure") from None
    finally:
        loader.dispose()
    if node is None:
        raise error("E0104", "the spec is empty", whole_line_span(source),
                    help="a spec needs at least `archdsl: 1`, `name`, `input` and `network`")
    converter = _Converter(source, limits)
    data = converter.convert(node, (), 0)
    return data, converter.table


def read_text(path: str) -> str:
    """Read a spec file as UTF-8 (a BOM is allowed); undecodable bytes are an error."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        source = SourceFile(path, "")
        raise error("E0001", f"the file is not UTF-8 text (byte {exc.start} is "
                    f"0x{raw[exc.start]:02x})", whole_line_span(source),
                    help="specs are UTF-8 YAML text; is this a binary file?") from None
