"""Which torch device a stage runs on, decided in one place. Bottom layer (torch imported when called)."""

from __future__ import annotations

from typing import Any


def resolve_device(name: str = "auto", local_rank: int = 0) -> Any:
    """``auto``: CUDA when present (GPU ``local_rank`` modulo the count: a torchrun process's own), then
    MPS, else the CPU; any other ``name`` (``cpu``, ``cuda``, ``cuda:1``) as given."""
    import torch

    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
