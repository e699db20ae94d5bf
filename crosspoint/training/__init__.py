"""Training utilities shared by the training stages: the optimiser, seeding, RNG state capture, the
process's device and precision, and the (optional) torchrun / DistributedDataParallel plumbing.
(Checkpoint files: :mod:`crosspoint.checkpoints`, re-exported here; device names: :mod:`crosspoint.devices`.)

Distributed runs are detected from the environment torchrun sets (``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``); with one process every helper degrades to a no-op, so the same command works
with or without torchrun.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import resource
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from crosspoint import exact
from crosspoint.checkpoints import canonical, load_checkpoint, load_state_strict, save_checkpoint  # noqa: F401
from crosspoint.devices import resolve_device

log = logging.getLogger("crosspoint.training")


# ---------------------------------------------------------------------------------------------
# Optimiser


class PortableAdam(torch.optim.Adam):
    """``torch.optim.Adam`` (the same update, hyper-parameters and state, so its checkpoints load
    either way) whose step takes the square root with :func:`crosspoint.exact.tensor_sqrt`: torch's own Adam gives
    other weights on another CPU (see the README's reproducibility section). No amsgrad/maximize."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=False)

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - torch's Adam step, see the class docstring
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad if wd == 0 else p.grad.add(p, alpha=wd)
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                step = float(state["step"].item())
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                step_size = lr / (1 - beta1**step)
                denom = (exact.tensor_sqrt(exp_avg_sq) / ((1 - beta2**step) ** 0.5)).add_(eps)
                p.addcdiv_(exp_avg, denom, value=-step_size)
        return loss


def make_adam(params, device: torch.device, lr: float, weight_decay: float = 0.0) -> torch.optim.Adam:
    """The training stages' Adam: :class:`PortableAdam` on the CPU (the record's path: the same weights on
    every CPU), torch's fused Adam on CUDA (one kernel for all parameters instead of a few per tensor;
    CUDA's sqrt is already correctly rounded). Both keep torch Adam's state, so checkpoints load either way."""
    if device.type == "cuda":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    return PortableAdam(params, lr=lr, weight_decay=weight_decay)


# ---------------------------------------------------------------------------------------------
# Seeding and RNG state


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (all CUDA devices included)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def global_rng_untouched() -> Iterator[None]:
    """Run a block (validation, logging) without changing Python's and NumPy's global generators.

    Library code may draw from them, some of it only once per process (importing scikit-learn draws
    from Python's): a resumed run first runs it at another epoch than the uninterrupted run did, and
    the generator states in its checkpoints would differ. Training draws from its own seeded
    generators; the global ones are checkpointed for third-party code, and must advance the same way
    in both runs."""
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def worker_init_fn(worker_id: int) -> None:
    """DataLoader worker init: derive Python's and NumPy's seeds from the worker's torch seed
    (itself drawn from the loader's seeded generator), so workers never share a stream."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def rng_state() -> dict[str, Any]:
    """Every global generator's state (Python, NumPy, torch CPU, and CUDA when present), as tensors,
    numbers and strings only, so a checkpoint holding it loads with ``weights_only=True``."""
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": int(version), "state": torch.tensor(mt, dtype=torch.int64), "gauss": gauss},
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured (bit-exactly)."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    npy = state["numpy"]
    keys = npy["keys"].numpy().astype(np.uint32)
    np.random.set_state((npy["kind"], keys, npy["pos"], npy["has_gauss"], npy["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------------------------------------
# Processes and devices


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in a (possibly one-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def dist_info() -> DistInfo:
    """Read torchrun's environment (one process when absent)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return DistInfo(rank=rank, world_size=world, local_rank=local)


def select_device(info: DistInfo | None = None) -> torch.device:
    """:func:`crosspoint.devices.resolve_device` for this process: under torchrun, the GPU of its
    LOCAL_RANK (made the current device)."""
    info = info or dist_info()
    device = resolve_device("auto", info.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        return device
    return torch.device("cpu")  # training never picks MPS by itself (bf16 autocast, DDP: CUDA or CPU only)


def init_distributed(info: DistInfo, device: torch.device) -> None:
    """Join the process group when torchrun started several processes (NCCL on GPU, Gloo on CPU)."""
    if info.distributed and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_reduce_mean(value: float, device: torch.device) -> float:
    """Mean of a scalar over the processes (the value itself with one process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return float(value)
    t = torch.tensor([float(value)], device=device, dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / dist.get_world_size()


def gathering() -> bool:
    """Whether several processes are joined in a process group (collectives would do something)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class _GatherRows(torch.autograd.Function):
    """``all_gather`` along dim 0 whose backward sums the gradients of every process for this
    process's rows (an all-reduce, then this rank's slice), so each process's loss sends its
    gradient to the rows of the process that computed them."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.rank, ctx.rows = dist.get_rank(), x.shape[0]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def all_gather_rows(x: torch.Tensor) -> torch.Tensor:
    """Every process's ``x`` stacked along dim 0 in rank order, differentiable (gradients reach the
    local rows, summed over the processes). Every process must pass the same shape; ``x`` itself
    when not distributed."""
    if not gathering():
        return x
    shape = torch.tensor(list(x.shape), dtype=torch.int64, device=x.device)
    shapes = [torch.empty_like(shape) for _ in range(dist.get_world_size())]
    dist.all_gather(shapes, shape)
    if any(not torch.equal(s, shape) for s in shapes):
        raise RuntimeError(f"all_gather_rows: the processes hold tensors of different shapes "
                           f"{[tuple(s.tolist()) for s in shapes]}; every rank needs the same batch size")
    return _GatherRows.apply(x)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel (or the module itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


PRECISIONS = ("fp32", "bf16")


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """``fp32``: nothing (plain float32); ``bf16``: bf16 autocast on ``device`` (CUDA or CPU)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    raise ValueError(f"precision {precision!r}: use one of {', '.join(PRECISIONS)}")


# ---------------------------------------------------------------------------------------------
# Measuring


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_bytes(device: torch.device) -> int:
    """CUDA ``max_memory_allocated`` on GPU; this process's peak resident set size on the CPU."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Put modules in eval mode for the block, then restore each one's previous mode."""
    modes = [m.training for m in modules]
    try:
        for m in modules:
            m.eval()
        yield
    finally:
        for m, mode in zip(modules, modes, strict=True):
            m.train(mode)
