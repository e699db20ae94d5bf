"""Model selection during pretraining, on the validation objects carved from the training split:

- accuracy: a linear SVM (or kNN) fitted on the frozen global features of the fitting objects and scored
  on the validation objects (needs labels, two classes or more);
- retrieval: cross-modal retrieval among the held-out objects, which needs no labels: each object's point
  embedding (point encoder and head, in eval mode) ranks every held-out object's image embedding (view 0,
  normalised, no jitter) by cosine similarity; top-k is the share of objects whose own image has fewer
  than k others strictly above it. The similarities are computed with :func:`crosspoint.exact.gram`, so
  the ranking does not depend on the CPU's BLAS kernels."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from crosspoint import exact
from crosspoint.training.augment import normalize_images, resize_images
from crosspoint.training.data import TrainingSet
from crosspoint.training.params import Params
from crosspoint.training.precision import autocast

log = logging.getLogger("crosspoint.training.validation")


@contextlib.contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Put modules in eval mode for the block, then restore each one's previous mode."""
    modes = [m.training for m in modules]
    try:
        for m in modules:
            m.eval()
        yield
    finally:
        for m, mode in zip(modules, modes, strict=True):
            m.train(mode)


@torch.no_grad()
def global_features(encoder: nn.Module, points: np.ndarray, batch_size: int, device: torch.device,
                    precision: str = "fp32") -> np.ndarray:
    """Frozen global features ``[M, D]`` (float32) of clouds ``[M, n, 3]``, encoder in eval mode,
    under ``precision`` (see :func:`crosspoint.training.precision.autocast`)."""
    out = []
    with eval_mode(encoder):
        for s in range(0, len(points), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(points[s : s + batch_size], np.float32)).to(device)
            with autocast(device, precision):
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
    if len(np.unique(data.fit_labels)) < 2:  # load_training_set refuses this for the accuracy criterion
        raise ValueError("the validation classifier needs two classes or more")
    if prm.val_classifier == "svm":
        from sklearn.svm import SVC

        clf = SVC(kernel="linear", C=prm.svm_c)
    else:
        from sklearn.neighbors import KNeighborsClassifier

        clf = KNeighborsClassifier(n_neighbors=min(prm.knn_k, len(fit)))
    clf.fit(fit, data.fit_labels)
    return float(np.mean(clf.predict(val) == data.val_labels))


@torch.no_grad()
def retrieval_topk(model: nn.Module, data: TrainingSet, prm: Params, image_size: int, device: torch.device,
                   ks: tuple[int, ...] = (1, 5)) -> dict[int, float]:
    """Cross-modal retrieval top-k among the held-out objects (see the module docstring); ``model`` has
    point_encoder, point_head, image_encoder and image_head. NaN for every k without held-out objects."""
    if data.retrieval_points is None or len(data.retrieval_points) == 0:
        return {k: float("nan") for k in ks}
    parts = (model.point_encoder, model.point_head, model.image_encoder, model.image_head)
    zp, zi = [], []
    bs = prm.val_batch_size
    with eval_mode(*parts):
        for s in range(0, len(data.retrieval_points), bs):
            pts = torch.from_numpy(np.ascontiguousarray(data.retrieval_points[s:s + bs], np.float32)).to(device)
            imgs = torch.from_numpy(np.ascontiguousarray(data.retrieval_images[s:s + bs])).to(device)
            imgs = resize_images(normalize_images(imgs, prm.image_augment), image_size)
            with autocast(device, prm.precision):
                zp.append(model.point_head(model.point_encoder(pts)).float().cpu().numpy())
                zi.append(model.image_head(model.image_encoder(imgs)).float().cpu().numpy())
    zp_all, zi_all = np.concatenate(zp), np.concatenate(zi)
    if not (np.isfinite(zp_all).all() and np.isfinite(zi_all).all()):
        return {k: 0.0 for k in ks}
    rank = retrieval_ranks(zp_all, zi_all)
    return {k: float(np.mean(rank < k)) for k in ks}


def retrieval_ranks(queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """For each row i, how many keys are strictly more cosine-similar to query i than key i (0: its own
    key ranks first); the similarities by :func:`crosspoint.exact.gram`, the same bits on every CPU."""
    def unit(z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, np.float64)
        return z / np.maximum(exact.norm(z), 1e-12)[:, None]

    sim = exact.gram(unit(queries), unit(keys))  # [R, R]: row i = query i against every key
    return (sim > np.diag(sim)[:, None]).sum(axis=1)


def validate(model: nn.Module, data: TrainingSet, prm: Params, image_size: int, device: torch.device) -> dict[str, float]:
    """Every criterion the data allows, as history keys: ``val/accuracy`` (labelled data of two classes or
    more), ``val/retrieval_top1`` and ``val/retrieval_top5`` (with images); empty without held-out objects."""
    row: dict[str, float] = {}
    if len(data.val_labels) == 0:
        return row
    if data.labelled and len(np.unique(data.fit_labels)) > 1:
        row["val/accuracy"] = validation_accuracy(model.point_encoder, data, prm, device)
    if data.retrieval_points is not None:
        top = retrieval_topk(model, data, prm, image_size, device)
        row["val/retrieval_top1"], row["val/retrieval_top5"] = top[1], top[5]
    return row


CRITERION_KEY = {"accuracy": "val/accuracy", "retrieval": "val/retrieval_top1"}
