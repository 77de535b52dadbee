"""The comparison with torchvision sees every op: its randomisation matters."""

from __future__ import annotations

import torch

from torchvision_reference import randomize


def test_randomize_changes_what_eval_computes():
    """The randomisation reaches every batch norm: a network without its ReLU6 clamp
    computes the same as with it on fresh statistics, but not on random ones."""
    def net(clamp: bool) -> torch.nn.Module:
        act = torch.nn.ReLU6() if clamp else torch.nn.ReLU()
        return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), act)

    torch.manual_seed(0)
    clamped, plain = net(True).eval(), net(False).eval()
    plain.load_state_dict(clamped.state_dict())
    x = torch.randn(1, 3, 8, 8) * 0.1
    assert torch.equal(clamped(x), plain(x))
    randomize(clamped)
    randomize(plain)
    x = torch.randn(1, 3, 8, 8) * 10
    assert not torch.allclose(clamped(x), plain(x))
