"""The op registry: every op archdsl knows, one class each (see base.Op)."""

from archdsl.ops import (  # noqa: F401
    activation,
    attention,
    conv,
    dense,
    layout,
    learned,
    linear,
    merge,
    norm,
    pool,
    stochastic,
    structure,
)
from archdsl.ops.base import OPS, Op, OpError, Window

__all__ = ["OPS", "Op", "OpError", "Window"]
