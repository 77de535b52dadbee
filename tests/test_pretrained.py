"""torchvision's published weights load into the specs that are torchvision's networks.

Nothing is downloaded: torchvision's `WeightsEnum.get_state_dict` is replaced by one
that serves the state_dict of torchvision's own network, built as the twin says the
published weights' network is (its batch norms randomised where outputs are compared),
and in the older layouts some published files keep.
"""

from __future__ import annotations

import re
import sys

import pytest
import torch
import torchvision
from torchvision.models import densenet
from torchvision.models._api import WeightsEnum

import archdsl
from archdsl.pretrained import (
    TWINS,
    PretrainedError,
    Twin,
    load_pretrained,
    map_state,
    resolve,
)
from conftest import ROOT, SPECS
from torchvision_reference import randomize


@pytest.fixture
def serve(monkeypatch):
    """`serve(state)`: every weights enum's get_state_dict returns a copy of `state`;
    the returned list records (weights, keyword arguments) of each call."""
    calls = []

    def install(state: dict) -> list:
        def get_state_dict(self, *args, **kwargs):
            calls.append((repr(self), kwargs))
            return dict(state)

        monkeypatch.setattr(WeightsEnum, "get_state_dict", get_state_dict)
        return calls

    return install


def reference(spec: str, **kwargs) -> torch.nn.Module:
    """torchvision's network the published weights of `spec` are for, on the meta device
    (RegNet computes its widths with tensors: made on the CPU and moved)."""
    twin = TWINS[spec]
    if twin.builder.startswith("regnet"):
        return torchvision.models.get_model(twin.builder, **twin.kwargs, **kwargs).to("meta")
    with torch.device("meta"):
        return torchvision.models.get_model(twin.builder, **twin.kwargs, **kwargs)


# spec name -> its file (resnext50.yaml's name is resnext50_32x4d)
FILES = {re.search(r"^name: (\w+)$", p.read_text(), re.M).group(1): p
         for p in sorted(SPECS.glob("*.yaml"))}


def meta_module(arch: archdsl.Architecture) -> torch.nn.Module:
    with torch.device("meta"):
        return archdsl.build(arch, allow_large=True)


def test_resnet18_takes_the_published_weights_and_computes_torchvisions_function(serve):
    torch.manual_seed(0)
    expected = randomize(torchvision.models.resnet18()).eval()
    calls = serve(expected.state_dict())
    arch = archdsl.load(SPECS / "resnet18.yaml")
    model = archdsl.build(arch)
    report = load_pretrained(model, arch, "IMAGENET1K_V1")
    assert calls == [("ResNet18_Weights.IMAGENET1K_V1", {"progress": False,
                                                         "check_hash": True})]
    assert (report.weights, report.loaded, report.left_out) == \
        ("ResNet18_Weights.IMAGENET1K_V1", len(expected.state_dict()), [])
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), expected(x))
    assert report.render() == ("weights: torchvision's ResNet18_Weights.IMAGENET1K_V1, 122 "
                               "tensors loaded; preprocess with torchvision.models.get_weight("
                               "'ResNet18_Weights.IMAGENET1K_V1').transforms()")


def test_older_files_without_batch_norm_counters_load(serve):
    """Files saved before PyTorch 0.4.1 have no num_batches_tracked; batch norm sets 0."""
    torch.manual_seed(0)
    state = randomize(torchvision.models.resnet18()).state_dict()
    serve({k: v for k, v in state.items() if not k.endswith("num_batches_tracked")})
    arch = archdsl.load(SPECS / "resnet18.yaml")
    model = archdsl.build(arch)
    report = load_pretrained(model, arch, "DEFAULT")
    assert report.loaded == len(state) - 20
    assert torch.equal(model.layer1[0].bn1.running_var, state["layer1.0.bn1.running_var"])


def test_names_resolve_through_torchvisions_weights_api():
    models = torchvision.models
    assert resolve("resnet50", "IMAGENET1K_V2") is models.ResNet50_Weights.IMAGENET1K_V2
    assert resolve("resnet50", "DEFAULT") is models.ResNet50_Weights.IMAGENET1K_V2
    assert resolve("resnet50", "ResNet50_Weights.IMAGENET1K_V1") is \
        models.ResNet50_Weights.IMAGENET1K_V1
    assert resolve("resnext50_32x4d", "DEFAULT") is models.ResNeXt50_32X4D_Weights.IMAGENET1K_V2
    assert resolve("fcn_resnet50", "DEFAULT") is \
        models.segmentation.FCN_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1
    assert resolve("r3d_18", "KINETICS400_V1") is models.video.R3D_18_Weights.KINETICS400_V1
    # another builder's weights, by full name: a variant the spec's params make
    assert resolve("mnasnet1_0", "MNASNet0_75_Weights.IMAGENET1K_V1") is \
        models.MNASNet0_75_Weights.IMAGENET1K_V1
    assert resolve("resnet50", models.ResNet50_Weights.IMAGENET1K_V1) is \
        models.ResNet50_Weights.IMAGENET1K_V1


