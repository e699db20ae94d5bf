"""``crosspoint linear-svm``: linear SVM classification on frozen features.

For the pretrained and the random-init features of a dataset, an ``SVC(kernel="linear")`` is fit
on the train split and scored on the test split by three protocols: ``c_paper``, the paper's C (0.01)
on the raw features; ``c_val``, a C chosen from ``c_grid`` by ``c_folds``-fold cross-validation on
train (folds stratified by class, seeded; on at most ``c_search_rows`` train rows, a seeded
class-stratified subset keeping an object's scans together, where train is larger: ``cv_rows`` then
records how many), then refit on all of train; and ``c_val_std``, the same on
features standardised per dimension (mean and std of the rows being fit: each fold's fitting rows in
the cross-validation, all of train for the final model), as the few-shot stage does. One C scales
every dimension alike, but the raw dimensions' spreads differ: on the default's synthetic scans the
per-dimension std runs over a factor of about 11 (5th to 95th percentile, either encoder), the
max-pooled half's about 3x the average-pooled half's, and the random encoder's 25-35x smaller
than the pretrained one's throughout. The selection function only ever receives train rows; test is touched
once per final model. Every fit is libsvm's, given the linear kernel's matrix computed once per feature
matrix (:func:`crosspoint.evaluate.svc.svc_predict`, :func:`crosspoint.exact.gram`). The scans of one object (``capod_scan``: ``m1#0`` ... ``m1#3``) share a fold.
Cross-validation scores every train object once: a single 20 % split of CAPOD's 90 train meshes
held 15 objects, on which every C could tie.

This runs once per pretraining seed (``pretrain.seeds``: the features of the encoder pretrained with
that seed and of its random init), and ``summary`` gives, per protocol and metric, the mean and std
over seeds of both encoders, the gain, and Welch's t-test (:func:`crosspoint.metrics.compare_over_seeds`);
the overall accuracy's gain also a 95 % bootstrap interval over test objects (``gain_ci95``): the spread
that another draw of the test set would give, beside the spread over seeds.

Outputs: ``paths.metrics("linear_svm_<name>")`` (accuracies in percent: ``summary`` and ``per_seed``)
and ``paths.plots("confusion_<name>.csv")`` (one row per test object: actual, predicted class names
of the first seed's pretrained features at the paper's C) for DVC's confusion plot templates.
"""

from __future__ import annotations

import csv
import logging
from typing import Any

import numpy as np

from crosspoint import exact, numerics, paths
from crosspoint.evaluate.parallel import parallel_map
from crosspoint.evaluate.rounding import percent, rounded
from crosspoint.evaluate.svc import kernels, standardized, svc_predict
from crosspoint.feature_files import INITS, FeatureSet, read_features
from crosspoint.metrics import accuracy, bootstrap_gain_interval, compare_over_seeds, mean_class_accuracy
from crosspoint.settings import LinearSvmParams as Params
from crosspoint.store import StageError, atomic_path, require_labels, write_json
from crosspoint.subsets import grouped_stratified_folds, grouped_stratified_subset, scanned_object

log = logging.getLogger("crosspoint.linear_svm")


def select_c(
    x_train: np.ndarray, y_train: np.ndarray, grid: list[float], folds: int, seed: int,
    max_iter: int = -1, groups: list[str] | None = None, standardize: bool = False, max_rows: int = 0,
) -> tuple[float, dict[float, float]]:
    """Choose C from ``grid`` by cross-validated accuracy on the TRAIN rows given: the share of rows
    predicted right when each fold is predicted by a model fit on the others. Rows of one group
    (``groups``: the scanned object of each row) share a fold.

    With ``standardize``, each fold's model sees features scaled by its own fitting rows' statistics.
    With ``max_rows`` > 0, the search runs on a seeded, class-stratified subset of at most about that
    many rows (whole groups, :func:`grouped_stratified_subset`); all rows when it is 0 or above their number.

    Returns (best C, {C: cross-validated accuracy}); ties go to the smaller C (stronger regularisation)."""
    if groups is None:
        groups = [str(i) for i in range(len(y_train))]
    rows = grouped_stratified_subset(y_train, groups, max_rows, seed)
    if len(rows) < len(y_train):
        x_train, y_train, groups = x_train[rows], y_train[rows], [groups[i] for i in rows]
    val_folds = [v for v in grouped_stratified_folds(y_train, groups, folds, seed) if len(v)]
    all_rows = np.arange(len(y_train))
    for val in val_folds:
        if len(np.unique(np.delete(y_train, val))) < 2:
            raise StageError("linear_svm: a cross-validation fold leaves fewer than two classes to fit")
    # per fold, the kernels of its fitting rows and of its held-out rows against them (computed once, used for
    # every C): raw features share one Gram matrix; standardised ones are scaled by each fold's fitting rows
    shared = None if standardize else exact.gram(x_train)
    fold_kernels = []
    for val in val_folds:
        fit = np.setdiff1d(all_rows, val)
        if shared is not None:
            fold_kernels.append((fit, shared[np.ix_(fit, fit)], shared[np.ix_(val, fit)]))
        else:
            z_fit, z_val = standardized(x_train[fit], x_train[val])
            fold_kernels.append((fit, exact.gram(z_fit), exact.gram(z_val, z_fit)))

    def right_in_fold(job: tuple[float, int]) -> int:
        c, f = job
        fit, k_fit, k_val = fold_kernels[f]
        pred = svc_predict(k_fit, y_train[fit], k_val, c, max_iter)
        return int((pred == y_train[val_folds[f]]).sum())

    grid = sorted(float(c) for c in grid)
    right = parallel_map(right_in_fold, [(c, f) for c in grid for f in range(len(val_folds))])
    per_c = len(val_folds)
    by_c = {c: sum(right[i * per_c:(i + 1) * per_c]) / len(y_train) for i, c in enumerate(grid)}
    best = max(by_c, key=lambda c: (by_c[c], -c))
    return best, by_c


