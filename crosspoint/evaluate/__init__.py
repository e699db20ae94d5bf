"""Downstream evaluations of the frozen or fine-tuned encoder (linear SVM, few-shot, part seg).

Shared here: the features file layout (written by ``crosspoint features``, read by the SVM
stages), the skipped-dataset convention and device selection.

Features file (``kind = "features"``), one per dataset at ``paths.features(name)``::

    pretrained  float32 [N, D]   global feature of the pretrained encoder
    random      float32 [N, D]   same architecture at a seeded random init
    labels      int64   [N]
    split       str     [N]      "train" / "test"
    object_ids  str     [N]
    attrs: kind, class_names (JSON list), points, encoder, seed, ``skipped`` (the reason) when the
           dataset's point store was an empty placeholder, ``labelled = False`` for an unlabelled dataset.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from crosspoint import numerics
from crosspoint.store import StageError, atomic_path, get_meta, read_strings, set_meta, write_strings
from crosspoint.subsets import grouped_stratified_subset, scanned_object  # noqa: F401 (re-exported)

log = logging.getLogger("crosspoint.evaluate")


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


def resolve_device(name: str = "auto"):
    """``auto``: the first accelerator torch sees (CUDA, then MPS), else CPU; otherwise ``name`` as given."""
    import torch

    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


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


def balanced_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of ``n`` items taken round-robin over the classes (each class shuffled, seeded),
    so a small subset still covers every class; all items when ``n <= 0`` or ``n >= len(labels)``."""
    labels = np.asarray(labels)
    if n <= 0 or n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    per_class = [list(rng.permutation(np.flatnonzero(labels == c))) for c in np.unique(labels)]
    out: list[int] = []
    while len(out) < n:
        for idx in per_class:
            if idx and len(out) < n:
                out.append(int(idx.pop()))
    return np.sort(np.array(out, dtype=np.int64))
