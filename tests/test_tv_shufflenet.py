"""ShuffleNet V2 is torchvision's: same state_dict, outputs, parameters and MACs.

One spec, shufflenet_v2_x1_0.yaml, with the stage widths as a param: each width that
torchvision names (0.5x, 1.0x, 1.5x, 2.0x) is the torchvision constructor of that name.
shufflenet_v2_x2_0.yaml extends the 1.0x spec with the 2.0x widths.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

import archdsl
from archdsl.passes.cost import totals
from conftest import SPECS
from torchvision_reference import assert_equals_torchvision, documented, randomize

# torchvision constructor -> (spec, stage-width override, weights enum); the widths are
# torchvision's `stages_out_channels` for that model (models/shufflenetv2.py).
VARIANTS = {
    "shufflenet_v2_x0_5": ("shufflenet_v2_x1_0", [24, 48, 96, 192, 1024],
                           "ShuffleNet_V2_X0_5_Weights"),
    "shufflenet_v2_x1_0": ("shufflenet_v2_x1_0", None, "ShuffleNet_V2_X1_0_Weights"),
    "shufflenet_v2_x1_5": ("shufflenet_v2_x1_0", [24, 176, 352, 704, 1024],
                           "ShuffleNet_V2_X1_5_Weights"),
    "shufflenet_v2_x2_0": ("shufflenet_v2_x2_0", None, "ShuffleNet_V2_X2_0_Weights"),
}
FAST = "shufflenet_v2_x1_0"  # the one in the fast subset (pytest -m "not slow")


def _params(constructor: str) -> dict:
    _, widths, _ = VARIANTS[constructor]
    return {} if widths is None else {"stages_out_channels": widths}


def _load(constructor: str) -> archdsl.Architecture:
    spec, _, _ = VARIANTS[constructor]
    return archdsl.load(SPECS / f"{spec}.yaml", **_params(constructor))


def _slow_but_one(names):
    return [n if n == FAST else pytest.param(n, marks=pytest.mark.slow) for n in names]


@pytest.mark.parametrize("constructor", _slow_but_one(VARIANTS))
def test_equals_torchvision(constructor):
    spec, _, _ = VARIANTS[constructor]
    assert_equals_torchvision(spec, constructor, {}, **_params(constructor))


@pytest.mark.parametrize("constructor", VARIANTS)
def test_params_and_macs_are_torchvisions_documented(constructor):
    """Static params and conv + linear MACs, in G to 3 decimals, as the weights document:
    0.5x 1,366,792 and 0.040, 1.0x 2,278,604 and 0.145, 1.5x 3,503,624 and 0.296,
    2.0x 7,393,996 and 0.583."""
    arch = _load(constructor)
    num_params, gflops = documented(VARIANTS[constructor][2])
    assert arch.param_count == num_params
    assert round(totals(arch.graph).macs / 1e9, 3) == gflops


@pytest.mark.parametrize("constructor", _slow_but_one(VARIANTS))
def test_macs_are_torchs_count_of_the_reference(constructor):
    """Exactly half of torch.utils.flop_counter's FLOPs of torchvision's model, every one of
    them a convolution's or the classifier's: 1.0x is 143,883,992 conv MACs plus
    1024 * 1000 for fc."""
    arch = _load(constructor)
    reference = getattr(torchvision.models, constructor)().eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        reference(torch.zeros(1, 3, 224, 224))
    by_op = {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}
    assert set(by_op) == {"aten.convolution", "aten.addmm"}
    assert by_op["aten.addmm"] == 2 * arch.graph.shape("conv5.0").dims[0] * 1000
    assert 2 * totals(arch.graph).macs == counter.get_total_flops()
    if constructor == FAST:
        assert totals(arch.graph).macs == 143_883_992 + 1024 * 1000


def test_names_are_torchvisions():
    """Stages stage2 to stage4, a branch1 in the first (stride-2) unit of each stage only,
    and conv1 and conv5 as Sequentials."""
    keys = archdsl.build(SPECS / "shufflenet_v2_x1_0.yaml").state_dict().keys()
    branch1 = sorted({k.split(".branch1")[0] for k in keys if ".branch1." in k})
    assert branch1 == ["stage2.0", "stage3.0", "stage4.0"]
    for key in ("conv1.0.weight", "conv1.1.running_var", "stage3.7.branch2.6.weight",
                "conv5.0.weight", "fc.bias"):
        assert key in keys
    assert not any(k.startswith("stage5") or "stage3.8" in k for k in keys)


def test_trains_as_torchvision():
    """ShuffleNet V2 has no dropout, so training mode is deterministic: the same outputs
    (batch statistics) and the same gradients, with every in-place op where it is."""
    reference = randomize(torchvision.models.shufflenet_v2_x1_0()).train()
    model = archdsl.build(SPECS / "shufflenet_v2_x1_0.yaml").train()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    out, expected = model(x), reference(x)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)
    out.square().mean().backward()
    expected.square().mean().backward()
    grads = dict(reference.named_parameters())
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, grads[name].grad, rtol=1e-4, atol=1e-5, msg=name)


def test_x2_0_is_x1_0_with_the_2x_widths():
    """The child spec is the parent with torchvision's 2.0x stages_out_channels."""
    child = archdsl.load(SPECS / "shufflenet_v2_x2_0.yaml")
    parent = archdsl.load(SPECS / "shufflenet_v2_x1_0.yaml",
                          stages_out_channels=[24, 244, 488, 976, 2048])
    assert child.params["stages_out_channels"] == (24, 244, 488, 976, 2048)
    assert child.param_count == parent.param_count
    assert totals(child.graph).macs == totals(parent.graph).macs
    shapes = {n.name: child.graph.shape(n.name) for n in child.graph.ops()}
    assert shapes == {n.name: parent.graph.shape(n.name) for n in parent.graph.ops()}
    assert shapes["stage4.3.channel_shuffle"].dims == (976, 7, 7)


@pytest.mark.slow  # the fast subset folds batch norms in tests/test_inference.py
def test_inference_form_equals_eval():
    """Every batch norm folds, the depthwise convs' included (branch1 starts with one
    whose BN no ReLU follows); the folded module computes the eval-mode outputs."""
    arch = archdsl.load(SPECS / "shufflenet_v2_x1_0.yaml")
    trained = randomize(archdsl.build(arch)).eval()
    folded = arch.inference()
    model = archdsl.build(folded).eval()
    model.load_state_dict(folded.fold_weights(trained.state_dict()), strict=True)
    assert "bn" not in [n.op.name for n in folded.graph.ops()]
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = trained(x)
        torch.testing.assert_close(model(x), expected, rtol=1e-4,
                                   atol=1e-4 * expected.abs().max().item())
