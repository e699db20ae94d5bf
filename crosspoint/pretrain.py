"""``crosspoint pretrain --variant cls|seg``: CrossPoint self-supervised pretraining.

Per step and object: two random augmentations of its cloud go through the point encoder and the
point head (z1, z2); one random rendered view goes through the image encoder and the image head
(z_img). Loss = w_imid * NT-Xent(z1, z2) + w_cmid * NT-Xent(mean(z1, z2), z_img). Adam with a
cosine schedule to 0, stepped once per epoch after the optimiser.

Variants: ``cls`` trains the classification encoder (``pretrain.cls``, DGCNN by default), ``seg``
the part-segmentation encoder (``pretrain.seg``, ``dgcnn_seg``), as the paper pretrains a separate
model for part segmentation.

Model selection: a validation split is carved (stratified, seeded) from the TRAINING objects and
held out of pretraining; every ``val_every`` epochs a linear SVM (or kNN) is fitted on the frozen
global features of the remaining training objects and scored on it. The test split is never read.
The random-init encoder's accuracy is recorded as epoch 0.

One run per seed of ``pretrain.seeds`` (``--seed K``): everything random below is drawn from ``K``.

Outputs (rank 0 only): ``paths.pretrain_dir(variant, K)/best.pt`` (best validation accuracy) and
``last.pt`` (written atomically every epoch, with the full training state: a killed run started
again resumes from it when the params match, and ends with the same weights as an uninterrupted
run), and DVCLive metrics and plots in ``paths.pretrain_live(variant, K)``. Neither holds wall-clock
data (samples/s is logged only), so the same run gives the same bytes.

Randomness: the order of objects comes from the sampler (seed, epoch); each object's point subset
and view come from a generator keyed by (seed, epoch, object), so they do not depend on the number
of DataLoader workers; augmentations are drawn on the training device from a seeded generator
whose state is checkpointed.

Multi-GPU: ``torchrun --nproc-per-node G -m crosspoint pretrain --variant cls`` uses
DistributedDataParallel (batch_size is per process; with ``global_negatives`` the NT-Xent
negatives come from every process's batch, so the loss and gradient are those of one process at
batch G x batch_size; otherwise from the process's own batch), optional SyncBatchNorm, a per-rank
sharded sampler; only rank 0 validates and writes.

Precision (``precision``): ``fp32`` (the default and upstream's) runs everything in float32;
``bf16`` runs the encoders under bf16 autocast on the training device (CUDA, or the CPU, where it
is slow unless the CPU has native bf16, and exists to exercise the path); the loss is float32
either way. The precision is recorded in every checkpoint and in the metrics beside the numerics.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from crosspoint import config, live_log, numerics, paths, training
from crosspoint.augment import ImageAugment, PointAugment, augment_images, augment_points
from crosspoint.encoders import model_config
from crosspoint.losses import crosspoint_loss, nt_xent
from crosspoint.models import build_image_encoder, build_point_encoder, image_head, point_head
from crosspoint.progress import Progress
from crosspoint.store import StageError, get_meta, read_point_store, read_strings, write_json
from crosspoint.subsets import grouped_stratified_subset, scanned_object

log = logging.getLogger("crosspoint.pretrain")

VARIANTS = ("cls", "seg")


# ---------------------------------------------------------------------------------------------
# Params


@dataclass(frozen=True)
class Variant:
    """Per-variant knobs: the encoder architecture and the amount of training."""

    point_model: str = "dgcnn"  # dgcnn | dgcnn_seg | pointnet
    k: int = 20  # DGCNN neighbours
    emb_dims: int = 1024  # width of the last point-encoder layer
    points: int = 1024  # points per cloud (a random subset of the stored ones, per object and epoch)
    image_model: str = "resnet18"  # resnet18 | resnet50
    image_size: int = 0  # image side fed to the image encoder; 0 = as rendered
    epochs: int = 10
    batch_size: int = 32  # per process

    def check(self) -> list[str]:
        problems = []
        if self.k < 1:
            problems.append("k must be positive")
        if self.emb_dims < 1:
            problems.append("emb_dims must be positive")
        if self.points < max(self.k, 2):
            problems.append("points must be at least k (and 2)")
        if self.image_size < 0:
            problems.append("image_size must be 0 (as rendered) or positive")
        if self.epochs < 1:
            problems.append("epochs must be at least 1")
        if self.batch_size < 2:
            problems.append("batch_size must be at least 2 (contrastive negatives come from the batch)")
        return problems


@dataclass(frozen=True)
class Params:
    dataset: str = "synth"  # point store paths.points(dataset), matched by object_id to paths.views()
    seeds: list[int] = field(default_factory=lambda: [0])  # one run per seed (an axis of the DAG)
    cls: Variant = Variant()
    seg: Variant = Variant(point_model="dgcnn_seg")
    lr: float = 1e-3  # Adam
    weight_decay: float = 1e-6
    temperature: float = 0.1  # NT-Xent
    w_imid: float = 1.0  # intra-modal (point-point) loss weight; 0 = CMID only
    w_cmid: float = 1.0  # cross-modal (point-image) loss weight; 0 = IMID only (no image branch)
    val_fraction: float = 0.2  # share of each class of the training objects held out for model selection
    val_every: int = 1  # epochs between validations (the last epoch is always validated)
    val_classifier: Literal["svm", "knn"] = "svm"
    svm_c: float = 0.01  # linear SVM C on the global features
    knn_k: int = 5
    val_batch_size: int = 64  # feature extraction batch
    val_max_fit: int = 0  # at most this many fitting objects for the validation classifier (stratified); 0 = all
    workers: int = 2  # DataLoader workers per process (does not change the result)
    sync_bn: bool = True  # SyncBatchNorm under torchrun with several GPU processes
    global_negatives: bool = True  # under torchrun, NT-Xent negatives from every process's batch
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: autocast of the encoders on the training device
    point_augment: PointAugment = field(default_factory=PointAugment)
    image_augment: ImageAugment = field(default_factory=ImageAugment)

    def check(self) -> list[str]:
        problems = []
        if self.lr <= 0:
            problems.append("lr must be positive")
        if self.weight_decay < 0:
            problems.append("weight_decay must be non-negative")
        if self.temperature <= 0:
            problems.append("temperature must be positive")
        if self.w_imid < 0 or self.w_cmid < 0 or self.w_imid + self.w_cmid == 0:
            problems.append("w_imid and w_cmid must be non-negative and not both 0")
        if not 0.0 <= self.val_fraction <= 0.5:
            problems.append("val_fraction must be in [0, 0.5]")
        if self.val_every < 1:
            problems.append("val_every must be at least 1")
        if self.svm_c <= 0:
            problems.append("svm_c must be positive")
        if self.knn_k < 1:
            problems.append("knn_k must be positive")
        if self.val_batch_size < 1:
            problems.append("val_batch_size must be positive")
        if self.val_max_fit < 0:
            problems.append("val_max_fit must be 0 (all fitting objects) or positive")
        if self.workers < 0:
            problems.append("workers must be non-negative")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or any(s < 0 for s in self.seeds):
            problems.append("seeds must list distinct non-negative seeds (at least one)")
        return problems

    def variant(self, name: str) -> Variant:
        if name not in VARIANTS:
            raise StageError(f"unknown pretraining variant {name!r}; use one of {', '.join(VARIANTS)}")
        return getattr(self, name)


class CrossPointModel(nn.Module):
    """Point encoder + head, and (unless IMID only) image encoder + head, in one module so that a
    single DistributedDataParallel wrapper covers all of them."""

    def __init__(self, v: Variant, with_images: bool):
        super().__init__()
        self.point_encoder = build_point_encoder(v.point_model, k=v.k, emb_dims=v.emb_dims)
        self.point_head = point_head(self.point_encoder.out_dim)
        self.image_encoder: nn.Module | None = None
        self.image_head: nn.Module | None = None
        if with_images:
            self.image_encoder = build_image_encoder(v.image_model)
            self.image_head = image_head(self.image_encoder.out_dim)

    def forward(self, clouds: torch.Tensor, images: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        """``clouds`` [2B, N, 3] (both augmentations stacked) -> z1, z2 [B, 256] and z_img or None."""
        z = self.point_head(self.point_encoder(clouds))
        z1, z2 = z.chunk(2)
        z_img = None
        if images is not None:
            z_img = self.image_head(self.image_encoder(images))
        return z1, z2, z_img


# ---------------------------------------------------------------------------------------------
# Data


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


# ---------------------------------------------------------------------------------------------
# Validation


@torch.no_grad()
def global_features(encoder: nn.Module, points: np.ndarray, batch_size: int, device: torch.device,
                    precision: str = "fp32") -> np.ndarray:
    """Frozen global features ``[M, D]`` (float32) of clouds ``[M, n, 3]``, encoder in eval mode,
    under ``precision`` (see :func:`crosspoint.training.autocast`)."""
    out = []
    with training.eval_mode(encoder):
        for s in range(0, len(points), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(points[s : s + batch_size], np.float32)).to(device)
            with training.autocast(device, precision):
                out.append(encoder(batch).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def validation_accuracy(encoder: nn.Module, data: TrainingSet, prm: Params, device: torch.device) -> float:
    """Accuracy on the validation objects of a classifier fitted on the other training objects'
    frozen global features (NaN when there is no validation split)."""
    if len(data.val_labels) == 0:
        return float("nan")
    fit = global_features(encoder, data.fit_points, prm.val_batch_size, device, prm.precision)
    val = global_features(encoder, data.val_points, prm.val_batch_size, device, prm.precision)
    if not (np.isfinite(fit).all() and np.isfinite(val).all()):
        return 0.0
    if len(np.unique(data.fit_labels)) < 2:
        return float(np.mean(data.val_labels == data.fit_labels[0]))
    if prm.val_classifier == "svm":
        from sklearn.svm import SVC

        clf = SVC(kernel="linear", C=prm.svm_c)
    else:
        from sklearn.neighbors import KNeighborsClassifier

        clf = KNeighborsClassifier(n_neighbors=min(prm.knn_k, len(fit)))
    clf.fit(fit, data.fit_labels)
    return float(np.mean(clf.predict(val) == data.val_labels))


# ---------------------------------------------------------------------------------------------
# Training


def signature(prm: Params, variant: str, seed: int, fingerprint: str) -> str:
    """What a resumed run must share with the checkpoint: every result-changing param, the seed,
    the numerics and the data."""
    keys = config.to_dict(prm)
    keys.pop("workers")
    keys.pop("val_batch_size")
    keys.pop("seeds")
    keys["seed"] = seed
    keys["numerics"] = numerics.record()
    keys = {k: v for k, v in keys.items() if k not in VARIANTS}
    keys["variant"] = {"name": variant, **config.to_dict(prm.variant(variant))}
    keys["data"] = fingerprint
    return hashlib.sha256(json.dumps(keys, sort_keys=True, default=str).encode()).hexdigest()


def _make_loader(data: PretrainData, batch: int, prm: Params, info: training.DistInfo,
                 device: torch.device, generator: torch.Generator, seed: int) -> tuple[DataLoader, EpochSampler]:
    sampler = EpochSampler(data, info, seed)
    loader = DataLoader(
        data, batch_size=batch, sampler=sampler, drop_last=True, num_workers=prm.workers,
        pin_memory=device.type == "cuda", worker_init_fn=training.worker_init_fn, generator=generator,
        persistent_workers=False,
    )
    return loader, sampler


def _checkpoint(model: CrossPointModel, model_cfg: dict[str, Any], epoch: int, val_acc: float,
                prm: Params, variant: str, seed: int) -> dict[str, Any]:
    m = training.unwrap(model)
    return {
        "point_encoder": m.point_encoder.state_dict(),
        "point_head": m.point_head.state_dict(),
        "image_encoder": None if m.image_encoder is None else m.image_encoder.state_dict(),
        "image_head": None if m.image_head is None else m.image_head.state_dict(),
        "model": model_cfg,
        "epoch": epoch,
        "val_accuracy": val_acc,
        "variant": variant,
        "seed": seed,
        "params": config.to_dict(prm),
        "numerics": numerics.record(),
        "precision": prm.precision,
    }


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    if size <= 0 or images.shape[-1] == size and images.shape[-2] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, clouds: torch.Tensor,
               images: torch.Tensor | None, prm: Params, image_size: int,
               aug_gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One optimiser step on a batch (clouds float [B, N, 3], views uint8 [B, H, W, 3] or None, on
    the training device): two point augmentations, one image augmentation, the CrossPoint loss;
    the encoders run at ``prm.precision``. Returns the detached (total, imid, cmid)."""
    device = clouds.device
    with torch.no_grad():
        pair = torch.cat([augment_points(clouds, prm.point_augment, aug_gen),
                          augment_points(clouds, prm.point_augment, aug_gen)])
        imgs = None
        if images is not None:
            imgs = _resize(augment_images(images, prm.image_augment, aug_gen), image_size)
    with training.autocast(device, prm.precision):
        z1, z2, z_img = model(pair, imgs)
    total, imid, cmid = _loss(z1.float(), z2.float(), None if z_img is None else z_img.float(), prm)
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()
    return total.detach(), imid.detach(), cmid.detach()


