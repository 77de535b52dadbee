"""`extends:` — a spec built on another: the parent's data, the child's keys, patches.

The child's top-level keys replace the parent's, except `params` (merged param
by param) and `blocks` (merged block by block, a child block replacing the
parent's of the same name). Then the child's `patch:` list applies, in order.
Every value keeps the span of the file it came from, so a diagnostic points at
the parent or the child, whichever wrote the culprit.
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, model_validator

from archdsl.diagnostics import error
from archdsl.lang.patch import VERBS, Patch, apply, parse_path
from archdsl.lang.records import validate
from archdsl.lang.yamlload import SpanTable, load_yaml, read_text
from archdsl.limits import Limits

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
            verbs = [v for v in VERBS if v in data]
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


def resolve(data: dict, table: SpanTable, path: str, limits: Limits,
            chain: tuple[str, ...] = ()) -> tuple[dict, SpanTable]:
    """The spec's data with its `extends:` parent merged in and its patches applied."""
    if "extends" not in data:
        if "patch" in data:
            raise error("E0203", "`patch` needs `extends`", table.key(("patch",)),
                        help="patches change a parent spec: add `extends: parent.yaml`")
        return data, table
    parent_path = _parent_path(data["extends"], table, path)
    real = os.path.realpath(parent_path)
    here = os.path.realpath(path) if os.path.exists(path) else path
    chain = chain + (here,)
    if real in chain:
        files = " -> ".join(os.path.relpath(f) for f in chain + (real,))
        raise error("E0503", f"`extends` makes a cycle: {files}", table.value(("extends",)),
                    help="a spec cannot extend itself, directly or through others")
    if len(chain) > MAX_CHAIN:
        raise error("E0500", f"more than {MAX_CHAIN} specs extend one another",
                    table.value(("extends",)))
    try:
        text = read_text(parent_path)
    except OSError as exc:
        raise error("E0001", f"cannot read {parent_path}: {exc.strerror}",
                    table.value(("extends",))) from None
    parent, parent_table = load_yaml(text, parent_path, limits)
    if not isinstance(parent, dict):
        raise error("E0202", f"{parent_path} is not a spec", table.value(("extends",)))
    parent, parent_table = resolve(parent, parent_table, parent_path, limits, chain)
    merged, merged_table = _merge(parent, parent_table, data, table)
    for patch in patches_of(data.get("patch", []), table):
        merged, merged_table = apply(merged, merged_table, patch)
    return merged, merged_table


def _parent_path(value: object, table: SpanTable, path: str) -> str:
    span = table.value(("extends",))
    if not isinstance(value, str) or not value.endswith((".yaml", ".yml")):
        raise error("E0202", "`extends` names a spec file (.yaml), relative to this one",
                    span, help="e.g. `extends: resnet50.yaml`")
    if os.path.isabs(value) or value.startswith("~"):
        raise error("E0203", "`extends` takes a path relative to this spec", span,
                    help="write it relative to the spec's directory")
    parent = os.path.join(os.path.dirname(path), value)
    if not os.path.isfile(parent):
        raise error("E0001", f"the parent spec {parent} does not exist", span)
    return parent


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


__all__ = ["resolve", "patches_of"]
