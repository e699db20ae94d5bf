"""What pretraining reads: the training objects and their views, the validation split carved from them,
the per-epoch sampler and the dataset that draws each object's point subset and view."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler, Sampler

from crosspoint import paths, training
from crosspoint.store import StageError, get_meta, read_point_store, read_strings
from crosspoint.subsets import grouped_stratified_subset, scanned_object
from crosspoint.training.params import Params, Variant

log = logging.getLogger("crosspoint.training.data")

def carve_validation(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the validation objects among TRAINING objects with ``labels``: per class,
    ``round(n * fraction)`` objects (at least 1 and at most n - 1 when the class has 2 or more),
    drawn by a generator seeded with ``seed``."""
    labels = np.asarray(labels)
    mask = np.zeros(len(labels), dtype=bool)
    if fraction <= 0:
        return mask
    rng = np.random.default_rng(seed)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) < 2:
            continue
        n_val = min(max(int(round(len(idx) * fraction)), 1), len(idx) - 1)
        mask[rng.permutation(idx)[:n_val]] = True
    return mask


def fixed_subset(points: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``[M, P, 3] -> [M, n, 3]``: a seeded random subset of each cloud (fixed across epochs)."""
    total = points.shape[1]
    if n >= total:
        return points
    if len(points) == 0:  # no validation split (val_fraction 0)
        return points[:, :n]
    rng = np.random.default_rng(seed)
    idx = np.stack([rng.permutation(total)[:n] for _ in range(len(points))])
    return np.take_along_axis(points, idx[:, :, None], axis=1)


class PretrainData(Dataset):
    """Training objects: item ``(epoch, i)`` -> (points float32 [n, 3], one view uint8 [H, W, 3]).

    The point subset and the view are drawn from ``default_rng([seed, epoch, i])``, so they are the
    same whichever worker loads them. Views are read lazily from the view store (one HDF5 handle
    per process)."""

    def __init__(self, points: np.ndarray, views_path: str | Path, view_rows: np.ndarray | None,
                 n_points: int, seed: int):
        self.points = points
        self.views_path = str(views_path)
        self.view_rows = view_rows
        self.n_points = n_points
        self.seed = seed
        self._h5: h5py.File | None = None
        self._pid = -1
        self.n_views = 0
        if view_rows is not None:
            with h5py.File(self.views_path, "r") as h5:
                self.n_views = int(h5["images"].shape[1])

    def __len__(self) -> int:
        return len(self.points)

    def _images(self) -> h5py.Dataset:
        if self._h5 is None or self._pid != os.getpid():
            self._h5 = h5py.File(self.views_path, "r")
            self._pid = os.getpid()
        return self._h5["images"]

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, i = key
        rng = np.random.default_rng([self.seed, epoch, i])
        total = self.points.shape[1]
        cloud = self.points[i]
        if self.n_points < total:
            cloud = cloud[rng.permutation(total)[: self.n_points]]
        if self.view_rows is None:
            image = torch.zeros(0, dtype=torch.uint8)
        else:
            view = int(rng.integers(self.n_views))
            image = torch.from_numpy(np.ascontiguousarray(self._images()[int(self.view_rows[i]), view]))
        return torch.from_numpy(np.ascontiguousarray(cloud, dtype=np.float32)), image

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_h5"] = None
        return state


class EpochSampler(Sampler):
    """A DistributedSampler (seeded, reshuffled by ``set_epoch``, sharded per rank) whose items are
    ``(epoch, index)``, so the dataset can key its per-object randomness on the epoch."""

    def __init__(self, dataset: Dataset, info: training.DistInfo, seed: int):
        self.inner = DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank,
                                        shuffle=True, seed=seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.inner.set_epoch(epoch)

    def __iter__(self):
        for i in self.inner:
            yield (self.epoch, int(i))

    def __len__(self) -> int:
        return len(self.inner)


@dataclass
class TrainingSet:
    """The objects a run uses, after matching the point store with the view store."""

    train_points: np.ndarray  # [M, P, 3] pretraining objects (train split minus validation)
    view_rows: np.ndarray | None  # [M] row of each in the view store (None: IMID only)
    fit_points: np.ndarray  # validation classifier's training objects (the pretraining objects, at most val_max_fit)
    fit_labels: np.ndarray
    val_points: np.ndarray
    val_labels: np.ndarray
    val_ids: list[str]
    fingerprint: str  # identifies the data, for resuming
    skipped: str | None = None


def load_training_set(prm: Params, v: Variant, with_images: bool, seed: int) -> TrainingSet:
    """Read the train split of the point store, match views by object_id, carve validation."""
    src = Path(paths.points(prm.dataset))
    ps = read_point_store(src)
    with h5py.File(src, "r") as h5:
        skipped = get_meta(h5, "skipped")
    train = ps.subset(ps.split_mask("train"))
    empty = np.zeros((0, 1, 3), np.float32)
    if skipped or len(train) == 0:
        reason = str(skipped) if skipped else f"{src} has no training objects"
        return TrainingSet(empty, None, empty, np.zeros(0, np.int64), empty, np.zeros(0, np.int64), [], "",
                           skipped=reason)
    view_rows = None
    keep = np.ones(len(train), dtype=bool)
    if with_images:
        vpath = Path(paths.views())
        if not vpath.exists():
            raise StageError(f"{vpath}: view store not found (run the render stages first: dvc repro)")
        with h5py.File(vpath, "r") as h5:
            view_ids = read_strings(h5, "object_ids")
            if get_meta(h5, "kind") != "views":
                raise StageError(f"{vpath}: expected a view store, found kind={get_meta(h5, 'kind')!r}")
        row_of = {oid: r for r, oid in enumerate(view_ids)}
        keep = np.array([oid in row_of for oid in train.object_ids], dtype=bool)
        if not keep.any():
            raise StageError(f"no training object of {src} has rendered views in {vpath}; "
                             f"render the same dataset as pretrain.dataset={prm.dataset!r}")
        if not keep.all():
            log.warning("pretrain: %d of %d training objects have no rendered views; left out",
                        int((~keep).sum()), len(keep))
        train = train.subset(keep)
        view_rows = np.array([row_of[oid] for oid in train.object_ids], dtype=np.int64)
    val = carve_validation(train.labels, prm.val_fraction, seed)
    fit = ~val
    if fit.sum() < 2:
        raise StageError(f"pretrain: only {int(fit.sum())} training objects left after validation; "
                         "lower pretrain.val_fraction or use a larger dataset")
    val_pts = fixed_subset(train.points[val], v.points, seed + 1)
    # the validation classifier's fitting objects: all pretraining objects up to val_max_fit, beyond
    # it a seeded class-stratified subset (libsvm's fit grows about as n^1.6)
    fit_rows = np.flatnonzero(fit)
    fit_rows = fit_rows[grouped_stratified_subset(train.labels[fit_rows], [scanned_object(train.object_ids[i])
                                                  for i in fit_rows], prm.val_max_fit, seed + 3)]
    fit_pts = fixed_subset(train.points[fit_rows], v.points, seed + 2)
    digest = hashlib.sha256()
    digest.update(json.dumps([train.object_ids, [int(x) for x in train.labels], list(train.points.shape)]).encode())
    digest.update(np.ascontiguousarray(train.points[:, :8]).tobytes())
    return TrainingSet(
        train_points=train.points[fit],
        view_rows=None if view_rows is None else view_rows[fit],
        fit_points=fit_pts,
        fit_labels=np.asarray(train.labels[fit_rows]),
        val_points=val_pts,
        val_labels=np.asarray(train.labels[val]),
        val_ids=[train.object_ids[i] for i in np.flatnonzero(val)],
        fingerprint=digest.hexdigest(),
    )
