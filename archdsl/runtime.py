"""Turn generated source into a module object and an nn.Module (imports torch)."""

from __future__ import annotations

import hashlib
import linecache
import sys
import types

from archdsl.emit.torch_source import Emitted

PACKAGE = "archdsl_generated"


def load_module(emitted: Emitted) -> types.ModuleType:
    """Execute the source as a module registered in sys.modules (so that TorchScript and
    pickling can find its classes); the same source gives the same module."""
    digest = hashlib.sha256(emitted.source.encode()).hexdigest()[:16]
    name = f"{PACKAGE}.{emitted.class_name.lower()}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    filename = f"<archdsl {name}>"
    # linecache lets inspect (and so torch.jit.script) and tracebacks read the source.
    linecache.cache[filename] = (len(emitted.source), None,
                                 emitted.source.splitlines(keepends=True), filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    exec(compile(emitted.source, filename, "exec"), module.__dict__)
    sys.modules.setdefault(PACKAGE, types.ModuleType(PACKAGE))
    sys.modules[name] = module
    return module


def instantiate(emitted: Emitted):
    """An instance of the generated network class."""
    return getattr(load_module(emitted), emitted.class_name)()
