"""Names that would break generated code are refused."""

from __future__ import annotations

import torch

from archdsl.names import MODULE_ATTRIBUTES, identifier_problem, layer_name_problem


def test_module_attribute_list_covers_torch():
    public = {name for name in dir(torch.nn.Module) if not name.startswith("_")}
    missing = public - MODULE_ATTRIBUTES
    assert not missing, f"add to MODULE_ATTRIBUTES: {sorted(missing)}"


def test_layer_names():
    assert layer_name_problem("conv1") == ""
    for bad in ["class", "1conv", "-conv", "conv-", "conv.1", "_private", "__init__",
                "forward", "training", "a" * 65, "x\n", "é", "match"]:
        assert layer_name_problem(bad), bad
    assert layer_name_problem("block1-0") == ""  # torchvision RegNet's sequence keys
    assert identifier_problem("_tmp") == ""
