"""Training precision: ``fp32`` or ``bf16`` autocast of the encoders on the training device."""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("fp32", "bf16")


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """``fp32``: nothing (plain float32); ``bf16``: bf16 autocast on ``device`` (CUDA or CPU)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    raise ValueError(f"precision {precision!r}: use one of {', '.join(PRECISIONS)}")
