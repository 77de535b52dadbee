"""Source files and spans: where in which text a value came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property


@dataclass(frozen=True, eq=False)
class SourceFile:
    """A text that spans point into: a spec file, or a command-line override."""

    path: str
    text: str

    @cached_property
    def lines(self) -> list[str]:
        return self.text.splitlines() or [""]

    def line(self, number: int) -> str:
        """The 1-based line `number`, without its newline ('' past the end)."""
        if 1 <= number <= len(self.lines):
            return self.lines[number - 1]
        return ""


@dataclass(frozen=True)
class Span:
    """A region of a source file; lines and columns are 1-based, end exclusive.

    `content_col` is the column of the first character of a scalar's *content*
    when that content maps one-to-one onto a single source line (a plain or
    simply quoted scalar); it lets an expression error point inside the text.
    """

    source: SourceFile = field(compare=False, repr=False)
    line: int
    col: int
    end_line: int
    end_col: int
    content_col: int | None = None

    @property
    def file(self) -> str:
        return self.source.path

    def slice(self, start: int, end: int) -> Span:
        """The span of content characters [start, end) of this scalar, where known."""
        if self.content_col is None:
            return self
        end = max(end, start + 1)
        return Span(self.source, self.line, self.content_col + start, self.line,
                    self.content_col + end, self.content_col + start)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


def whole_line_span(source: SourceFile, line: int = 1) -> Span:
    """A span covering one whole line (used where nothing narrower is known)."""
    text = source.line(line)
    return Span(source, line, 1, line, max(len(text), 1) + 1, content_col=1)
