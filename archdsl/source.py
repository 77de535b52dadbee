"""Source files and spans: where in which text a value came from."""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cached_property

# Line breaks as editors, terminals and GitHub count them. `str.splitlines` also breaks
# at U+2028, U+2029, U+0085 and other controls; inside a quoted scalar those are text, and
# counting them would put every later diagnostic on the wrong line.
_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, eq=False)
class SourceFile:
    """A text that spans point into: a spec file, or a command-line override."""

    path: str
    text: str

    @cached_property
    def lines(self) -> list[str]:
        """The text's lines, without their breaks (a final break starts no line)."""
        lines = _BREAK.split(self.text)
        if len(lines) > 1 and lines[-1] == "":
            lines.pop()
        return lines

    @cached_property
    def _starts(self) -> list[int]:
        return [0] + [m.end() for m in _BREAK.finditer(self.text)]

    def position(self, offset: int) -> tuple[int, int]:
        """The 1-based line and column of the character at `offset` in the text."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect_right(self._starts, offset)
        return line, offset - self._starts[line - 1] + 1

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
