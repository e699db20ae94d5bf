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

from crosspoint import paths
from crosspoint.store import StageError, file_md5, get_meta, read_point_store, read_strings
from crosspoint.subsets import grouped_stratified_subset, scanned_object
from crosspoint.training.distributed import DistInfo
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
    same whichever worker loads them. Views are read lazily from the view stores (one HDF5 handle per
    store and process): object ``i`` has view row ``view_rows[i]`` of store ``views_paths[view_stores[i]]``."""

    def __init__(self, points: np.ndarray, views_paths: list[str], view_rows: np.ndarray | None,
                 view_stores: np.ndarray | None, n_points: int, seed: int):
        self.points = points
        self.views_paths = [str(p) for p in views_paths]
        self.view_rows = view_rows
        self.view_stores = view_stores
        self.n_points = n_points
        self.seed = seed
        self._h5: list[h5py.File] | None = None
        self._pid = -1
        self.n_views = 0
        if view_rows is not None:
            self.n_views = check_view_stores(self.views_paths)

    def __len__(self) -> int:
        return len(self.points)

    def _images(self, store: int) -> h5py.Dataset:
        if self._h5 is None or self._pid != os.getpid():
            self._h5 = [h5py.File(p, "r") for p in self.views_paths]
            self._pid = os.getpid()
        return self._h5[store]["images"]

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
            images = self._images(int(self.view_stores[i]))
            image = torch.from_numpy(np.ascontiguousarray(images[int(self.view_rows[i]), view]))
        return torch.from_numpy(np.ascontiguousarray(cloud, dtype=np.float32)), image

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_h5"] = None
        return state


def check_view_stores(views_paths: list[str]) -> int:
    """The number of views per object, which every view store must share with its image size."""
    shapes = {}
    for p in views_paths:
        with h5py.File(p, "r") as h5:
            shapes[p] = tuple(h5["images"].shape[1:])
    if len(set(shapes.values())) > 1:
        raise StageError(f"the pretraining datasets' view stores differ in views or image size: {shapes} "
                         "(rerun their render stages with the same render params)")
    return int(next(iter(shapes.values()))[0]) if shapes else 0


class EpochSampler(Sampler):
    """A DistributedSampler (seeded, reshuffled by ``set_epoch``, sharded per rank) whose items are
    ``(epoch, index)``, so the dataset can key its per-object randomness on the epoch."""

    def __init__(self, dataset: Dataset, info: DistInfo, seed: int):
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
    """The objects a run uses, after matching each point store with its view store."""

    train_points: np.ndarray  # [M, P, 3] pretraining objects (train split minus validation)
    view_rows: np.ndarray | None  # [M] row of each in its view store (None: IMID only)
    view_stores: np.ndarray | None  # [M] index of that view store in views_paths
    views_paths: list[str]
    fit_points: np.ndarray  # validation classifier's training objects (the pretraining objects, at most val_max_fit)
    fit_labels: np.ndarray
    val_points: np.ndarray
    val_labels: np.ndarray
    val_ids: list[str]
    fingerprint: str  # identifies the data, for resuming
    labelled: bool = True  # every pretraining dataset has labels (the accuracy criterion can be computed)
    selection: str = "accuracy"  # the criterion that chooses best.pt (resolve_selection)
    # held-out objects of the retrieval criterion (at most val_retrieval_max): their clouds and one view each
    retrieval_points: np.ndarray | None = None
    retrieval_images: np.ndarray | None = None  # uint8 [R, H, W, 3]: view 0 of each
    skipped: str | None = None


@dataclass
class _Part:
    """The train split of one pretraining dataset, matched with its views."""

    name: str
    points: np.ndarray
    labels: np.ndarray
    object_ids: list[str]
    labelled: bool
    n_classes: int
    view_rows: np.ndarray | None
    views_path: str


def _load_part(name: str, with_images: bool) -> _Part | str:
    """One dataset's training objects, or the reason it is skipped (an absent optional dataset)."""
    src = Path(paths.points(name))
    ps = read_point_store(src)
    with h5py.File(src, "r") as h5:
        skipped = get_meta(h5, "skipped")
    train = ps.subset(ps.split_mask("train"))
    if skipped or len(train) == 0:
        return str(skipped) if skipped else f"{src} has no training objects"
    view_rows = None
    vpath = Path(paths.views(name))
    if with_images:
        if not vpath.exists():
            raise StageError(f"{vpath}: view store not found (run the render stages first: dvc repro)")
        with h5py.File(vpath, "r") as h5:
            view_ids = read_strings(h5, "object_ids")
            if get_meta(h5, "kind") != "views":
                raise StageError(f"{vpath}: expected a view store, found kind={get_meta(h5, 'kind')!r}")
            pinned = get_meta(h5, "points_md5")
        if pinned is not None and pinned != file_md5(src):
            raise StageError(f"{vpath} was merged beside another version of {src}: rerun "
                             f"`crosspoint merge-views --dataset {name}` (dvc repro does)")
        row_of = {oid: r for r, oid in enumerate(view_ids)}
        keep = np.array([oid in row_of for oid in train.object_ids], dtype=bool)
        if not keep.any():
            raise StageError(f"no training object of {src} has rendered views in {vpath}; "
                             f"rerun `crosspoint render --dataset {name}` (dvc repro)")
        if not keep.all():
            log.warning("pretrain: %d of %d training objects of %s have no rendered views; left out",
                        int((~keep).sum()), len(keep), name)
        train = train.subset(keep)
        view_rows = np.array([row_of[oid] for oid in train.object_ids], dtype=np.int64)
    return _Part(name, train.points, np.asarray(train.labels, np.int64), train.object_ids, train.meta.labelled,
                 len(train.meta.class_names), view_rows, str(vpath))


