"""``crosspoint features``: frozen global features of every object of a dataset.

For each object, ``features.points`` points (1024, the paper's linear protocol) are taken from the
stored cloud (a seeded random subset, or the first ones), and the global feature (DGCNN: max-pool ‖
avg-pool = 2048-d) is computed by the pretrained classification encoder
(``paths.pretrain_dir("cls")/best.pt``) and by the same architecture at a seeded random init. The
encoder keeps the k it was pretrained with (the upstream few-shot script used a different one).
Output: ``paths.features(name)`` (layout in :mod:`crosspoint.evaluate`).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from crosspoint import config, paths
from crosspoint.evaluate import FeatureSet, resolve_device, store_skipped, write_features
from crosspoint.store import StageError, read_point_store

log = logging.getLogger("crosspoint.features")


@dataclass(frozen=True)
class Params:
    datasets: list[str] = field(default_factory=lambda: ["synth", "synth_scan", "capod"])
    points: int = 256  # points per object fed to the encoder (paper: 1024)
    subset: Literal["random", "first"] = "random"  # which stored points: seeded random subset or the first
    batch_size: int = 32
    seed: int = 0  # random-init encoder and point subset
    device: str = "auto"

    def check(self) -> list[str]:
        problems = []
        if self.points < 16:
            problems.append("points must be at least 16")
        if self.batch_size < 1:
            problems.append("batch_size must be positive")
        if not self.datasets:
            problems.append("datasets must name at least one dataset")
        return problems


def checkpoint_path() -> Path:
    return Path(paths.pretrain_dir("cls")) / "best.pt"


def point_subset(points: np.ndarray, n: int, mode: str, seed: int) -> np.ndarray:
    """``[N, P, 3] -> [N, n, 3]``: the first ``n`` points, or a seeded random subset per object."""
    total = points.shape[1]
    if n > total:
        raise StageError(f"features.points={n} but the point store has only {total} points per object")
    if mode == "first" or n == total:
        return points[:, :n]
    rng = np.random.default_rng(seed)
    idx = np.stack([np.sort(rng.choice(total, size=n, replace=False)) for _ in range(len(points))])
    return np.take_along_axis(points, idx[:, :, None], axis=1)


def encode(encoder, points: np.ndarray, batch_size: int, device, desc: str = "encode") -> np.ndarray:
    """Global features ``[N, D]`` of clouds ``[N, P, 3]`` by a frozen encoder (eval mode, no grad)."""
    import torch
    from tqdm import tqdm

    encoder = encoder.to(device).eval()
    out = []
    with torch.no_grad():
        for start in tqdm(range(0, len(points), batch_size), desc=desc, unit="batch", leave=False):
            batch = torch.from_numpy(np.ascontiguousarray(points[start : start + batch_size], np.float32))
            out.append(encoder(batch.to(device)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def extract(dataset: str, prm: Params) -> FeatureSet:
    """Compute and write the features file of ``dataset``."""
    import torch

    from crosspoint.pretrain import load_point_encoder, random_point_encoder

    src = Path(paths.points(dataset))
    ps = read_point_store(src)
    dest = paths.features(dataset)
    skipped = store_skipped(src)
    if skipped is not None or len(ps) == 0:
        reason = skipped or f"{src} holds no objects"
        fs = FeatureSet(
            pretrained=np.zeros((0, 0), np.float32), random=np.zeros((0, 0), np.float32),
            labels=np.zeros(0, np.int64), split=[], object_ids=[], class_names=ps.meta.class_names,
            skipped=reason,
        )
        write_features(dest, fs, points=prm.points, seed=prm.seed)
        log.warning("features %s: skipped (%s); wrote an empty features file %s", dataset, reason, dest)
        return fs

    ckpt = checkpoint_path()
    if not ckpt.exists():
        raise StageError(f"{ckpt}: pretrained encoder not found (run `crosspoint pretrain` first: dvc repro)")
    device = resolve_device(prm.device)
    encoder, model_cfg = load_point_encoder(ckpt, map_location="cpu")
    random_encoder = random_point_encoder(model_cfg, prm.seed)
    pts = point_subset(ps.points, prm.points, prm.subset, prm.seed)
    log.info("features %s: %d objects x %d points, device %s", dataset, len(pts), prm.points, device)
    torch.manual_seed(prm.seed)
    pretrained = encode(encoder, pts, prm.batch_size, device, desc=f"{dataset} pretrained")
    random = encode(random_encoder, pts, prm.batch_size, device, desc=f"{dataset} random")
    fs = FeatureSet(
        pretrained=pretrained, random=random, labels=np.asarray(ps.labels, np.int64), split=ps.split,
        object_ids=ps.object_ids, class_names=ps.meta.class_names,
    )
    write_features(
        dest, fs, points=prm.points, seed=prm.seed, encoder=str(model_cfg.get("point_model", "")),
        k=int(model_cfg.get("k", 0)), checkpoint=str(ckpt),
    )
    log.info("features %s: wrote %s (%d x %d)", dataset, dest, *pretrained.shape)
    return fs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", help="dataset name (default: every dataset in features.datasets)")


def main(args: argparse.Namespace) -> None:
    prm = config.section("features", Params, path=args.params)
    datasets = [args.dataset] if args.dataset else list(prm.datasets)
    for name in datasets:
        if name not in prm.datasets:
            log.warning("features: %s is not in features.datasets; extracting it anyway", name)
        extract(name, prm)
