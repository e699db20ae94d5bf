"""Checkpoints load with ``weights_only=True``: RNG states round-trip bit-exactly, pickled objects are refused."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
import torch

from crosspoint.checkpoints import load_checkpoint, save_checkpoint
from crosspoint.store import StageError
from crosspoint.training.seeding import rng_state, seed_everything, set_rng_state


def _draws() -> tuple:
    return (
        [random.random() for _ in range(5)],
        random.gauss(0.0, 1.0),
        np.random.random(5).tolist(),
        float(np.random.standard_normal()),
        torch.rand(5).tolist(),
    )


def test_rng_state_round_trip_is_bit_exact(tmp_path):
    seed_everything(123)
    random.gauss(0.0, 1.0)  # leaves a cached Gaussian in Python's generator
    np.random.standard_normal()  # and one in NumPy's
    save_checkpoint(tmp_path / "rng.pt", {"rng": [rng_state()], "history": [{"epoch": 1}]})
    expected = _draws()
    seed_everything(999)  # move every generator elsewhere
    _draws()
    ckpt = load_checkpoint(tmp_path / "rng.pt")
    set_rng_state(ckpt["rng"][0])
    assert _draws() == expected


class _Planted:
    """An object whose unpickling would create a marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_objects_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "bad.pt"
    torch.save({"point_encoder": {}, "payload": _Planted(str(marker))}, bad)
    assert not marker.exists()
    with pytest.raises(StageError, match="not a plain-tensor checkpoint"):
        load_checkpoint(bad)
    assert not marker.exists()


def test_plain_pickle_file_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "legacy.pt"
    bad.write_bytes(pickle.dumps(_Planted(str(marker)), protocol=2))
    with pytest.raises(StageError, match="refusing to unpickle"):
        load_checkpoint(bad)
    assert not marker.exists()


def test_equal_states_give_equal_bytes_whatever_objects_they_share(tmp_path):
    """A resumed run's history comes back from its checkpoint as other string objects than the ones an
    uninterrupted run built; the saved bytes must not depend on that (pickle references shared objects)."""
    key = "val/accuracy"
    shared = {"history": [{key: 0.5}, {key: 0.75}], "best": {"epoch": 1}, "tensor": torch.arange(3)}
    copies = {"history": [{"".join(["val/", "accuracy"]): 0.5}, {"".join(["val", "/accuracy"]): 0.75}],
              "best": {"epoch": 1}, "tensor": torch.arange(3)}
    assert list(copies["history"][0])[0] is not list(copies["history"][1])[0]
    save_checkpoint(tmp_path / "a.pt", shared)
    save_checkpoint(tmp_path / "b.pt", copies)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