def resolve_selection(prm: Params, labelled: bool, with_images: bool) -> str:
    """The criterion that chooses best.pt: ``accuracy`` or ``retrieval`` (see ``pretrain.selection``)."""
    selection = prm.selection
    if selection == "auto":
        selection = "accuracy" if labelled else "retrieval"
    if selection == "accuracy" and not labelled:
        raise StageError("pretrain.selection is accuracy, but a pretraining dataset has no labels "
                         "(a mesh_folder dataset): set pretrain.selection to retrieval (or auto)")
    if selection == "retrieval" and not with_images and prm.val_fraction > 0:
        raise StageError("pretrain.selection needs retrieval (unlabelled data), but w_cmid is 0: there are no "
                         "images to retrieve; set pretrain.val_fraction: 0 to keep the last epoch, or use w_cmid > 0")
    return selection


def load_training_set(prm: Params, v: Variant, with_images: bool, seed: int) -> TrainingSet:
    """Read the train split of every pretraining dataset, match views by object_id, carve validation.

    Labels of several labelled datasets are offset so that their classes stay apart; an unlabelled
    dataset's objects keep label -1 and are carved for validation as one group."""
    parts, reasons = [], []
    for name in prm.datasets:
        part = _load_part(name, with_images)
        if isinstance(part, str):
            log.warning("pretrain: dataset %s skipped (%s)", name, part)
            reasons.append(f"{name}: {part}")
        else:
            parts.append(part)
    empty = np.zeros((0, 1, 3), np.float32)
    if not parts:
        return TrainingSet(empty, None, None, [], empty, np.zeros(0, np.int64), empty, np.zeros(0, np.int64), [],
                           "", skipped="; ".join(reasons))
    labelled = all(p.labelled for p in parts)
    offsets = np.cumsum([0] + [p.n_classes for p in parts])
    labels = np.concatenate([np.where(p.labels >= 0, p.labels + off, -1) for p, off in zip(parts, offsets, strict=False)])
    points = parts[0].points if len(parts) == 1 else np.concatenate([p.points for p in parts])
    object_ids = [oid for p in parts for oid in p.object_ids]
    view_rows = view_stores = None
    if with_images:
        view_rows = np.concatenate([p.view_rows for p in parts])
        view_stores = np.concatenate([np.full(len(p.labels), k, np.int64) for k, p in enumerate(parts)])
    selection = resolve_selection(prm, labelled, with_images)

    val = carve_validation(labels, prm.val_fraction, seed)
    fit = ~val
    if fit.sum() < 2:
        raise StageError(f"pretrain: only {int(fit.sum())} training objects left after validation; "
                         "lower pretrain.val_fraction or use a larger dataset")
    if selection == "accuracy" and val.any() and len(np.unique(labels[fit])) < 2:
        raise StageError(f"pretrain: the labelled pretraining data ({', '.join(prm.datasets)}) has "
                         f"{len(np.unique(labels[fit]))} class: the accuracy criterion needs two or more. Use the "
                         "mesh_folder source for meshes without classes, or set pretrain.selection: retrieval")
    val_pts = fixed_subset(points[val], v.points, seed + 1)
    # the validation classifier's fitting objects: all pretraining objects up to val_max_fit, beyond
    # it a seeded class-stratified subset (libsvm's fit grows about as n^1.6)
    fit_rows = np.flatnonzero(fit)
    fit_rows = fit_rows[grouped_stratified_subset(labels[fit_rows], [scanned_object(object_ids[i])
                                                  for i in fit_rows], prm.val_max_fit, seed + 3)]
    fit_pts = fixed_subset(points[fit_rows], v.points, seed + 2)
    retrieval_points = retrieval_images = None
    if with_images and val.any():
        rows = np.flatnonzero(val)
        keep = grouped_stratified_subset(np.zeros(len(rows), np.int64), [str(i) for i in rows],
                                         prm.val_retrieval_max, seed + 4)
        retrieval_points = val_pts[keep]
        retrieval_images = _first_views([p.views_path for p in parts], view_stores[rows[keep]],
                                        view_rows[rows[keep]])
    digest = hashlib.sha256()
    digest.update(json.dumps([object_ids, [int(x) for x in labels], list(points.shape)]).encode())
    if len(parts) > 1:
        digest.update(json.dumps([p.name for p in parts]).encode())
    digest.update(np.ascontiguousarray(points[:, :8]).tobytes())
    return TrainingSet(
        train_points=points[fit],
        view_rows=None if view_rows is None else view_rows[fit],
        view_stores=None if view_stores is None else view_stores[fit],
        views_paths=[p.views_path for p in parts],
        fit_points=fit_pts,
        fit_labels=np.asarray(labels[fit_rows]),
        val_points=val_pts,
        val_labels=np.asarray(labels[val]),
        val_ids=[object_ids[i] for i in np.flatnonzero(val)],
        fingerprint=digest.hexdigest(),
        labelled=labelled,
        selection=selection,
        retrieval_points=retrieval_points,
        retrieval_images=retrieval_images,
    )


def _first_views(views_paths: list[str], stores: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """View 0 of each (store, row), uint8 [R, H, W, 3], read one at a time (a view is one chunk)."""
    out = []
    files = [h5py.File(p, "r") for p in views_paths]
    try:
        for store, row in zip(stores, rows, strict=True):
            out.append(files[int(store)]["images"][int(row), 0])
    finally:
        for f in files:
            f.close()
    return np.stack(out)
