"""check ⇒ build: a spec that `check` accepts builds, runs and scripts.

`build_problem` builds a checked architecture on the meta device (shapes without
data, so that a network of any size costs no memory and little time), runs its
forward in eval and training mode, and scripts it with TorchScript; it names the
first step that fails. Scripting is the slow part (about a second for a
ResNet-50), and whether it works depends on the code's structure and types, not
on the values of its literals, so `Seen` scripts each structure once (and builds
each source once). The fuzzer runs it inside `fast_meta_batch_norm`, which makes a
meta-device forward of ResNet-50 seven times faster.

`rename_mutation` is the fuzzer's mutation for names that collide with the
generated file's own: it renames a block, a layer, the outputs type or an
outputs field (and every reference to it) to a name the emitter uses, or
duplicates or drops an outputs field.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import linecache
import random
import re
import sys
import traceback
import warnings
from collections.abc import MutableMapping

# ---------------------------------------------------------------------- the property


def structure_key(source: str) -> str:
    """A digest of generated source that ignores docstrings, comments and the values
    (not the types) of numbers: two sources with one key script alike."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and \
                isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            body[0] = ast.Pass()
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            node.value = type(node.value)(1)
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


class Seen:
    """What the cases so far built and scripted: a case whose source (and input) was
    built before is not built again, and a structure (`structure_key`) scripted before
    is not scripted again. `seen` may be a dict that several processes share (a
    multiprocessing proxy)."""

    def __init__(self, seen: MutableMapping[str, bool] | None = None) -> None:
        self.seen = {} if seen is None else seen

    def _first(self, key: str) -> bool:
        if key in self.seen:
            return False
        self.seen[key] = True
        return True

    def first_build(self, source: str, input_dims: tuple[int, ...]) -> bool:
        """Whether this source with this input is new (and now seen): the same text
        builds the same modules, which give the same shapes."""
        digest = hashlib.sha256(f"{input_dims}\n{source}".encode()).hexdigest()
        return self._first("build " + digest)

    def first(self, source: str) -> bool:
        """Whether `source`'s structure is new (and now seen)."""
        return self._first("script " + structure_key(source))


def _shapes(out, arch) -> list[tuple[str, tuple, tuple]]:
    """(what, shape run, shape inferred) for each tensor the network returned."""
    graph = arch.graph
    if isinstance(out, dict):
        expected = dict(graph.returns)
        return [(f"output {k!r}", tuple(v.shape[1:]), graph.shape(expected[k]).dims)
                for k, v in out.items()]
    if isinstance(out, tuple):  # a network with heads (scripted, heads None in eval mode)
        fields = graph.outputs[1] if graph.outputs else []
        return [(f"output `{name}`", tuple(v.shape[1:]), graph.shape(value).dims)
                for (name, value), v in zip(fields, out) if v is not None]
    return [("output", tuple(out.shape[1:]), graph.shape(graph.output).dims)]


def _run(model, x, arch, training: bool) -> str:
    out = model.train(training)(x)
    returned = out.keys() if isinstance(out, dict) else None
    if returned is not None and list(returned) != [k for k, _ in arch.graph.returns]:
        return f"returned keys {list(returned)}, declared {[k for k, _ in arch.graph.returns]}"
    if isinstance(out, tuple) and arch.graph.outputs and \
            len(out) != len(arch.graph.outputs[1]):
        return f"returned {len(out)} outputs, declared {len(arch.graph.outputs[1])}"
    for what, run, inferred in _shapes(out, arch):
        if run != inferred:
            return f"{what} {run} in {'training' if training else 'eval'} mode, " \
                f"statically {inferred}"
    return ""


def build_problem(arch, script: bool = True) -> str:
    """Why the checked `arch` does not build on the meta device, run in eval and
    training mode with the shapes `check` inferred, or script ('' if it does)."""
    import torch

    import archdsl

    step = "build"
    try:
        with torch.device("meta"):
            model = archdsl.build(arch, allow_large=True)
            x = torch.empty(2, *arch.graph.shape("<input>").dims)
            step = "run"
            for training in (False, True):
                problem = _run(model, x, arch, training)
                if problem:
                    return f"run: {problem}"
            if script:
                step = "script"
                with warnings.catch_warnings():  # asked for: no deprecation notice a case
                    warnings.simplefilter("ignore", FutureWarning)
                    scripted = torch.jit.script(model)
                step = "run the scripted module"
                for training in (False, True):
                    problem = _run(scripted, x, arch, training)
                    if problem:
                        return f"run the scripted module: {problem}"
    except Exception as exc:  # any failure is the finding
        return f"{step}: " + "".join(traceback.format_exception(exc)[-6:])
    finally:
        forget_modules()
    return ""


