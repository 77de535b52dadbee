"""What may be a name in a spec, and why not."""

from __future__ import annotations

import builtins
import keyword
import re

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
