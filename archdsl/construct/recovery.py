"""Going on after an error, so that one run reports a file's independent errors.

When an element of a list fails, its error is kept and the walk goes on as if
the element were not there: its input flows on to the next element. What the
walk meets after that is built on a network the spec does not describe, so most
errors it could find there are consequences of the first (a shape mismatch at a
merge, an auxiliary head left empty, a block's `in_channels` off). Of the errors
after the first, only errors in a call's arguments are kept, and of those only
the ones the substitute cannot have caused:

- arguments evaluated outside any block, from params and literals alone
  (`conv(16, 3, stride=0)` in the network's list, or in the list of a `spec:`
  block that no block calls; Frame.shape_free);
- wrong arguments anywhere (an unknown keyword, too many positional arguments, a
  call of something that is not a layer), which no value changes.

A failed layer leaves no node behind (Placer.place_node). A limit (E05xx), or a
lookup or arithmetic failing on what a failed element left half-made, stops the
walk with the errors kept so far. Any other exception (an interrupt, a timer's)
goes through untouched, and the first error of a walk is raised as it always was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from archdsl.diagnostics import MAX_SHOWN, Diagnostic, SpecError, gathered

# Errors no value of an argument causes: the call itself is wrong.
VALUE_FREE = frozenset({"E0303", "E0304", "E0307"})
# Kept errors past which the walk stops: enough to show, with a count of the others.
MAX_KEPT = 4 * MAX_SHOWN
# What an element may raise: errors, and the failures of code that meets what an
# earlier failed element left half-made (a module without an output, a name taken
# by a layer that is not there).
CAUGHT = (SpecError, LookupError, TypeError, ValueError, AttributeError, ArithmeticError,
          AssertionError, RecursionError)


class ArgumentError(SpecError):
    """An error in a call's arguments; `shape_free` if they were evaluated where no
    value depends on the tensor the call is applied to."""

    def __init__(self, original: SpecError, shape_free: bool):
        super().__init__(original.diagnostics)
        self.shape_free = shape_free

    @property
    def trusted(self) -> bool:
        """Whether the error stands whatever an earlier failed element would have made."""
        return self.shape_free or all(d.code in VALUE_FREE for d in self.diagnostics)


class Stopped(SpecError):
    """The errors kept so far, when the walk cannot go on."""


class Recovery:
    """The errors of one walk over a spec's lists, and whether the walk goes on."""

    def __init__(self, enabled: bool, first_file: str):
        self.enabled = enabled
        self.first_file = first_file
        self.errors: dict[Diagnostic, None] = {}  # once each (a block's, in every copy)

    @contextmanager
    def arguments(self, shape_free: bool) -> Iterator[None]:
        """Marks an error raised inside as one of a call's arguments, evaluated where
        no value depends on the input's shape if `shape_free` (Frame.shape_free)."""
        try:
            yield
        except ArgumentError:
            raise
        except SpecError as exc:
            if not self.enabled:
                raise
            raise ArgumentError(exc, shape_free) from None

    def goes_on(self, exc: Exception) -> bool:
        """Whether the walk goes on past the element that raised `exc` (one of
        CAUGHT), having kept what `exc` reports that can be trusted. Raises `Stopped`
        where the walk cannot go on after earlier errors."""
        if not self.enabled or isinstance(exc, Stopped) or not isinstance(exc, CAUGHT):
            return False
        stops = not isinstance(exc, SpecError) or \
            any(d.code.startswith("E05") for d in exc.diagnostics)
        if stops:
            if self.errors:  # after an error, likely one of its consequences
                raise Stopped(self.report()) from None
            return False
        if not self.errors or isinstance(exc, ArgumentError) and exc.trusted:
            self.errors.update(dict.fromkeys(exc.diagnostics))
        if len(self.errors) >= MAX_KEPT:
            raise Stopped(self.report()) from None
        return True

    def report(self) -> list[Diagnostic]:
        """The errors kept, once each, in order of position."""
        return gathered(list(self.errors), first=self.first_file)
