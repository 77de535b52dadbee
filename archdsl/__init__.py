"""archdsl: a declarative architecture language and compiler for convolutional networks."""

from archdsl.api import Architecture, build, check, compile_source, load
from archdsl.diagnostics import Diagnostic, SpecError
from archdsl.limits import Limits

__all__ = ["Architecture", "Diagnostic", "Limits", "SpecError", "build", "check",
           "compile_source", "load"]
__version__ = "0.1.0"