def run(prm: Params, variant: str, seed: int | None = None, *, stop_after: int | None = None,
        fresh: bool = False, progress: bool = True) -> dict[str, Any]:
    """Pretrain ``variant`` with ``seed`` (default: the first of ``pretrain.seeds``); returns the
    summary (best/last validation accuracy, epochs run).

    ``stop_after``: end this invocation after that many epochs (for time-limited jobs; running
    again resumes). ``fresh``: ignore an existing last.pt."""
    v = prm.variant(variant)
    seed = prm.seeds[0] if seed is None else int(seed)
    out_dir = Path(paths.pretrain_dir(variant, seed))
    live_dir = Path(paths.pretrain_live(variant, seed))
    info = training.dist_info()
    device = training.select_device(info)
    numerics.configure_torch(device)
    if not info.is_main:  # one voice per run: the other ranks report warnings only
        log.setLevel(logging.WARNING)
    if prm.precision == "bf16" and device.type == "cpu":
        log.warning("pretrain: precision bf16 on the CPU (autocast; slow without native bf16 support)")
    training.init_distributed(info, device)
    try:
        return _run(prm, variant, seed, v, out_dir, live_dir, info, device, stop_after, fresh, progress)
    finally:
        training.cleanup_distributed()


def _run(prm: Params, variant: str, seed: int, v: Variant, out_dir: Path, live_dir: Path, info: training.DistInfo,
         device: torch.device, stop_after: int | None, fresh: bool, progress: bool) -> dict[str, Any]:
    with_images = prm.w_cmid > 0
    model_cfg = model_config(v, with_images)
    data = load_training_set(prm, v, with_images, seed)
    training.seed_everything(seed)
    model = CrossPointModel(v, with_images)

    if data.skipped is not None:
        if info.is_main:
            ckpt = _checkpoint(model, model_cfg, 0, float("nan"), prm, variant, seed) | {"skipped": data.skipped}
            training.save_checkpoint(out_dir / "last.pt", ckpt)
            training.save_checkpoint(out_dir / "best.pt", ckpt)
            write_json(live_dir / "metrics.json", {"skipped": data.skipped})
        log.warning("pretrain %s: skipped (%s); wrote random-init checkpoints", variant, data.skipped)
        return {"skipped": data.skipped}

    n_per_rank = math.ceil(len(data.train_points) / info.world_size)
    batch = min(v.batch_size, n_per_rank)
    if batch < 2:
        raise StageError(f"pretrain: {len(data.train_points)} training objects are too few for "
                         f"{info.world_size} process(es); use a larger dataset")
    if batch < v.batch_size:
        log.warning("pretrain %s: batch_size %d > %d objects per process; using %d",
                    variant, v.batch_size, n_per_rank, batch)

    model.to(device)
    optimizer = training.make_adam(model.parameters(), device, lr=prm.lr, weight_decay=prm.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=v.epochs, eta_min=0.0)
    aug_gen = torch.Generator(device=device)
    aug_gen.manual_seed(seed * 1009 + 17 + info.rank)
    loader_gen = torch.Generator()
    loader_gen.manual_seed(seed * 1009 + 31 + info.rank)

    sig = signature(prm, variant, seed, data.fingerprint)
    resumed = None if fresh else _resume(out_dir / "last.pt", sig, model, optimizer, scheduler, aug_gen,
                                         loader_gen, info, device)
    history: list[dict[str, Any]] = resumed["history"] if resumed else []
    best: dict[str, Any] = resumed["best"] if resumed else {"val_accuracy": -1.0, "epoch": 0}
    start = resumed["epoch"] if resumed else 0
    if resumed:
        log.info("pretrain %s: resuming from %s after epoch %d", variant, out_dir / "last.pt", start)
    elif info.is_main:
        (out_dir / "best.pt").unlink(missing_ok=True)  # a previous run's, with other params
    last_path = out_dir / "last.pt"

    if info.distributed:
        if prm.sync_bn and device.type == "cuda":  # SyncBatchNorm exists for GPU modules only
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)

    dataset = PretrainData(data.train_points, paths.views(), data.view_rows, v.points, seed)
    loader, sampler = _make_loader(dataset, batch, prm, info, device, loader_gen, seed)
    core = training.unwrap(model)
    n_params = sum(p.numel() for p in core.parameters())
    log.info("pretrain %s seed %d: %s (k=%d, %d points) + %s, %.1fM parameters; %d objects (+%d validation), "
             "batch %d x %d process(es)%s, %d epochs, device %s, %s, numerics %s x %d threads",
             variant, seed, v.point_model, v.k, v.points, model_cfg["image_model"], n_params / 1e6,
             len(data.train_points), len(data.val_labels), batch, info.world_size,
             " (global negatives)" if info.distributed and prm.global_negatives else "", v.epochs, device,
             prm.precision, numerics.record()["isa"], numerics.threads())

    if start == 0:
        acc0 = float("nan")
        if info.is_main:
            with training.global_rng_untouched():
                acc0 = validation_accuracy(core.point_encoder, data, prm, device)
        history = [{"epoch": 0, "val/accuracy": acc0}]
        log.info("pretrain %s: random-init encoder validation accuracy %.4f", variant, acc0)
    random_init_acc = history[0]["val/accuracy"]

    done = 0
    for epoch in range(start + 1, v.epochs + 1):
        if stop_after is not None and done >= stop_after:
            break
        sampler.set_epoch(epoch)
        model.train()
        lr = optimizer.param_groups[0]["lr"]
        # (loss, imid, cmid) summed on the training device in float64 (the same bits as Python floats), read
        # once per epoch: no host sync per step on CUDA
        sums = torch.zeros(3, dtype=torch.float64, device=device)
        steps = 0
        seen = 0
        t0 = time.perf_counter()
        bar = Progress(loader, desc=f"pretrain {variant} {epoch}/{v.epochs}", unit="batch",
                       disable=not (progress and info.is_main))
        for clouds, images in bar:
            clouds = clouds.to(device, non_blocking=True)
            images = images.to(device, non_blocking=True) if with_images else None
            total, imid, cmid = train_step(model, optimizer, clouds, images, prm, v.image_size, aug_gen)
            steps += 1
            seen += clouds.shape[0]
            sums += torch.stack([total, imid, cmid]).to(torch.float64)
            if device.type == "cpu" or steps % 50 == 0:  # a postfix reads the device: not every step on CUDA
                bar.set_postfix(loss=f"{float(sums[0]) / steps:.4f}")
        training.synchronize(device)
        elapsed = time.perf_counter() - t0
        scheduler.step()  # after the optimiser, once per epoch
        row: dict[str, Any] = {"epoch": epoch}
        for key, total_value in zip(("loss", "imid", "cmid"), sums.tolist(), strict=True):
            row[f"train/{key}"] = training.all_reduce_mean(total_value / max(steps, 1), device)
        row["train/lr"] = lr
        rate = seen * info.world_size / max(elapsed, 1e-9)  # logged only: wall-clock stays out of the record
        val_acc = float("nan")
        if info.is_main and (epoch % prm.val_every == 0 or epoch == v.epochs):
            with training.global_rng_untouched():
                val_acc = validation_accuracy(core.point_encoder, data, prm, device)
        row["val/accuracy"] = val_acc
        history.append(row)
        improved = not math.isnan(val_acc) and val_acc > best["val_accuracy"]
        no_val = len(data.val_labels) == 0
        if improved or no_val:
            best = {"val_accuracy": val_acc, "epoch": epoch}
        rng = _gather_rng({"global": training.rng_state(), "augment": aug_gen.get_state(),
                           "loader": loader_gen.get_state()})
        if info.is_main:
            if improved or no_val:
                training.save_checkpoint(out_dir / "best.pt",
                                         _checkpoint(model, model_cfg, epoch, val_acc, prm, variant, seed))
            state = _checkpoint(model, model_cfg, epoch, val_acc, prm, variant, seed) | {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng,
                "history": history,
                "best": best,
                "signature": sig,
            }
            training.save_checkpoint(last_path, state)
            live_log.write_live(live_dir, history, _summary(history, best, random_init_acc, seed, prm.precision))
        training.barrier()
        log.info("pretrain %s: epoch %d/%d loss %.4f (imid %.4f, cmid %.4f) lr %.2e, %.1f objects/s, "
                 "val accuracy %s", variant, epoch, v.epochs, row["train/loss"], row["train/imid"],
                 row["train/cmid"], lr, rate,
                 "-" if math.isnan(val_acc) else f"{val_acc:.4f}")
        done += 1

    summary = _summary(history, best, random_init_acc, seed, prm.precision)
    if info.is_main:
        live_log.write_live(live_dir, history, summary)
    last_epoch = history[-1]["epoch"]
    if last_epoch < v.epochs:
        log.info("pretrain %s: stopped after epoch %d of %d; run again to resume", variant, last_epoch, v.epochs)
    else:
        log.info("pretrain %s: done; best validation accuracy %.4f at epoch %d (random init %.4f)",
                 variant, best["val_accuracy"], best["epoch"], random_init_acc)
    return summary | {"epochs_run": done, "last_epoch": last_epoch}


