"""Evaluation metrics, one small function per idea (numpy only, no torch).

Accuracies and IoUs are returned as fractions in [0, 1]; the stages convert to percent when they
write metrics JSON (the paper reports percent).

Part IoU rule (ShapeNetPart practice): for one shape and one part of its category, IoU =
|pred ∩ truth| / |pred ∪ truth|, and a part absent from both prediction and truth counts as 1
(nothing to find, nothing wrongly found). A part predicted but absent from the truth counts 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Overall accuracy: fraction of items whose prediction equals the truth."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"shape mismatch: {y_true.shape} vs {y_pred.shape}")
    if y_true.size == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float(np.mean(y_true == y_pred))


def per_class_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> dict[int, float]:
    """Recall of each class present in ``y_true`` (classes absent from the truth are left out)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return {int(c): float(np.mean(y_pred[y_true == c] == c)) for c in np.unique(y_true)}


def mean_class_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean over the classes present in ``y_true`` of their accuracy (balanced accuracy)."""
    per_class = per_class_accuracy(y_true, y_pred)
    if not per_class:
        raise ValueError("mean class accuracy of an empty set is undefined")
    return float(np.mean(list(per_class.values())))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts ``[num_classes, num_classes]``; row = actual class, column = predicted class."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.size and (min(y_true.min(), y_pred.min()) < 0 or max(y_true.max(), y_pred.max()) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes})")
    out = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(out, (y_true, y_pred), 1)
    return out


# ---------------------------------------------------------------------------------------------
# Part segmentation


def part_ious(pred: np.ndarray, truth: np.ndarray, parts: Sequence[int]) -> np.ndarray:
    """IoU of each part in ``parts`` for one shape (point-wise labels ``pred`` and ``truth``)."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"shape mismatch: {pred.shape} vs {truth.shape}")
    out = np.empty(len(parts), dtype=np.float64)
    for i, part in enumerate(parts):
        p, t = pred == part, truth == part
        union = np.count_nonzero(p | t)
        out[i] = 1.0 if union == 0 else np.count_nonzero(p & t) / union
    return out


def shape_miou(pred: np.ndarray, truth: np.ndarray, parts: Sequence[int]) -> float:
    """Mean IoU over the parts of the shape's category."""
    if len(parts) == 0:
        raise ValueError("a category needs at least one part")
    return float(np.mean(part_ious(pred, truth, parts)))


@dataclass
class SegScores:
    """Part segmentation scores over a set of shapes."""

    instance_miou: float  # mean over shapes of the shape mIoU
    class_miou: float  # mean over categories of the mean shape mIoU within the category
    per_category: dict[int, float]  # category -> mean shape mIoU
    shape_mious: np.ndarray  # [num_shapes]


def segmentation_scores(
    preds: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    categories: Sequence[int],
    category_parts: dict[int, Sequence[int]],
) -> SegScores:
    """Instance and class mIoU of shapes with point labels ``preds``/``truths`` and category ids."""
    if not (len(preds) == len(truths) == len(categories)) or len(preds) == 0:
        raise ValueError("need the same, non-zero number of predictions, truths and categories")
    shape = np.array(
        [shape_miou(p, t, category_parts[int(c)]) for p, t, c in zip(preds, truths, categories, strict=True)]
    )
    cats = np.asarray(categories, dtype=np.int64)
    per_category = {int(c): float(shape[cats == c].mean()) for c in np.unique(cats)}
    return SegScores(
        instance_miou=float(shape.mean()),
        class_miou=float(np.mean(list(per_category.values()))),
        per_category=per_category,
        shape_mious=shape,
    )


# ---------------------------------------------------------------------------------------------
# Few-shot episodes


@dataclass
class Episode:
    """One N-way K-shot episode: indices into the dataset's label array."""

    classes: np.ndarray  # [way] the sampled class ids
    support: np.ndarray  # [way * shot]
    query: np.ndarray  # [way * queries]


def eligible_classes(
    labels: np.ndarray, support_pool: np.ndarray, query_pool: np.ndarray, shot: int, queries: int
) -> np.ndarray:
    """Classes with enough objects for ``shot`` support and ``queries`` queries, whatever support is drawn.

    When the pools overlap (queries drawn from the same split as the support), the drawn support
    may use up to ``shot`` objects of the query pool, so those are discounted.
    """
    labels = np.asarray(labels)
    support_pool, query_pool = np.asarray(support_pool), np.asarray(query_pool)
    in_support = np.zeros(len(labels), dtype=bool)
    in_support[support_pool] = True
    out = []
    for c in np.unique(labels):
        s = support_pool[labels[support_pool] == c]
        q = query_pool[labels[query_pool] == c]
        overlap = int(np.count_nonzero(in_support[q]))
        if len(s) >= shot and len(q) - min(shot, overlap) >= queries:
            out.append(int(c))
    return np.array(out, dtype=np.int64)


