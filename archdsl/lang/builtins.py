"""The builtin functions of the expression language: plain Python functions of
values, each raising TypeError (a wrong argument) or ValueError (no result)."""

from __future__ import annotations

import math
from collections.abc import Callable

from archdsl.lang.designs import make_divisible, regnet
from archdsl.lang.values import a_type, described, is_number


def _numbers(name: str, values: tuple) -> tuple:
    """The numbers of `min(a, b, …)` or, as Python's, `min(list)`."""
    if not values:
        raise TypeError(f"{name}() takes a list or numbers")
    if len(values) == 1 and isinstance(values[0], tuple):
        values = values[0]
        if not values and name != "sum":  # sum([]) is 0, as in Python
            raise ValueError("the list is empty")
    for v in values:
        if not is_number(v):
            raise TypeError(f"{name}() takes numbers, got {a_type(v)}")
    return values


def _one_number(name: str, args: tuple) -> float | int:
    if len(args) != 1 or not is_number(args[0]):
        raise TypeError(f"{name}() takes one number")
    return args[0]


def _round(*args):
    if len(args) == 2 and is_number(args[0]) and isinstance(args[1], int):
        number, ndigits = args
        if isinstance(number, int) and ndigits < 0:
            # Python rounds an int by dividing by 10 ** -ndigits, built in full: `round(4,
            # -10**8)` takes minutes. Past the number's own digits the result is 0, so
            # ndigits is clamped there first.
            ndigits = max(ndigits, -len(str(abs(number))) - 1)
        return round(number, ndigits)
    return int(round(_one_number("round", args)))


def _len(*args):
    if len(args) != 1 or not isinstance(args[0], (tuple, str)):
        raise TypeError("len() takes one list")
    return len(args[0])


def _make_divisible(v, divisor, min_value=None) -> int:
    """designs.make_divisible, with its arguments checked."""
    if not is_number(v):
        raise TypeError(f"make_divisible() takes a number `v`, got {a_type(v)}")
    if not (isinstance(divisor, int) and not isinstance(divisor, bool) and divisor > 0):
        raise TypeError(f"make_divisible() takes a positive int `divisor`, got "
                        f"{described(divisor)}")
    if min_value is not None and (not isinstance(min_value, int) or
                                  isinstance(min_value, bool)):
        raise TypeError(f"make_divisible() takes an int `min_value`, got {a_type(min_value)}")
    return make_divisible(v, divisor, min_value)


BUILTINS: dict[str, Callable] = {
    "min": lambda *a: min(_numbers("min", a)),
    "max": lambda *a: max(_numbers("max", a)),
    "sum": lambda *a: sum(_numbers("sum", a)),
    "abs": lambda *a: abs(_one_number("abs", a)),
    "int": lambda *a: int(_one_number("int", a)),
    "float": lambda *a: float(_one_number("float", a)),
    "round": _round,
    "ceil": lambda *a: math.ceil(_one_number("ceil", a)),
    "floor": lambda *a: math.floor(_one_number("floor", a)),
    "len": _len,
    "make_divisible": _make_divisible,
    "regnet": regnet,
}
# The parameters of the builtins that take keyword arguments (the others take none).
PARAMETERS: dict[str, tuple[str, ...]] = {
    "make_divisible": ("v", "divisor", "min_value"),
    "regnet": ("w_0", "w_a", "w_m", "depth", "group_width", "bottleneck"),
}
