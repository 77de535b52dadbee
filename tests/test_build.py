"""build() initialises every weight once: by its init rule, or by its default."""

from __future__ import annotations

import torch

import archdsl
from conftest import SPECS


def test_rule_covered_weights_skip_the_default_init(monkeypatch):
    calls = {"conv": 0, "linear": 0}
    conv_reset, linear_reset = torch.nn.Conv2d.reset_parameters, torch.nn.Linear.reset_parameters

    def counting(kind, original):
        def reset(self):
            if self.weight.device.type != "meta":
                calls[kind] += 1
            original(self)
        return reset

    monkeypatch.setattr(torch.nn.Conv2d, "reset_parameters", counting("conv", conv_reset))
    monkeypatch.setattr(torch.nn.Linear, "reset_parameters", counting("linear", linear_reset))
    model = archdsl.build(SPECS / "resnet18.yaml")
    assert calls == {"conv": 0, "linear": 1}  # convs: the kaiming rule; fc: its default
    bn = model.layer1[0].bn1
    assert bool((bn.running_mean == 0).all()) and bool((bn.running_var == 1).all())
    assert int(bn.num_batches_tracked) == 0
    assert all(torch.isfinite(p).all() for p in model.parameters())
    fc = model.fc.weight.detach()
    bound = 1 / 512**0.5  # nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert float(fc.abs().max()) <= bound and float(fc.std()) > bound / 3


def test_specs_without_rules_use_the_constructor():
    torch.manual_seed(0)
    a = archdsl.build(SPECS / "alexnet.yaml").state_dict()
    torch.manual_seed(0)
    arch = archdsl.load(SPECS / "alexnet.yaml")
    from archdsl.runtime import load_module

    b = getattr(load_module(arch.emitted), arch.emitted.class_name)().state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
