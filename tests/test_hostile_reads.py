"""What a spec may read, and how: a root for the files it names, no text of a file that
is not a spec, reads bounded before they start, YAML 1.2 scalars, lines as editors
count them, and every error of a file at once.

Each case is bounded in CPU time like tests/test_hostile.py.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import time
from pathlib import Path

import pytest

import archdsl
from archdsl.diagnostics import MAX_SHOWN, Severity, SpecError, render_github
from archdsl.lang.yamlload import load_yaml
from archdsl.limits import Limits
from archdsl.source import SourceFile
from conftest import SPECS

SECONDS = 2.0
NET = "archdsl: 1\nname: net\ninput: [3, 8, 8]\nnetwork: [relu]\n"
SECRET = "hunter2-do-not-print"


def _error(path, **kwargs) -> SpecError:
    began = time.process_time()
    with pytest.raises(SpecError) as info:
        archdsl.load(path, **kwargs)
    assert time.process_time() - began < SECONDS
    return info.value


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _shown(exc: SpecError) -> str:
    return "\n".join(d.render() + render_github(d) for d in exc.diagnostics)


# ------------------------------------------------------------------ the root


def test_extends_may_not_leave_the_root(tmp_path):
    _write(tmp_path / "outside" / "parent.yaml", NET)
    child = _write(tmp_path / "project" / "child.yaml",
                   "archdsl: 1\nextends: ../outside/parent.yaml\nname: child\n")
    diagnostic = _error(child).diagnostics[0]
    assert diagnostic.code == "E0203"
    assert "`../outside/parent.yaml` is outside the root" in diagnostic.message
    assert str((tmp_path / "project").resolve()) in diagnostic.message
    assert (diagnostic.span.file, diagnostic.span.line, diagnostic.span.col) == (str(child), 2, 10)
    assert "--root DIR" in diagnostic.help and "root=" in diagnostic.help
    assert archdsl.load(child, root=tmp_path).name == "child"  # widened


def test_the_default_root_is_the_repository(tmp_path):
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    _write(tmp_path / "repo" / "base" / "parent.yaml", NET)
    child = _write(tmp_path / "repo" / "variants" / "child.yaml",
                   "archdsl: 1\nextends: ../base/parent.yaml\nname: child\n")
    arch = archdsl.load(child)
    assert arch.name == "child"
    assert arch.spec.files == (str(child.resolve()),
                               str((tmp_path / "repo" / "base" / "parent.yaml").resolve()))
    _write(tmp_path / "elsewhere.yaml", NET)
    _write(child, "archdsl: 1\nextends: ../../elsewhere.yaml\nname: child\n")
    assert "outside the root" in _error(child).diagnostics[0].message


def test_a_symlink_out_of_the_root_is_refused_and_its_target_never_shown(tmp_path):
    secret = _write(tmp_path / "secret.yaml", f"password: {SECRET}\n")
    (tmp_path / "project").mkdir()
    os.symlink(secret, tmp_path / "project" / "passwd.yaml")
    child = _write(tmp_path / "project" / "child.yaml",
                   "archdsl: 1\nextends: passwd.yaml\nname: child\n")
    exc = _error(child)
    assert "outside the root" in exc.diagnostics[0].message
    assert SECRET not in _shown(exc)


def test_the_root_holds_along_the_extends_chain(tmp_path):
    _write(tmp_path / "outside.yaml", NET)
    parent = _write(tmp_path / "project" / "parent.yaml",
                    "archdsl: 1\nextends: ../outside.yaml\nname: parent\n")
    child = _write(tmp_path / "project" / "child.yaml",
                   "archdsl: 1\nextends: parent.yaml\nname: child\n")
    diagnostic = _error(child).diagnostics[0]
    assert "outside the root" in diagnostic.message
    assert diagnostic.span.file == str(tmp_path / "project" / "parent.yaml")
    assert archdsl.load(child, root=tmp_path).name == "child"
    assert archdsl.load(parent, root=tmp_path).name == "parent"


def test_spec_blocks_stay_in_the_root_and_are_listed_in_files(tmp_path):
    _write(tmp_path / "outside.yaml", NET)
    inner = _write(tmp_path / "project" / "lib" / "trunk.yaml", NET)
    spec = _write(tmp_path / "project" / "net.yaml",
                  "archdsl: 1\nname: top\ninput: [3, 8, 8]\n"
                  "blocks:\n  trunk: {spec: lib/trunk.yaml}\nnetwork: [trunk]\n")
    assert archdsl.load(spec).spec.files == (str(spec.resolve()), str(inner.resolve()))
    _write(spec, "archdsl: 1\nname: top\ninput: [3, 8, 8]\n"
                 "blocks:\n  trunk: {spec: ../outside.yaml}\nnetwork: [trunk]\n")
    diagnostic = _error(spec).diagnostics[0]
    assert "outside the root" in diagnostic.message and diagnostic.span.line == 5


@pytest.mark.parametrize("reference", ["/etc/passwd.yaml", "~/net.yaml"])
def test_extends_takes_a_relative_path(tmp_path, reference):
    child = _write(tmp_path / "child.yaml", f"archdsl: 1\nextends: {reference}\nname: c\n")
    diagnostic = _error(child).diagnostics[0]
    assert diagnostic.code == "E0203" and "relative" in diagnostic.message


NOT_SPECS = {
    "binary": b"\x89PNG\r\n\x1a\n" + SECRET.encode() + b"\xff\xfe\x00",
    "YAML syntax error": f"key: [{SECRET}\n",
    "a YAML list": f"- {SECRET}\n",
    "a mapping without archdsl": f"user: root\npassword: {SECRET}\n",
    "a duplicate key": f"{SECRET}: 1\n{SECRET}: 2\n",
    "a number out of range": f"archdsl: 1\nn: 9{'9' * 30}  # {SECRET}\n",
}


@pytest.mark.parametrize("kind", list(NOT_SPECS))
def test_a_parent_that_is_not_a_spec_is_never_shown(tmp_path, kind):
    _write(tmp_path / "data.yaml", NOT_SPECS[kind])
    child = _write(tmp_path / "child.yaml", "archdsl: 1\nextends: data.yaml\nname: child\n")
    exc = _error(child)
    assert SECRET not in _shown(exc)
    assert [(d.span.file, d.span.line) for d in exc.diagnostics] == [(str(child), 2)]
    assert "`data.yaml`" in exc.diagnostics[0].message
    spec = _write(tmp_path / "net.yaml", "archdsl: 1\nname: top\ninput: [3, 8, 8]\n"
                                         "blocks:\n  b: {spec: data.yaml}\nnetwork: [b]\n")
    exc = _error(spec)
    assert SECRET not in _shown(exc)
    assert [(d.span.file, d.span.line) for d in exc.diagnostics] == [(str(spec), 5)]


def test_a_parent_that_is_a_spec_is_shown_where_it_is_wrong(tmp_path):
    _write(tmp_path / "parent.yaml", NET.replace("[relu]", "[cnv(3)]"))
    child = _write(tmp_path / "child.yaml", "archdsl: 1\nextends: parent.yaml\nname: c\n")
    diagnostic = _error(child).diagnostics[0]
    assert diagnostic.span.file == str(tmp_path / "parent.yaml") and "cnv" in diagnostic.render()


# ------------------------------------------------------------------ bounded reads


def test_a_sparse_three_gigabyte_file_is_refused_unread(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:
        f.truncate(3 * 2**30)
    diagnostic = _error(big).diagnostics[0]
    assert diagnostic.code == "E0103" and "3,221,225,472 bytes" in diagnostic.message
    child = _write(tmp_path / "child.yaml", "archdsl: 1\nextends: big.yaml\nname: c\n")
    diagnostic = _error(child).diagnostics[0]
    assert diagnostic.code == "E0103" and diagnostic.span.file == str(child)


def test_the_size_limit_counts_bytes(tmp_path):
    text = NET + "doc: '" + "é" * 600_000 + "'\n"  # 600,000 characters, 1.2 MB
    diagnostic = _error(_write(tmp_path / "net.yaml", text)).diagnostics[0]
    assert diagnostic.code == "E0103" and "bytes" in diagnostic.message
    assert archdsl.load(tmp_path / "net.yaml", limits=Limits(max_file_bytes=2**21)).name == "net"


@pytest.fixture
def alarm():
    """Turns a read that would block into a test failure after five seconds."""
    if not hasattr(signal, "SIGALRM"):
        pytest.skip("no SIGALRM")

    def fail(signum, frame):
        raise AssertionError("blocked reading a FIFO")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(5)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_blocking(tmp_path, alarm):
    os.mkfifo(tmp_path / "pipe.yaml")
    diagnostic = _error(tmp_path / "pipe.yaml").diagnostics[0]
    assert diagnostic.code == "E0001" and "named pipe" in diagnostic.message
    child = _write(tmp_path / "child.yaml", "archdsl: 1\nextends: pipe.yaml\nname: c\n")
    diagnostic = _error(child).diagnostics[0]
    assert "named pipe" in diagnostic.message and diagnostic.span.file == str(child)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("command", [["check"], ["summary"], ["compile", "-o", "out.py"],
                                     ["graph"]])
def test_every_command_names_a_fifo_for_what_it_is(tmp_path, cli, alarm, command):
    """A FIFO given on the command line is E0001 "a named pipe", exit 1: not "no such file"
    (it exists), and never a read that blocks."""
    os.mkfifo(tmp_path / "pipe.yaml")
    code, out, err = cli(*command[:1], str(tmp_path / "pipe.yaml"),
                         *[str(tmp_path / a) if a.endswith(".py") else a for a in command[1:]])
    assert code == 1 and "error[E0001]" in err and "is a named pipe (FIFO)" in err
    assert not (tmp_path / "out.py").exists()


@pytest.mark.parametrize("path, kind", [(".", "a directory"), ("/dev/zero", "a character device")])
def test_what_is_not_a_regular_file_is_refused(tmp_path, path, kind, alarm):
    target = tmp_path if path == "." else Path(path)
    if path != "." and not (target.exists() and stat.S_ISCHR(target.stat().st_mode)):
        pytest.skip(f"{path} is not a device here")
    assert f"is {kind}, not a spec file" in _error(target).diagnostics[0].message


# ------------------------------------------------------------------ YAML 1.2 scalars


@pytest.mark.parametrize("text, value", [
    ("010", 10), ("0o10", 8), ("0x1F", 31), ("+7", 7), ("1:30", "1:30"),
    ("1:30:00:00:00:00:00", "1:30:00:00:00:00:00"), ("yes", "yes"), ("no", "no"),
    ("on", "on"), ("off", "off"), ("y", "y"), ("n", "n"), ("True", True), ("FALSE", False),
    ("tRUE", "tRUE"), ("~", None), ("1e3", 1000.0), ("2001-12-14", "2001-12-14"),
    ("1_000", "1_000"), ("!!float 3", 3.0), ("!!str 010", "010"), ("'010'", "010"),
])
def test_scalars_follow_the_yaml_1_2_core_schema(text, value):
    data, _ = load_yaml(f"a: {text}\n", "<t>")
    assert data["a"] == value and type(data["a"]) is type(value)


@pytest.mark.parametrize("text, code", [
    ("!!bool maybe", "E0203"), ("!!int ''", "E0203"), ("!!int 0b11", "E0203"),
    ("!!null x", "E0203"), ("!!float 1:30:00" + ":00" * 50_000, "E0203"),
    ("!!int " + "7" * 200_000, "E0203"), ("9" * 200_000, "E0203"), ("0x" + "f" * 17, "E0203"),
    ("!!timestamp 2001-12-14", "E0102"), ("!!float .inf", "E0203"),
])
def test_explicit_tags_and_long_numbers_are_located_errors(text, code):
    began = time.process_time()
    with pytest.raises(SpecError) as info:
        load_yaml(f"x: 1\na: {text}\n", "<t>")
    assert time.process_time() - began < SECONDS
    diagnostic = info.value.diagnostics[0]
    assert (diagnostic.code, diagnostic.span.line, diagnostic.span.col) == (code, 2, 4)
    assert len(diagnostic.render()) < 1_000


@pytest.mark.parametrize("head, where", [
    ("archdsl: true\nname: net\ninput: [3, 8, 8]\n", (1, 10)),
    ("archdsl: 1\nname: net\ninput: [yes, 8, 8]\n", (3, 9)),
    ("archdsl: 1\nname: net\ninput: [on, 8, 8]\n", (3, 9)),
    ("archdsl: 1\nname: net\ninput: [true, 8, 8]\n", (3, 9)),
])
def test_a_boolean_is_not_a_number(tmp_path, head, where):
    diagnostic = _error(_write(tmp_path / "net.yaml", head + "network: [relu]\n")).diagnostics[0]
    assert (diagnostic.span.line, diagnostic.span.col) == where


def test_digit_separators_are_read_by_expressions(tmp_path):
    spec = _write(tmp_path / "net.yaml", NET.replace("network", "params: {w: 1_000}\nnetwork"))
    assert archdsl.load(spec).params["w"] == 1000


# ------------------------------------------------------------------ line separators


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
@pytest.mark.parametrize("quote", ["'", '"'])
def test_a_line_separator_in_a_quoted_string_moves_no_line(tmp_path, separator, quote):
    text = (f"archdsl: 1\nname: net\ndoc: {quote}one{separator}two{separator}three{quote}\n"
            "input: [3, 8, 8]\nnetwork: [relu, cnv(8, 3)]\n")
    diagnostic = _error(_write(tmp_path / "net.yaml", text)).diagnostics[0]
    assert (diagnostic.code, diagnostic.span.line, diagnostic.span.col) == ("E0304", 5, 17)
    assert "line=5,col=17," in render_github(diagnostic)
    assert "5 | network: [relu, cnv(8, 3)]" in diagnostic.render()


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_a_line_separator_outside_quotes_is_refused_where_it_is(tmp_path, separator):
    # An editor shows `network: [gap]` inside the comment; YAML 1.1 reads it as a key.
    text = NET.replace("network: [relu]", f"# old{separator}network: [gap]\nnetwork: [relu]")
    diagnostic = _error(_write(tmp_path / "net.yaml", text)).diagnostics[0]
    assert (diagnostic.code, diagnostic.span.line, diagnostic.span.col) == ("E0001", 4, 6)


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_lines_end_as_editors_end_them(tmp_path, newline):
    text = NET.replace("[relu]", "[relu, cnv(8, 3)]").replace("\n", newline)
    diagnostic = _error(_write(tmp_path / "net.yaml", text)).diagnostics[0]
    assert (diagnostic.span.line, diagnostic.span.col) == (4, 17)


def test_source_lines_break_only_where_editors_do():
    source = SourceFile("<t>", "a\r\nb\rc\u2028d\x85e\u2029f\x0cg\n")
    assert source.lines == ["a", "b", "c\u2028d\x85e\u2029f\x0cg"]
    assert source.position(source.text.index("g")) == (3, 9)


# ------------------------------------------------------------------ every error of a file


def test_every_front_end_error_is_reported_in_order(tmp_path):
    text = ("archdsl: 1\nname: net\ninput: [3, 8, 8]\n"
            "network:\n  - conv(8, 3\n  - class: relu\n  - relu\n"
            "params:\n  lambda: 3\n  ok: 2 +\n"
            "blocks:\n  b:\n    args: {def: int}\n    body: [relu, 'gap(']\n")
    diagnostics = _error(_write(tmp_path / "net.yaml", text)).diagnostics
    assert [(d.code, d.span.line) for d in diagnostics] == [
        ("E0300", 5), ("E0210", 6), ("E0210", 9), ("E0300", 10), ("E0210", 13), ("E0300", 14)]


def test_errors_are_capped_with_a_note(tmp_path):
    params = "".join(f"  p{i}: '1 +'\n" for i in range(MAX_SHOWN + 7))
    spec = _write(tmp_path / "net.yaml", NET.replace("network", "params:\n" + params + "network"))
    diagnostics = _error(spec).diagnostics
    assert len(diagnostics) == MAX_SHOWN + 1
    assert [d.span.line for d in diagnostics[:-1]] == list(range(5, 5 + MAX_SHOWN))
    note = diagnostics[-1]
    assert note.severity is Severity.NOTE and note.message.startswith("7 more errors")
    assert note.render().startswith("note: 7 more errors")
    assert render_github(note).startswith("::notice ")


def test_an_error_in_a_file_two_blocks_read_is_reported_once(tmp_path):
    _write(tmp_path / "inner.yaml", NET.replace("network", "params: {lambda: 1}\nnetwork"))
    spec = _write(tmp_path / "net.yaml",
                  "archdsl: 1\nname: top\ninput: [3, 8, 8]\nblocks:\n"
                  "  a: {spec: inner.yaml}\n  b: {spec: inner.yaml}\n  class: {spec: inner.yaml}\n"
                  "network: [a, b]\n")
    diagnostics = _error(spec).diagnostics
    assert [(Path(d.span.file).name, d.code) for d in diagnostics] == [
        ("net.yaml", "E0210"), ("inner.yaml", "E0210")]


def test_every_misspelt_name_is_reported_before_anything_expands(tmp_path):
    """Names are checked over the network and every block first, so that one run shows
    each misspelling (in order of position); a wrong shape still stops at the first."""
    text = ("archdsl: 1\nname: net\ninput: [3, 8, 8]\nparams: {k: 2}\n"
            "blocks:\n  b:\n    args: {out: int}\n    let: {w: out * k}\n"
            "    body: [conv(w, 3), rlu, 'conv(out, 3, groups=grups)']\n"
            "network:\n  - b(8)\n  - bad: nosuchop(3)\n"
            "  - if: false\n    then: [relu, 'conv(8, kk)']\n"
            "  - {repeat: 2, body: 'conv(8 + i, 3)'}\n  - gap\n  - flatten\n  - linear(10)\n")
    diagnostics = _error(_write(tmp_path / "net.yaml", text)).diagnostics
    assert [(d.code, d.span.line, d.message) for d in diagnostics] == [
        ("E0304", 9, "unknown op or block `rlu`"), ("E0301", 9, "undefined name `grups`"),
        ("E0304", 12, "unknown op or block `nosuchop`"), ("E0301", 14, "undefined name `kk`")]
    fixed = text.replace("rlu", "relu").replace("grups", "1").replace("nosuchop(3)", "relu")
    assert archdsl.load(_write(tmp_path / "net.yaml", fixed.replace("kk", "3"))).params
    wrong = fixed.replace("kk", "3").replace("  - flatten\n", "")  # linear on a map
    assert [d.code for d in _error(_write(tmp_path / "net.yaml", wrong)).diagnostics] == \
        ["E0403"]


def test_independent_argument_errors_are_reported_together(tmp_path):
    """After an error the walk goes on past the failed layer; it keeps errors of
    arguments written with params and literals alone, and wrong arguments anywhere,
    and drops what the failed layer could have caused (a mismatch at a merge, a value
    computed from a block's `in_channels`)."""
    text = ("archdsl: 1\nname: net\ninput: [3, 32, 32]\n"
            "blocks:\n  squeeze:\n    body: ['conv(in_channels // 8, 1)', 'conv(8, 3, strde=1)']\n"
            "network:\n"
            "  - conv(16, 3, stride=0)\n"         # line 8: the first error
            "  - residual: {body: [conv(16, 3), bn]}\n"  # 16 channels: no match for the 3 flowing
            "  - squeeze\n"                       # 3 // 8 = 0 channels: a consequence
            "  - conv(32, 3, strid=2)\n"          # line 11: kept
            "  - gap\n  - flatten\n"
            "  - linear(10, bias=7)\n")           # line 14: kept
    diagnostics = _error(_write(tmp_path / "net.yaml", text)).diagnostics
    assert [(d.code, d.span.line, d.span.col) for d in diagnostics] == [
        ("E0303", 6, 53), ("E0202", 8, 17), ("E0303", 11, 17), ("E0202", 14, 16)]
    assert "`strde`" in diagnostics[0].message and "`strid`" in diagnostics[2].message
    # With the first fixed, the others are still errors: none was its consequence.
    fixed = _write(tmp_path / "net.yaml", text.replace("stride=0", "stride=1"))
    assert [d.code for d in _error(fixed).diagnostics] == ["E0303", "E0303", "E0202"]
    # Checking whether a spec is valid (the constructor-argument search) stops at the first.
    from archdsl.construct import construct
    from archdsl.lang.load import load_spec
    from archdsl.ops import OPS

    spec = load_spec(str(_write(tmp_path / "net.yaml", text)), ops=OPS)
    with pytest.raises(SpecError) as caught:
        construct(spec, recover=False)
    assert [d.code for d in caught.value.diagnostics] == ["E0202"]


def test_a_spec_blocks_names_are_checked_before_it_expands(tmp_path):
    """A `spec:` block's network and blocks are name-checked as the top spec's are,
    branches not taken included, once however often the block is used."""
    _write(tmp_path / "inner.yaml",
           "archdsl: 1\nname: inner\ninput: [3, 8, 8]\nparams: {deep: false}\n"
           "blocks:\n  unit: {body: [bn, rlu]}\n"
           "network:\n  - conv(8, 3)\n  - if: deep\n    then: [unit, 'conv(8, kk)']\n")
    spec = _write(tmp_path / "net.yaml",
                  "archdsl: 1\nname: top\ninput: [3, 8, 8]\n"
                  "blocks:\n  stem: {spec: inner.yaml}\n"
                  "network: [stem, stem, 'linear(10, bais=true)']\n")
    diagnostics = _error(spec).diagnostics
    assert [(Path(d.span.file).name, d.code, d.span.line) for d in diagnostics] == [
        ("net.yaml", "E0303", 6), ("inner.yaml", "E0304", 6), ("inner.yaml", "E0301", 10)]


def test_after_an_error_the_walk_catches_only_what_it_could_have_caused(tmp_path,
                                                                        monkeypatch):
    """Past an error, a lookup failing on what a failed layer left half-made stops the
    walk with the errors so far; an exception the walk did not cause (an interrupt,
    a timer's) goes through untouched."""
    from archdsl.construct import Builder, recovery
    from archdsl.diagnostics import error

    class Interrupt(Exception):
        pass

    kept = recovery.Recovery(True, "net.yaml")
    first = error("E0202", "argument `stride` of `conv`: input should be greater than 0")
    assert kept.goes_on(first) and not kept.goes_on(Interrupt())
    with pytest.raises(recovery.Stopped) as stopped:
        kept.goes_on(KeyError("conv1"))
    assert stopped.value.diagnostics == first.diagnostics

    path = _write(tmp_path / "net.yaml", "archdsl: 1\nname: net\ninput: [3, 8, 8]\n"
                  "network:\n  - conv(8, 3, stride=0)\n  - relu\n  - gap\n")
    place = Builder.place

    def interrupted_at_line_6(self, item, frame, x):
        if getattr(item, "span", None) is not None and item.span.line == 6:
            raise Interrupt()
        return place(self, item, frame, x)

    monkeypatch.setattr(Builder, "place", interrupted_at_line_6)
    with pytest.raises(Interrupt):
        archdsl.load(path)


def test_an_error_in_every_copy_of_a_block_counts_once(tmp_path):
    """The errors kept past the first are counted once each: a wrong keyword in a block
    used 300 times does not use up the room for the network's other errors."""
    text = ("archdsl: 1\nname: net\ninput: [3, 8, 8]\n"
            "blocks:\n  unit: {body: ['conv(8, 3, strde=1)', relu]}\n"
            "network:\n  - repeat: 300\n    body: unit\n  - gap\n  - flatten\n"
            "  - linear(10, bais=true)\n")
    diagnostics = _error(_write(tmp_path / "net.yaml", text)).diagnostics
    assert [(d.code, d.span.line) for d in diagnostics] == [("E0303", 5), ("E0303", 11)]


# A layer written as an op call on one line: `relu`, `conv(64, 3, stride=2)`.
_OP_CALL = re.compile(r"([a-z_][a-z_0-9]*)(\(.*\))?")
# Library specs small enough for the fast subset; the others are `slow`.
_FAST_SPECS = {"lenet5", "resnet18", "googlenet", "mobilenet_v2"}


def _op_call_sites(arch, name: str) -> list[tuple[int, str, int, int, int]]:
    """Where `arch` expands an op call written on one line, once each, by position
    (the spec's own file first): (not in its own file, file name, line, col, end)."""
    sites = set()
    for node in (arch.graph.node(n) for n in arch.graph.dag):
        span = node.span
        if span is None or node.call is None or span.line != span.end_line:
            continue
        text = span.source.line(span.line)[span.col - 1:span.end_col - 1]
        call = _OP_CALL.fullmatch(text)
        if call and call.group(1) == node.call.name:  # not a merge's `residual:` key
            file = Path(span.file).name
            sites.add((file != f"{name}.yaml", file, span.line, span.col, span.end_col))
    return sorted(sites)


@pytest.mark.parametrize("name", [
    name if name in _FAST_SPECS else pytest.param(name, marks=pytest.mark.slow)
    for name in sorted(p.stem for p in SPECS.glob("*.yaml"))])
def test_two_wrong_keywords_far_apart_are_two_errors(tmp_path, name):
    """In each library spec, the first and the last op call it expands (by position,
    in its own file first, then in the file it extends) are given an unknown keyword:
    one run reports both, and nothing else, whatever the first failure did to the
    network between them."""
    for path in SPECS.glob("*.yaml"):  # beside it, for `extends:`
        (tmp_path / path.name).write_bytes(path.read_bytes())
    sites = _op_call_sites(archdsl.load(tmp_path / f"{name}.yaml"), name)
    first, last = sites[0], sites[-1]
    assert first[1:3] != last[1:3], "two op calls on different lines"
    for _, file, line, col, end in (last, first):  # the later first: columns stay put
        lines = (tmp_path / file).read_text().splitlines(keepends=True)
        call = lines[line - 1][col - 1:end - 1]
        wrong = f"{call[:-1]}, bogus=1)" if call.endswith(")") else f"{call}(bogus=1)"
        lines[line - 1] = lines[line - 1][:col - 1] + wrong + lines[line - 1][end - 1:]
        (tmp_path / file).write_text("".join(lines))
    with pytest.raises(SpecError) as caught:
        archdsl.load(tmp_path / f"{name}.yaml")
    assert sorted((Path(d.span.file).name, d.code, d.span.line)
                  for d in caught.value.diagnostics) == sorted([
        (first[1], "E0303", first[2]), (last[1], "E0303", last[2])])


def test_a_spec_block_called_from_a_block_is_not_shape_free(tmp_path):
    """A `spec:` block's params given from a block's `in_channels` depend on the
    input: past an error, a value error inside it may be a consequence, and is left
    out (here `width - 16` is negative only because the first conv failed)."""
    _write(tmp_path / "inner.yaml", "archdsl: 1\nname: inner\ninput: [3, 8, 8]\n"
           "params: {width: 64}\nnetwork: ['conv(width - 16, 3)']\n")
    text = ("archdsl: 1\nname: top\ninput: [3, 8, 8]\n"
            "blocks:\n  inner: {spec: inner.yaml}\n"
            "  wrap: {body: ['inner(width=in_channels)']}\n"
            "network: ['conv(32, 3, stride=0)', wrap, 'linear(10, bais=true)']\n")
    diagnostics = _error(_write(tmp_path / "net.yaml", text)).diagnostics
    assert [(Path(d.span.file).name, d.code) for d in diagnostics] == [
        ("net.yaml", "E0202"), ("net.yaml", "E0303")]
    fixed = _write(tmp_path / "net.yaml", text.replace("stride=0", "stride=1"))
    assert [d.code for d in _error(fixed).diagnostics] == ["E0303"]
