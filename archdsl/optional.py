"""The features that need torch, which `pip install archdsl` leaves out.

The front end (check, compile to source, summary, graph, diff, sweep, schema) runs
on pydantic, pyyaml, lark and networkx alone; building a module, TorchScript, ONNX
and weights need `archdsl[torch]`. Asking for one of them without torch is a
one-line error, not a traceback from deep inside.
"""

from __future__ import annotations

import importlib.util


class MissingDependency(ImportError):
    """A feature was asked for whose package is not installed (a usage error, exit 2)."""


def require_torch(feature: str, extra: str = "torch") -> None:
    """Raise MissingDependency naming `feature`, and the extra that brings torch,
    unless torch can be imported."""
    if importlib.util.find_spec("torch") is None:
        raise MissingDependency(f"{feature} needs torch: pip install 'archdsl[{extra}]'")


__all__ = ["MissingDependency", "require_torch"]
