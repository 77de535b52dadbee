"""Names: what may be a name in a spec, and the one allocator of generated names.

Every identifier of a generated file comes from a `Namespace`: module-level
names (classes, helper classes, the outputs type), a class's attributes (its
submodules and methods), a constructor's parameters and a method's locals. Each
namespace knows what it may not hand out (keywords, builtins, what the file
imports, its parent's names), so a spec name can never shadow one of them: a
generated name steps around it; a name the spec gives is refused where the
spec wrote it.
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Container, Iterable

# Names a generated file's code may not be given: Python's own, and those the file uses.
RESERVED = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | {
    "self", "x", "torch", "nn", "Tensor", "Optional", "OrderedDict", "_"}

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
MAX_NAME_LENGTH = 64

# Public attributes of torch.nn.Module: a submodule of one of these names
# would shadow a method. tests/test_names.py checks this list against torch.
MODULE_ATTRIBUTES = frozenset("""
T_destination add_module apply bfloat16 buffers call_super_init children compile cpu
cuda double dump_patches eval extra_repr float forward get_buffer get_extra_state
get_parameter get_submodule half ipu load_state_dict modules mtia named_buffers
named_children named_modules named_parameters parameters register_backward_hook
register_buffer register_forward_hook register_forward_pre_hook
register_full_backward_hook register_full_backward_pre_hook
register_load_state_dict_post_hook register_load_state_dict_pre_hook register_module
register_parameter register_state_dict_post_hook register_state_dict_pre_hook
requires_grad_ set_extra_state set_submodule share_memory state_dict to to_empty train
training type xpu zero_grad
""".split())


def shown(text: str, limit: int = 40) -> str:
    """`text` safe to print in a message: escapes, and shortened."""
    escaped = text.encode("unicode_escape").decode("ascii")
    return escaped if len(escaped) <= limit else escaped[:limit - 1] + "…"


def identifier_problem(name: object) -> str:
    """Why `name` cannot name a param, argument or `let` value ('' if it can)."""
    if not isinstance(name, str):
        return f"a name must be a string, not {type(name).__name__}"
    if len(name) > MAX_NAME_LENGTH:
        return f"`{shown(name, 20)}` is longer than {MAX_NAME_LENGTH} characters"
    if not _IDENTIFIER.match(name):
        return (f"`{shown(name)}` is not a name (letters, digits and `_`, not starting "
                "with a digit)")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f"`{name}` is a Python keyword"
    if name.startswith("__"):
        return f"`{name}` starts with `__`, which is reserved"
    return ""


_SEQUENCE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(-[A-Za-z0-9_]+)+\Z")


def layer_name_problem(name: object) -> str:
    """Why `name` cannot name a layer (a submodule attribute) ('' if it can).

    A name with hyphens (`block1-0`, as torchvision's RegNet has) is accepted here;
    it can only name a layer of a plain sequence, whose names are not attributes
    (passes.validate checks that)."""
    if isinstance(name, str) and len(name) <= MAX_NAME_LENGTH and _SEQUENCE_KEY.match(name):
        return ""
    problem = identifier_problem(name)
    if problem:
        return problem
    if name.startswith("_"):
        return f"`{name}` starts with `_`; layer names are public attributes"
    if name in MODULE_ATTRIBUTES:
        return f"`{name}` is an attribute of torch.nn.Module"
    return ""


def is_attribute_name(name: str) -> bool:
    """Whether `name` can be a Python attribute (`self.<name>`)."""
    return name.isidentifier() and not keyword.iskeyword(name)


def is_positional(name: str) -> bool:
    """True for the names `0`, `1`, … that nn.Sequential gives its children."""
    return name.isdigit() and (name == "0" or not name.startswith("0"))


# Methods the generated network class may have (besides nn.Module's own).
NETWORK_METHODS = frozenset({"init_weights", "eager_outputs", "choose_column"})


class Namespace:
    """The identifiers of one scope of generated code, handed out once each.

    `reserved` names are never handed out; a name taken in `parent` (the module, for
    a method's locals) is not handed out either, so nothing shadows it."""

    def __init__(self, reserved: Iterable[str] = (), parent: Namespace | None = None):
        self.reserved = frozenset(reserved)
        self.parent = parent
        self._taken: set[str] = set()
        self._floor: dict[tuple[str, str], int] = {}

    def __contains__(self, name: str) -> bool:
        """Whether `name` is taken or reserved here or in a parent."""
        return name in self._taken or name in self.reserved or \
            (self.parent is not None and name in self.parent)

    def claim(self, name: str) -> bool:
        """Take `name` if it is free; whether it was."""
        if name in self:
            return False
        self._taken.add(name)
        return True

    def create(self, base: str, separator: str = "_", start: int = 2,
               avoid: Container[str] = ()) -> str:
        """A fresh name: `base` if free, else `base` + separator + start, start + 1, …;
        never one in `avoid` (names the spec will claim later)."""
        if base not in avoid and self.claim(base):
            return base
        n = self._floor.get((base, separator), start)  # names are never freed: a floor
        while f"{base}{separator}{n}" in avoid or not self.claim(f"{base}{separator}{n}"):
            n += 1
        self._floor[(base, separator)] = n
        return f"{base}{separator}{n}"

    def release(self, name: str) -> None:
        """Give `name` back (a local whose value is dead)."""
        self._taken.discard(name)


def class_name(name: str) -> str:
    """The class generated for a spec or block name: `basic_block` -> `BasicBlock`,
    `resnext50_32x4d` -> `Resnext50_32x4d`."""
    parts = [p for p in name.split("_") if p]
    out = ""
    for part in parts:
        if out and out[-1].isdigit() and part[0].isdigit():
            out += "_"
        out += part[0].upper() + part[1:]
    if not out or out[0].isdigit():
        out = "Net" + out
    return out
