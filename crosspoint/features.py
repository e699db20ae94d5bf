"""``crosspoint features --dataset NAME --shard I``: frozen global features of one shard of a dataset.

``crosspoint features --dataset NAME --shard I --seed K``: shard ``I`` of ``S = len(features.shards)``
takes objects ``[I*N//S, (I+1)*N//S)`` of the point store ``paths.points(NAME)`` and writes
``paths.features_shard(NAME, I, K)``; ``crosspoint merge-features --dataset NAME --seed K``
(:mod:`crosspoint.merge_features`) concatenates the shards into ``paths.features(NAME, K)`` (layout
in :mod:`crosspoint.evaluate`). One set per pretraining seed ``K`` of ``pretrain.seeds``. For each object, ``features.points``
points (1024, the paper's linear protocol) are taken from the stored cloud (the first ones, or a
random subset drawn with ``numpy.random.default_rng([seed, i])`` for object ``i`` of the whole store),
and the global feature (DGCNN: max-pool ‖ avg-pool = 2048-d) is computed by the classification
encoder pretrained with seed ``K`` (``paths.pretrain_dir("cls", K)/best.pt``, or ``features.checkpoint``,
e.g. the authors' weights through ``crosspoint import-weights``, for every seed) and by the same
architecture at the random init that run started from (drawn from ``K``; the same in every shard), so
the merged file does not depend on the number of shards and the two encoders differ only by the
pretraining. The encoder keeps the k it was pretrained with; :func:`frozen_features` (also used by
the few-shot stage with ``fewshot.features: own``) can extract with another k (the upstream few-shot
script used k = 5). An empty point store (``skipped``, an absent optional dataset) gives empty shards
with the same mark.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from crosspoint import config, numerics, paths
from crosspoint.evaluate import FeatureSet, resolve_device, write_features
from crosspoint.progress import progress
from crosspoint.shards import check_shard, shard_attrs, shard_block, shards_problems
from crosspoint.store import DatasetMeta, StageError, get_meta

log = logging.getLogger("crosspoint.features")


@dataclass(frozen=True)
class Params:
    datasets: list[str] = field(default_factory=lambda: ["synth", "synth_scan", "capod"])
    shards: list[int] = field(default_factory=lambda: [0])  # [0, 1, ..., S-1]: one features job per shard
    points: int = 256  # points per object fed to the encoder (paper: 1024)
    subset: Literal["random", "first"] = "random"  # which stored points: seeded random subset or the first
    batch_size: int = 32
    seed: int = 0  # point subset (the random-init encoder comes from the pretraining seed)
    device: str = "auto"
    checkpoint: str | None = None  # encoder checkpoint (e.g. from import-weights); null: pretrain's best.pt

    def check(self) -> list[str]:
        problems = shards_problems(self.shards)
        if self.checkpoint is not None and not self.checkpoint.strip():
            problems.append("checkpoint must be a path or null")
        if self.points < 16:
            problems.append("points must be at least 16")
        if self.batch_size < 1:
            problems.append("batch_size must be positive")
        if not self.datasets:
            problems.append("datasets must name at least one dataset")
        return problems


def checkpoint_path(seed: int, prm: Params | None = None) -> Path:
    """``prm.checkpoint`` when set, else the ``best.pt`` of the classification encoder pretrained with ``seed``."""
    if prm is not None and prm.checkpoint is not None:
        return Path(prm.checkpoint)
    return Path(paths.pretrain_dir("cls", seed)) / "best.pt"


def point_subset(points: np.ndarray, n: int, mode: str, seed: int, offset: int = 0) -> np.ndarray:
    """``[N, P, 3] -> [N, n, 3]``: the first ``n`` points, or a random subset per object, object ``k``
    drawn with ``default_rng([seed, offset + k])`` (``offset``: the global index of the first row)."""
    total = points.shape[1]
    if n > total:
        raise StageError(f"features.points={n} but the point store has only {total} points per object")
    if mode == "first" or n == total:
        return points[:, :n]
    idx = np.stack([np.sort(np.random.default_rng([seed, offset + k]).choice(total, size=n, replace=False))
                    for k in range(len(points))]) if len(points) else np.zeros((0, n), np.int64)
    return np.take_along_axis(points, idx[:, :, None], axis=1)


def encode(encoder, points: np.ndarray, batch_size: int, device, desc: str = "encode") -> np.ndarray:
    """Global features ``[N, D]`` of clouds ``[N, P, 3]`` by a frozen encoder (eval mode, no grad)."""
    import torch

    encoder = encoder.to(device).eval()
    out = []
    with torch.no_grad():
        for start in progress(range(0, len(points), batch_size), desc=desc, unit="batch"):
            batch = torch.from_numpy(np.ascontiguousarray(points[start : start + batch_size], np.float32))
            out.append(encoder(batch.to(device)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def load_encoders(ckpt: str | Path, seed: int, k: int | None = None):
    """(pretrained, random-init, model config) for the checkpoint's encoder: the random init is the one
    the pretraining run with ``seed`` started from. ``k`` (DGCNN neighbours; None: the checkpoint's)
    only changes the neighbour graph, not the weights, so the same weights load at any k."""
    from crosspoint.models import build_point_encoder
    from crosspoint.pretrain import load_point_encoder, random_point_encoder

    encoder, model_cfg = load_point_encoder(ckpt, map_location="cpu")
    if k is not None and not str(model_cfg.get("point_model", "")).startswith("dgcnn"):
        log.warning("features: k=%d ignored: the %s encoder has no neighbour graph", k, model_cfg.get("point_model"))
    elif k is not None and k != int(model_cfg.get("k", 0)):
        log.info("features: %s pretrained with k=%s, extracting with k=%d", ckpt, model_cfg.get("k"), k)
        model_cfg = {**model_cfg, "k": k}
        rebuilt = build_point_encoder(model_cfg["point_model"], k=k, emb_dims=int(model_cfg["emb_dims"]))
        rebuilt.load_state_dict(encoder.state_dict(), strict=True)
        encoder = rebuilt.eval()
    return encoder, random_point_encoder(model_cfg, seed), model_cfg


def frozen_features(
    clouds: np.ndarray, ckpt: str | Path, seed: int, *, points: int, subset: str, subset_seed: int,
    batch_size: int, device: str = "auto", k: int | None = None, offset: int = 0, tag: str = "",
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Global features of ``clouds [N, P, 3]`` by the checkpoint's encoder and by its random init
    (:func:`load_encoders`), on ``points`` per object (:func:`point_subset` with ``subset_seed``;
    ``offset``: the store index of the first cloud). Returns (pretrained, random, model config)."""
    import torch

    dev = resolve_device(device)
    numerics.configure_torch(dev)
    encoder, random_encoder, model_cfg = load_encoders(ckpt, seed, k)
    pts = point_subset(clouds, points, subset, subset_seed, offset=offset)
    log.info("features %s: %d objects x %d points, k %s, device %s", tag, len(pts), points, model_cfg.get("k"), dev)
    torch.manual_seed(subset_seed)
    pretrained = encode(encoder, pts, batch_size, dev, desc=f"{tag} pretrained")
    random = encode(random_encoder, pts, batch_size, dev, desc=f"{tag} random")
    return pretrained, random, model_cfg


def extract(dataset: str, prm: Params, seed: int) -> None:
    """Every shard of ``dataset`` then the merge (what the pipeline does, in one process)."""
    from crosspoint.merge_features import merge_features

    for shard in prm.shards:
        extract_shard(dataset, prm, shard, seed)
    merge_features(dataset, prm, seed)


def extract_shard(dataset: str, prm: Params, shard: int, seed: int) -> int:
    """Compute and write the features of block ``shard`` of ``dataset`` by the encoder pretrained
    with ``seed`` and its random init; return the block's number of objects."""
    check_shard(shard, prm.shards, "features")
    src = Path(paths.points(dataset))
    if not src.exists():
        raise StageError(f"{src}: point store not found (run the stage that makes it: dvc repro)")
    with h5py.File(src, "r") as h5:
        if get_meta(h5, "kind") != "points":
            raise StageError(f"{src}: expected a point store, found kind={get_meta(h5, 'kind')!r}")
        n_total = len(h5["labels"])
        skipped = get_meta(h5, "skipped")
        class_names = DatasetMeta.from_h5(h5).class_names
    start, stop = shard_block(n_total, shard, len(prm.shards))
    dest = paths.features_shard(dataset, shard, seed)
    attrs: dict[str, Any] = {"points": prm.points, "subset": prm.subset, "seed": prm.seed, "encoder_seed": seed,
                             **shard_attrs(shard, len(prm.shards), start, stop)}
    if skipped is not None or n_total == 0:
        reason = str(skipped) if skipped is not None else f"{src} holds no objects"
        empty = np.zeros((0, 0), np.float32)
        fs = FeatureSet(pretrained=empty, random=empty, labels=np.zeros(0, np.int64), split=[], object_ids=[],
                        class_names=class_names, skipped=reason)
        write_features(dest, fs, **attrs)
        log.warning("features %s shard %d: skipped (%s); wrote an empty features shard %s", dataset, shard, reason,
                    dest)
        return 0

    ckpt = checkpoint_path(seed, prm)
    if prm.checkpoint is not None and not ckpt.is_file():
        raise StageError(f"{ckpt}: features.checkpoint not found (make it with `crosspoint import-weights`)")
    if not ckpt.exists():
        raise StageError(f"{ckpt}: pretrained encoder not found (run `crosspoint pretrain` first: dvc repro)")
    with h5py.File(src, "r") as h5:
        points = h5["points"][start:stop]
        labels = h5["labels"][start:stop]
        split = [str(v) for v in h5["split"].asstr()[start:stop]]
        object_ids = [str(v) for v in h5["object_ids"].asstr()[start:stop]]
    log.info("features %s seed %d shard %d/%d: objects [%d, %d) x %d points", dataset, seed, shard,
             len(prm.shards), start, stop, prm.points)
    pretrained, random, model_cfg = frozen_features(
        points, ckpt, seed, points=prm.points, subset=prm.subset, subset_seed=prm.seed, batch_size=prm.batch_size,
        device=prm.device, offset=start, tag=f"{dataset} seed {seed} shard {shard}",
    )
    fs = FeatureSet(pretrained=pretrained, random=random, labels=np.asarray(labels, np.int64), split=split,
                    object_ids=object_ids, class_names=class_names)
    write_features(dest, fs, encoder=str(model_cfg.get("point_model", "")), k=int(model_cfg.get("k", 0)),
                   checkpoint=str(ckpt), **attrs)
    log.info("features %s shard %d: wrote %s (%d x %d)", dataset, shard, dest, *pretrained.shape)
    return len(object_ids)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="dataset name (one of features.datasets)")
    parser.add_argument("--shard", type=int, required=True, help="shard index, one of features.shards")
    parser.add_argument("--seed", type=int, required=True, help="pretraining seed, one of pretrain.seeds")


def main(args: argparse.Namespace) -> None:
    prm = config.section("features", Params, path=args.params)
    if args.dataset not in prm.datasets:
        log.warning("features: %s is not in features.datasets; extracting it anyway", args.dataset)
    extract_shard(args.dataset, prm, args.shard, args.seed)
