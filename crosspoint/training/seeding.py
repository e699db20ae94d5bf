"""Seeding and RNG state: seed every global generator, keep Python's and NumPy's untouched over a block,
seed DataLoader workers, and capture / restore every global generator's state for a checkpoint."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch


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
