"""`extends:` — a spec built on another: the parent's data, the child's keys, patches.

The child's top-level keys replace the parent's, except `params` (merged param
by param) and `blocks` (merged block by block, a child block replacing the
parent's of the same name). Then the child's `patch:` list applies, in order.
Every value keeps the span of the file it came from, so a diagnostic points at
the parent or the child, whichever wrote the culprit.

A spec reads other files only inside its root (the top spec's repository or
directory by default) or in the zoo (`extends: archdsl::resnet50`), and shows no
text of a file that does not read as a spec: a reference to anything else is an
error at the reference.
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, model_validator

from archdsl import zoo
from archdsl.diagnostics import CODES, SpecError, error
from archdsl.lang.patch import VERBS, Patch, apply, parse_path
from archdsl.lang.records import validate
from archdsl.lang.yamlload import SpanTable, load_yaml, read_text
from archdsl.limits import Limits
from archdsl.source import Span

MAX_CHAIN = 16
MERGED_BY_KEY = ("params", "blocks")


class PatchRecord(BaseModel):
    """One patch: a verb with the path it applies to, and a value for set and inserts."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    set: str | None = Field(None, description="Path whose value to set, e.g. "
                                              "network.layer3.depth.")
    delete: str | None = Field(None, description="Path of a key or list element to remove.")
    insert_before: str | None = Field(None, description="Path of a list element; `value` "
                                                        "goes before it.")
    insert_after: str | None = Field(None, description="Path of a list element; `value` "
                                                       "goes after it.")
    value: object = Field(None, description="The new value (for set and the inserts).")

    @model_validator(mode="before")
    @classmethod
    def _one_verb(cls, data):
        if isinstance(data, dict):
            verbs = [v for v in VERBS if data.get(v) is not None]
            if len(verbs) != 1:
                raise ValueError("a patch has exactly one of set, delete, insert_before, "
                                 f"insert_after (found {', '.join(verbs) or 'none'})")
            if verbs[0] != "delete" and "value" not in data:
                raise ValueError(f"`{verbs[0]}` needs a `value`")
        return data


def patches_of(raw: list, table: SpanTable, at: tuple = ("patch",)) -> list[Patch]:
    """The `patch:` list of a spec as Patch objects."""
    if not isinstance(raw, list):
        raise error("E0202", "`patch` is a list of patches", table.value(at),
                    help="write `patch:` followed by `- set: path` items")
    out = []
    for index, item in enumerate(raw):
        here = at + (index,)
        record = validate(PatchRecord, item, here, table)
        verb = next(v for v in VERBS if getattr(record, v) is not None)
        text = getattr(record, verb)
        span = table.value(here + (verb,))
        out.append(Patch(verb, parse_path(text, span), text, item.get("value"),
                         table.subtree(here + ("value",)), span))
    return out


def resolve(data: dict, table: SpanTable, path: str, limits: Limits, root: str,
            chain: tuple[str, ...] = ()) -> tuple[dict, SpanTable, tuple[str, ...]]:
    """The spec's data with its `extends:` parent merged in and its patches applied,
    and the real paths of the parents read (nearest first)."""
    if "extends" not in data:
        if "patch" in data:
            raise error("E0203", "`patch` needs `extends`", table.key(("patch",)),
                        help="patches change a parent spec: add `extends: parent.yaml`")
        return data, table, ()
    reference, where = data["extends"], table.value(("extends",))
    if not isinstance(reference, str) or not (reference.endswith((".yaml", ".yml")) or
                                              zoo.is_reference(reference)):
        raise error("E0202", "`extends` names a spec file (.yaml), relative to this one, "
                    "or a spec of the zoo", where,
                    help="e.g. `extends: resnet50.yaml` or `extends: archdsl::resnet50`")
    parent_path, real = confined(reference, path, root, where, "extends")
    here = os.path.realpath(path) if os.path.exists(path) else path
    chain = chain + (here,)
    if real in chain:
        files = " -> ".join(os.path.relpath(f) for f in chain + (real,))
        raise error("E0503", f"`extends` makes a cycle: {files}", where,
                    help="a spec cannot extend itself, directly or through others")
    if len(chain) > MAX_CHAIN:
        raise error("E0500", f"more than {MAX_CHAIN} specs extend one another", where)
    parent, parent_table = read_spec(parent_path, reference, where, limits)
    parent, parent_table, above = resolve(parent, parent_table, parent_path, limits, root,
                                          chain)
    merged, merged_table = _merge(parent, parent_table, data, table)
    for patch in patches_of(data.get("patch", []), table):
        merged, merged_table = apply(merged, merged_table, patch)
    return merged, merged_table, (real,) + above


