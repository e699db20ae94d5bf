"""Row subsets and splits, seeded and class-stratified, shared by pretraining (the validation classifier's
fitting objects) and the evaluations: which object a row belongs to, a bounded subset (the C search of
the linear-SVM stage), a round-robin subset, a held-out share of each class (part segmentation's
validation split) and the validation folds of the C search."""

from __future__ import annotations

import numpy as np

from crosspoint.store import StageError


def scanned_object(point_id: str) -> str:
    """The object a point-store row belongs to: ``chair_0001#2`` -> ``chair_0001`` (several scans of one
    object, :func:`crosspoint.points.scans.scan_id`); any other id is its own object."""
    base, sep, r = point_id.rpartition("#")
    return base if sep and r.isdigit() else point_id


def grouped_stratified_subset(labels: np.ndarray, groups: list[str], max_rows: int, seed: int) -> np.ndarray:
    """Sorted row indices of a seeded subset of at most about ``max_rows`` rows, for the SVM fits whose
    libsvm cost grows faster than linearly (the C search, the pretraining validation classifier).

    Stratified: class c gets ``max_rows * n_c / n`` rows (largest remainders; so the class shares
    are those of all rows), filled with whole groups (the scans of one object) in a seeded random
    order while they fit, and at least one group, so every class stays. All rows, in order, when
    ``max_rows <= 0`` or ``max_rows >= len(labels)``."""
    labels = np.asarray(labels)
    n = len(labels)
    if len(groups) != n:
        raise ValueError(f"{len(groups)} groups for {n} labels")
    if max_rows <= 0 or max_rows >= n:
        return np.arange(n)
    rows_of: dict[str, list[int]] = {}
    for row, g in enumerate(groups):
        rows_of.setdefault(g, []).append(row)
    names = list(rows_of)
    group_labels = labels[[rows_of[g][0] for g in names]]
    if any(labels[r] != labels[rows_of[g][0]] for g in names for r in rows_of[g]):
        raise StageError("a group of rows (the scans of one object) carries more than one class label")
    classes, counts = np.unique(labels, return_counts=True)
    exact = max_rows * counts / n
    quota = np.floor(exact).astype(np.int64)
    order = np.lexsort((classes, -(exact - quota)))  # largest remainder first, ties by class
    quota[order[: max_rows - int(quota.sum())]] += 1
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for c, q in zip(classes, quota, strict=True):
        taken = 0
        for gi in rng.permutation(np.flatnonzero(group_labels == c)):
            size = len(rows_of[names[gi]])
            if taken and taken + size > q:
                continue
            keep.extend(rows_of[names[gi]])
            taken += size
            if taken >= q:
                break
    return np.sort(np.array(keep, dtype=np.int64))


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


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
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
