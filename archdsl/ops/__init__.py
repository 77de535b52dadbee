"""The op registry: every op archdsl knows, one class each (see base.Op)."""

from archdsl.ops import activation, conv, linear, merge, norm, pool, structure  # noqa: F401
from archdsl.ops.base import OPS, Op, OpError, Window

__all__ = ["OPS", "Op", "OpError", "Window"]