@contextlib.contextmanager
def fast_meta_batch_norm():
    """Within the block (and in processes forked inside it), `aten::native_batch_norm`
    has a shape-only kernel on the meta device.

    torch's meta kernel for it is a Python decomposition that computes the statistics
    op by op: about 2 ms a call, thirty times a convolution's, and three quarters of a
    meta-device forward of ResNet-50 (a fuzz case runs four). This one returns what
    that one returns: the output with the input's shape, dtype and memory format, and
    two [C] statistics in the computation dtype. It checks no shapes, as it need not:
    `batch_norm` checks each tensor against the input's channels before it calls the
    kernel, so a norm that does not fit its input fails as it did
    (tests/test_check_build.py compares the two kernels)."""
    import torch
    from torch._prims_common import get_computation_dtype  # the decomposition's own

    def kernel(input, weight, bias, running_mean, running_var, training, momentum, eps):
        if not training and (running_mean is None or running_var is None):
            raise RuntimeError("running_mean and running_var must be defined in eval mode")
        dtype = get_computation_dtype(input.dtype)
        channels = input.shape[1]
        return (torch.empty_like(input), input.new_empty((channels,), dtype=dtype),
                input.new_empty((channels,), dtype=dtype))

    library = torch.library.Library("aten", "IMPL")
    with warnings.catch_warnings():  # "overriding a previously registered kernel"
        warnings.simplefilter("ignore", UserWarning)
        library.impl("native_batch_norm", kernel, "Meta")
    try:
        yield
    finally:
        library._destroy()  # torch's kernel again


def forget_modules() -> None:
    """Drop the generated modules archdsl.runtime registered, and their source kept for
    tracebacks (a fuzzer builds thousands)."""
    from archdsl.runtime import PACKAGE

    for name in [n for n in sys.modules if n.startswith(PACKAGE + ".")]:
        del sys.modules[name]
        linecache.cache.pop(f"<archdsl {name}>", None)


# ---------------------------------------------------------------------- the mutation

# Names the generated file uses: its imports, helper classes, generated methods, Python's.
GENERATED_NAMES = [
    "Tensor", "torch", "nn", "super", "self", "x", "out", "forward", "__init__",
    "init_weights", "eager_outputs", "choose_column", "training", "NamedTuple", "Optional",
    "OrderedDict", "Dict", "Tuple", "fnmatchcase", "DropPath", "Join", "Chunk",
    "ChannelShuffle", "Permute", "Reshape", "Select", "LayerNorm2d", "LayerNorm3d",
    "FrozenBatchNorm2d", "ShiftedWindowAttention", "PatchMerge", "NetOutputs", "Net",
    "count", "index", "keys", "items", "len", "range", "list", "int", "float", "object",
    "type", "module", "modules",
]
# The same names as a block would give them: `drop_path` -> class DropPath.
GENERATED_BLOCK_NAMES = [
    "tensor", "drop_path", "join", "chunk", "channel_shuffle", "permute", "reshape", "select",
    "layer_norm2d", "layer_norm1d", "frozen_batch_norm2d", "shifted_window_attention",
    "patch_merge", "named_tuple", "optional", "ordered_dict", "net_outputs", "forward",
    "init_weights", "eager_outputs", "choose_column", "super", "torch", "nn", "x", "self",
    "training",
]


def _replace_word(data: object, old: str, new: str) -> object:
    """`data` with the whole word `old` replaced by `new` in every key and string."""
    pattern = re.compile(rf"(?<![\w.]){re.escape(old)}(?!\w)")

    def walk(value):
        if isinstance(value, dict):
            return {walk(k): walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str):
            return pattern.sub(new, value)
        return value

    return walk(data)


def _layer_names(data: object) -> list[str]:
    """The names the spec gives layers: one-key mappings in a list (`- conv1: conv(…)`)."""
    out, stack = [], [data.get("network"), data.get("blocks")]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and len(item) == 1:
                    out += [k for k in item if isinstance(k, str)]
            stack += value
        elif isinstance(value, dict):
            stack += value.values()
    return sorted(set(out))


def rename_mutation(data: object, rng: random.Random) -> object:
    """One change of a spec's names towards the generated file's own (see the module doc)."""
    if not isinstance(data, dict):
        return data
    outputs = data.get("outputs") if isinstance(data.get("outputs"), dict) else None
    fields = outputs.get("fields") if outputs and isinstance(outputs.get("fields"), dict) \
        else None
    choices = ["layer", "block", "name"] + (["type", "field", "duplicate", "drop"]
                                            if fields else [])
    choice = rng.choice(choices)
    if choice == "block":
        blocks = data.get("blocks") if isinstance(data.get("blocks"), dict) else {}
        old = rng.choice(sorted(k for k in blocks if isinstance(k, str)) or [""])
        return _replace_word(data, old, rng.choice(GENERATED_BLOCK_NAMES)) if old else data
    if choice == "layer":
        layers = _layer_names(data)
        if layers:
            return _replace_word(data, rng.choice(layers), rng.choice(GENERATED_NAMES))
        return data
    if choice == "name":  # the network's class takes the name of a helper or an import
        data["name"] = rng.choice(GENERATED_BLOCK_NAMES)
        return data
    if choice == "type":
        outputs["name"] = rng.choice(GENERATED_NAMES)
    elif choice == "field":
        old = rng.choice(sorted(fields))
        new = rng.choice(GENERATED_NAMES)
        outputs["fields"] = {new if k == old else k: v for k, v in fields.items()}
    elif choice == "duplicate":  # a second field for one source
        source = rng.choice(list(fields.values()))
        fields[rng.choice(GENERATED_NAMES + ["logits2", "aux"])] = source
    else:  # drop a field
        del fields[rng.choice(sorted(fields))]
    return data


