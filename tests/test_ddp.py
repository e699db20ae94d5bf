"""Global negatives under DistributedDataParallel: two Gloo processes on the CPU give the loss and
the (DDP-averaged) gradients of one process holding their combined batch; without global
negatives they do not."""

from __future__ import annotations

import datetime
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from crosspoint.training.distributed import all_gather_rows, all_reduce_mean, unwrap
from crosspoint.training.losses import nt_xent
from crosspoint.training.params import Params
from crosspoint.training.pretrain import _loss

torch.set_num_threads(1)

WORLD = 2
PER_RANK = 4  # objects per process
CASES = {  # name -> Params: the real loss of the stage (IMID only, and IMID + CMID with the image term)
    "imid_global": Params(w_cmid=0.0, global_negatives=True),
    "imid_local": Params(w_cmid=0.0, global_negatives=False),
    "full_global": Params(global_negatives=True),
    "full_local": Params(global_negatives=False),
}


class TinyModel(nn.Module):
    """Linear projections standing in for the encoders + heads: clouds [2B, 6], images [B, 5]
    (the image branch only with images, as in CrossPointModel: DDP wants every parameter used)."""

    def __init__(self, with_images: bool) -> None:
        super().__init__()
        self.points = nn.Linear(6, 8)
        self.image = nn.Linear(5, 8) if with_images else None

    def forward(self, pair: torch.Tensor, images: torch.Tensor | None):
        z1, z2 = self.points(pair).chunk(2)
        return z1, z2, None if images is None else self.image(images)


def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The combined batch of both processes (rank r holds rows r*B:(r+1)*B of each)."""
    gen = torch.Generator().manual_seed(7)
    n = WORLD * PER_RANK
    x1 = torch.randn(n, 6, generator=gen)
    x2 = x1 + 0.3 * torch.randn(n, 6, generator=gen)
    img = torch.randn(n, 5, generator=gen)
    return x1, x2, img


def fresh_model(prm: Params) -> TinyModel:
    torch.manual_seed(3)
    return TinyModel(with_images=prm.w_cmid > 0)


def step(model: nn.Module, x1, x2, img, prm: Params) -> torch.Tensor:
    """Forward, the stage's loss, backward; returns the loss."""
    z1, z2, z_img = model(torch.cat([x1, x2]), None if prm.w_cmid == 0 else img)
    total, _, _ = _loss(z1, z2, z_img, prm)
    total.backward()
    return total.detach()


def grads(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.grad.detach().clone() for name, p in unwrap(model).named_parameters()}


def worker(rank: int, port: int, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD,
                            timeout=datetime.timedelta(seconds=60))
    try:
        rows = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
        x1, x2, img = (t[rows] for t in batch())
        result: dict = {}
        for name, prm in CASES.items():
            model = nn.parallel.DistributedDataParallel(fresh_model(prm))
            loss = step(model, x1, x2, img, prm)
            result[name] = {"loss": all_reduce_mean(float(loss), torch.device("cpu")),
                            "grads": grads(model)}
        try:  # ranks with different batch sizes: a clear error, on every rank
            all_gather_rows(torch.zeros(2 + rank, 3))
            result["shape_error"] = None
        except RuntimeError as err:
            result["shape_error"] = str(err)
        torch.save(result, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> list[dict]:
    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(worker, args=(free_port(), str(out)), nprocs=WORLD, join=True)
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


def single_process(prm: Params) -> tuple[float, dict[str, torch.Tensor]]:
    model = fresh_model(prm)
    loss = step(model, *batch(), prm)
    return float(loss), grads(model)


@pytest.mark.parametrize("case", ["imid_global", "full_global"])
def test_global_negatives_equal_one_process_at_the_global_batch(ranks, case):
    loss, ref = single_process(CASES[case])
    for r in ranks:
        assert r[case]["loss"] == pytest.approx(loss, rel=1e-6, abs=1e-6)
        assert r[case]["grads"].keys() == ref.keys()
        for name, g in ref.items():
            torch.testing.assert_close(r[case]["grads"][name], g, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize("case", ["imid_local", "full_local"])
def test_local_negatives_differ_from_the_global_batch(ranks, case):
    loss, ref = single_process(CASES[case])
    assert ranks[0][case]["loss"] < loss - 1e-3  # fewer negatives: an easier task
    assert any(not torch.allclose(ranks[0][case]["grads"][name], g, atol=1e-4) for name, g in ref.items())


def test_processes_with_different_batch_sizes_are_refused(ranks):
    for r in ranks:
        assert r["shape_error"] is not None and "same batch size" in r["shape_error"]


def test_one_process_computes_exactly_as_before():
    """Without a process group ``global_batch`` changes nothing, bit for bit."""
    x1, x2, _ = batch()
    assert torch.equal(nt_xent(x1, x2, 0.1, global_batch=True), nt_xent(x1, x2, 0.1))
    assert all_gather_rows(x1) is x1
