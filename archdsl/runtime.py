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


def instantiate(emitted: Emitted, covered: dict[str, set[str]] | None = None):
    """An instance of the generated network class.

    With `covered` (module name -> the parameters the spec's `init` rules set),
    every weight is initialised once: the modules are made without data on the meta
    device, then each parameter gets either its init rule (`init_weights`) or, where
    no rule sets it, its module's default initialisation. The same distributions as
    the constructor's, at about half the cost for a network whose rules cover most
    weights (torchvision's constructors initialise those twice)."""
    import torch

    cls = getattr(load_module(emitted), emitted.class_name)
    device = torch.get_default_device()
    if not covered or not hasattr(cls, "init_weights") or device.type == "meta":
        return cls()
    with torch.device("meta"):
        model = cls()
    if not _resettable(model):
        # A tensor only its constructor knows how to start (a class token, a helper
        # module's buffer): construct the network as it is written.
        return cls()
    model = model.to_empty(device=device)
    for name, module in model.named_modules():
        parameters = {n for n, _ in module.named_parameters(recurse=False)}
        if parameters and parameters <= covered.get(name, set()):
            if hasattr(module, "reset_running_stats"):
                module.reset_running_stats()  # batch norm: its buffers still need values
        elif hasattr(module, "reset_parameters"):
            module.reset_parameters()
    model.init_weights()
    return model


def _resettable(model) -> bool:
    """Whether every module that holds tensors of its own can set them again
    (`reset_parameters`), or is covered by the init rules."""
    for module in model.modules():
        holds = any(True for _ in module.parameters(recurse=False)) or \
            any(True for _ in module.buffers(recurse=False))
        if holds and not hasattr(module, "reset_parameters") and \
                not hasattr(module, "reset_running_stats"):
            return False
    return True