# Init rule values: every function, the fan-based ones on any tensor, intervals either way.
INIT_VALUES = [
    0, 1, -0.5, "zeros", "ones", "normal(std=0.01)", "trunc_normal(std=0.02)",
    "trunc_normal(0, 1, 2, -2)", "uniform(-1, 1)", "uniform(1, -1)", "uniform(2, 2)",
    "kaiming_normal(mode='fan_out', nonlinearity='relu')", "kaiming_uniform(a=1)",
    "xavier_uniform", "xavier_normal(gain=2)", "constant(3)",
]
# Layers swapped for others that keep the shape, or most shapes.
SWAPS = {
    "bn": ["layer_norm", "layer_norm(affine=false)", "group_norm(1)", "frozen_bn", "identity",
           "dropout(0.5)"],
    "relu": ["gelu", "silu", "hardswish", "relu6", "identity", "drop_path(0.5)"],
    "conv": ["conv_transpose"], "maxpool": ["avgpool"], "gap": ["adaptive_avgpool(1)"],
}
# Pairs of layers that together keep the shape, one of them a view.
VIEW_PAIRS = [["permute(0, 1, 3, 2)", "permute(0, 1, 3, 2)"], ["layer_norm", "relu"],
              ["transpose(2, 3)", "transpose(2, 3)"], ["identity", "layer_norm"]]


def _lists(data: object) -> list[list]:
    """The lists of layers in the network and its blocks (bodies, branches, repeats)."""
    out, stack = [], [data.get("network"), data.get("blocks")]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            out.append(value)
            stack += value
        elif isinstance(value, dict):
            stack += value.values()
    return out


def structure_mutation(data: object, rng: random.Random) -> object:
    """One change of a spec's layers or init rules of the kinds that once passed `check`
    and did not build: an init rule whose glob meets modules without its tensor, or whose
    function cannot fill one; a norm or activation swapped for another; a pair of layers
    with a view inside a residual; a block or auxiliary head emptied."""
    if not isinstance(data, dict):
        return data
    choice = rng.choice(["init", "init", "swap", "view", "empty"])
    if choice == "init":
        layers = _layer_names(data)
        rule: dict = {}
        if rng.random() < 0.5:
            rule["op"] = rng.choice(["conv", "bn", "linear", "layer_norm", "relu",
                                     "attention", "frozen_bn", "channel_scale"])
        if rng.random() < 0.6 or not rule:
            name = rng.choice(layers or ["x"])
            rule["name"] = rng.choice(["*", name, f"{name}.*", f"*.{name}", f"*{name}*"])
        for attribute in ("weight", "bias"):
            if rng.random() < 0.7:
                rule[attribute] = rng.choice(INIT_VALUES)
        rules = data.get("init") if isinstance(data.get("init"), list) else []
        data["init"] = rules + [rule]
        return data
    lists = [value for value in _lists(data) if value]
    if not lists:
        return data
    target = rng.choice(lists)
    i = rng.randrange(len(target))
    if choice == "swap":
        old = rng.choice(sorted(SWAPS))
        pattern = re.compile(rf"(?<![\w.]){old}(?![\w])")
        new = rng.choice(SWAPS[old])
        return _replace_text(data, pattern, new, rng)
    if choice == "view":
        target[i:i] = rng.choice(VIEW_PAIRS)
        return data
    blocks = data.get("blocks") if isinstance(data.get("blocks"), dict) else {}
    bodies = [b for b in blocks.values() if isinstance(b, dict) and "body" in b]
    if bodies and rng.random() < 0.7:
        rng.choice(bodies)["body"] = []
    else:
        del target[:]
    return data


def _replace_text(data: object, pattern: re.Pattern, new: str, rng: random.Random) -> object:
    """`data` with the first match of `pattern` replaced in one of the strings that hold
    one, chosen at random."""
    def strings(value):
        if isinstance(value, dict):
            return [s for v in value.values() for s in strings(v)]
        if isinstance(value, list):
            return [s for v in value for s in strings(v)]
        return [value] if isinstance(value, str) and pattern.search(value) else []

    count = len(strings(data))
    if not count:
        return data
    chosen, seen = rng.randrange(count), [0]

    def walk(value):
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str) and pattern.search(value):
            seen[0] += 1
            if seen[0] - 1 == chosen:
                return pattern.sub(new, value, count=1)
        return value

    return walk(data)
