"""YAML text -> plain data plus a table of where every key and value came from.

The data is plain (only null, bool, int, float, str, lists and string-keyed
mappings), with scalars read by the YAML 1.2 core schema: `010` is 10, `1:30`
and `yes`, `on`, `no`, `off` are strings; only `true` and `false` (in three
casings) are booleans. It differs from `yaml.safe_load` in what makes it safe
to accept from anyone: a duplicate key is an error rather than a silent
overwrite, aliases are counted as they expand (an "alias bomb" hits a limit
instead of memory), nodes and nesting depth are counted while the document is
composed (a huge document stops at the limit, not after it has been built),
numbers are finite and bounded before they are converted, and a file is read
only if it is a regular file within the size limit.

libyaml scans the text where it is installed (PyYAML's wheels bundle it); the
composer stays PyYAML's Python one, so that it can count as it goes.
"""

from __future__ import annotations

import math
import os
import re
import stat
from dataclasses import dataclass, field

import yaml
from yaml.composer import Composer
from yaml.resolver import BaseResolver

from archdsl.diagnostics import Label, error
from archdsl.limits import DEFAULT_LIMITS, Limits
from archdsl.names import shown
from archdsl.source import SourceFile, Span, whole_line_span

try:
    from yaml._yaml import CParser as _Parser
except ImportError:  # PyYAML without libyaml: its pure-Python reader, scanner and parser
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser):
        def __init__(self, text: str):
            Reader.__init__(self, text)
            Scanner.__init__(self)
            Parser.__init__(self)

Path = tuple  # a path into the data: mapping keys (str) and list indices (int)

_TAG = "tag:yaml.org,2002:"
_COLLECTION_TAGS = {_TAG + "seq", _TAG + "map"}

# The YAML 1.2 core schema (yaml.org/spec/1.2.2, 10.3.2): the forms of each scalar type.
_CORE = {
    "null": re.compile(r"null|Null|NULL|~|"),
    "bool": re.compile(r"true|True|TRUE|false|False|FALSE"),
    "int": re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"),
    "float": re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?"
                        r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"),
}
_FORMS = {
    "null": "null, ~ or nothing",
    "bool": "true or false",
    "int": "decimal digits, 0o and octal digits, or 0x and hex digits",
    "float": "a decimal number with an optional exponent, .inf or .nan",
}
_BASES = {"0o": 8, "0x": 16}


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

    graft = update

    def copy(self) -> SpanTable:
        return SpanTable(self.source, dict(self.values), dict(self.keys))

    def subtree(self, prefix: Path) -> SpanTable:
        """The spans under `prefix`, re-rooted at ()."""
        n = len(prefix)
        return SpanTable(self.source,
                         {p[n:]: s for p, s in self.values.items() if p[:n] == prefix},
                         {p[n:]: s for p, s in self.keys.items() if p[:n] == prefix})

    def drop(self, prefix: Path) -> None:
        """Forget the spans of the value at `prefix` (its key's span stays)."""
        n = len(prefix)
        self.values = {p: s for p, s in self.values.items() if p[:n] != prefix}
        self.keys = {p: s for p, s in self.keys.items() if p[:n] != prefix or p == prefix}

    def shift(self, list_path: Path, start: int, delta: int) -> None:
        """Renumber the elements of the list at `list_path` from `start` on by `delta`."""
        n = len(list_path)

        def moved(p: Path) -> Path:
            if len(p) > n and p[:n] == list_path and isinstance(p[n], int) and p[n] >= start:
                return p[:n] + (p[n] + delta,) + p[n + 1:]
            return p

        self.values = {moved(p): s for p, s in self.values.items()}
        self.keys = {moved(p): s for p, s in self.keys.items()}


# Characters a YAML stream may not contain (YAML 1.1, 5.1: the printable set).
_NOT_YAML = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd"
                       "\U00010000-\U0010ffff]")


class _CoreResolver(BaseResolver):
    """Tags plain scalars by the YAML 1.2 core schema (PyYAML's Resolver is YAML 1.1's)."""

    def resolve(self, kind, value, implicit):
        if kind is yaml.ScalarNode and implicit[0]:
            kind_of = next((k for k, form in _CORE.items() if form.fullmatch(value)), "str")
            return _TAG + kind_of
        return super().resolve(kind, value, implicit)


