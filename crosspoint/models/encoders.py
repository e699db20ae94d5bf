"""Frozen encoders from checkpoints, and the global features they give: what the evaluation stages need
of a pretraining run, kept apart from the training loop (:mod:`crosspoint.training.pretrain`), so a change to the
loop does not make every evaluation stale when ``best.pt`` comes out the same bytes.

A checkpoint's ``"model"`` entry (:func:`model_config`) rebuilds its encoder; :func:`random_point_encoder`
gives the architecture at the random init a pretraining run with the same seed started from (the point
encoder is the first module built after seeding; :class:`crosspoint.training.pretrain.CrossPointModel` keeps that
order).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from crosspoint import numerics
from crosspoint.checkpoints import load_state_strict
from crosspoint.devices import resolve_device
from crosspoint.models.registry import build_point_encoder
from crosspoint.progress import progress
from crosspoint.store import StageError

log = logging.getLogger("crosspoint.models.encoders")


def model_config(v: Any, with_images: bool) -> dict[str, Any]:
    """The ``"model"`` entry of a checkpoint: enough to rebuild the encoders."""
    return {
        "point_model": v.point_model,
        "k": v.k,
        "emb_dims": v.emb_dims,
        "image_model": v.image_model if with_images else None,
        "points": v.points,
    }


def build_encoder(model_cfg: dict[str, Any]) -> nn.Module:
    return build_point_encoder(model_cfg["point_model"], k=int(model_cfg["k"]), emb_dims=int(model_cfg["emb_dims"]))


def load_point_encoder(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """The pretrained point encoder of a checkpoint or of a ``crosspoint export`` file (strict weight
    load, eval mode) and its ``"model"`` dict (point_model, k, emb_dims, image_model)."""
    from crosspoint.models.export import read_encoder_file

    path = Path(path)
    if not path.exists():
        raise StageError(f"{path}: checkpoint not found (run `crosspoint pretrain` first: dvc repro)")
    src = read_encoder_file(path, map_location=map_location)
    encoder = build_encoder(src.model)
    load_state_strict(encoder, src.state_dict, f"{path} point_encoder")
    return encoder.to(map_location).eval(), src.model


def random_point_encoder(model_cfg: dict, seed: int) -> nn.Module:
    """The architecture of ``model_cfg`` at a random init drawn from ``seed`` (eval mode); the
    global torch generator is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = build_encoder(model_cfg)
    return encoder.eval()


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
    dev = resolve_device(device)
    numerics.configure_torch(dev)
    encoder, random_encoder, model_cfg = load_encoders(ckpt, seed, k)
    pts = point_subset(clouds, points, subset, subset_seed, offset=offset)
    log.info("features %s: %d objects x %d points, k %s, device %s", tag, len(pts), points, model_cfg.get("k"), dev)
    torch.manual_seed(subset_seed)
    pretrained = encode(encoder, pts, batch_size, dev, desc=f"{tag} pretrained")
    random = encode(random_encoder, pts, batch_size, dev, desc=f"{tag} random")
    return pretrained, random, model_cfg
