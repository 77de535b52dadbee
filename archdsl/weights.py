"""Weights across variants, and weights from files.

`state_shapes` reads a network's state_dict (names and shapes, parameters and
buffers) from its graph alone; `compare` sorts two such states into unchanged,
reshaped, new and gone tensors; `transfer` loads into a module every tensor of
a state_dict that fits and reports the rest in the same form; `read_state_dict`
finds the state_dict in a weights file. A tensor whose shape differs is never
loaded, nor one of the wrong kind of number, nor one holding NaN or inf.
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
from dataclasses import dataclass, field

from archdsl.diagnostics import WeightsError
from archdsl.graph import Graph
from archdsl.optional import require_torch

# Training wrappers name the wrapped network as an attribute, which prefixes every key
# of the state_dict they save.
WRAPPERS = {"module.": "DistributedDataParallel or DataParallel",
            "_orig_mod.": "torch.compile"}
# Where training checkpoints keep the network's state_dict, most specific first.
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")
_NAMED = 3  # keys a message names before "…"


@dataclass
class WeightReport:
    """How the tensors of A (a state_dict) map onto B (a network)."""

    unchanged: list[str] = field(default_factory=list)  # same name and shape: loadable
    reshaped: list[tuple[str, tuple, tuple]] = field(default_factory=list)  # name, A, B
    new: list[str] = field(default_factory=list)  # in B only
    gone: list[str] = field(default_factory=list)  # in A only
    refused: list[tuple[str, str]] = field(default_factory=list)  # name, why not loaded
    notes: list[str] = field(default_factory=list)  # how A's keys were read

    def to_json(self) -> dict:
        return {"unchanged": self.unchanged,
                "reshaped": [{"name": n, "from": list(a), "to": list(b)}
                             for n, a, b in self.reshaped],
                "new": self.new, "gone": self.gone,
                "refused": [{"name": n, "reason": why} for n, why in self.refused],
                "notes": self.notes}

    def render(self) -> str:
        head = (f"weights: {len(self.unchanged)} tensors load unchanged, "
                f"{len(self.reshaped)} change shape, {len(self.new)} new, "
                f"{len(self.gone)} gone")
        lines = [head + (f", {len(self.refused)} refused" if self.refused else "")]
        lines += [f"  note      {note}" for note in self.notes]
        lines += [f"  refused   {n}: {why}" for n, why in self.refused]
        lines += [f"  reshaped  {n}: {tuple(a)} -> {tuple(b)}" for n, a, b in self.reshaped]
        lines += [f"  new       {n}" for n in self.new]
        lines += [f"  gone      {n}" for n in self.gone]
        return "\n".join(lines)


def state_shapes(graph: Graph) -> dict[str, tuple[int, ...]]:
    """The state_dict of the network built from `graph`: key -> shape, in order."""
    out = {}
    for node in graph.ops():
        inputs = [graph.shape(s) for s in graph.inputs(node.name)]
        for name, slot in node.op.tensors(inputs).items():
            out[f"{node.name}.{name}" if name else node.name] = tuple(slot.shape)
    return out


def compare(a: dict[str, tuple], b: dict[str, tuple]) -> WeightReport:
    """Sort the tensors of state A against those of state B (both name -> shape)."""
    report = WeightReport()
    for name, shape in a.items():
        if name not in b:
            report.gone.append(name)
        elif tuple(b[name]) == tuple(shape):
            report.unchanged.append(name)
        else:
            report.reshaped.append((name, tuple(shape), tuple(b[name])))
    report.new = [name for name in b if name not in a]
    return report


def transfer(state_dict: dict, model) -> WeightReport:
    """Load into `model` every tensor of `state_dict` with the same name, shape and kind
    of number (floating, complex, integer, bool), holding no NaN or inf.

    Returns what was loaded (`unchanged`) and what was not, and why: a tensor whose
    shape differs or that is refused is reported, never loaded. Keys prefixed by a
    training wrapper (`module.`, `_orig_mod.`) are read without the prefix. Raises
    WeightsError when no tensor loads."""
    require_torch("archdsl.transfer")
    import torch

    own = model.state_dict()
    notes = []
    if not own.keys() & state_dict.keys():
        state_dict, notes = strip_wrappers(state_dict)
    tensors = {k: v for k, v in state_dict.items() if isinstance(v, torch.Tensor)}
    report = compare({k: tuple(v.shape) for k, v in tensors.items()},
                     {k: tuple(v.shape) for k, v in own.items()})
    report.notes = notes
    report.refused = [(k, f"{_a(v)}, not a tensor") for k, v in state_dict.items()
                      if k not in tensors]
    loaded = []
    for name in report.unchanged:
        reason = _refusal(tensors[name], own[name])
        if reason is None:
            loaded.append(name)
        else:
            report.refused.append((name, reason))
    report.unchanged = loaded
    if not loaded:
        raise WeightsError(_nothing_loaded(report, state_dict, own))
    model.load_state_dict({name: tensors[name] for name in loaded}, strict=False)
    return report


def strip_wrappers(state_dict: dict) -> tuple[dict, list[str]]:
    """`state_dict` without the key prefix of each training wrapper around the
    network (one that every key has), and a note for each prefix removed."""
    notes = []
    while state_dict:
        prefix = next((p for p in WRAPPERS
                       if all(isinstance(k, str) and k.startswith(p) for k in state_dict)),
                      None)
        if prefix is None:
            break
        state_dict = {k[len(prefix):]: v for k, v in state_dict.items()}
        notes.append(f"stripped the prefix '{prefix}' ({WRAPPERS[prefix]}) from all "
                     f"{len(state_dict)} keys")
    return state_dict, notes


def _kind(dtype) -> str:
    """The kind of number a dtype holds; a tensor loads only into one of its kind."""
    import torch

    if dtype == torch.bool:
        return "bool"
    if dtype.is_complex:
        return "complex"
    if dtype.is_floating_point:
        return "floating"
    if dtype in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64):
        return "integer"
    return str(dtype)


def _refusal(value, target) -> str | None:
    """Why `value` must not be loaded into `target` (same name and shape), or None."""
    import torch

    if value.layout != torch.strided:
        return f"a {str(value.layout).removeprefix('torch.')} tensor; only dense ones load"
    if value.is_meta:
        return "a meta tensor, which holds no values"
    if _kind(value.dtype) != _kind(target.dtype):
        return (f"{str(value.dtype).removeprefix('torch.')} values for a "
                f"{str(target.dtype).removeprefix('torch.')} tensor")
    if value.is_floating_point() or value.is_complex():
        nan, inf = int(torch.isnan(value).sum()), int(torch.isinf(value).sum())
        if nan or inf:
            counts = [f"{n} {what}" for n, what in ((nan, "NaN"), (inf, "inf")) if n]
            return f"holds {' and '.join(counts)} of {value.numel()} values"
    return None


def _nothing_loaded(report: WeightReport, state_dict: dict, own: dict) -> str:
    """Why no tensor of `state_dict` loads into a module whose state_dict is `own`."""
    if not state_dict:
        return "no tensor loads: the state_dict is empty"
    if not own:
        return "no tensor loads: the network has no parameters or buffers"
    causes = []
    if report.reshaped:
        name, a, b = report.reshaped[0]
        causes.append(f"{len(report.reshaped)} change shape ({name}: {a} -> {b}"
                      f"{', …' if len(report.reshaped) > 1 else ''})")
    if report.refused:
        name, why = report.refused[0]
        causes.append(f"{len(report.refused)} are refused ({name}: {why}"
                      f"{', …' if len(report.refused) > 1 else ''})")
    if causes:
        return "no tensor loads: " + "; ".join(causes)
    return (f"no tensor loads: no key of the state_dict ({_few(state_dict)}) is one of "
            f"the network's ({_few(own)})")


def _few(keys) -> str:
    """A few of `keys`, quoted, and how many there are."""
    keys = list(keys)
    shown = ", ".join(repr(k) for k in keys[:_NAMED])
    return shown + (f", … {len(keys)} in all" if len(keys) > _NAMED else "")


def _a(value) -> str:
    """What `value` is, in a message: 'an int', 'a list', 'a tensor of shape (3,)'."""
    import torch

    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    name = type(value).__name__
    return f"{'an' if name[0].lower() in 'aeiou' else 'a'} {name}"


# ---------------------------------------------------------------- weights files


def read_state_dict(path: str) -> tuple[dict, list[str]]:
    """The state_dict in the weights file at `path`, and notes on how it was found.

    Reads what torch.save wrote (a state_dict, or a training checkpoint holding one
    under `state_dict`, `model_state_dict` or `model`) with weights_only=True, and
    TorchScript archives; strips the key prefixes training wrappers add. Anything
    else is a WeightsError whose one-line message says what the file is instead."""
    require_torch("reading weights")
    head = _head(path)
    kind = _zip_kind(path) if head.startswith(b"PK\x03\x04") else None
    if kind == "torchscript":
        state, notes = _torchscript_state(path), ["read the state_dict of a TorchScript module"]
    elif kind == "other":
        raise WeightsError(f"{path}: a zip archive, but neither a torch.save file nor a "
                           "TorchScript archive")
    elif kind == "damaged":
        raise WeightsError(f"{path}: a damaged or truncated zip archive")
    elif kind is None and not head.startswith(b"\x80"):
        raise WeightsError(f"{path}: {_not_torch(head)}")
    else:
        state, notes = _checkpoint_state(path, _torch_load(path))
    state, stripped = strip_wrappers(state)
    return state, [f"{path}: {note}" for note in notes + stripped]


def _head(path: str) -> bytes:
    """The first bytes of the regular, non-empty file at `path`."""
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise WeightsError(f"{path}: a directory, not a weights file")
        if not stat.S_ISREG(info.st_mode):
            raise WeightsError(f"{path}: not a regular file")
        if info.st_size == 0:
            raise WeightsError(f"{path}: an empty file")
        with open(path, "rb") as f:
            return f.read(16)
    except FileNotFoundError:
        raise WeightsError(f"{path}: no such file") from None
    except OSError as e:
        raise WeightsError(f"{path}: cannot be read ({e.strerror})") from None


def _zip_kind(path: str) -> str:
    """What the zip archive at `path` holds: 'torch' (torch.save), 'torchscript',
    'other', or 'damaged' when it cannot be read as a zip or a file in it fails its
    CRC check."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n.split("/", 1)[-1] for n in archive.namelist()]
            # PyTorch's readers check no CRC, and torch.jit.load aborts the process on
            # some damaged archives (a C++ exception thrown while reporting an error).
            if archive.testzip() is not None:
                return "damaged"
    except Exception:  # zipfile raises what its parsing meets: a damaged archive
        return "damaged"
    if "constants.pkl" in names and "data.pkl" in names:  # torch.jit.save's layout
        return "torchscript"
    return "torch" if "data.pkl" in names else "other"