def _resume(path: Path, sig: str, model: CrossPointModel, optimizer: torch.optim.Optimizer,
            scheduler: Any, aug_gen: torch.Generator, loader_gen: torch.Generator, info: training.DistInfo,
            device: torch.device) -> dict[str, Any] | None:
    """Restore the whole training state from ``path`` when it was written with the same params and
    data (``sig``); returns its epoch, history and best, or None (start afresh)."""
    if not path.exists():
        return None
    ckpt = training.load_checkpoint(path, map_location="cpu")  # RNG states must stay on the CPU
    if ckpt.get("signature") != sig or "optimizer" not in ckpt:
        log.info("pretrain: %s was made with other params or data; starting afresh", path)
        return None
    for part in ("point_encoder", "point_head", "image_encoder", "image_head"):
        module = getattr(model, part)
        if module is not None:
            training.load_state_strict(module, ckpt[part], f"{path} {part}")
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    states = ckpt["rng"]
    state = states[info.rank] if info.rank < len(states) else states[0]
    training.set_rng_state(state["global"])
    aug_gen.set_state(state["augment"])
    loader_gen.set_state(state["loader"])
    return {"epoch": int(ckpt["epoch"]), "history": list(ckpt["history"]), "best": dict(ckpt["best"])}


def _gather_rng(local: dict[str, Any]) -> list[dict[str, Any]]:
    """Every rank's generator states, in rank order (a collective call under torchrun)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return [local]
    out: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(out, local)
    return out


def _summary(history: list[dict[str, Any]], best: dict[str, Any], random_init_acc: float,
             seed: int, precision: str) -> dict[str, Any]:
    return {
        "val/random_init_accuracy": random_init_acc,
        "val/best_accuracy": best["val_accuracy"],
        "val/best_epoch": best["epoch"],
        "epochs_done": history[-1]["epoch"],
        "seed": seed,
        "numerics": numerics.record(),
        "precision": precision,
    }


def _loss(z1: torch.Tensor, z2: torch.Tensor, z_img: torch.Tensor | None, prm: Params):
    """(total, imid, cmid); IMID only (no image branch) reports cmid as 0. Negatives from every
    process under torchrun when ``prm.global_negatives``."""
    if z_img is None:
        imid = nt_xent(z1, z2, prm.temperature, global_batch=prm.global_negatives)
        return prm.w_imid * imid, imid, torch.zeros((), device=z1.device)
    return crosspoint_loss(z1, z2, z_img, temperature=prm.temperature, w_imid=prm.w_imid, w_cmid=prm.w_cmid,
                           global_batch=prm.global_negatives)


# ---------------------------------------------------------------------------------------------
# CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variant", choices=VARIANTS, required=True,
                        help="cls: classification encoder; seg: part-segmentation encoder")
    parser.add_argument("--stop-after", type=int, default=None, metavar="N",
                        help="end after N epochs of this invocation (time-limited jobs); run again to resume")
    parser.add_argument("--fresh", action="store_true", help="ignore an existing last.pt and start afresh")
    parser.add_argument("--seed", type=int, default=None,
                        help="the run's seed, one of pretrain.seeds (default: the first)")


def main(args: argparse.Namespace) -> None:
    prm = config.section("pretrain", Params, path=args.params)
    if args.stop_after is not None and args.stop_after < 1:
        raise StageError("--stop-after must be at least 1")
    if args.seed is not None and args.seed not in prm.seeds:
        log.warning("pretrain: seed %d is not in pretrain.seeds %s; running it anyway", args.seed, prm.seeds)
    run(prm, args.variant, args.seed, stop_after=args.stop_after, fresh=args.fresh)


__all__ = ["Params", "Variant", "CrossPointModel", "run", "carve_validation"]
