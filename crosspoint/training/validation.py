"""Model selection during pretraining: a linear SVM (or kNN) fitted on the frozen global features of the
fitting objects and scored on the validation objects carved from the training split."""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from crosspoint import training
from crosspoint.training.data import TrainingSet
from crosspoint.training.params import Params

log = logging.getLogger("crosspoint.training.validation")

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