def scores(y_test: np.ndarray, pred: np.ndarray, c: float) -> dict[str, float]:
    return {
        "c": float(c),
        "overall_accuracy": percent(accuracy(y_test, pred)),
        "mean_class_accuracy": percent(mean_class_accuracy(y_test, pred)),
    }


def evaluate_at(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, c: float, max_iter: int = -1,
    standardize: bool = False,
) -> tuple[dict[str, float], np.ndarray]:
    """Fit on all of train at C, score on test; returns (metrics in percent, test predictions)."""
    k_fit, k_test = kernels(x_train, x_test, standardize)
    pred = svc_predict(k_fit, y_train, k_test, c, max_iter)
    return scores(y_test, pred, c), pred


def evaluate_features(fs: FeatureSet, prm: Params, name: str = "",
                      predictions: dict[tuple[str, str], np.ndarray] | None = None) -> tuple[dict[str, Any], np.ndarray]:
    """Metrics of both inits by each protocol (:data:`PROTOCOLS`); also returns the pretrained test
    predictions at the paper's C (for the confusion plot). ``predictions``, when given, receives every fit's
    test predictions by (init, protocol)."""
    train, test = fs.split_mask("train"), fs.split_mask("test")
    if train.sum() == 0 or test.sum() == 0:
        raise StageError(f"linear_svm: need train and test objects, got {train.sum()} and {test.sum()}")
    y_train, y_test = fs.labels[train], fs.labels[test]
    groups = [scanned_object(oid) for oid, t in zip(fs.object_ids, train, strict=True) if t]
    if len(np.unique(y_train)) < 2:
        raise StageError("linear_svm: the train split has fewer than two classes")
    out: dict[str, Any] = {
        "num_train": int(train.sum()), "num_test": int(test.sum()),
        "num_classes": len(np.unique(fs.labels)), "feature_dim": int(fs.pretrained.shape[1]),
        "unit": "percent",
    }
    cv_rows = len(grouped_stratified_subset(y_train, groups, prm.c_search_rows, prm.seed))
    split_x = {init: (fs.features(init)[train], fs.features(init)[test]) for init in INITS}
    searches = {(init, proto): select_c(split_x[init][0], y_train, prm.c_grid, prm.c_folds, prm.seed, prm.max_iter,
                                        groups, standardize, prm.c_search_rows)
                for init in INITS for proto, standardize in (("c_val", False), ("c_val_std", True))}
    # the kernels on all of train, raw and standardised, per encoder (BLAS on every thread); then the six fits
    # (single-threaded libsvm) side by side on the pinned threads: each gives what it gives alone, so the
    # metrics do not depend on the number of threads
    kernel = {(init, std): kernels(*split_x[init], std) for init in INITS for std in (False, True)}
    jobs = [(init, proto, proto == "c_val_std", prm.c_paper if proto == "c_paper" else searches[init, proto][0])
            for init in INITS for proto in PROTOCOLS]

    def fit(job: tuple[str, str, bool, float]) -> tuple[dict[str, float], np.ndarray]:
        init, _, std, c = job
        k_fit, k_test = kernel[init, std]
        pred = svc_predict(k_fit, y_train, k_test, c, prm.max_iter)
        return scores(y_test, pred, c), pred

    fits = parallel_map(fit, jobs)
    confusion_pred = np.zeros(0)
    for (init, proto, _, _), (metrics, pred) in zip(jobs, fits, strict=True):
        if predictions is not None:
            predictions[init, proto] = pred
        if proto == "c_paper":
            out[init] = {}
            if init == "pretrained":
                confusion_pred = pred
        else:
            metrics["cv_accuracy"] = {str(c): percent(a) for c, a in searches[init, proto][1].items()}
            if cv_rows < len(y_train):  # recorded only where the bound bites
                metrics["cv_rows"] = cv_rows
        out[init][proto] = metrics
    for init in INITS:
        log.info(
            "linear_svm %s %s: OA %.2f at C=%g (paper), %.2f at C=%g (cross-validated), %.2f at C=%g "
            "(cross-validated, standardised)", name, init, out[init]["c_paper"]["overall_accuracy"], prm.c_paper,
            out[init]["c_val"]["overall_accuracy"], out[init]["c_val"]["c"],
            out[init]["c_val_std"]["overall_accuracy"], out[init]["c_val_std"]["c"],
        )
    return out, confusion_pred


