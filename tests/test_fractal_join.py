"""FractalNet's join in training: drop-path drawn as tensors, with the distribution of
Larsson et al. (arXiv:1605.07648), the same in eager mode and under TorchScript."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest
import torch

import archdsl
from conftest import ROOT, SPECS

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return archdsl.build(SPECS / "fractalnet_cifar10.yaml").train()


def _joins(model) -> list[torch.nn.Module]:
    return [m for m in model.modules() if type(m).__name__ == "Join"]


def _join(model, **kwargs) -> torch.nn.Module:
    """A fresh join of the generated file's class, in training mode."""
    return type(_joins(model)[0])(**kwargs).train()


def _kept_sets(join, values: list[float], draws: int) -> dict[frozenset[int], float]:
    """How often each set of inputs is what the join averages, over `draws` batches."""
    inputs = [torch.full((1,), v) for v in values]
    means = {sum(values[i] for i in s) / len(s): frozenset(s)
             for r in range(1, len(values) + 1)
             for s in itertools.combinations(range(len(values)), r)}
    assert len(means) == 2 ** len(values) - 1  # each set has its own mean
    counts = dict.fromkeys(means.values(), 0)
    with torch.no_grad():
        for _ in range(draws):
            counts[means[float(join(inputs))]] += 1
    return {s: n / draws for s, n in counts.items()}


@pytest.mark.parametrize("drop", [0.15, 0.6])
def test_local_drop_path_keeps_each_input_independently_and_at_least_one(model, drop):
    """Each input kept with probability 1 - drop; none kept: one at random instead."""
    join = _join(model, drop=drop)
    torch.manual_seed(0)
    seen = _kept_sets(join, [1.0, 10.0, 100.0], draws=12_000)
    for kept, share in seen.items():
        expected = (1 - drop) ** len(kept) * drop ** (3 - len(kept))
        if len(kept) == 1:
            expected += drop ** 3 / 3
        assert share == pytest.approx(expected, abs=0.02), sorted(kept)


def test_drop_one_keeps_exactly_one_input_uniformly(model):
    join = _join(model, drop=1.0)
    torch.manual_seed(0)
    seen = _kept_sets(join, [1.0, 10.0, 100.0], draws=6000)
    assert {s for s, share in seen.items() if share} == {frozenset({i}) for i in range(3)}
    for i in range(3):
        assert seen[frozenset({i})] == pytest.approx(1 / 3, abs=0.03)


@pytest.mark.parametrize("column", [0, 2])
def test_drop_zero_is_the_mean_in_training(model, column):
    join = _join(model, drop=0.0, column=column)
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    for _ in range(20):
        torch.testing.assert_close(join([a, b]), (a + b) / 2)


@pytest.mark.parametrize("drop", [0.0, 0.15, 1.0])
def test_global_drop_path_keeps_one_input_by_the_chosen_column(model, drop):
    """The chosen column alone; a join elsewhere keeps its first input, the deeper path,
    whatever its local drop rate."""
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    for column, chosen in itertools.product([1, 2], [1, 2, 3]):
        join = _join(model, drop=drop, column=column)
        join.chosen.fill_(chosen)
        for _ in range(10):
            torch.testing.assert_close(join([a, b]), b if chosen == column else a)


def test_eval_is_the_mean_whatever_was_chosen(model):
    join = _join(model, drop=1.0, column=2).eval()
    join.chosen.fill_(2)
    a, b, c = torch.randn(2, 3), torch.randn(2, 3), torch.randn(2, 3)
    assert torch.equal(join([a, b, c]), torch.stack([a, b, c]).mean(0))


def test_training_keeps_the_inputs_dtype(model):
    join = _join(model, drop=0.5, column=1)
    inputs = [torch.randn(2, 3, dtype=torch.bfloat16) for _ in range(2)]
    assert join(inputs).dtype == torch.bfloat16


def test_the_network_chooses_one_column_per_batch_for_every_join(model):
    """Half the batches run one column, uniform over C = 3 (global_rate 0.5)."""
    joins = _joins(model)
    torch.manual_seed(0)
    picks = []
    for _ in range(3000):
        model.choose_column(CPU)
        picks.append(int(joins[0].chosen))
        assert all(int(j.chosen) == picks[-1] for j in joins)
    assert picks.count(0) / 3000 == pytest.approx(0.5, abs=0.03)
    for column in (1, 2, 3):
        assert picks.count(column) / 3000 == pytest.approx(0.5 / 3, abs=0.03)


@pytest.mark.parametrize("column", [1, 2, 3])
def test_a_chosen_column_is_one_chain_of_convs(model, column):
    """Column c of a C = 3 fractal block is 2**(c - 1) conv units in a row."""
    blocks = [getattr(model, f"block{b}") for b in range(1, 6)]
    pools = [getattr(model, f"pool{b}") for b in range(1, 6)]
    chains = {
        1: lambda f: [f.shallow],
        2: lambda f: [f.deep1.shallow, f.deep2.shallow],
        3: lambda f: [g.conv_unit for half in (f.deep1, f.deep2)
                      for g in (half.deep1, half.deep2)],
    }
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        y = x
        for block, pool in zip(blocks, pools):
            for unit in chains[column](block):
                y = unit(y)
            y = pool(y)
        expected = model.fc(torch.flatten(y, 1))
        model.choose_column = lambda device: None  # keep the column written below
        try:
            for j in _joins(model):
                j.chosen.fill_(column)
            got = model(x)
        finally:
            del model.choose_column
    torch.testing.assert_close(got, expected)


# Run in a fresh process: TorchScript keeps state across a process (its executor's
# profiled graphs), and after another test has scripted and run this network on the meta
# device, the scripted module's first draws no longer follow eager's order.
_SCRIPTED_DRAWS = """
import sys
import torch
import archdsl

torch.manual_seed(0)
model = archdsl.build(sys.argv[1]).train()
scripted = torch.jit.script(model)
joins = [m for m in model.modules() if type(m).__name__ == "Join"]
x = torch.randn(1, 3, 32, 32)
chosen = set()
with torch.no_grad():
    for seed in range(10):  # until both local and global drop-path have run
        torch.manual_seed(seed)
        expected = model(x)
        picked = int(joins[0].chosen)
        torch.manual_seed(seed)
        torch.testing.assert_close(scripted(x), expected)
        assert int(scripted.block3.deep2.join.chosen) == picked
        chosen.add(picked)
        if 0 in chosen and len(chosen) > 1:
            break
    assert 0 in chosen and len(chosen) > 1, chosen
    scripted.eval()
    model.eval()
    torch.testing.assert_close(scripted(x), model(x))
print("same draws")
"""


@pytest.mark.slow  # a fresh process that scripts the network: 7 s
def test_torchscript_draws_as_eager_does():
    """Scripted, the network still makes its per-batch choice: one seed, one output."""
    result = subprocess.run([sys.executable, "-c", _SCRIPTED_DRAWS,
                             str(SPECS / "fractalnet_cifar10.yaml")],
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0 and "same draws" in result.stdout, result.stderr[-3000:]


def test_the_choice_is_not_in_the_state_dict(model):
    assert len([name for name, _ in model.named_buffers() if name.endswith(".chosen")]) == 15
    assert not [key for key in model.state_dict() if "chosen" in key]
    params = sum(p.numel() for p in model.parameters())
    assert params == archdsl.load(SPECS / "fractalnet_cifar10.yaml").param_count
