"""Validate plain data against a pydantic record, as located diagnostics."""

from __future__ import annotations

import typing

from pydantic import BaseModel, ValidationError

from archdsl.diagnostics import Diagnostic, SpecError
from archdsl.lang.evaluate import suggest
from archdsl.lang.yamlload import Path, SpanTable


def validate(model: type[BaseModel], data: object, path: Path, table: SpanTable):
    """`model.model_validate(data)`, strictly (`true` is not 1, nor `2.0` 2), with errors
    located through `table`."""
    literals = _literal_types(model, data, path, table)
    try:
        record = model.model_validate(data, strict=True)
    except ValidationError as exc:
        diagnostics = literals + [_diagnostic(model, err, data, path, table)
                                  for err in exc.errors()]
        # `netwrk:` is one mistake, not two: report the unknown key with its suggestion,
        # and not also the key it was meant to be as missing.
        suggested = {d.help for d in diagnostics if d.code == "E0200"}
        diagnostics = [d for d in diagnostics if not (
            d.code == "E0201" and any(f"`{_missing_key(d)}`" in s for s in suggested))]
        diagnostics.sort(key=lambda d: d.code != "E0200")
        raise SpecError(diagnostics) from None
    if literals:
        raise SpecError(literals)
    return record


def _literal_types(model: type[BaseModel], data: object, path: Path, table: SpanTable
                   ) -> list[Diagnostic]:
    """Pydantic matches a Literal by equality, strict or not: `archdsl: true` would pass as
    `Literal[1]`. A value of a Literal field must also have its choice's type."""
    if not isinstance(data, dict):
        return []
    out = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        if typing.get_origin(field.annotation) is not typing.Literal or key not in data:
            continue
        value, choices = data[key], typing.get_args(field.annotation)
        if not any(type(value) is type(c) and value == c for c in choices):
            shown = " or ".join(repr(c) for c in choices)
            out.append(Diagnostic("E0203", f"`{key}`: input should be {shown} (found "
                                  f"{_short(value)})", table.value(path + (key,)),
                                  help=_VALUE_HELP.get(key, "")))
    return out


def _missing_key(diagnostic: Diagnostic) -> str:
    return diagnostic.message.removeprefix("missing key `").rstrip("`")


def _data_path(data: object, loc: tuple) -> tuple:
    """The part of pydantic's `loc` that exists in the data (drops union tags, aliases)."""
    out = []
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            continue
        out.append(part)
    return tuple(out)


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The record class that validates the mapping at `loc` under `model`."""
    current: object = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part) or next(
                (f for f in current.model_fields.values() if f.alias == part), None)
            if field is None:
                return None
            current = field.annotation
        else:
            args = [a for a in typing.get_args(current) if a is not type(None)]
            current = args[-1] if args else None
        while typing.get_origin(current) is typing.Union:
            current = next(a for a in typing.get_args(current) if a is not type(None))
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def _field_names(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _diagnostic(model, err: dict, data, path: Path, table: SpanTable) -> Diagnostic:
    loc = tuple(err["loc"])
    kind = err["type"]
    found = _data_path(data, loc)
    where = path + found
    if kind == "extra_forbidden":
        key = loc[-1]
        fields = _field_names(_model_at(model, loc[:-1]))
        listed = ", ".join(f"`{f}`" for f in fields)
        return Diagnostic("E0200", f"unknown key `{key}`", table.key(where),
                          label="not part of the spec format here",
                          help=suggest(str(key), fields) or (f"the keys here are {listed}"
                                                            if listed else ""))
    if kind == "missing":
        key = loc[-1]
        parent = table.key(where) if where != path or not path else table.key(path)
        return Diagnostic("E0201", f"missing key `{key}`", parent,
                          label=f"needs `{key}`" if where else "",
                          help=_MISSING_HELP.get(str(key), f"add `{key}: …`"))
    message = err["msg"].removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    code = "E0203" if kind in ("value_error", "literal_error", "greater_than",
                               "too_short", "too_long") else "E0202"
    shown = ".".join(str(p) for p in loc if p in found)
    # A value error's message is archdsl's own and says what it found; pydantic's don't.
    received = "" if kind == "value_error" else f" (found {_short(err.get('input'))})"
    text = f"`{shown}`: {message}{received}" if shown else f"{message}{received}"
    return Diagnostic(code, text, table.value(where), help=_VALUE_HELP.get(shown, ""))


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_VALUE_HELP = {
    "archdsl": "this archdsl reads version 1 of the spec format: `archdsl: 1`",
    "input": "the input shape without batch: [C, H, W] or [features]",
}

_MISSING_HELP = {
    "archdsl": "start the spec with `archdsl: 1`",
    "name": "add `name: my_network`",
    "input": "add the input shape without batch, e.g. `input: [3, 224, 224]`",
    "network": "add `network:` with a list of layers",
}
