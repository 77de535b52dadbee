"""One Diagnostic type, rendered like a compiler: location, source line, caret, help."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum

from archdsl.source import Span

# Every code archdsl emits, with a short title. docs/errors.md explains each one.
CODES: dict[str, str] = {
    "E0001": "file cannot be read as UTF-8 text",
    "E0100": "YAML syntax error",
    "E0101": "duplicate key",
    "E0102": "unsupported YAML construct",
    "E0103": "document too large or too deeply nested",
    "E0104": "empty spec",
    "E0200": "unknown key",
    "E0201": "missing key",
    "E0202": "wrong type",
    "E0203": "invalid value",
    "E0210": "invalid name",
    "E0300": "expression syntax error",
    "E0301": "undefined name",
    "E0302": "type error in expression",
    "E0303": "wrong arguments",
    "E0304": "unknown op or block",
    "E0305": "arithmetic error",
    "E0306": "duplicate name",
    "E0307": "not a layer",
    "E0400": "shape mismatch at a merge",
    "E0401": "groups do not divide channels",
    "E0402": "spatial size collapses",
    "E0403": "wrong input rank",
    "E0404": "wrong number of inputs",
    "E0405": "invalid op configuration for its input",
    "E0500": "limit exceeded",
    "E0501": "runaway recursion",
    "E0502": "over a budget set on the command line",
    "E0503": "`extends` cycle",
    "E0600": "invalid override",
    "E0700": "graph is not acyclic",
    "E0900": "internal error",
    "W0100": "unused layer",
    "W0101": "unused param, block, argument or `let` value",
    "W0102": "init rule selects nothing",
    "W0103": "a window's stride leaves input pixels unused",
    "W0104": "condition is constant: a dead branch",
    "W0105": "too large to build without allow_large",
    "W0106": "input written channels last",
}


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"  # about the other diagnostics, such as how many were left out; no code


@dataclass(frozen=True)
class Label:
    """A secondary span with a short note, shown under the primary one."""

    span: Span
    message: str


@dataclass(frozen=True)
class Diagnostic:
    """A located message about a spec: what was found, where, and what would fix it."""

    code: str
    message: str
    span: Span | None = None
    label: str = ""
    labels: tuple[Label, ...] = ()
    help: str = ""
    severity: Severity = Severity.ERROR

    def __post_init__(self) -> None:
        if self.code not in CODES and not (self.severity is Severity.NOTE and not self.code):
            raise ValueError(f"unregistered diagnostic code {self.code}")

    def render(self) -> str:
        return render_text(self)

    def to_json(self) -> dict:
        out: dict = {
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
        }
        if self.span is not None:
            out.update(_span_json(self.span))
        if self.label:
            out["label"] = self.label
        out["labels"] = [{**_span_json(lb.span), "message": lb.message} for lb in self.labels]
        if self.help:
            out["help"] = self.help
        return out


class SpecError(Exception):
    """A spec (or an override) is invalid; `diagnostics` says where and why."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(d.render() for d in self.diagnostics))


class WeightsError(ValueError):
    """A weights file or state_dict cannot be loaded as given; the message says why."""


def error(code: str, message: str, span: Span | None = None, *, label: str = "",
          labels: tuple[Label, ...] = (), help: str = "") -> SpecError:
    """Shorthand: a SpecError holding one error diagnostic."""
    return SpecError(Diagnostic(code, message, span, label, labels, help))


MAX_SHOWN = 20  # diagnostics of one spec shown; a note counts the rest


def gathered(diagnostics: list[Diagnostic], first: str = "", shown: int = MAX_SHOWN
             ) -> list[Diagnostic]:
    """`diagnostics` once each, in order of position (file by file: `first`, then the
    others in the order they appear), the first `shown` of them and a note counting
    the others."""
    unique = list(dict.fromkeys((d.span.file if d.span else "", d) for d in diagnostics))
    files = list(dict.fromkeys([first] + [file for file, _ in unique]))
    unique.sort(key=lambda item: (files.index(item[0]),) + (
        (item[1].span.line, item[1].span.col) if item[1].span else (0, 0)))
    out = [d for _, d in unique]
    if len(out) <= shown:
        return out
    more = len(out) - shown
    return out[:shown] + [Diagnostic("", f"{more} more error{'s' if more > 1 else ''} not "
                                     f"shown (the first {shown} are)", severity=Severity.NOTE)]


# ---------------------------------------------------------------- rendering


def _span_json(span: Span) -> dict:
    return {"file": span.file, "line": span.line, "col": span.col,
            "end_line": span.end_line, "end_col": span.end_col}


_SHOWN_COLUMNS = 100  # a longer source line is cut to a window around the span


def printable(text: str) -> str:
    """`text` with control and invisible characters escaped (`\\x1b`, `\\u202e`): what a
    spec says is echoed, and must not drive the terminal or reorder the line."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def _snippet(span: Span, mark: str, note: str, gutter: int) -> list[str]:
    # One character for one: columns stay aligned with the caret.
    text = "".join(c if c.isprintable() else " " if c == "\t" else "\ufffd"
                   for c in span.source.line(span.line))
    if span.end_line == span.line:
        width = max(span.end_col - span.col, 1)
    else:
        width = max(len(text) - span.col + 1, 1)
    col = span.col
    if len(text) > _SHOWN_COLUMNS:
        start = max(0, min(col - 1 - _SHOWN_COLUMNS // 4, len(text) - _SHOWN_COLUMNS))
        end = start + _SHOWN_COLUMNS
        text = ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
        col += (1 if start else 0) - start
        width = max(min(width, len(text) - col + 1), 1)
    pad = " " * gutter
    underline = " " * (col - 1) + mark * width
    if note:
        underline += " " + printable(note)
    return [f"{pad} |", f"{str(span.line).rjust(gutter)} | {text}", f"{pad} | {underline}"]


def render_text(diag: Diagnostic) -> str:
    """Render as `error[CODE]: message`, `--> file:line:col`, the line and a caret."""
    code = f"[{diag.code}]" if diag.code else ""
    lines = [f"{diag.severity.value}{code}: {printable(diag.message)}"]
    spans = [diag.span] if diag.span else []
    spans += [lb.span for lb in diag.labels]
    gutter = max((len(str(s.line)) for s in spans), default=1)
    pad = " " * gutter
    if diag.span is not None:
        lines.append(f"{pad}--> {diag.span}")
        lines += _snippet(diag.span, "^", diag.label, gutter)
    for lb in diag.labels:
        lines.append(f"{pad}::: {lb.span}")
        lines += _snippet(lb.span, "-", lb.message, gutter)
    if diag.help:
        lines.append(f"{pad} = help: {printable(diag.help)}")
    return "\n".join(lines)


def render_json(diags: list[Diagnostic]) -> str:
    return json.dumps([d.to_json() for d in diags], indent=2)


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(diag: Diagnostic) -> str:
    """A GitHub Actions workflow command (`::error file=…,line=…::message`)."""
    props = []
    if diag.span is not None:
        s = diag.span
        props = [f"file={_gh_escape(s.file, True)}", f"line={s.line}", f"col={s.col}",
                 f"endLine={s.end_line}", f"endColumn={s.end_col}"]
    props.append(f"title={_gh_escape(f'archdsl {diag.code}'.rstrip(), True)}")
    message = diag.message + (f" (help: {diag.help})" if diag.help else "")
    command = "notice" if diag.severity is Severity.NOTE else diag.severity.value
    return f"::{command} {','.join(props)}::{_gh_escape(printable(message))}"
