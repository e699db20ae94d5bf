"""The features file: frozen global features of one dataset, by the pretrained encoder and by its random
init, written by the ``features`` stage and read by the SVM stages and the report. Bottom layer (h5py only).

Features file (``kind = "features"``), one per dataset and pretraining seed at ``paths.features(name, seed)``::

    pretrained  float32 [N, D]   global feature of the pretrained encoder
    random      float32 [N, D]   same architecture at a seeded random init
    labels      int64   [N]
    split       str     [N]      "train" / "test"
    object_ids  str     [N]
    attrs: kind, class_names (JSON list), points, encoder, seed, ``skipped`` (the reason) when the
           dataset's point store was an empty placeholder, ``labelled = False`` for an unlabelled dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from crosspoint.store import StageError, atomic_path, get_meta, read_strings, set_meta, write_strings


@dataclass
class FeatureSet:
    """Frozen features of one dataset, for the pretrained and the random-init encoder."""

    pretrained: np.ndarray  # float32 [N, D]
    random: np.ndarray  # float32 [N, D]
    labels: np.ndarray  # int64 [N]
    split: list[str]
    object_ids: list[str]
    class_names: list[str]
    skipped: str | None = None
    attrs: dict[str, Any] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def labelled(self) -> bool:
        return bool((self.attrs or {}).get("labelled", True))

    def split_mask(self, name: str) -> np.ndarray:
        return np.array([s == name for s in self.split], dtype=bool)

    def features(self, init: str) -> np.ndarray:
        """``init`` is "pretrained" or "random"."""
        if init not in ("pretrained", "random"):
            raise ValueError(f"unknown init {init!r}")
        return self.pretrained if init == "pretrained" else self.random


INITS = ("pretrained", "random")


def write_features(dest: str | Path, fs: FeatureSet, **attrs: Any) -> None:
    pretrained, random = np.asarray(fs.pretrained, np.float32), np.asarray(fs.random, np.float32)
    if pretrained.ndim != 2 or pretrained.shape != random.shape or len(pretrained) != len(fs.labels):
        raise ValueError(f"features must be [N, D] with N labels: {pretrained.shape}, {random.shape}")
    with atomic_path(dest) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("pretrained", data=pretrained)
        h5.create_dataset("random", data=random)
        h5.create_dataset("labels", data=np.asarray(fs.labels, np.int64))
        write_strings(h5, "split", fs.split)
        write_strings(h5, "object_ids", fs.object_ids)
        meta: dict[str, Any] = {"kind": "features", "class_names": list(fs.class_names), **attrs}
        if fs.skipped is not None:
            meta["skipped"] = fs.skipped
        set_meta(h5, **meta)


def read_features(path: str | Path) -> FeatureSet:
    path = Path(path)
    if not path.exists():
        raise StageError(f"{path}: features file not found (run `crosspoint features` first: dvc repro)")
    with h5py.File(path, "r") as h5:
        if get_meta(h5, "kind") != "features":
            raise StageError(f"{path}: not a features file (kind={get_meta(h5, 'kind')!r})")
        skipped = get_meta(h5, "skipped")
        return FeatureSet(
            pretrained=h5["pretrained"][()],
            random=h5["random"][()],
            labels=h5["labels"][()],
            split=read_strings(h5, "split"),
            object_ids=read_strings(h5, "object_ids"),
            class_names=list(get_meta(h5, "class_names", [])),
            skipped=None if skipped is None else str(skipped),
            attrs={k: get_meta(h5, k) for k in h5.attrs},
        )


def store_skipped(path: str | Path) -> str | None:
    """The ``skipped`` reason of an HDF5 store (an empty placeholder for an absent dataset), else None."""
    with h5py.File(path, "r") as h5:
        reason = get_meta(h5, "skipped")
    return None if reason is None else str(reason)
