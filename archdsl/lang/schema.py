"""The spec format as pydantic models: the records a spec is made of.

Fields that hold a layer item or an expression are typed `ItemData` or
`ExprData` here: the records check the structure around them (required keys,
unknown keys, literal choices), and `archdsl.lang.items` turns items and
expressions into the syntax tree, with their source spans. The JSON Schema
(`archdsl schema`) is generated from these models.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from archdsl.lang.patch import VERBS

ExprData = Annotated[Any, WithJsonSchema({
    "description": "An expression: a number, bool, list, or a string in the archdsl "
                   "expression language, e.g. `planes * 4` or `conv(64, 3, stride=2)`.",
    "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"},
              {"type": "array"}, {"type": "null"}]})]

_ITEM_MARK = "x-archdsl-item"  # replaced by a reference to the Item schema
ItemData = Annotated[Any, WithJsonSchema({_ITEM_MARK: True})]

ITEM_JSON_SCHEMA = {
    "description": "A layer: an op or block call (`conv(64, 3)`, `bn`), a list of layers "
                   "(run in sequence), a one-key mapping `name: layer`, or a construct "
                   "(`residual`, `branches`, `repeat`, `if`, `from`).",
    "anyOf": [
        {"type": "string", "description": "An op, block or stage call."},
        {"type": ["number", "boolean"],
         "description": "Part of a call that YAML split at a comma in a flow list, as in "
                        "`[conv(64, 1, bias=false), bn]`; archdsl joins the parts back."},
        {"type": "array", "items": {_ITEM_MARK: True},
         "description": "Layers applied in order."},
        {"$ref": "#/$defs/ResidualItem"},
        {"$ref": "#/$defs/BranchesRecord"},
        {"$ref": "#/$defs/RepeatRecord"},
        {"$ref": "#/$defs/CondRecord"},
        {"$ref": "#/$defs/HeadRecord"},
        {"$ref": "#/$defs/FromRecord"},
        {"type": "object", "minProperties": 1, "maxProperties": 1,
         "additionalProperties": {_ITEM_MARK: True},
         "description": "A named layer: `name: layer`."},
    ],
}


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ResidualRecord(Record):
    """out = post(merge(body(x), shortcut(x)))."""

    when: ExprData = Field(
        None, description="Where the skip applies, e.g. `stride == 1 and in_channels == out` "
                          "(MobileNetV2's use_res_connect); where false the residual is "
                          "post(body(x)), with the same members. Default: always.")
    body: ItemData = Field(description="The residual branch.")
    shortcut: ItemData = Field(
        None, description="Applied to the input only where the body changes its shape; "
                          "elsewhere the shortcut is the identity.")
    merge: ExprData = Field(
        "add", description="How body and shortcut combine: a merge op such as `add` (ResNet), "
                           "`concat` (DenseNet: channels of the input, then of the body), "
                           "`mean`, or `join(drop=0.15)`.")
    post: ItemData = Field(None, description="Layers applied after the merge, e.g. `relu`.")
    drop_path: ExprData = Field(
        None, description="Stochastic depth: the probability of keeping the body in training, "
                          "or `linear(p)`: decaying linearly over the network's residuals to p "
                          "(Huang et al., arXiv:1603.09382). In eval mode the body is scaled "
                          "by that probability. Or a call `drop_path(survival, mode='sample', "
                          "rescale='train')` (torchvision's StochasticDepth(1 - survival, "
                          "'row')).")


class ResidualItem(Record):
    residual: ResidualRecord


class BranchesRecord(Record):
    """Parallel paths over the same input, merged."""

    branches: Annotated[Any, WithJsonSchema({
        "anyOf": [{"type": "array", "items": {_ITEM_MARK: True}},
                  {"type": "object", "additionalProperties": {_ITEM_MARK: True}}]})] = \
        Field(description="The paths: a list, or a mapping from names to paths.")
    merge: ExprData = Field(
        description="How the paths' outputs combine: `concat`, `add`, `mean`, "
                    "`join(drop=0.15)`.")


class RepeatRecord(Record):
    """Copies of one layer, with an index variable."""

    repeat: ExprData = Field(description="How many copies.")
    index: str = Field("i", description="The name of the index variable (0, 1, …).")
    name: str | None = Field(None, description="Name of each copy: a template such as "
                                               "`denselayer{i+1}`; `{…}` holds an expression. "
                                               "Default: positions 0, 1, ….")
    body: ItemData = Field(description="The layer to copy; it can use the index.")


class CondRecord(Record):
    """A layer chosen when the spec is expanded (recursion's base case)."""

    if_: ExprData = Field(alias="if", description="A condition, e.g. `depth == 1`.")
    then: ItemData = Field(description="The layer where the condition holds.")
    else_: ItemData = Field(None, alias="else",
                            description="The layer where it does not (default: nothing).")


class HeadRecord(Record):
    """An auxiliary output: computed from the current tensor, in training mode only."""

    auxiliary: ItemData = Field(description="The head's layers. The main path continues with "
                                            "the head's input.")


class FromRecord(Record):
    """Layers that read earlier named members of the module instead of the previous
    layer's output: skips across the network (U-Net's crop-and-copy, a head resized to
    the input)."""

    from_: str | list[str] = Field(
        alias="from", description="A member of this module written before it, by name, or "
                                  "`input` (the module's input); a list of them with `merge`.")
    merge: ExprData = Field(None, description="The op over several inputs: `concat`, `add`, "
                                              "`mul`, `crop`, `resize(…)`, ….")
    body: ItemData = Field(None, description="Layers applied to what `from` (and `merge`) "
                                             "give.")


class OutputsRecord(Record):
    """What the network returns in training mode when it has heads."""

    name: str = Field(description="The name of the returned NamedTuple type, e.g. "
                                  "GoogLeNetOutputs.")
    fields: dict[str, str] = Field(
        description="Field name -> `network` (the main output) or a head's name, in order.")


class InitRecord(Record):
    """One initialisation rule; later rules override earlier ones."""

    op: str | None = Field(None, description="Apply to every layer of this op, e.g. `conv`.")
    name: str | None = Field(None, description="Apply to layers whose qualified name matches "
                                               "this glob, e.g. `layer*.*.bn3`.")
    when: ExprData = Field(True, description="Apply only if this holds, e.g. a param.")
    weight: ExprData = Field(None, description="A number, or normal(mean, std), "
                                               "trunc_normal(mean, std, a, b), uniform(a, b), "
                                               "kaiming_normal(a, mode, nonlinearity), "
                                               "kaiming_uniform(…), xavier_normal(gain), "
                                               "xavier_uniform(gain).")
    bias: ExprData = Field(None, description="As for `weight`.")

    @model_validator(mode="after")
    def _selects(self) -> InitRecord:
        if self.op is None and self.name is None:
            raise ValueError("an init rule needs `op:` or `name:`")
        return self


class BlockRecord(Record):
    """A reusable block: arguments, derived values, and a body."""

    doc: str = Field("", description="What the block is.")
    args: dict[str, ExprData] = Field(
        default_factory=dict,
        description="Arguments: `name: type` (int, float, bool, str, list) for a required "
                    "one, `name: default` for an optional one. `in_channels` and `in_shape` "
                    "are always bound to the block's input.")
    let: dict[str, ExprData] = Field(
        default_factory=dict, description="Derived values, evaluated in order.")
    body: ItemData = Field(None, description="The block's layers.")
    residual: ResidualRecord | None = Field(None, description="Shorthand for "
                                            "`body: {residual: …}`.")
    branches: Any = Field(None, description="With `merge`: shorthand for "
                                            "`body: {branches: …, merge: …}`.")
    merge: ExprData = Field(None, description="See `branches`.")
    spec: str | None = Field(None, description="Another spec, relative to this file (or "
                                               "`archdsl::NAME` from the zoo), whose "
                                               "network is the block; its params are the "
                                               "block's keyword arguments.")
    until: str | None = Field(None, description="With `spec`: its network's layers up to "
                                                "and including this one (a backbone "
                                                "without its classifier).")
    within: str | None = Field(None, description="With `spec`: the layers of this member "
                                                 "of its network (a list), not the network "
                                                 "(MobileNet's `features`).")

    @model_validator(mode="after")
    def _one_body(self) -> BlockRecord:
        given = [k for k in ("body", "residual", "branches", "spec")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a block needs exactly one of `body`, `residual`, `branches` or "
                             "`spec`" + (f"; found {', '.join(given)}" if given else ""))
        if (self.branches is None) != (self.merge is None):
            raise ValueError("`branches` and `merge` go together")
        if self.spec is not None and (self.args or self.let):
            raise ValueError("a `spec` block takes the spec's params as its arguments: no "
                             "`args` or `let`")
        if (self.until is not None or self.within is not None) and self.spec is None:
            raise ValueError("`until` and `within` go with `spec`")
        return self


class SpecRecord(Record):
    """An archdsl architecture spec."""

    model_config = ConfigDict(title="archdsl spec", extra="forbid", frozen=True)

    archdsl: Literal[1] = Field(description="The version of the spec format.")
    extends: str | None = Field(
        None, description="A parent spec, relative to this file, or a spec of the zoo "
                          "(`archdsl::resnet50`): its data, with this "
                          "spec's keys on top (params and blocks merged by name), then "
                          "`patch`.")
    patch: list[dict[str, Any]] | None = Field(
        None, description="Changes to the parent by path, in order: `set` (with `value`), "
                          "`delete`, `insert_before`/`insert_after` (with `value`). A path "
                          "is keys, [index] or layer names, and may end with a keyword "
                          "argument: network.layer3.depth.")
    name: str = Field(description="The network's name; also the generated class's name.")
    doc: str = Field("", description="What the network is, and where it comes from.")
    input: list[Annotated[int, Field(gt=0)]] = Field(
        min_length=1, max_length=4,
        description="The input shape without the batch dimension: [C, H, W], [C, L], "
                    "[C, T, H, W] (video) or [features].")
    params: dict[str, ExprData] = Field(
        default_factory=dict,
        description="Parameters with their defaults; override with `--set name=value`.")
    blocks: dict[str, BlockRecord] = Field(default_factory=dict,
                                           description="Block definitions.")
    network: list[ItemData] = Field(min_length=1, description="The layers, in order.")
    outputs: OutputsRecord | None = Field(
        None, description="Training-mode outputs when the network has `auxiliary:` heads.")
    returns: dict[str, str] | None = Field(
        None, description="Several named outputs: key -> a member of the network's list "
                          "(or `network`, the last layer). The network returns a dict of "
                          "them in training and eval, e.g. {out: head, aux: aux_head}.")
    init: list[InitRecord] = Field(default_factory=list,
                                   description="Weight initialisation rules, in order.")


RECORDS_BY_KEY: dict[str, type[Record]] = {
    "auxiliary": HeadRecord,
    "residual": ResidualItem,
    "branches": BranchesRecord,
    "repeat": RepeatRecord,
    "if": CondRecord,
    "from": FromRecord,
}


def json_schema() -> dict:
    """The JSON Schema of the spec format, for editors."""
    schema = SpecRecord.model_json_schema()
    defs = schema.setdefault("$defs", {})
    for record in (ResidualItem, ResidualRecord, BranchesRecord, RepeatRecord, CondRecord,
                   HeadRecord, FromRecord):
        sub = record.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(sub.pop("$defs", {}))
        defs[record.__name__] = sub
    defs["Item"] = ITEM_JSON_SCHEMA
    defs["Patch"] = _patch_schema()
    schema["properties"]["patch"] = {
        "description": schema["properties"]["patch"]["description"],
        "type": "array", "items": {"$ref": "#/$defs/Patch"}}
    # A child spec's keys are checked after its parent's are merged in (lang/extends.py):
    # the file itself needs only what says it is one. `patch` goes with `extends` only.
    schema["if"] = {"required": ["extends"]}
    schema["then"] = {"required": ["archdsl", "extends"]}
    schema["else"] = {"required": schema.pop("required"), "not": {"required": ["patch"]}}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return _link_items(schema)


def _patch_schema() -> dict:
    """One item of `patch:`: exactly one verb with its path, and a `value` for all but
    `delete` (the rule `PatchRecord` enforces when a spec is loaded)."""
    from archdsl.lang.extends import PatchRecord  # extends.py reads these records

    schema = PatchRecord.model_json_schema()
    schema.pop("title")
    for verb in VERBS:
        schema["properties"][verb] = {
            "type": "string", "description": schema["properties"][verb]["description"]}
    schema["properties"]["value"].pop("default")
    schema["properties"]["value"].pop("title")
    schema["oneOf"] = [{"required": [verb] if verb == "delete" else [verb, "value"],
                        "properties": {other: False for other in VERBS if other != verb}}
                       for verb in VERBS]
    return schema


def _link_items(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get(_ITEM_MARK):
            return {"$ref": "#/$defs/Item"}
        return {k: _link_items(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_link_items(v) for v in node]
    return node