@pytest.mark.parametrize("weights, message", [
    ("IMAGENET1K_V3", "ResNet50_Weights has no `IMAGENET1K_V3`; did you mean `IMAGENET1K_V2` "
                      "or `IMAGENET1K_V1`? (torchvision publishes IMAGENET1K_V1, "
                      "IMAGENET1K_V2, DEFAULT)"),
    ("ResNet50_Weights.IMAGENET_V2", "ResNet50_Weights has no `IMAGENET_V2`; did you mean "
                                     "`IMAGENET1K_V2`"),
    ("default", "ResNet50_Weights has no `default`; did you mean `DEFAULT`?"),
    ("ResNet51_Weights.IMAGENET1K_V2", "torchvision publishes no weights "
                                       "`ResNet51_Weights.IMAGENET1K_V2`"),
    (2, "weights are named by a string, not int"),
])
def test_an_unknown_weights_name_is_an_error_with_suggestions(weights, message):
    with pytest.raises(PretrainedError) as info:
        resolve("resnet50", weights)
    assert message in str(info.value)


def test_a_spec_without_a_twin_is_an_error_that_lists_those_with_one():
    arch = archdsl.load(SPECS / "lenet5.yaml")
    with pytest.raises(PretrainedError) as info:
        load_pretrained(archdsl.build(arch), arch, "DEFAULT")
    message = str(info.value)
    assert message.startswith("`lenet5` has no torchvision twin to take published weights "
                              "from; these specs have one: alexnet, convnext_tiny, ")
    assert message.endswith(", wide_resnet101_2, wide_resnet50_2")
    assert message.count(", ") == len(TWINS) - 1


def test_num_classes_must_be_the_weights_categories(serve):
    calls = serve({})
    arch = archdsl.load(SPECS / "resnet50.yaml", num_classes=10)
    with pytest.raises(PretrainedError) as info:
        load_pretrained(meta_module(arch), arch, "IMAGENET1K_V2")
    assert str(info.value) == ("num_classes=10, but ResNet50_Weights.IMAGENET1K_V2 classify "
                               "1000 categories: load `resnet50` with num_classes=1000, then "
                               "replace the classifier")
    assert calls == []  # refused before anything is read


def test_an_input_smaller_than_the_weights_are_for_is_an_error():
    arch = archdsl.load(SPECS / "vit_b_16.yaml")
    with pytest.raises(PretrainedError, match=r"input 224x224 is smaller than the 384x384 "
                       r"that ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1 are for"):
        load_pretrained(meta_module(arch), arch, "IMAGENET1K_SWAG_E2E_V1")


def test_weights_that_do_not_fit_the_params_are_refused_whole(serve):
    """ResNet-50's weights into ResNet-18: every difference counted, nothing loaded."""
    serve(reference("resnet50").state_dict())
    arch = archdsl.load(SPECS / "resnet18.yaml")
    model = archdsl.build(arch)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(PretrainedError) as info:
        load_pretrained(model, arch, "ResNet50_Weights.IMAGENET1K_V2")
    lines = str(info.value).splitlines()
    assert lines[0] == "ResNet50_Weights.IMAGENET1K_V2 do not fit `resnet18` with these params:"
    assert lines[1] == ("  165 tensors in the weights only: layer1.0.conv3.weight, "
                        "layer1.0.bn3.weight, layer1.0.bn3.bias, layer1.0.bn3.running_mean, "
                        "and 161 more")
    assert lines[2].startswith("  24 tensors of another shape: layer1.0.conv1.weight "
                               "(64, 64, 1, 1) in the weights, (64, 64, 3, 3) here; ")
    assert len(lines) == 3  # nothing is missing: ResNet-18's names are all in ResNet-50
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_a_missing_torchvision_is_an_error_that_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.models", None)
    with pytest.raises(PretrainedError, match=r"which is not installed: pip install "
                       r"torchvision$"):
        resolve("resnet50", "DEFAULT")


# ----------------------------------------------------------------- mapping the keys


def _legacy_densenet(key: str) -> str:
    """A key as the published DenseNet files spell it ("denselayer1.norm.1.weight")."""
    return re.sub(r"(denselayer\d+\.(?:norm|conv))([12])\.", r"\1.\2.", key)


