"""Weights in: the files `read_state_dict` accepts and refuses, what `transfer` loads
and refuses, and batch-norm statistics that cannot be folded."""

from __future__ import annotations

import math
import os
import random
import struct
import zipfile

import numpy
import pytest
import torch

import archdsl
from archdsl.diagnostics import WeightsError
from archdsl.weights import read_state_dict, transfer
from conftest import SPECS

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.save` is deprecated:FutureWarning")

TINY = """\
archdsl: 1
name: tiny
input: [3, 8, 8]
network:
  - conv1: conv(4, 3)
  - bn1: bn
  - relu
  - flatten
  - fc: linear(2)
"""


@pytest.fixture(scope="module")
def lenet() -> torch.nn.Module:
    torch.manual_seed(0)
    return archdsl.build(SPECS / "lenet5.yaml")


@pytest.fixture
def tiny(tmp_path) -> archdsl.Architecture:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    return archdsl.load(spec)


def _fresh() -> torch.nn.Module:
    torch.manual_seed(1)
    return archdsl.build(SPECS / "lenet5.yaml")


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------- accepted files


def _save_ddp(module, path):
    torch.save({f"module.{k}": v for k, v in module.state_dict().items()}, path)


def _save_compiled_ddp_checkpoint(module, path):
    state = {f"module._orig_mod.{k}": v for k, v in module.state_dict().items()}
    torch.save({"epoch": 7, "model": state}, path)


ACCEPTED = {
    "plain": (lambda m, p: torch.save(m.state_dict(), p), []),
    "legacy format": (lambda m, p: torch.save(m.state_dict(), p,
                                              _use_new_zipfile_serialization=False), []),
    "checkpoint state_dict": (
        lambda m, p: torch.save({"epoch": 3, "state_dict": m.state_dict(),
                                 "optimizer": {"lr": 0.1}}, p),
        ["read the state_dict under 'state_dict' of a checkpoint (which also holds "
         "'epoch', 'optimizer')"]),
    "checkpoint model_state_dict": (
        lambda m, p: torch.save({"model_state_dict": m.state_dict(), "loss": 0.5}, p),
        ["read the state_dict under 'model_state_dict' of a checkpoint (which also holds "
         "'loss')"]),
    "checkpoint model": (lambda m, p: torch.save({"model": m.state_dict()}, p),
                         ["read the state_dict under 'model' of a checkpoint"]),
    "DDP": (_save_ddp, ["stripped the prefix 'module.' (DistributedDataParallel or "
                        "DataParallel) from all 10 keys"]),
    "compiled DDP checkpoint": (
        _save_compiled_ddp_checkpoint,
        ["read the state_dict under 'model' of a checkpoint (which also holds 'epoch')",
         "stripped the prefix 'module.' (DistributedDataParallel or DataParallel) from "
         "all 10 keys",
         "stripped the prefix '_orig_mod.' (torch.compile) from all 10 keys"]),
    "TorchScript": (lambda m, p: torch.jit.save(torch.jit.script(m), p),
                    ["read the state_dict of a TorchScript module"]),
}


@pytest.mark.parametrize("form", ACCEPTED)
def test_every_accepted_form_loads(form, lenet, tmp_path):
    save, notes = ACCEPTED[form]
    path = str(tmp_path / "w.pt")
    save(lenet, path)
    state, found = read_state_dict(path)
    assert found == [f"{path}: {note}" for note in notes]
    assert _same(state, lenet.state_dict())
    model = _fresh()
    assert not _same(model.state_dict(), lenet.state_dict())
    report = transfer(state, model)
    assert len(report.unchanged) == 10 and not report.refused
    assert _same(model.state_dict(), lenet.state_dict())


# ---------------------------------------------------------------- refused files


def _write(path, data: bytes):
    path.write_bytes(data)


def _truncated(lenet, path):
    torch.save(lenet.state_dict(), path)
    _write(path, path.read_bytes()[:2000])


def _truncated_legacy(lenet, path):
    torch.save(lenet.state_dict(), path, _use_new_zipfile_serialization=False)
    _write(path, path.read_bytes()[:2000])


def _truncated_torchscript(lenet, path):
    torch.jit.save(torch.jit.script(lenet), path)
    _write(path, path.read_bytes()[:3000])


def _other_zip(lenet, path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("weights/readme.txt", "not weights")


def _safetensors(lenet, path):
    header = b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    _write(path, struct.pack("<Q", len(header)) + header + b"\0" * 4)


def _damaged_inside(save, member: str):
    """A saver whose archive has one byte of `member` changed (its CRC no longer holds)."""
    def damaged(lenet, path):
        save(lenet, path)
        with zipfile.ZipFile(path) as archive:
            info = next(i for i in archive.infolist() if i.filename.endswith(member))
        data = bytearray(path.read_bytes())
        name_length, extra_length = struct.unpack_from("<HH", data, info.header_offset + 26)
        at = info.header_offset + 30 + name_length + extra_length  # the member's first byte
        data[at] ^= 0xFF
        _write(path, bytes(data))
    return damaged


REFUSED = {
    "a pickled module": (lambda m, p: torch.save(m, p),
                         "), not only tensors; archdsl reads weights only (save "
                         "model.state_dict())"),
    "numpy arrays": (lambda m, p: torch.save({"w": numpy.zeros(3)}, p),
                     "holds Python objects (numpy"),
    "a zip that is neither": (_other_zip, "a zip archive, but neither a torch.save file "
                                          "nor a TorchScript archive"),
    "a truncated file": (_truncated, "a damaged or truncated zip archive"),
    "a truncated legacy file": (_truncated_legacy, "a damaged or truncated PyTorch file"),
    "a truncated TorchScript file": (_truncated_torchscript,
                                     "a damaged or truncated zip archive"),
    "a damaged tensor": (_damaged_inside(ACCEPTED["plain"][0], "data/0"),
                         "a damaged or truncated zip archive"),
    "damaged TorchScript code": (_damaged_inside(ACCEPTED["TorchScript"][0], "constants.pkl"),
                                 "a damaged or truncated zip archive"),
    "a spec": (lambda m, p: _write(p, (SPECS / "lenet5.yaml").read_bytes()),
               "a text file, not a weights file of torch.save or torch.jit.save"),
    "random bytes": (lambda m, p: _write(p, bytes(range(256))),
                     "not a weights file of torch.save or torch.jit.save"),
    "safetensors": (_safetensors, "a safetensors file"),
    "an empty file": (lambda m, p: _write(p, b""), "an empty file"),
    "a tensor": (lambda m, p: torch.save(torch.zeros(3), p),
                 "holds a tensor of shape (3,), not a state_dict"),
    "a list": (lambda m, p: torch.save([torch.zeros(3)], p), "holds a list, not a state_dict"),
    "an empty dict": (lambda m, p: torch.save({}, p), "holds an empty dict"),
    "an empty checkpoint": (lambda m, p: torch.save({"state_dict": {}, "epoch": 1}, p),
                            "the dict under 'state_dict' is empty"),
    "a non-tensor value": (lambda m, p: torch.save({**m.state_dict(), "step": 3}, p),
                           "not a state_dict: 'step' is an int, not a tensor (a checkpoint "
                           "keeps its weights under 'state_dict'"),
    "a checkpoint of non-tensors": (
        lambda m, p: torch.save({"state_dict": {"lr": 0.1}}, p),
        "the dict under 'state_dict' holds 'lr', a float, not a tensor"),
    "a non-string key": (lambda m, p: torch.save({1: torch.zeros(1)}, p),
                         "a key that is not a string: 1"),
    "a checkpoint without weights": (lambda m, p: torch.save({"epoch": 3, "lr": 0.1}, p),
                                     "not a state_dict: 'epoch' is an int"),
}


@pytest.mark.parametrize("form", REFUSED)
def test_every_refused_form_says_why(form, lenet, tmp_path):
    save, message = REFUSED[form]
    path = tmp_path / "w.pt"
    save(lenet, path)
    with pytest.raises(WeightsError) as caught:
        read_state_dict(str(path))
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("form", ["plain", "legacy format", "TorchScript"])
def test_damaged_files_are_refused_or_read_never_a_traceback(form, lenet, tmp_path):
    """Bytes cut, overwritten or inserted anywhere: a WeightsError or a state_dict, and
    always a WeightsError for a file cut short (every form keeps data to its last byte).

    The damage is at random places; the file itself differs from run to run (the
    legacy format names and orders its storages by their addresses), so what an overwrite or an
    insertion hits does too, and only the cut files have a fixed outcome."""
    save, _ = ACCEPTED[form]
    path = tmp_path / "w.pt"
    save(lenet, path)
    data = path.read_bytes()
    rng = random.Random(0)
    for case in range(42):
        at = rng.randrange(1, len(data))
        damage = ("cut", "overwritten", "inserted")[case % 3]
        if damage == "cut":
            path.write_bytes(data[:at])
        elif damage == "overwritten":
            path.write_bytes(data[:at] + rng.randbytes(8) + data[at + 8:])
        else:
            path.write_bytes(data[:at] + rng.randbytes(rng.randint(1, 30)) + data[at:])
        try:
            state, _ = read_state_dict(str(path))
        except WeightsError as e:
            assert str(e).startswith(f"{path}: ") and "\n" not in str(e)
        else:
            assert damage != "cut", f"the file cut at byte {at} of {len(data)} was read"
            assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_what_is_not_a_file_is_refused(tmp_path):
    with pytest.raises(WeightsError, match="a directory, not a weights file"):
        read_state_dict(str(tmp_path))
    with pytest.raises(WeightsError, match="no such file"):
        read_state_dict(str(tmp_path / "missing.pt"))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(WeightsError, match="not a regular file"):
        read_state_dict(str(fifo))


def test_weights_error_is_a_value_error():
    assert issubclass(WeightsError, ValueError)


# ---------------------------------------------------------------- transfer


def test_transfer_strips_ddp_prefixes_and_says_so(lenet):
    state = {f"module.{k}": v for k, v in lenet.state_dict().items()}
    model = _fresh()
    report = transfer(state, model)
    assert report.notes == ["stripped the prefix 'module.' (DistributedDataParallel or "
                            "DataParallel) from all 10 keys"]
    assert len(report.unchanged) == 10 and report.gone == []
    assert _same(model.state_dict(), lenet.state_dict())
    assert "  note      stripped the prefix 'module.'" in report.render()
    assert report.to_json()["notes"] == report.notes


@pytest.mark.parametrize(("value", "reason"), [
    (math.nan, "holds 1 NaN of 6 values"),
    (math.inf, "holds 1 inf of 6 values"),
    (-math.inf, "holds 1 inf of 6 values"),
])
def test_non_finite_tensors_are_refused(value, reason, lenet):
    state = dict(lenet.state_dict())
    state["c1.bias"] = state["c1.bias"].clone()
    state["c1.bias"][2] = value
    model = _fresh()
    before = model.state_dict()["c1.bias"].clone()
    report = transfer(state, model)
    assert report.refused == [("c1.bias", reason)]
    assert "c1.bias" not in report.unchanged and len(report.unchanged) == 9
    assert torch.equal(model.state_dict()["c1.bias"], before)
    assert report.render().splitlines()[0].endswith(", 1 refused")
    assert f"  refused   c1.bias: {reason}" in report.render()


@pytest.mark.parametrize(("dtype", "reason"), [
    (torch.complex64, "complex64 values for a float32 tensor"),
    (torch.int64, "int64 values for a float32 tensor"),
    (torch.int8, "int8 values for a float32 tensor"),
    (torch.bool, "bool values for a float32 tensor"),
])
def test_tensors_of_another_kind_of_number_are_refused(dtype, reason, lenet):
    state = dict(lenet.state_dict())
    state["c1.weight"] = torch.ones(state["c1.weight"].shape, dtype=dtype)
    model = _fresh()
    report = transfer(state, model)
    assert report.refused == [("c1.weight", reason)]
    assert not torch.equal(model.state_dict()["c1.weight"],
                           torch.ones(state["c1.weight"].shape))


def test_other_floating_types_load_and_integer_buffers_stay_integer(tiny):
    source, target = archdsl.build(tiny), archdsl.build(tiny)
    state = {k: v.double() if v.is_floating_point() else v + 5
             for k, v in source.state_dict().items()}
    report = transfer(state, target)
    assert report.refused == [] and "bn1.num_batches_tracked" in report.unchanged
    loaded = target.state_dict()
    assert loaded["bn1.num_batches_tracked"].dtype == torch.int64
    assert int(loaded["bn1.num_batches_tracked"]) == 5
    assert torch.equal(loaded["conv1.weight"], source.state_dict()["conv1.weight"])


def test_integer_buffers_refuse_floating_values(tiny):
    model = archdsl.build(tiny)
    state = dict(model.state_dict(), **{"bn1.num_batches_tracked": torch.tensor(2.5)})
    report = transfer(state, model)
    assert report.refused == [("bn1.num_batches_tracked",
                               "float32 values for a int64 tensor")]


def test_non_tensor_values_are_refused(lenet):
    report = transfer({**lenet.state_dict(), "step": 3}, _fresh())
    assert report.refused == [("step", "an int, not a tensor")]


def test_nothing_loaded_names_keys_of_both_sides(lenet):
    state = {f"encoder.{k}": v for k, v in lenet.state_dict().items()}
    model = _fresh()
    with pytest.raises(WeightsError) as caught:
        transfer(state, model)
    message = str(caught.value)
    assert message.startswith("no tensor loads: no key of the state_dict")
    assert "'encoder.c1.weight', 'encoder.c1.bias', 'encoder.c3.weight', … 10 in all" in message
    assert "the network's ('c1.weight', 'c1.bias', 'c3.weight', … 10 in all)" in message


def test_nothing_loaded_when_every_shape_differs(lenet):
    state = {"output.weight": torch.zeros(5, 84), "output.bias": torch.zeros(5)}
    with pytest.raises(WeightsError, match=r"no tensor loads: 2 change shape "
                       r"\(output\.weight: \(5, 84\) -> \(10, 84\), …\)"):
        transfer(state, _fresh())


def test_nothing_loaded_when_every_tensor_is_refused(lenet):
    state = {"c1.bias": torch.full((6,), math.nan)}
    with pytest.raises(WeightsError, match=r"1 are refused \(c1\.bias: holds 6 NaN of 6"):
        transfer(state, _fresh())


def test_an_empty_state_dict_loads_nothing():
    with pytest.raises(WeightsError, match="the state_dict is empty"):
        transfer({}, _fresh())


# ---------------------------------------------------------------- folding batch norm


def _trained_state(arch) -> dict:
    torch.manual_seed(0)
    model = archdsl.build(arch)
    with torch.no_grad():
        model.bn1.running_mean.uniform_(-0.5, 0.5)
        model.bn1.running_var.uniform_(0.5, 2.0)
    return model.state_dict()


def test_folding_good_statistics_gives_the_same_outputs(tiny):
    state = _trained_state(tiny)
    folded = tiny.inference(channels_last=False)
    model = archdsl.build(folded).eval()
    model.load_state_dict(folded.fold_weights(state))
    trained = archdsl.build(tiny).eval()
    trained.load_state_dict(state)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(model(x), trained(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("var", "message"), [
    (-1.0, r"running_var\[1\] \+ eps = -1 \+ 1e-05 is not above zero"),
    (-1e-5, r"running_var\[1\] \+ eps = -1e-05 \+ 1e-05 is not above zero"),
    (math.nan, "its running_var holds NaN or inf"),
    (math.inf, "its running_var holds NaN or inf"),
])
def test_folding_impossible_statistics_is_refused(var, message, tiny):
    state = _trained_state(tiny)
    state["bn1.running_var"] = state["bn1.running_var"].clone()
    state["bn1.running_var"][1] = var
    with pytest.raises(WeightsError, match="batch norm bn1 cannot be folded into conv1: "
                       + message):
        tiny.inference().fold_weights(state)


def test_folding_a_non_finite_mean_is_refused(tiny):
    state = _trained_state(tiny)
    state["bn1.running_mean"] = torch.full_like(state["bn1.running_mean"], math.nan)
    with pytest.raises(WeightsError, match="bn1 cannot be folded into conv1: its "
                       "running_mean holds NaN or inf"):
        tiny.inference().fold_weights(state)


def test_folded_weights_that_are_not_finite_are_refused(tiny):
    state = _trained_state(tiny)
    state["fc.weight"] = torch.full_like(state["fc.weight"], math.inf)
    with pytest.raises(WeightsError, match="the inference weights are not finite: "
                       "fc.weight holds 512 NaN or inf values"):
        tiny.inference().fold_weights(state)


def test_folding_needs_every_folded_tensor(tiny):
    state = _trained_state(tiny)
    del state["bn1.running_var"]
    with pytest.raises(WeightsError, match="the training state_dict has no "
                       "bn1.running_var"):
        tiny.inference().fold_weights(state)