def default_root(path: str) -> str:
    """The root of the spec at `path`: the git repository its directory is in (the
    nearest ancestor holding `.git`), else that directory."""
    directory = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    here = directory
    while not os.path.exists(os.path.join(here, ".git")):
        if os.path.dirname(here) == here:
            return directory
        here = os.path.dirname(here)
    return here


def confined(reference: str, path: str, root: str, where: Span, key: str
             ) -> tuple[str, str]:
    """The file that `reference` (the value of `key`, at `where`) names, relative to
    the spec at `path`: as shown in diagnostics, and its real path, inside `root`.

    `archdsl::NAME` names a spec of the zoo, from anywhere; the zoo's files are the
    package's own, so they and the files they name need not lie under `root`."""
    if zoo.is_reference(reference):
        found = zoo.path(reference)
        if found is None:
            raise error("E0001", f"the zoo has no spec `{zoo.name_of(reference)}`", where,
                        label="not a spec of the zoo", help=zoo.unknown(reference))
        return str(found), os.path.realpath(found)
    if os.path.isabs(reference) or reference.startswith("~") or "\\" in reference:
        raise error("E0203", f"`{key}` takes a path relative to this spec", where,
                    help="write it relative to the spec's directory, with `/`, e.g. "
                         "`resnet50.yaml`")
    shown = os.path.join(os.path.dirname(path), reference)
    real = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(path)), reference))
    trusted = zoo.contains(path) and zoo.contains(real)  # the zoo naming its own files
    if os.path.commonpath([root, real]) != root and not trusted:
        raise error("E0203", f"`{reference}` is outside the root {root}", where,
                    label="names a file outside the root",
                    help="specs read files under the root only (the top spec's repository, "
                         "else its directory); widen it with `--root DIR` on the command "
                         "line or `root=` in archdsl.load")
    if not os.path.exists(real):
        raise error("E0001", f"the spec {shown} does not exist", where)
    return shown, real


def read_spec(path: str, reference: str, where: Span, limits: Limits
              ) -> tuple[dict, SpanTable]:
    """The data of the spec file at `path`, which `reference` at `where` names.

    A file that does not read as a spec (YAML text, a mapping with an `archdsl` key)
    may be anything under the root: none of its text is shown, and the error is
    at the reference."""
    try:
        data, table = load_yaml(read_text(path, limits), path, limits)
    except SpecError as exc:
        first = exc.diagnostics[0]
        # These messages name the file, its kind or size, a limit: none of its text.
        told = first.span is None or first.code == "E0103"
        why = first.message if told else CODES[first.code]
        raise error(first.code, f"`{reference}` does not read as a spec: {why}", where,
                    help=_UNSHOWN.format(path=path)) from None
    if not isinstance(data, dict) or "archdsl" not in data:
        raise error("E0202", f"`{reference}` is not a spec: it is not a mapping with an "
                    "`archdsl` key", where, help=_UNSHOWN.format(path=path))
    return data, table


_UNSHOWN = ("no text of a file that is not a spec is shown; `archdsl check {path}` "
            "shows what is wrong with it")


def _merge(parent: dict, parent_table: SpanTable, child: dict, child_table: SpanTable
           ) -> tuple[dict, SpanTable]:
    merged = dict(parent)
    table = parent_table.copy()
    table.source = child_table.source
    for key, value in child.items():
        if key in ("extends", "patch"):
            continue
        if key in MERGED_BY_KEY and isinstance(value, dict) and \
                isinstance(parent.get(key), dict):
            merged[key] = {**parent[key], **value}
            for name in value:
                table.drop((key, name))
                table.graft(child_table.subtree((key, name)), (key, name))
                table.keys[(key, name)] = child_table.key((key, name))
            continue
        merged[key] = value
        table.drop((key,))
        table.graft(child_table.subtree((key,)), (key,))
        table.keys[(key,)] = child_table.key((key,))
    return merged, table


__all__ = ["resolve", "patches_of", "default_root", "confined", "read_spec"]