@pytest.mark.filterwarnings("ignore:for .*num_batches_tracked.*no-op:UserWarning")
def test_the_densenet_files_older_names_map_to_the_specs():
    """The published files name a dense layer's parts norm.1, conv.1, …: torchvision's
    own loader reads such a state, and map_state gives the spec's names back."""
    model = reference("densenet121")
    current = model.state_dict()
    legacy = {_legacy_densenet(k): v for k, v in current.items()
              if not k.endswith("num_batches_tracked")}
    assert "features.denseblock1.denselayer1.norm.1.weight" in legacy

    class Published:  # what torchvision's densenet loader asks of a weights entry
        def get_state_dict(self, **kwargs):
            return dict(legacy)

    densenet._load_state_dict(model, Published(), progress=False)  # strict: it fits
    mapped, left_out = map_state(TWINS["densenet121"], legacy, set(current))
    assert left_out == []
    assert set(mapped) == {k for k in current if not k.endswith("num_batches_tracked")}


def test_the_vit_files_older_mlp_names_map_to_the_specs():
    """ViT's published MLPs are linear_1 and linear_2 (torchvision renames them to 0
    and 3 on load); map_state does the same."""
    model = reference("vit_b_16")
    current = model.state_dict()
    legacy = {k.replace("mlp.0.", "mlp.linear_1.").replace("mlp.3.", "mlp.linear_2."): v
              for k, v in current.items()}
    assert sum(".mlp.linear_2.bias" in k for k in legacy) == 12
    model.load_state_dict(legacy, strict=True)  # torchvision reads the older names
    mapped, left_out = map_state(TWINS["vit_b_16"], legacy, set(current))
    assert (set(mapped), left_out) == (set(current), [])


def test_the_fpn_is_the_backbone_of_torchvisions_coco_detector(serve):
    """resnet50_fpn takes the detector's `backbone.` tensors; the region proposal and box
    heads, and the frozen batch norms' counters, are left out and reported."""
    detector = reference("resnet50_fpn")
    serve(detector.state_dict())
    arch = archdsl.load(SPECS / "resnet50_fpn.yaml")
    model = meta_module(arch)
    report = load_pretrained(model, arch, "COCO_V1")
    assert report.loaded == len(model.state_dict()) == \
        len(detector.backbone.state_dict()) - 53  # 53 batch norms, frozen here
    assert {k.split(".")[0] for k in report.left_out} == {"backbone", "rpn", "roi_heads"}
    assert all(k.endswith("num_batches_tracked") for k in report.left_out
               if k.startswith("backbone."))
    assert report.render().splitlines()[1] == \
        "  left out 67 tensors the module has no place for: backbone (53), rpn (6), " \
        "roi_heads (8)"


def test_a_segmentation_networks_auxiliary_head_loads_when_the_spec_has_one(serve):
    serve(reference("deeplabv3_mobilenet_v3_large").state_dict())
    plain = archdsl.load(SPECS / "deeplabv3_mobilenet_v3_large.yaml")
    with_aux = archdsl.load(SPECS / "deeplabv3_mobilenet_v3_large.yaml", aux_loss=True)
    left_out = load_pretrained(meta_module(plain), plain, "DEFAULT").left_out
    assert {k.split(".")[0] for k in left_out} == {"aux_classifier"}
    assert load_pretrained(meta_module(with_aux), with_aux, "DEFAULT").left_out == []


# ----------------------------------------------------------------- every twin


def test_every_spec_that_names_torchvision_has_a_twin():
    named = {name for name, path in FILES.items() if "torchvision" in path.read_text()}
    assert set(TWINS) == named
    assert FILES["resnext50_32x4d"].name == "resnext50.yaml"


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The default weight initialization:FutureWarning")
@pytest.mark.filterwarnings("ignore:for .*num_batches_tracked.*no-op:UserWarning")
@pytest.mark.parametrize("spec", sorted(TWINS))
def test_every_twins_default_weights_load_strictly(spec, serve):
    """The enum exists, its meta's categories are the spec's num_classes, and the state
    of the network the weights are for loads with nothing missing or left over but the
    heads the twin names."""
    twin = TWINS[spec]
    enum = torchvision.models.get_model_weights(twin.builder)
    expected = reference(spec)
    calls = serve(expected.state_dict())
    arch = archdsl.load(FILES[spec])
    if "num_classes" in arch.params:
        assert arch.params["num_classes"] == len(enum.DEFAULT.meta["categories"])
    model = meta_module(arch)
    report = load_pretrained(model, arch, "DEFAULT")
    assert calls == [(repr(enum.DEFAULT), {"progress": False, "check_hash": True})]
    assert report.loaded == len(model.state_dict())
    heads = twin.optional + ("backbone.",) * bool(twin.prefix)
    assert all(k.startswith(heads) or k.startswith(("rpn.", "roi_heads."))
               for k in report.left_out), report.left_out


