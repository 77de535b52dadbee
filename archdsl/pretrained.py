"""torchvision's published weights for the specs that are torchvision's networks.

`TWINS` names, for each such spec, the torchvision builder it equals and how the
published state_dict maps onto the spec's module. `load_pretrained` resolves a weights
name through torchvision's own weights API (`get_model_weights`), reads the file
through its hub cache (downloading it once), checks the spec's params against the
weights' meta and loads it with strict=True. torchvision is imported only here, and
only when weights are asked for.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from archdsl.graph import INPUT
from archdsl.lang.evaluate import suggest
from archdsl.weights import compare

# The published DenseNets keep the layer names of torchvision before 0.3 ("norm.1");
# torchvision's densenet.py renames them when it loads the file.
_DENSENET_KEYS = ((r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12]\.\w+)$", r"\1\2"),)
# The ViT weights predate torchvision's MLP block (pytorch/vision#6053): its two linears
# were linear_1 and linear_2 (vision_transformer.py, MLPBlock._load_from_state_dict).
_VIT_KEYS = ((r"^(.*\.mlp\.)linear_1\.(\w+)$", r"\g<1>0.\2"),
             (r"^(.*\.mlp\.)linear_2\.(\w+)$", r"\g<1>3.\2"))
# GoogLeNet's and Inception-v3's weights were trained on inputs scaled to [-1, 1];
# torchvision's model maps ImageNet-normalised inputs there first (transform_input).
_TRANSFORM_INPUT = ("the weights expect inputs scaled to [-1, 1] ((x - 0.5) / 0.5 per "
                    "channel), which torchvision's model makes from ImageNet-normalised "
                    "inputs with transform_input=True; the spec has no such step, so "
                    "normalise with mean 0.5 and std 0.5")


@dataclass(frozen=True)
class Twin:
    """The torchvision network a spec is, and how its published weights map onto it."""

    builder: str  # torchvision.models.get_model's name for it
    # with weights=None, the builder's keyword arguments that make the network the
    # published weights are for (the ones torchvision's builder sets when given weights)
    kwargs: dict = field(default_factory=dict)
    prefix: str = ""  # the part of the published state_dict that the spec is
    optional: tuple[str, ...] = ()  # heads in the weights that the spec may leave out
    renames: tuple[tuple[str, str], ...] = ()  # (pattern, replacement) for older keys
    note: str = ""  # what differs from torchvision's model when the weights are loaded


_SAME_NAME = (
    "alexnet", "convnext_tiny", "efficientnet_b0", "efficientnet_b3", "efficientnet_v2_s",
    "mnasnet1_0", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
    "regnet_y_1_6gf", "regnet_y_400mf", "resnet18", "resnet34", "resnet50", "resnet101",
    "resnet152", "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d",
    "shufflenet_v2_x1_0", "shufflenet_v2_x2_0", "squeezenet1_0", "squeezenet1_1", "swin_t",
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    "wide_resnet50_2", "wide_resnet101_2", "mc3_18", "r2plus1d_18", "r3d_18",
)
_DENSENETS = ("densenet121", "densenet161", "densenet169", "densenet201")
_SEGMENTATION_AUX = {"weights_backbone": None, "aux_loss": True}

# a spec's `name:` (resnext50.yaml's is resnext50_32x4d) -> its torchvision twin
TWINS: dict[str, Twin] = {
    **{name: Twin(name) for name in _SAME_NAME},
    **{name: Twin(name, renames=_DENSENET_KEYS) for name in _DENSENETS},
    "regnetx_400mf": Twin("regnet_x_400mf"),
    "vit_b_16": Twin("vit_b_16", renames=_VIT_KEYS),
    "googlenet": Twin("googlenet", {"aux_logits": True, "transform_input": True},
                      optional=("aux1.", "aux2."), note=_TRANSFORM_INPUT),
    "inception_v3": Twin("inception_v3", {"aux_logits": True, "transform_input": True},
                         optional=("AuxLogits.",), note=_TRANSFORM_INPUT),
    # torchvision's segmentation weights carry the auxiliary head (aux_loss=True)
    **{name: Twin(name, _SEGMENTATION_AUX, optional=("aux_classifier.",))
       for name in ("fcn_resnet50", "deeplabv3_resnet50", "deeplabv3_mobilenet_v3_large")},
    "lraspp_mobilenet_v3_large": Twin("lraspp_mobilenet_v3_large",
                                      {"weights_backbone": None}),
    # the backbone of the COCO detector (its region proposal and box heads stay out)
    "resnet50_fpn": Twin("fasterrcnn_resnet50_fpn", {"weights_backbone": None},
                         prefix="backbone."),
}


class PretrainedError(Exception):
    """Published weights that cannot be had, or do not fit the spec as loaded."""


@dataclass
class Pretrained:
    """What `load_pretrained` loaded, and what of the published file it left out."""

    weights: str  # e.g. "ResNet50_Weights.IMAGENET1K_V2"
    loaded: int  # tensors loaded
    left_out: list[str] = field(default_factory=list)  # keys the module has no place for
    note: str = ""

    def render(self) -> str:
        lines = [f"weights: torchvision's {self.weights}, {self.loaded} tensors loaded; "
                 f"preprocess with torchvision.models.get_weight({self.weights!r})"
                 ".transforms()"]
        if self.left_out:
            parts = Counter(key.split(".")[0] for key in self.left_out)
            lines.append(f"  left out {len(self.left_out)} tensors the module has no place "
                         "for: " + ", ".join(f"{p} ({n})" for p, n in parts.items()))
        if self.note:
            lines.append(f"  note: {self.note}")
        return "\n".join(lines)


def twin(name: str) -> Twin:
    """The torchvision twin of spec `name`; an error that lists the specs with one."""
    if name not in TWINS:
        raise PretrainedError(f"`{name}` has no torchvision twin to take published weights "
                              f"from; these specs have one: {', '.join(sorted(TWINS))}")
    return TWINS[name]


def weights_enum(name: str):
    """torchvision's weights enum for spec `name` (e.g. ResNet50_Weights)."""
    return _models().get_model_weights(twin(name).builder)


