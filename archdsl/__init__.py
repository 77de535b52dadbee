"""archdsl: a declarative architecture language and compiler for convolutional networks."""

from archdsl.api import Architecture, build, check, compile_source, load, register_op
from archdsl.diagnostics import Diagnostic, SpecError
from archdsl.limits import Limits
from archdsl.version import __version__
from archdsl.weights import WeightReport, transfer

__all__ = ["Architecture", "Diagnostic", "Limits", "SpecError", "WeightReport", "build",
           "check", "compile_source", "load", "register_op", "transfer", "__version__"]