def _not_torch(head: bytes) -> str:
    """What a file that is not PyTorch's is, as far as its first bytes tell."""
    expected = "not a weights file of torch.save or torch.jit.save"
    if head[8:9] == b"{" and int.from_bytes(head[:8], "little") > 0:
        # safetensors: the length of a JSON header, little-endian, then the header
        return (f"a safetensors file, {expected}; load it with safetensors.torch.load_file "
                "and pass the dict to archdsl.transfer")
    if all(b >= 0x20 and b != 0x7F or b in b"\t\n\r" for b in head):
        return f"a text file, {expected}"
    return expected


def _torch_load(path: str):
    """What torch.save wrote to `path`, read with weights_only=True (tensors and plain
    containers only: no other object is ever built)."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if found:
            raise WeightsError(
                f"{path}: holds Python objects ({found[1]}), not only tensors; archdsl "
                "reads weights only (save model.state_dict())") from None
        raise WeightsError(f"{path}: a damaged or truncated PyTorch file") from None
    except OSError as e:
        raise WeightsError(f"{path}: cannot be read ({e.strerror})") from None
    except Exception:  # what unpickling damaged bytes raises depends on the damage
        raise WeightsError(f"{path}: a damaged or truncated PyTorch file") from None


def _torchscript_state(path: str) -> dict:
    """The state_dict of the TorchScript module saved at `path`."""
    import warnings

    import torch

    try:
        with warnings.catch_warnings():  # torch.jit.load's deprecation notice
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(path, map_location="cpu")
    except Exception:  # what loading damaged bytes raises depends on the damage
        raise WeightsError(f"{path}: a damaged TorchScript archive") from None
    return _checked(path, dict(module.state_dict()), "the TorchScript module's state_dict")


def _checkpoint_state(path: str, loaded) -> tuple[dict, list[str]]:
    """The state_dict in what torch.load returned: itself, or a checkpoint's entry."""
    import torch

    if not isinstance(loaded, dict):
        raise WeightsError(f"{path}: holds {_a(loaded)}, not a state_dict")
    if loaded and all(isinstance(v, torch.Tensor) for v in loaded.values()):
        return _checked(path, loaded, "its state_dict"), []
    entries = [k for k in CHECKPOINT_KEYS if isinstance(loaded.get(k), dict)]
    for key in entries:
        entry = loaded[key]
        if entry and all(isinstance(v, torch.Tensor) for v in entry.values()):
            others = [k for k in loaded if k != key]
            note = f"read the state_dict under '{key}' of a checkpoint"
            return (_checked(path, entry, f"the state_dict under '{key}'"),
                    [note + (f" (which also holds {_few(others)})" if others else "")])
    if entries:
        _checked(path, loaded[entries[0]], f"the dict under '{entries[0]}'")
    if not loaded:
        raise WeightsError(f"{path}: holds an empty dict, not a state_dict")
    key, value = next((k, v) for k, v in loaded.items() if not isinstance(v, torch.Tensor))
    raise WeightsError(f"{path}: not a state_dict: {key!r} is {_a(value)}, not a tensor (a "
                       "checkpoint keeps its weights under 'state_dict', 'model_state_dict' "
                       "or 'model')")


def _checked(path: str, state: dict, what: str) -> dict:
    """`state` when it is a non-empty dict of tensors under string keys."""
    import torch

    if not state:
        raise WeightsError(f"{path}: {what} is empty")
    for key, value in state.items():
        if not isinstance(key, str):
            raise WeightsError(f"{path}: {what} has a key that is not a string: {key!r}")
        if not isinstance(value, torch.Tensor):
            raise WeightsError(f"{path}: {what} holds {key!r}, {_a(value)}, not a tensor")
    return state
