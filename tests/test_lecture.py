"""The lecture's networks that need more than a sequence: auxiliary heads, stochastic
depth, fractal joins, and initialisation that follows the reference."""

from __future__ import annotations

import pytest
import torch
import torchvision

import archdsl
from conftest import SPECS


def _same_in_both_modes(model, reference, shape, fields):
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))
    model.eval()
    reference.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))
    model.train()
    reference.train()
    with torch.no_grad():  # batch statistics in both; dropout is 0
        ours, theirs = model(x), reference(x)
    assert type(ours).__name__ == type(theirs).__name__ and ours._fields == fields
    for field in fields:
        torch.testing.assert_close(getattr(ours, field), getattr(theirs, field))


@pytest.mark.slow
def test_googlenet_equals_torchvision_with_auxiliary_heads():
    torch.manual_seed(0)
    model = archdsl.build(SPECS / "googlenet.yaml", dropout_rate=0.0, dropout_aux=0.0)
    reference = torchvision.models.googlenet(dropout=0.0, dropout_aux=0.0, init_weights=False)
    _same_in_both_modes(model, reference, (3, 224, 224),
                        ("logits", "aux_logits2", "aux_logits1"))


@pytest.mark.slow
def test_inception_v3_equals_torchvision_with_its_auxiliary_head():
    torch.manual_seed(0)
    model = archdsl.build(SPECS / "inception_v3.yaml", dropout_rate=0.0)
    reference = torchvision.models.inception_v3(dropout=0.0, init_weights=False)
    _same_in_both_modes(model, reference, (3, 299, 299), ("logits", "aux_logits"))


@pytest.mark.slow
def test_without_aux_logits_the_heads_are_gone():
    model = archdsl.build(SPECS / "googlenet.yaml", aux_logits=False).train()
    reference = torchvision.models.googlenet(aux_logits=False, init_weights=False)
    model.load_state_dict(reference.state_dict(), strict=True)
    assert isinstance(model(torch.randn(2, 3, 224, 224)), torch.Tensor)


@pytest.mark.slow
def test_scripted_network_returns_the_named_tuple():
    model = torch.jit.script(archdsl.build(SPECS / "googlenet.yaml").eval())
    with torch.no_grad():
        out = model(torch.randn(1, 3, 224, 224))
    assert out[0].shape == (1, 1000) and out[1] is None


def test_googlenet_has_no_hidden_fully_connected_layer_and_6_6m_parameters():
    arch = archdsl.load(SPECS / "googlenet.yaml", aux_logits=False)
    linears = [n for n in arch.graph.ops() if n.op.name == "linear"]
    assert [n.name for n in linears] == ["fc"]  # the classifier only
    assert arch.param_count == 6_624_904  # "~6.6M" without the auxiliary classifiers
    alexnet = archdsl.load(SPECS / "alexnet.yaml").param_count
    assert alexnet / arch.param_count > 9  # "12x fewer parameters than AlexNet" (~9.2x here)


# ----------------------------------------------------------------- stochastic depth


def _drop_paths(model):
    return [m for m in model.modules() if type(m).__name__ == "DropPath"]


def test_stochastic_depth_survival_decays_linearly():
    arch = archdsl.load(SPECS / "resnet110_stochastic_depth.yaml")
    assert arch.param_count == 1_727_962
    survival = [n.op.p.survival for n in arch.graph.ops() if n.op.name == "drop_path"]
    assert len(survival) == 54
    expected = [1 - (depth / 54) * (1 - 0.5) for depth in range(1, 55)]
    assert survival == pytest.approx(expected)
    model = archdsl.build(arch)
    assert [m.survival for m in _drop_paths(model)] == pytest.approx(expected)


def test_stochastic_depth_drops_at_the_scheduled_rate_and_scales_at_test_time():
    model = archdsl.build(SPECS / "resnet110_stochastic_depth.yaml")
    last = _drop_paths(model)[-1]  # survival 0.5
    x = torch.ones(4, 64, 8, 8)
    torch.manual_seed(0)
    last.train()
    kept = [bool(last(x).any()) for _ in range(4000)]
    assert sum(kept) / len(kept) == pytest.approx(0.5, abs=0.03)
    outputs = [last(x) for _ in range(50)]
    assert all(bool(y.all()) or not bool(y.any()) for y in outputs)  # one draw per batch
    last.eval()
    torch.testing.assert_close(last(x), x * 0.5)  # the paper's test-time scaling


def test_drop_path_is_part_of_the_residual_only():
    model = archdsl.build(SPECS / "resnet110_stochastic_depth.yaml").eval()
    block = model.layer1[0]
    x = torch.randn(2, 16, 32, 32)
    with torch.no_grad():
        body = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(x)))))
        expected = torch.relu(body * block.drop_path.survival + x)
        torch.testing.assert_close(block(x), expected)


# ----------------------------------------------------------------- fractalnet