@pytest.mark.slow
def test_googlenet_with_the_weights_is_torchvisions_on_inputs_scaled_to_plus_minus_one(
        serve):
    """The twin's note: torchvision's model (transform_input=True) on ImageNet-normalised
    input computes what the spec's module computes on the same image scaled to [-1, 1]."""
    torch.manual_seed(0)
    expected = randomize(torchvision.models.googlenet(init_weights=False,
                                                      **TWINS["googlenet"].kwargs)).eval()
    serve(expected.state_dict())
    arch = archdsl.load(SPECS / "googlenet.yaml", input=(3, 96, 96))
    model = archdsl.build(arch)
    assert "mean 0.5 and std 0.5" in load_pretrained(model, arch, "DEFAULT").note
    image = torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()((image - 0.5) / 0.5),
                                   expected((image - mean) / std), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_fcn_without_its_auxiliary_head_computes_torchvisions_out(serve):
    torch.manual_seed(0)
    expected = randomize(torchvision.models.get_model(
        "fcn_resnet50", **TWINS["fcn_resnet50"].kwargs)).eval()
    serve(expected.state_dict())
    arch = archdsl.load(SPECS / "fcn_resnet50.yaml", input=(3, 96, 96))
    model = archdsl.build(arch).eval()
    load_pretrained(model, arch, "COCO_WITH_VOC_LABELS_V1")
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = model(x)
        torch.testing.assert_close(got["out"], expected(x)["out"], rtol=1e-4, atol=1e-4)
    assert list(got) == ["out"]


# ----------------------------------------------------------------- build and compile


@pytest.mark.slow
def test_build_takes_weights_and_folds_them_into_the_inference_form(serve):
    torch.manual_seed(0)
    expected = randomize(torchvision.models.resnet18()).eval()
    serve(expected.state_dict())
    model = archdsl.build(SPECS / "resnet18.yaml", weights="IMAGENET1K_V1").eval()
    folded = archdsl.build(SPECS / "resnet18.yaml", weights="DEFAULT", inference=True).eval()
    assert not any(type(m).__name__ == "BatchNorm2d" for m in folded.modules())
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected(x))
        torch.testing.assert_close(folded(x), expected(x), rtol=1e-4, atol=1e-4)


def test_build_warns_with_the_twins_note(serve, monkeypatch):
    monkeypatch.setitem(TWINS, "resnet18", Twin("resnet18", note="inputs scaled otherwise"))
    serve(torchvision.models.resnet18().state_dict())
    with pytest.warns(UserWarning, match=r"^ResNet18_Weights.IMAGENET1K_V1: inputs scaled "
                      r"otherwise$"):
        archdsl.build(SPECS / "resnet18.yaml", weights="DEFAULT")


def test_compile_saves_the_published_weights(cli, serve, tmp_path):
    torch.manual_seed(0)
    state = randomize(torchvision.models.resnet18()).state_dict()
    serve(state)
    source, saved = tmp_path / "r18.py", tmp_path / "r18.pt"
    code, out, err = cli("compile", "specs/resnet18.yaml", "-o", str(source), "--weights",
                         str(saved), "--weights-from", "torchvision:IMAGENET1K_V1")
    assert (code, err) == (0, "")
    assert out.startswith("weights: torchvision's ResNet18_Weights.IMAGENET1K_V1, 122 tensors "
                          "loaded;")
    loaded = torch.load(saved, weights_only=True)
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())


@pytest.mark.parametrize("args, message", [
    (["--weights-from", "torchvision:IMAGENET1K_V9"],
     "archdsl: error: ResNet18_Weights has no `IMAGENET1K_V9`"),
    (["--weights-from", "torchvision:DEFAULT"],
     "archdsl: error: --weights-from needs --weights, --torchscript or --onnx"),
])
def test_compile_weights_from_errors_are_usage_errors(cli, tmp_path, args, message):
    source = tmp_path / "r18.py"
    extra = [] if "needs" in message else ["--weights", str(tmp_path / "w.pt")]
    code, out, err = cli("compile", "specs/resnet18.yaml", "-o", str(source), *args, *extra)
    assert code == 2
    assert err.startswith(message)
    assert not source.exists()


@pytest.mark.parametrize("value", ["IMAGENET1K_V1", "hub:IMAGENET1K_V1", "torchvision:"])
def test_weights_from_names_torchvision(cli, value, capsys):
    with pytest.raises(SystemExit) as info:
        cli("compile", "specs/resnet18.yaml", "--weights-from", value)
    assert info.value.code == 2
    assert "is not torchvision:NAME, e.g. torchvision:IMAGENET1K_V2" in capsys.readouterr().err


def test_the_readme_counts_the_twins():
    readme = (ROOT / "README.md").read_text()
    assert f"`archdsl/pretrained.py`, {len(TWINS)} of them" in readme