def resolve(name: str, weights):
    """The torchvision weights of spec `name` that `weights` names: a member of its
    enum ("IMAGENET1K_V2", "DEFAULT"), a full name ("ResNet50_Weights.IMAGENET1K_V2"),
    which may name another builder's weights (a variant the spec's params make), or the
    enum member itself."""
    models = _models()
    enum = weights_enum(name)
    if isinstance(weights, models.WeightsEnum):
        return weights
    if not isinstance(weights, str):
        raise PretrainedError(f"weights are named by a string, not {type(weights).__name__}")
    family, _, member = weights.rpartition(".")
    if family and family != enum.__name__:
        try:
            return models.get_weight(weights)
        except (ValueError, KeyError):
            raise PretrainedError(f"torchvision publishes no weights `{weights}`") from None
    if member not in enum.__members__:
        known = list(enum.__members__)
        hint = suggest(member.upper(), known)  # torchvision's names are upper case
        raise PretrainedError(f"{enum.__name__} has no `{member}`"
                              + (f"; {hint}" if hint else "")
                              + f" (torchvision publishes {', '.join(known)})")
    return enum[member]


def map_state(twin: Twin, state: dict, own: set[str]) -> tuple[dict, list[str]]:
    """The published `state` in the spec's names, and the keys left out: those outside
    the twin's prefix, an optional head the module lacks, and batch-norm counters a
    frozen batch norm has no place for (as torchvision.ops.FrozenBatchNorm2d drops them)."""
    patterns = [(re.compile(p), r) for p, r in twin.renames]
    mapped, left_out = {}, []
    for key, value in state.items():
        if not key.startswith(twin.prefix):
            left_out.append(key)
            continue
        name = key[len(twin.prefix):]
        for pattern, replacement in patterns:
            name = pattern.sub(replacement, name)
        head = next((p for p in twin.optional if name.startswith(p)), None)
        absent = head is not None and not any(k.startswith(head) for k in own)
        if absent or (name.endswith(".num_batches_tracked") and name not in own):
            left_out.append(key)
        else:
            mapped[name] = value
    return mapped, left_out


def load_pretrained(module, arch, weights) -> Pretrained:
    """Load torchvision's published `weights` for `arch`'s spec into `module` (built from
    `arch`), strictly: every tensor of the module is set, or nothing is."""
    spec_twin = twin(arch.name)
    chosen = resolve(arch.name, weights)
    _check_meta(arch, chosen)
    state = chosen.get_state_dict(progress=False, check_hash=True)
    own = module.state_dict()
    mapped, left_out = map_state(spec_twin, state, set(own))
    _check_fit(arch, chosen, mapped, own)
    module.load_state_dict(mapped, strict=True)
    return Pretrained(repr(chosen), len(mapped), left_out, spec_twin.note)


def _check_meta(arch, weights) -> None:
    """The spec's params against what the weights' meta documents."""
    categories = weights.meta.get("categories")
    classes = arch.params.get("num_classes")
    if categories is not None and classes is not None and classes != len(categories):
        raise PretrainedError(
            f"num_classes={classes}, but {weights!r} classify {len(categories)} categories: "
            f"load `{arch.name}` with num_classes={len(categories)}, then replace the "
            "classifier")
    height, width = arch.graph.shape(INPUT).dims[-2:]
    low_h, low_w = weights.meta.get("min_size", (1, 1))
    if height < low_h or width < low_w:
        raise PretrainedError(f"input {height}x{width} is smaller than the {low_h}x{low_w} "
                              f"that {weights!r} are for: load `{arch.name}` with a larger "
                              "input")


def _check_fit(arch, weights, mapped: dict, own: dict) -> None:
    """Every tensor of the module, and no other, in the mapped weights, shapes equal.
    A batch-norm counter may be missing: batch norm sets it to 0 (older files lack it)."""
    report = compare({k: tuple(v.shape) for k, v in mapped.items()},
                     {k: tuple(v.shape) for k, v in own.items()})
    missing = [k for k in report.new if not k.endswith(".num_batches_tracked")]
    if not (missing or report.gone or report.reshaped):
        return
    problems = [
        _listed("missing from the weights", missing),
        _listed("in the weights only", report.gone),
        _listed("of another shape", [f"{n} {tuple(a)} in the weights, {tuple(b)} here"
                                     for n, a, b in report.reshaped], "; "),
    ]
    raise PretrainedError(f"{weights!r} do not fit `{arch.name}` with these params:"
                          + "".join(f"\n  {p}" for p in problems if p))


def _listed(what: str, items: list[str], separator: str = ", ", shown: int = 4) -> str:
    if not items:
        return ""
    more = f"{separator}and {len(items) - shown} more" if len(items) > shown else ""
    return f"{len(items)} tensors {what}: {separator.join(items[:shown])}{more}"


def _models():
    """torchvision.models, or an error that says how to get it."""
    try:
        import torchvision.models
    except ImportError:
        raise PretrainedError("published weights come through torchvision, which is not "
                              "installed: pip install torchvision") from None
    return torchvision.models
