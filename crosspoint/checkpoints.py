"""Checkpoint files: written atomically with the same bytes for the same state, and read back with
``torch.load(weights_only=True)`` (plain tensors and containers, never arbitrary objects). Bottom layer:
torch is imported only when a function runs, so a module that merely names these helpers stays light."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import Any

from crosspoint.store import StageError, atomic_path


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """``torch.save`` to a temporary file beside ``path``, renamed into place when complete.

    Saved through a file object: given a path, torch names the records inside the zip after the
    file, and the temporary name is random, so the same state would not give the same bytes."""
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(canonical(state), fh)


def canonical(obj: Any) -> Any:
    """``obj`` with its containers rebuilt and its strings interned, so that its pickle depends on its
    content only. Pickle writes an object seen before as a reference to it, so two equal states differ
    in bytes when one shares a string between places and the other holds copies: a resumed run's
    history, read back from its checkpoint, holds other string objects than the one built in memory."""
    if isinstance(obj, dict):
        return {canonical(k): canonical(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [canonical(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(canonical(v) for v in obj)
    if type(obj) is str:
        return sys.intern(obj)
    return obj


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> Any:
    """Load a checkpoint with ``torch.load(weights_only=True)``: tensors, numbers, strings, lists,
    tuples and dicts only. Anything else (pickled objects, which could run code) is refused."""
    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise StageError(
            f"{path}: not a plain-tensor checkpoint (refusing to unpickle arbitrary objects): {first}"
        ) from err


def load_state_strict(module: Any, state: dict[str, Any], what: str) -> None:
    """Load weights strictly into ``module`` (or the module a DDP wrapper holds), stripping a DDP
    ``module.`` prefix; a mismatch names the keys."""
    state = {k.removeprefix("module."): v for k, v in state.items()}
    result = getattr(module, "module", module).load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise RuntimeError(
            f"{what}: checkpoint does not match the model (missing {result.missing_keys[:5]}, "
            f"unexpected {result.unexpected_keys[:5]})"
        )