def write_confusion_csv(dest: str, actual: list[str], predicted: list[str]) -> None:
    with atomic_path(dest) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["actual", "predicted"])
        writer.writerows(zip(actual, predicted, strict=True))


PROTOCOLS = ("c_paper", "c_val", "c_val_std")
MEASURES = ("overall_accuracy", "mean_class_accuracy")


def summarize(per_seed: dict[str, dict[str, Any]], right: dict[str, np.ndarray] | None = None,
              seed: int = 0) -> dict[str, Any]:
    """Per protocol and measure: both encoders over seeds, gain and significance. With ``right`` (protocol ->
    per test object, seeds where the pretrained encoder was right minus seeds where the random init was), the
    overall accuracy's gain also gets ``gain_ci95``: a bootstrap interval over test objects
    (:func:`crosspoint.metrics.bootstrap_gain_interval`, seeded by ``seed``)."""
    out: dict[str, Any] = {}
    for proto in PROTOCOLS:
        out[proto] = {}
        for measure in MEASURES:
            pre = [m["pretrained"][proto][measure] for m in per_seed.values()]
            rnd = [m["random"][proto][measure] for m in per_seed.values()]
            out[proto][measure] = rounded(compare_over_seeds(pre, rnd))
        if right is not None:
            interval = bootstrap_gain_interval(right[proto], len(per_seed), seed)
            out[proto]["overall_accuracy"]["gain_ci95"] = rounded(list(interval))
    return out


def run(dataset: str, prm: Params, seeds: list[int]) -> dict[str, Any]:
    metrics_path, plot_path = paths.metrics(f"linear_svm_{dataset}"), paths.plots(f"confusion_{dataset}.csv")
    per_seed: dict[str, dict[str, Any]] = {}
    right: dict[str, np.ndarray] = {}  # protocol -> per test object: seeds pretrained right - seeds random right
    confusion: tuple[list[str], list[str]] = ([], [])
    common: dict[str, Any] = {}
    for seed in seeds:
        fs = read_features(paths.features(dataset, seed))
        require_labels(fs.labelled, dataset, "linear_svm")
        if fs.skipped is not None:
            log.warning("linear_svm %s: skipped (%s)", dataset, fs.skipped)
            write_json(metrics_path, {"skipped": fs.skipped})
            write_confusion_csv(plot_path, [], [])
            return {"skipped": fs.skipped}
        predictions: dict[tuple[str, str], np.ndarray] = {}
        metrics, pred = evaluate_features(fs, prm, f"{dataset} seed {seed}", predictions)
        y_test = fs.labels[fs.split_mask("test")]
        for proto in PROTOCOLS:
            seed_diff = (predictions["pretrained", proto] == y_test).astype(np.int64) - \
                (predictions["random", proto] == y_test).astype(np.int64)
            right[proto] = right.get(proto, 0) + seed_diff
        common = {k: metrics.pop(k) for k in ("num_train", "num_test", "num_classes", "feature_dim", "unit")}
        per_seed[str(seed)] = metrics
        if not confusion[0]:
            names, test = fs.class_names, fs.split_mask("test")
            confusion = ([names[i] for i in fs.labels[test]], [names[i] for i in pred])
    out = {"dataset": dataset, **common, "seeds": list(seeds), "summary": summarize(per_seed, right, prm.seed),
           "per_seed": per_seed, "numerics": numerics.record()}
    write_json(metrics_path, out)
    write_confusion_csv(plot_path, *confusion)
    s = out["summary"]["c_val"]["overall_accuracy"]
    log.info("linear_svm %s: C=val OA pretrained %.2f ± %s, random %.2f ± %s over %d seeds: %s (p=%s); wrote %s",
             dataset, s["pretrained"]["mean"], s["pretrained"]["std"], s["random"]["mean"], s["random"]["std"],
             len(seeds), s["verdict"], s["p_value"], metrics_path)
    return out