class _Loader(Composer, _Parser, _CoreResolver):
    """A composer of YAML 1.2 core nodes that stops at the node and depth limits."""

    def __init__(self, source: SourceFile, limits: Limits):
        _Parser.__init__(self, source.text)
        Composer.__init__(self)
        _CoreResolver.__init__(self)
        self.source, self.limits = source, limits
        self.nodes = self.depth = 0

    def compose_node(self, parent, index):
        self.nodes += 1
        self.depth += 1
        try:
            if self.nodes > self.limits.max_yaml_nodes:
                raise error("E0103", f"the document has more than {self.limits.max_yaml_nodes} "
                            "values", _mark(self.source, self.peek_event().start_mark),
                            help="raise Limits.max_yaml_nodes if this is intended")
            if self.depth > self.limits.max_yaml_depth:
                raise error("E0103", f"the document nests deeper than "
                            f"{self.limits.max_yaml_depth} levels",
                            _mark(self.source, self.peek_event().start_mark),
                            help="flatten the structure, or raise Limits.max_yaml_depth")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _mark_span(source: SourceFile, node: yaml.Node) -> Span:
    # Lines and columns from the character index: YAML 1.1 readers also break lines at
    # U+0085, U+2028 and U+2029, which editors and CI annotations do not.
    line, col = source.position(node.start_mark.index)
    end_line, end_col = source.position(node.end_mark.index)
    if end_line > line and end_col == 1:  # a block ends where the next line starts
        end_line -= 1
        end_col = len(source.line(end_line)) + 1
    content_col = None
    if isinstance(node, yaml.ScalarNode) and end_line == line:
        width = end_col - col
        if not node.style and len(node.value) == width:
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
        kind = node.tag.removeprefix(_TAG)
        if kind == "str":
            return node.value
        if kind not in _CORE:
            raise error("E0102", f"unsupported YAML tag `{node.tag}`", span,
                        help="a spec holds only numbers, strings, booleans, null, "
                             "lists and mappings")
        text = node.value
        if not _CORE[kind].fullmatch(text):  # an explicit tag on another form: `!!int x`
            what = f"`{shown(text, 24)}`" if text else "an empty value"
            raise error("E0203", f"{what} is not a YAML {kind}", span,
                        help=f"a {kind} is written {_FORMS[kind]}")
        if kind == "null":
            return None
        if kind == "bool":
            return text.lower() == "true"
        value = _float(text) if kind == "float" else self._int(text)
        finite = not isinstance(value, float) or math.isfinite(value)
        if not finite or value is None or abs(value) > self.limits.max_int:
            what = "is out of range" if finite else "is not a finite number"
            raise error("E0203", f"the number `{shown(text, 24)}` {what}", span,
                        help=f"numbers in a spec are finite, and integers at most "
                             f"{self.limits.max_int:,} in magnitude")
        return value

    def _int(self, text: str) -> int | None:
        """The integer `text` (a core-schema form), or None if it has more digits than
        any integer within the limit (checked before converting: converting a long
        digit string costs time quadratic in its length)."""
        sign = -1 if text.startswith("-") else 1
        digits = text.lstrip("+-")
        base = _BASES.get(digits[:2], 10)
        if base != 10:
            digits = digits[2:]
        digits = digits.lstrip("0") or "0"
        widest = len(_digits(self.limits.max_int, base))
        if len(digits) > widest:
            return None
        return sign * int(digits, base)

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> dict:
        out: dict = {}
        pairs = _rejoin_calls(self.source, node) if node.flow_style else node.value
        for key_node, value_node in pairs:
            key_span = _mark_span(self.source, key_node)
            if _plain(key_node) and key_node.value == "<<":
                raise error("E0102", "YAML merge keys (`<<`) are not supported", key_span,
                            help="write the keys out, or share structure with a block")
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _TAG + "str":
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


def _float(text: str) -> float:
    """The float of a core-schema form (`.inf` and `.nan` are Python's `inf` and `nan`)."""
    return float(text.replace(".", "") if text[-1].isalpha() else text)


def _digits(number: int, base: int) -> str:
    return format(number, {8: "o", 10: "d", 16: "x"}[base])


def _mark(source: SourceFile, mark) -> Span:
    """The one-character span at a YAML mark; one past the end is the last line's end."""
    if mark is None:
        return whole_line_span(source)
    line, col = source.position(mark.index)
    last = len(source.lines)
    if line > last:
        line, col = last, len(source.line(last)) + 1
    return Span(source, line, col, line, col + 1)


def _offset_span(source: SourceFile, offset: int) -> Span:
    """The span of the character at `offset` in the text."""
    line, col = source.position(offset)
    return Span(source, line, col, line, col + 1)


# Line breaks to YAML 1.1 (and libyaml), text to YAML 1.2 and to editors.
_BREAKS_1_1 = re.compile("[\x85\u2028\u2029]")
_BREAK_NAMES = {"\x85": "next line", "\u2028": "line separator",
                "\u2029": "paragraph separator"}


