"""EfficientNet-B0/B3, EfficientNetV2-S, RegNetY-400MF and RegNetY-1.6GF are
torchvision's networks, and efficientnet_b0.yaml's width, depth and dropout params
(and batch norm's eps and momentum, for B5-B7) make each of B1-B7.

Each spec loads the torchvision model's state_dict with strict=True and gives its eval
outputs with randomised batch-norm statistics and affines; its static parameter count
and MACs equal the `num_params` and `_ops` (GFLOPS) torchvision's weights document, at
the resolution they document, and its MACs equal the conv and linear count of the
torchvision model itself. What eval mode does not show (dropout, batch norm's momentum,
the stochastic-depth rate of each block) is compared module by module.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from test_cost import counted_macs
from torch import nn
from torchvision.models import efficientnet

import archdsl
from archdsl.passes.cost import totals
from conftest import SPECS
from torchvision_reference import assert_equals_torchvision, documented, randomize

# torchvision's constructors' coefficients (efficientnet.py: _efficientnet_conf's
# width_mult and depth_mult, and the dropout each passes), as efficientnet_b0.yaml's
# params; B5-B7 also take norm_layer=partial(nn.BatchNorm2d, eps=0.001, momentum=0.01).
LATE_BN = {"bn_eps": 1e-3, "bn_momentum": 0.01}
EFFICIENTNET = {
    "efficientnet_b0": {},
    "efficientnet_b1": {"width_mult": 1.0, "depth_mult": 1.1, "dropout_rate": 0.2},
    "efficientnet_b2": {"width_mult": 1.1, "depth_mult": 1.2, "dropout_rate": 0.3},
    "efficientnet_b3": {"width_mult": 1.2, "depth_mult": 1.4, "dropout_rate": 0.3},
    "efficientnet_b4": {"width_mult": 1.4, "depth_mult": 1.8, "dropout_rate": 0.4},
    "efficientnet_b5": {"width_mult": 1.6, "depth_mult": 2.2, "dropout_rate": 0.4, **LATE_BN},
    "efficientnet_b6": {"width_mult": 1.8, "depth_mult": 2.6, "dropout_rate": 0.5, **LATE_BN},
    "efficientnet_b7": {"width_mult": 2.0, "depth_mult": 3.1, "dropout_rate": 0.5, **LATE_BN},
}

# (spec, torchvision constructor, params): the specs as written, and efficientnet_b0.yaml
# with each B's coefficients
CASES = [
    ("efficientnet_b0", "efficientnet_b0", {}),
    ("efficientnet_b3", "efficientnet_b3", {}),
    ("efficientnet_v2_s", "efficientnet_v2_s", {}),
    ("regnet_y_400mf", "regnet_y_400mf", {}),
    ("regnet_y_1_6gf", "regnet_y_1_6gf", {}),
] + [("efficientnet_b0", name, params) for name, params in EFFICIENTNET.items()
     if name != "efficientnet_b0"]

WEIGHTS = {
    "efficientnet_b0": "EfficientNet_B0_Weights", "efficientnet_b1": "EfficientNet_B1_Weights",
    "efficientnet_b2": "EfficientNet_B2_Weights", "efficientnet_b3": "EfficientNet_B3_Weights",
    "efficientnet_b4": "EfficientNet_B4_Weights", "efficientnet_b5": "EfficientNet_B5_Weights",
    "efficientnet_b6": "EfficientNet_B6_Weights", "efficientnet_b7": "EfficientNet_B7_Weights",
    "efficientnet_v2_s": "EfficientNet_V2_S_Weights", "regnet_y_400mf": "RegNet_Y_400MF_Weights",
    "regnet_y_1_6gf": "RegNet_Y_1_6GF_Weights",
}


def marked(cases, fast) -> list:
    """`cases` with those not in `fast` marked slow (pytest -m "not slow" leaves them out)."""
    return [c if case_id(c) in fast else pytest.param(c, marks=pytest.mark.slow)
            for c in cases]


def case_id(case) -> str:
    spec, constructor, params = case
    return spec if spec == constructor else f"{spec}-as-{constructor}"


def crop_size(constructor: str) -> int:
    """The resolution torchvision's weights are evaluated at (their transforms' crop)."""
    (size,) = getattr(torchvision.models, WEIGHTS[constructor]).IMAGENET1K_V1.transforms().crop_size
    return size


def load(spec: str, constructor: str, params: dict, size: int | None = None):
    """The spec with `params`, at the resolution torchvision documents for `constructor`."""
    size = size or crop_size(constructor)
    return archdsl.load(SPECS / f"{spec}.yaml", overrides=[f"input=[3, {size}, {size}]"],
                        **params)


# The heaviest comparisons run in the full suite only; efficientnet_b0 (MBConv with the
# skip where shapes agree, squeeze-and-excitation, stochastic depth) in the fast one.
# The B6 and B7 coefficients are checked statically only (B5 has the same layout).
EQUALITY = [c for c in CASES if c[1] not in ("efficientnet_b6", "efficientnet_b7")]


@pytest.mark.parametrize("case", marked(EQUALITY, {"efficientnet_b0"}), ids=case_id)
def test_equals_torchvision(case):
    spec, constructor, params = case
    # Any size gives the same function; 64 px keeps it quick (B3 is meant for 300 px).
    assert_equals_torchvision(spec, constructor, {}, 64, **params)


# The specs as written in the fast subset, and B3 from efficientnet_b0.yaml's params.
STATIC_FAST = {case_id(c) for c in CASES[:5]} | {"efficientnet_b0-as-efficientnet_b3"}


@pytest.mark.parametrize("case", marked(CASES, STATIC_FAST), ids=case_id)
def test_params_and_macs_equal_torchvisions_documented(case):
    spec, constructor, params = case
    arch = load(spec, constructor, params)
    num_params, gflops = documented(WEIGHTS[constructor])
    assert arch.param_count == num_params
    assert round(totals(arch.graph).macs / 1e9, 3) == gflops


def meta_reference(constructor: str) -> torch.nn.Module:
    """torchvision's model without its weights' memory. RegNet computes its stage widths
    with torch ops, which meta tensors cannot answer: it is made on the CPU and moved."""
    if constructor.startswith("regnet"):
        return getattr(torchvision.models, constructor)().to("meta")
    with torch.device("meta"):
        return getattr(torchvision.models, constructor)()


@pytest.mark.parametrize("case", marked(CASES[:5], {"efficientnet_b0", "regnet_y_400mf"}),
                         ids=case_id)
def test_macs_equal_the_torchvision_models_conv_and_linear_count(case):
    """The convention of `archdsl summary`: conv and linear multiply-accumulates, squeeze-
    and-excitation's 1x1 convs included, counted by hooks on torchvision's own model."""
    spec, constructor, params = case
    arch = load(spec, constructor, params)
    assert totals(arch.graph).macs == counted_macs(meta_reference(constructor), arch.spec.input)


def test_the_specs_input_is_the_resolution_torchvision_documents():
    for spec, constructor, _ in CASES[:5]:
        assert archdsl.load(SPECS / f"{spec}.yaml").spec.input == (3,) + \
            (crop_size(constructor),) * 2, spec


@pytest.mark.parametrize("case", marked([c for c in CASES if c[1].startswith("efficientnet")],
                                        STATIC_FAST), ids=case_id)
def test_what_eval_does_not_show_equals_torchvision(case):
    """Batch norm's eps and momentum, the classifier's dropout, and each block's stochastic
    depth: torchvision's rate p * i / N (efficientnet.py), the body kept with probability
    1 - p in training; where the skip is not applied there is no stochastic depth."""
    spec, constructor, params = case
    arch = load(spec, constructor, params, size=64)
    graph = arch.graph
    reference = meta_reference(constructor)
    ops = {kind: [n for n in graph.ops() if n.op.name == kind] for kind in ("bn", "dropout")}
    assert [(n.op.p.eps, n.op.p.momentum) for n in ops["bn"]] == \
        [(m.eps, m.momentum) for m in reference.modules() if isinstance(m, nn.BatchNorm2d)]
    assert [n.op.p.p for n in ops["dropout"]] == \
        [m.p for m in reference.modules() if isinstance(m, nn.Dropout)]
    blocks = [(name, m) for name, m in reference.named_modules()
              if isinstance(m, (efficientnet.MBConv, efficientnet.FusedMBConv))]
    assert len(blocks) == sum(arch.params["depths"])
    for name, block in blocks:
        if block.use_res_connect:
            drop_path = graph.node(f"{name}.drop_path").op.p
            assert drop_path.survival == pytest.approx(1 - block.stochastic_depth.p), name
            assert (drop_path.mode, drop_path.rescale) == ("sample", "train")
        else:
            assert f"{name}.drop_path" not in graph.dag, name


@pytest.mark.slow
@pytest.mark.parametrize("spec, kwargs, params", [
    ("efficientnet_b0", {"stochastic_depth_prob": 0.0, "dropout": 0.0},
     {"stochastic_depth_prob": 0.0, "dropout_rate": 0.0}),
    ("regnet_y_400mf", {}, {}),
])
def test_training_mode_equals_torchvision(spec, kwargs, params):
    """In training mode, without the random parts (stochastic depth and dropout at rate
    0), batch statistics included: the same outputs and the same gradients."""
    torch.manual_seed(0)
    reference = randomize(getattr(torchvision.models, spec)(**kwargs)).train()
    model = archdsl.build(archdsl.load(SPECS / f"{spec}.yaml", **params)).train()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    out = model(x)
    expected = reference(x)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)
    out.square().mean().backward()
    expected.square().mean().backward()
    grads = dict(reference.named_parameters())
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, grads[name].grad, rtol=1e-3, atol=1e-5, msg=name)


@pytest.mark.parametrize("case", marked(CASES[:5], {"efficientnet_b0"}), ids=case_id)
def test_initialisation_follows_torchvisions(case):
    """The `init` rules are torchvision's: per tensor, constants equal, random tensors
    with the reference's mean and std (RegNet's squeeze-and-excitation biases, which no
    rule sets, keep PyTorch's default in both)."""
    spec, constructor, params = case
    torch.manual_seed(0)
    ours = dict(archdsl.build(SPECS / f"{spec}.yaml").named_parameters())
    theirs = dict(getattr(torchvision.models, constructor)().named_parameters())
    assert ours.keys() == theirs.keys()
    for name, reference in theirs.items():
        value, reference = ours[name].detach(), reference.detach()
        if bool((reference == reference.flatten()[0]).all()):
            torch.testing.assert_close(value, reference, msg=name)
        elif reference.numel() >= 2048:
            assert value.std().item() == pytest.approx(reference.std().item(), rel=0.1), name
            assert abs(value.mean().item() - reference.mean().item()) < \
                0.1 * reference.std().item() + 1e-3, name