def test_fractalnet_joins():
    arch = archdsl.load(SPECS / "fractalnet_cifar10.yaml")
    assert arch.param_count == 33_724_618
    model = archdsl.build(arch)
    joins = [m for m in model.modules() if type(m).__name__ == "Join"]
    assert len(joins) == 5 * 3  # C = 3 columns: 2**(C-1) - 1 joins per block
    join = joins[0]
    a, b = torch.zeros(1, 2), torch.ones(1, 2)
    join.eval()
    torch.testing.assert_close(join([a, b]), torch.full((1, 2), 0.5))
    join.train()
    torch.manual_seed(0)
    outcomes = [float(join([a, b])[0, 0]) for _ in range(6000)]
    only_a = outcomes.count(0.0) / len(outcomes)
    only_b = outcomes.count(1.0) / len(outcomes)
    # Each input is dropped with p = 0.15; when both are, one is kept at random:
    # P(only a) = P(only b) = 0.15 * 0.85 + 0.15**2 / 2 = 0.13875.
    assert only_a == pytest.approx(0.13875, abs=0.015)
    assert only_b == pytest.approx(0.13875, abs=0.015)


# ----------------------------------------------------------------- dropout


def test_dropout_is_active_in_training_only():
    model = archdsl.build(SPECS / "alexnet.yaml")
    x = torch.randn(2, 3, 224, 224)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x))
    model.train()
    torch.manual_seed(0)
    with torch.no_grad():
        assert not torch.allclose(model(x), model(x))


# ----------------------------------------------------------------- initialisation

INIT_REFERENCES = {
    "resnet50": lambda: torchvision.models.resnet50(),
    "vgg16_bn": lambda: torchvision.models.vgg16_bn(),
    "densenet121": lambda: torchvision.models.densenet121(),
    "squeezenet1_1": lambda: torchvision.models.squeezenet1_1(),
    "googlenet": lambda: torchvision.models.googlenet(init_weights=True),
    "inception_v3": lambda: torchvision.models.inception_v3(init_weights=True),
}


@pytest.mark.parametrize("spec", [  # SqueezeNet 1.1 in the fast subset (-m "not slow")
    s if s == "squeezenet1_1" else pytest.param(s, marks=pytest.mark.slow)
    for s in sorted(INIT_REFERENCES)])
def test_initialisation_follows_the_reference(spec):
    """Per tensor: constants equal; random tensors with the reference's mean and std."""
    torch.manual_seed(0)
    ours = dict(archdsl.build(SPECS / f"{spec}.yaml").named_parameters())
    theirs = dict(INIT_REFERENCES[spec]().named_parameters())
    assert ours.keys() == theirs.keys()
    for name, reference in theirs.items():
        value = ours[name].detach()
        reference = reference.detach()
        if reference.numel() < 2048:
            if bool((reference == reference.flatten()[0]).all()):
                torch.testing.assert_close(value, reference, msg=name)
            continue
        assert value.std().item() == pytest.approx(reference.std().item(), rel=0.1), name
        assert abs(value.mean().item() - reference.mean().item()) < \
            0.1 * reference.std().item() + 1e-3, name


def test_zero_init_residual():
    model = archdsl.build(SPECS / "resnet50.yaml", zero_init_residual=True)
    assert all(bool((b.bn3.weight == 0).all()) for layer in
               (model.layer1, model.layer2, model.layer3, model.layer4) for b in layer)
    default = archdsl.build(SPECS / "resnet50.yaml")
    assert bool((default.layer1[0].bn3.weight == 1).all())


def test_fractalnet_global_drop_path_runs_one_column():
    model = archdsl.build(SPECS / "fractalnet_cifar10.yaml").train()
    joins = [m for m in model.modules() if type(m).__name__ == "Join"]
    assert sorted({j.column for j in joins}) == [1, 2]  # C = 3: columns 1 and 2 join
    torch.manual_seed(0)
    picks = []
    for _ in range(3000):
        model.choose_column(torch.device("cpu"))
        picks.append(int(joins[0].chosen))
        assert all(int(j.chosen) == picks[-1] for j in joins)  # one choice for the batch
    assert picks.count(0) / 3000 == pytest.approx(0.5, abs=0.03)  # half the batches
    for column in (1, 2, 3):
        assert picks.count(column) / 3000 == pytest.approx(0.5 / 3, abs=0.03)
    # Column 1 alone: each block is its shallowest path, one conv.
    for j in joins:
        j.chosen.fill_(1)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        y = x
        for b in range(1, 6):
            y = getattr(model, f"pool{b}")(getattr(model, f"block{b}").shallow(y))
        expected = model.fc(torch.flatten(y, 1))
        torch.manual_seed(1)
        got = _columnwise(model, x)
    torch.testing.assert_close(got, expected)


def _columnwise(model, x):
    """The network's forward with its per-batch choice left as set."""
    choose = model.choose_column
    model.choose_column = lambda device: None
    try:
        return model(x)
    finally:
        model.choose_column = choose