def _stray_breaks(source: SourceFile) -> None:
    """Refuse U+0085, U+2028 and U+2029 outside quoted scalars, where the YAML reader
    would take them for line breaks and an editor does not: text that an editor shows
    inside a comment would be read as keys. Inside quotes they are text."""
    found = [m.start() for m in _BREAKS_1_1.finditer(source.text)]
    if not found:
        return
    quoted, scanned = [], len(source.text)
    scanner = _Parser(source.text)
    try:
        while (token := scanner.get_token()) is not None:
            if isinstance(token, yaml.ScalarToken) and token.style in ("'", '"'):
                quoted.append((token.start_mark.index, token.end_mark.index))
    except yaml.YAMLError as exc:  # reported by the parse, unless a stray break caused it
        mark = exc.problem_mark if isinstance(exc, yaml.MarkedYAMLError) else None
        scanned = mark.index if mark is not None else 0
    for offset in found:
        if offset <= scanned and not any(start < offset < end for start, end in quoted):
            char = source.text[offset]
            raise error("E0001", f"the character U+{ord(char):04X} ({_BREAK_NAMES[char]}) "
                        "outside a quoted string", _offset_span(source, offset),
                        help="YAML readers take it for a line break, editors do not: "
                             "delete it, or quote the text that holds it")


def _depth(text: str) -> int:
    return sum(text.count(c) for c in "([") - sum(text.count(c) for c in ")]")


def _plain(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and not node.style


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
    if len(text) > limits.max_file_bytes or \
            len(text.encode("utf-8", "surrogatepass")) > limits.max_file_bytes:
        raise error("E0103", f"the spec is more than {limits.max_file_bytes:,} bytes of "
                    "UTF-8 text", whole_line_span(source),
                    help="raise Limits.max_file_bytes if this is intended")
    bad = _NOT_YAML.search(text)
    if bad:
        raise error("E0001", f"the file holds the character U+{ord(bad.group()):04X}, which "
                    "YAML text cannot contain", _offset_span(source, bad.start()),
                    help="specs are UTF-8 YAML text; is this a binary file?")
    _stray_breaks(source)
    loader = _Loader(source, limits)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        span = _mark(source, exc.problem_mark or exc.context_mark)
        labels = ()
        if exc.context and exc.context_mark and exc.problem_mark and \
                exc.context_mark.line != exc.problem_mark.line:
            labels = (Label(_mark(source, exc.context_mark), exc.context),)
        problem = exc.problem or exc.context or "invalid YAML"
        if "nesting depth" in problem:  # libyaml's own bound, met while scanning ahead
            raise error("E0103", f"the document nests deeper than "
                        f"{limits.max_yaml_depth} levels", span,
                        help="flatten the structure") from None
        if source.line(span.line)[span.col - 1:span.col] == "\t":
            problem = "a tab character where YAML expects indentation or a value"
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


# Opening a FIFO for reading waits for a writer unless it is non-blocking; a FIFO can
# take a file's place between the stat and the open.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | \
    getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_NOT_FILES = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
              (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
              (stat.S_ISSOCK, "a socket"))


def read_text(path: str, limits: Limits = DEFAULT_LIMITS) -> str:
    """Read a spec file as UTF-8 (a BOM is allowed); errors are SpecErrors.

    Only a regular file of at most `limits.max_file_bytes` bytes is read: its kind
    and size are checked before the first byte, and no more than the limit is read
    even if it grows meanwhile. Undecodable bytes are an error at the first of them.
    """
    try:
        _check_file(path, os.stat(path), limits)
        fd = os.open(path, _OPEN_FLAGS)
        try:
            _check_file(path, os.fstat(fd), limits)  # the file opened, not the one named
            raw = _read(fd, limits.max_file_bytes + 1)
        finally:
            os.close(fd)
    except OSError as exc:
        raise error("E0001", f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > limits.max_file_bytes:
        raise _too_large(path, f"more than {limits.max_file_bytes:,}", limits)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # Shown with U+FFFD for the undecodable bytes, the caret under the first one.
        source = SourceFile(path, raw.decode("utf-8-sig", errors="replace"))
        offset = len(raw[:exc.start].decode("utf-8-sig", errors="replace"))
        raise error("E0001", f"the file is not UTF-8 text (byte {exc.start} is "
                    f"0x{raw[exc.start]:02x})", _offset_span(source, offset),
                    help="specs are UTF-8 YAML text; is this a binary file?") from None


def _check_file(path: str, status: os.stat_result, limits: Limits) -> None:
    kind = next((name for test, name in _NOT_FILES if test(status.st_mode)), None)
    if kind is not None or not stat.S_ISREG(status.st_mode):
        raise error("E0001", f"{path} is {kind or 'not a regular file'}, not a spec file",
                    help="a spec is a regular file of YAML text")
    if status.st_size > limits.max_file_bytes:
        raise _too_large(path, f"{status.st_size:,}", limits)


def _too_large(path: str, size: str, limits: Limits):
    # Located at the file's first line, which is not read: it is not shown.
    span = Span(SourceFile(path, ""), 1, 1, 1, 2)
    return error("E0103", f"the file is {size} bytes; the limit is "
                 f"{limits.max_file_bytes:,}", span,
                 help="raise Limits.max_file_bytes if this is intended")


def _read(fd: int, size: int) -> bytes:
    """At most `size` bytes from `fd`, up to its end."""
    chunks, left = [], size
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
