"""Downstream evaluations of the frozen or fine-tuned encoder (linear SVM, few-shot, part seg), and the
helpers they share: splits and folds, the linear SVC of few-shot, a thread pool, rounding. The features
file layout is :mod:`crosspoint.feature_files` (re-exported here); device choice :mod:`crosspoint.devices`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from crosspoint import numerics
from crosspoint.devices import resolve_device  # noqa: F401 (re-exported)
from crosspoint.feature_files import INITS, FeatureSet, read_features, store_skipped, write_features  # noqa: F401
from crosspoint.store import StageError
from crosspoint.subsets import balanced_subset, grouped_stratified_subset, scanned_object  # noqa: F401

log = logging.getLogger("crosspoint.evaluate")


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, val): ``round(fraction * n_c)`` objects of each class go to val, but every class
    keeps at least one object for fitting (a class with one object has none in val). Seeded."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rng = np.random.default_rng(seed)
    fit, val = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = min(int(round(fraction * len(idx))), len(idx) - 1)
        val.append(idx[:n_val])
        fit.append(idx[n_val:])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(val))


def grouped_stratified_folds(labels: np.ndarray, groups: list[str], folds: int, seed: int) -> list[np.ndarray]:
    """Row indices of ``folds`` validation folds. Groups (the scans of one object) are dealt to folds
    class by class in a seeded random order, so every class is spread over the folds and every row
    of a group lands in the same fold: a validation score never rewards recognising an object seen in
    fitting. Each row is in exactly one fold."""
    labels = np.asarray(labels)
    first: dict[str, int] = {}
    for row, g in enumerate(groups):
        first.setdefault(g, row)
    if any(labels[r] != labels[first[g]] for r, g in enumerate(groups)):
        raise StageError("a group of rows (the scans of one object) carries more than one class label")
    names = list(first)
    group_labels = labels[[first[g] for g in names]]
    fold_of_group = np.zeros(len(names), dtype=np.int64)
    rng = np.random.default_rng(seed)
    for c in np.unique(group_labels):
        members = rng.permutation(np.flatnonzero(group_labels == c))
        fold_of_group[members] = np.arange(len(members)) % folds
    fold_index = dict(zip(names, fold_of_group.tolist(), strict=True))
    fold_of_row = np.array([fold_index[g] for g in groups], dtype=np.int64)
    return [np.flatnonzero(fold_of_row == f) for f in range(folds)]


def linear_svc_predict(x_fit: np.ndarray, y_fit: np.ndarray, x_pred: np.ndarray, c: float, max_iter: int = -1,
                       standardize: bool = False) -> np.ndarray:
    """Fit ``SVC(kernel="linear", C=c)`` on ``x_fit`` and predict ``x_pred`` (the linear-SVM and few-shot
    stages); with ``standardize``, both are first scaled by the per-dimension mean and std of ``x_fit``
    (scikit-learn's ``StandardScaler``)."""
    from sklearn.svm import SVC

    if standardize:
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(x_fit)
        x_fit, x_pred = scaler.transform(x_fit), scaler.transform(x_pred)
    return SVC(kernel="linear", C=c, max_iter=max_iter).fit(x_fit, y_fit).predict(x_pred)


def parallel_map(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    """``[fn(item) for item in items]`` on the pinned number of threads (``numerics.threads()``).

    Meant for scikit-learn's SVC fits, which are single-threaded and release the GIL while libsvm
    runs: each fit gives what it gives alone, in the same order (two threads on 2 cores: six fits
    1.60 s -> 0.85 s)."""
    items = list(items)
    workers = min(numerics.threads(), len(items))
    if workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def rounded(value: Any, digits: int = 4) -> Any:
    """``value`` with every float rounded (nested dicts and lists), for readable metrics files."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    return value


def percent(x: float) -> float:
    """A fraction as a percentage rounded to 4 decimals (metrics JSON stores percent, as the paper)."""
    return round(100.0 * float(x), 4)