def sample_episode(
    labels: np.ndarray,
    support_pool: np.ndarray,
    query_pool: np.ndarray,
    way: int,
    shot: int,
    queries: int,
    rng: np.random.Generator,
) -> Episode:
    """Draw ``way`` classes, ``shot`` support objects each from ``support_pool`` and ``queries``
    query objects each from ``query_pool`` minus the drawn support (so a support object is never a
    query). Pools are index arrays into ``labels``. Raises ValueError when fewer than ``way``
    classes have enough objects."""
    if way < 1 or shot < 1 or queries < 1:
        raise ValueError("way, shot and queries must be positive")
    labels = np.asarray(labels)
    support_pool = np.unique(np.asarray(support_pool, dtype=np.int64))
    query_pool = np.unique(np.asarray(query_pool, dtype=np.int64))
    candidates = eligible_classes(labels, support_pool, query_pool, shot, queries)
    if len(candidates) < way:
        raise ValueError(
            f"{way}-way {shot}-shot with {queries} queries needs {way} classes with enough objects; "
            f"only {len(candidates)} have them"
        )
    classes = np.sort(rng.choice(candidates, size=way, replace=False))
    support, query = [], []
    for c in classes:
        s = rng.choice(support_pool[labels[support_pool] == c], size=shot, replace=False)
        q_pool = query_pool[labels[query_pool] == c]
        q_pool = q_pool[~np.isin(q_pool, s)]
        q = rng.choice(q_pool, size=queries, replace=False)
        support.append(s)
        query.append(q)
    return Episode(classes=classes, support=np.concatenate(support), query=np.concatenate(query))


# ---------------------------------------------------------------------------------------------
# Spread over seeds

SIGNIFICANCE_LEVEL = 0.05


def compare_over_seeds(pretrained: Sequence[float], random_init: Sequence[float],
                       alpha: float = SIGNIFICANCE_LEVEL) -> dict:
    """Mean and sample std (ddof 1) of each encoder's score over seeds, the gain (difference of the
    means), Welch's two-sided t-test and a verdict: the gain is significant when p < ``alpha``.

    With one seed there is no spread: std and p are None and nothing is significant. When both
    encoders give the same score on every seed p is 1; when neither varies but they differ, p is 0.
    """
    from scipy import stats

    a = np.asarray(pretrained, dtype=np.float64)
    b = np.asarray(random_init, dtype=np.float64)
    if a.size == 0 or b.size == 0:
        raise ValueError("compare_over_seeds needs at least one score per encoder")
    gain = float(a.mean() - b.mean())
    std_a = float(a.std(ddof=1)) if a.size > 1 else None
    std_b = float(b.std(ddof=1)) if b.size > 1 else None
    if a.size < 2 or b.size < 2:
        p = None
    elif std_a == 0 and std_b == 0:
        p = 1.0 if gain == 0 else 0.0
    else:
        with warnings.catch_warnings():  # scipy warns when one side barely varies; the test is still defined
            warnings.simplefilter("ignore", RuntimeWarning)
            p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    significant = p is not None and p < alpha
    verdict = "no spread (one seed)" if p is None else (
        ("better" if gain > 0 else "worse") if significant else "no significant difference")
    return {
        "pretrained": {"mean": float(a.mean()), "std": std_a, "values": a.tolist()},
        "random": {"mean": float(b.mean()), "std": std_b, "values": b.tolist()},
        "gain": gain, "p_value": p, "significant": significant, "verdict": verdict, "seeds": int(a.size),
    }


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values of a family of tests, in the input order: sorted ascending, the
    i-th smallest (0-based) becomes ``max over j <= i of min(1, (m - j) * p_j)``. A test is rejected at
    family-wise level alpha when its adjusted p is below alpha, which is Holm's step-down procedure."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: (p_values[i], i))
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(p_values[i])))
        adjusted[i] = running
    return adjusted


BOOTSTRAP_RESAMPLES = 2000


def bootstrap_gain_interval(diff: np.ndarray, seeds: int, seed: int, resamples: int = BOOTSTRAP_RESAMPLES,
                            level: float = 0.95) -> tuple[float, float]:
    """A percentile bootstrap interval over test objects for a gain in accuracy, in percent.

    ``diff[i]`` is, for test object i, the number of seeds in which the pretrained encoder classified it
    right minus the number in which the random init did (an integer in [-seeds, seeds]); the gain is
    ``100 * diff.sum() / (n * seeds)``, the mean over seeds of the accuracy difference. Each resample draws
    n test objects with replacement (the same objects for both encoders and every seed: the comparison
    stays paired). The sums are integers, so the interval depends on no CPU or summation order.
    """
    diff = np.asarray(diff, dtype=np.int64)
    n = diff.size
    if n == 0:
        raise ValueError("bootstrap_gain_interval needs at least one test object")
    rng = np.random.default_rng([seed, n])
    sums = np.sort(np.array([int(diff[rng.integers(0, n, size=n)].sum()) for _ in range(resamples)]))
    tail = (1.0 - level) / 2
    lo, hi = sums[int(np.floor(tail * resamples))], sums[int(np.ceil((1.0 - tail) * resamples)) - 1]
    return 100.0 * int(lo) / (n * seeds), 100.0 * int(hi) / (n * seeds)
