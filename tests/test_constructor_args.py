"""The generated network class takes the params that only change its literals.

`Resnet50(num_classes=10)` is `torchvision.models.resnet50(num_classes=10)`;
a param that changes structure stays baked into the file, and the class's
docstring says so (emit/arguments.py).
"""

from __future__ import annotations

import inspect

import pytest
import torch
import torchvision

import archdsl
from archdsl.runtime import load_module
from conftest import SPECS
from torchvision_reference import randomize


def network_class(spec, **params) -> type:
    """The generated network class of a spec (its source executed, as build does)."""
    emitted = archdsl.load(spec if not isinstance(spec, str) else SPECS / f"{spec}.yaml",
                           **params).emitted
    return getattr(load_module(emitted), emitted.class_name)


def arguments(cls: type) -> dict[str, object]:
    return {name: p.default for name, p in inspect.signature(cls).parameters.items()}


def assert_is_torchvisions(spec: str, constructor: str, size: int, ours: dict,
                           theirs: dict) -> None:
    """The spec's class made with `ours` loads torchvision's network made with `theirs`
    strictly, and gives its outputs."""
    reference = randomize(getattr(torchvision.models, constructor)(**theirs)).eval()
    model = network_class(spec)(**ours).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = reference(x)
        torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-4)
    assert expected.shape == (2, ours["num_classes"])
    rates = [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert rates == [m.p for m in reference.modules() if isinstance(m, torch.nn.Dropout)]


def test_resnet18_takes_num_classes_as_torchvision_does():
    assert_is_torchvisions("resnet18", "resnet18", 64, {"num_classes": 10},
                           {"num_classes": 10})


@pytest.mark.slow
@pytest.mark.parametrize("spec, constructor, ours, theirs", [
    ("resnet50", "resnet50", {"num_classes": 10}, {}),
    ("resnext50", "resnext50_32x4d", {"num_classes": 7}, {}),
    ("densenet121", "densenet121", {"num_classes": 5}, {}),
    ("vgg16", "vgg16", {"num_classes": 10, "dropout_rate": 0.3}, {"dropout": 0.3}),
    ("mobilenet_v2", "mobilenet_v2", {"num_classes": 10, "dropout_rate": 0.4},
     {"dropout": 0.4}),
    ("googlenet", "googlenet", {"num_classes": 10, "dropout_rate": 0.3, "dropout_aux": 0.5},
     {"dropout": 0.3, "dropout_aux": 0.5, "init_weights": False}),
], ids=lambda v: v if isinstance(v, str) else "")
def test_zoo_takes_num_classes_and_dropout_as_torchvision_does(spec, constructor, ours,
                                                                theirs):
    size = 32 if spec == "vgg16" else 64
    assert_is_torchvisions(spec, constructor, size, ours,
                           {"num_classes": ours["num_classes"], **theirs})


def test_num_classes_is_an_argument_with_the_specs_value_as_default():
    cls = network_class("resnet18")
    assert arguments(cls) == {"num_classes": 1000}
    assert arguments(network_class("resnet18", num_classes=37)) == {"num_classes": 37}
    model = cls(num_classes=3).eval()
    assert model.fc.out_features == 3
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 3)
    assert model.state_dict().keys() == cls().state_dict().keys()


def test_dropout_rates_are_arguments():
    cls = network_class("vgg11")
    assert arguments(cls) == {"num_classes": 1000, "dropout_rate": 0.5}
    with torch.device("meta"):  # the rates, not VGG's 133 M weights
        ours, theirs = cls(dropout_rate=0.25), torchvision.models.vgg11(dropout=0.25)
    rates = [m.p for m in ours.modules() if isinstance(m, torch.nn.Dropout)]
    assert rates == [0.25, 0.25]
    assert [m.p for m in theirs.modules() if isinstance(m, torch.nn.Dropout)] == rates


def test_structural_params_stay_baked_and_the_docstring_lists_them():
    cls = network_class("resnext50")
    assert set(arguments(cls)) == {"num_classes"}
    doc = inspect.getdoc(cls)
    given, baked = doc.split("\n\n")[1:3]
    assert given == "Constructor arguments: num_classes=1000."
    assert baked.startswith("Baked into this file")
    for text in ("depths=[3, 4, 6, 3]", "cardinality=32", "base_width=4", "k=1"):
        assert text in " ".join(baked.split()), text
    assert "num_classes" not in baked


def test_a_param_that_also_changes_a_block_is_baked(tmp_path):
    """`width` sets a conv's channels (a literal) and the next block's channels,
    and `n` a layer count: neither is an argument. `classes` only sets literals."""
    spec = tmp_path / "net.yaml"
    spec.write_text(
        "archdsl: 1\nname: net\ninput: [3, 16, 16]\n"
        "params: {width: 8, n: 2, classes: 4, rate: 0.3}\n"
        "blocks:\n  unit:\n    args: {c: int}\n    body: [conv(c, 3), relu]\n"
        "network:\n"
        "  - stem: conv(width, 3)\n"
        "  - body: stage(unit, depth=n, c=width * 2)\n"
        "  - gap\n  - flatten\n  - dropout(rate)\n  - linear(classes)\n")
    cls = network_class(spec)
    assert arguments(cls) == {"classes": 4, "rate": 0.3}
    model = cls(classes=6, rate=0.1)
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 6)
    baked = " ".join(inspect.getdoc(cls).split("\n\n")[-1].split())
    assert "width=8" in baked and "n=2" in baked and "classes" not in baked


def test_a_param_whose_values_fold_into_one_class_stays_an_argument(tmp_path):
    """`c` feeds a conv's out_channels and the next conv's in_channels: both literals
    equal it wherever it moves, so the class takes it."""
    spec = tmp_path / "net.yaml"
    spec.write_text("archdsl: 1\nname: net\ninput: [3, 8, 8]\nparams: {c: 8}\n"
                    "network:\n  - conv(c, 3)\n  - relu\n  - conv(c, 3)\n")
    cls = network_class(spec)
    assert arguments(cls) == {"c": 8}
    assert cls(c=5)(torch.randn(1, 3, 8, 8)).shape == (1, 5, 8, 8)


def test_heads_the_network_makes_take_the_argument_too():
    """GoogLeNet's auxiliary heads are a block class: it takes num_classes and
    dropout_aux, and the network passes them on."""
    cls = network_class("googlenet")
    assert arguments(cls) == {"num_classes": 1000, "dropout_rate": 0.2, "dropout_aux": 0.7}
    with torch.device("meta"):
        model = cls(num_classes=5, dropout_aux=0.5)
    assert model.fc.out_features == model.aux1.fc2.out_features == \
        model.aux2.fc2.out_features == 5
    assert model.aux1.dropout.p == model.aux2.dropout.p == 0.5
    assert model.dropout.p == 0.2


def test_scripted_with_another_num_classes():
    model = network_class("resnet18")(num_classes=7).eval()
    scripted = torch.jit.script(model)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert scripted(x).shape == (1, 7)
        torch.testing.assert_close(scripted(x), model(x))


def test_build_still_takes_params_and_the_inference_form_bakes_them():
    model = archdsl.build(SPECS / "resnet18.yaml", num_classes=10)
    assert model.fc.out_features == 10
    source = archdsl.load(SPECS / "resnet18.yaml").inference().source
    assert "def __init__(self) -> None:" in source.split("class Resnet18(")[1]
