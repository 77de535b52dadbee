"""DistributedDataParallel: two gloo processes on half-batches train a built network
exactly as one process does.

The network is a CIFAR-size pre-activation ResNet (preact_resnet164 with one unit per
stage). DDP without SyncBatchNorm normalises each process's half-batch by that
half's own statistics, and SyncBatchNorm runs on GPUs only, so on CPU the two cannot
equal full-batch training while BatchNorm uses batch statistics. Two cases:

- BatchNorm frozen (eval mode: running statistics, learned affine weights), as when
  fine-tuning a backbone: every sample's loss is independent of the others, and DDP's
  averaged gradients equal the full batch's. Gradients and weights after each step must
  be equal.
- BatchNorm in training mode: DDP computes the mean of the half-batches' gradients,
  each normalised by its own statistics; that is checked, and that it differs from the
  full batch's (which is why SyncBatchNorm exists).

Each process rebuilds the module from the spec path and loads the starting weights from
a file: generated classes live in a module made at run time (archdsl.runtime), which a
spawned process cannot unpickle.

The reference runs with the workers' intra-op thread count. CPU convolution kernels split
their reductions by thread count, so float32 results with 1 and 2 threads differ by
rounding (about 1e-7 in these gradients, 5e-6 in the activations). Over three steps that
is enough to move one ReLU input across zero (in layer3.0.relu at step 2: +3.5e-7 with one
thread, -1.8e-7 with two, where inputs are typically 0.65), and the gradient then jumps
by 1.7e-4. With equal thread counts the per-shard reference computes what the workers
compute, in the same order, and its gradients equal theirs bit for bit.
"""

from __future__ import annotations

import socket
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import archdsl
from conftest import SPECS

pytestmark = pytest.mark.slow  # two spawned processes: a minute

SPEC = SPECS / "preact_resnet164.yaml"
PARAMS = {"depths": [1, 1, 1]}
WORLD, BATCH, STEPS, LR, MOMENTUM = 2, 8, 3, 0.1, 0.9
MODES = ("frozen_bn", "batch_bn")
TIMEOUT_S = 180
THREADS = 1  # per process, in the workers and the reference: see the module docstring


def build() -> nn.Module:
    return archdsl.build(SPEC, **PARAMS)


def set_mode(model: nn.Module, mode: str) -> nn.Module:
    model.train()
    if mode == "frozen_bn":
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
    return model


def sgd(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)


def _worker(rank: int, port: int, workdir: str) -> None:
    torch.set_num_threads(THREADS)  # two processes on a small machine
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}",
                            rank=rank, world_size=WORLD)
    try:
        data = torch.load(f"{workdir}/data.pt")
        shard = slice(rank * BATCH // WORLD, (rank + 1) * BATCH // WORLD)
        for mode in MODES:
            model = build()
            model.load_state_dict(data["state"])
            ddp = DistributedDataParallel(set_mode(model, mode))
            optimizer = sgd(ddp)
            grads = []
            for step in range(STEPS):
                optimizer.zero_grad(set_to_none=True)
                x, y = data["x"][step, shard], data["y"][step, shard]
                F.cross_entropy(ddp(x), y).backward()
                grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
                optimizer.step()
            torch.save({"grads": grads, "state": model.state_dict()},
                       f"{workdir}/{mode}_{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", autouse=True)
def worker_threads():
    """The reference uses the kernels the workers use; other tests keep their threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Start weights, data, and each mode's per-step gradients and final state per rank."""
    workdir = tmp_path_factory.mktemp("ddp")
    torch.manual_seed(0)
    model = build()
    # Running statistics from data (as in a trained network), so frozen BatchNorm is
    # not the identity: momentum None makes them the cumulative average.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = None
        model.train()(torch.randn(32, 3, 32, 32))
    gen = torch.Generator().manual_seed(1)
    data = {"state": model.state_dict(),
            "x": torch.randn(STEPS, BATCH, 3, 32, 32, generator=gen),
            "y": torch.randint(0, 10, (STEPS, BATCH), generator=gen)}
    torch.save(data, workdir / "data.pt")

    context = mp.start_processes(_worker, args=(_free_port(), str(workdir)), nprocs=WORLD,
                                 join=False, start_method="spawn")
    deadline = time.monotonic() + TIMEOUT_S
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"the DDP processes did not finish in {TIMEOUT_S} s")
    results = {(mode, rank): torch.load(workdir / f"{mode}_{rank}.pt")
               for mode in MODES for rank in range(WORLD)}
    return data, results


def reference(data, mode: str, shards: int):
    """Single-process training: each step's loss is the mean of `shards` slices' losses,
    each slice run through the model on its own (shards=1: the full batch)."""
    model = build()
    model.load_state_dict(data["state"])
    set_mode(model, mode)
    optimizer = sgd(model)
    grads = []
    for step in range(STEPS):
        optimizer.zero_grad(set_to_none=True)
        xs, ys = data["x"][step].chunk(shards), data["y"][step].chunk(shards)
        loss = sum(F.cross_entropy(model(x), y) for x, y in zip(xs, ys)) / shards
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
        optimizer.step()
    return grads, model.state_dict()


def assert_all_close(actual: dict, expected: dict, what: str) -> None:
    assert actual.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=1e-4, atol=1e-6,
                                   msg=lambda m, name=name: f"{what} {name}: {m}")


def test_ddp_equals_full_batch_training(run):
    data, results = run
    grads, state = reference(data, "frozen_bn", shards=1)
    for rank in range(WORLD):
        got = results["frozen_bn", rank]
        for step in range(STEPS):
            assert_all_close(got["grads"][step], grads[step], f"rank {rank} step {step} grad")
        assert_all_close(got["state"], state, f"rank {rank} final")
    # Training moved the weights: the comparison is not of the starting point.
    assert not torch.equal(state["fc.weight"], data["state"]["fc.weight"])


def test_ddp_batch_norm_uses_each_process_statistics(run):
    data, results = run
    grads, state = reference(data, "batch_bn", shards=WORLD)
    for rank in range(WORLD):
        got = results["batch_bn", rank]
        for step in range(STEPS):
            assert_all_close(got["grads"][step], grads[step], f"rank {rank} step {step} grad")
        params = {n for n, _ in build().named_parameters()}
        assert_all_close({n: got["state"][n] for n in params},
                         {n: state[n] for n in params}, f"rank {rank} final")
    full_batch, _ = reference(data, "batch_bn", shards=1)
    assert not torch.allclose(full_batch[0]["conv1.weight"], grads[0]["conv1.weight"],
                              rtol=1e-3, atol=1e-5)
