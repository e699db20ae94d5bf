"""The process's place in a (possibly one-process) run and the (optional) torchrun /
DistributedDataParallel plumbing: rank and device, the process group, collectives.

Distributed runs are detected from the environment torchrun sets (``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``); with one process every helper degrades to a no-op, so the same command works
with or without torchrun. (Device names: :mod:`crosspoint.devices`.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from crosspoint.devices import resolve_device


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
