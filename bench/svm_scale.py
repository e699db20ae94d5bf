"""The two SVM-bound parts at the paper's size: ``python bench/svm_scale.py [--quick]``.

1. ``linear_svm``: one seed's whole work (:func:`crosspoint.evaluate.linear_svm.evaluate_features`:
   both encoders, the three protocols, each C search 5 folds x 6 C) at 600 / 2,400 / 9,840 train rows
   (test = a quarter as many, ModelNet40's 9,840 / 2,468), 40 classes, 2,048-d; before (the C search on
   all train rows, ``c_search_rows: 0``) and after (the default bound).
2. The pretraining validation classifier (``SVC(kernel="linear", C=0.01)`` fit on the fitting objects'
   features, predicting 8,700 validation rows) at 2,400 / 9,600 / 42,900 fitting rows, 55 classes,
   2,048-d; before (all fitting rows) and after (``pretrain.val_max_fit``'s default).

Features are synthetic with the class structure of real ones (:func:`synthetic_features`). Each
measurement runs in its own subprocess, so its peak resident set size is its own. Sizes too slow to
run (the "before" rows at the largest sizes) are extrapolated from a power law fitted to the measured
ones and marked ``"extrapolated": true``. Writes ``results/bench/svm_scale.json``.

``--features-dir DIR`` instead checks, on a run's real features (``data/features``), that bounded C
searches pick the C of the unbounded ones and that a bounded validation classifier ranks the encoders
as the unbounded one (``results/bench/svm_scale_choice.json``).
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.host import cpu_model  # noqa: E402

# quality -> (class separation, overall scale): a linear SVC at C=0.01 on 40 classes (the bench's runs)
# scores 84 / 95 / 99.8 % ("pretrained") and 13 / 52 / 97 % ("random") at 1,200 / 2,400 / 9,840 train rows;
# the random encoder's features are about 30x smaller than the pretrained one's
# (see crosspoint/evaluate/linear_svm.py)
QUALITY = {"pretrained": (0.6, 1.0), "random": (0.5, 1 / 30)}


def synthetic_features(n_rows: int, n_classes: int, dim: int, quality: str | float = "pretrained",
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(X float32 [n_rows, dim], y int64 [n_rows])``: features with the structure of an encoder's
    global features. Classes are balanced (row i has class i mod n_classes, then shuffled); each class
    has a mean drawn from a Gaussian, a low-rank (rank 8) covariance of its own plus isotropic noise;
    the result goes through a ReLU (max-pooled / average-pooled ReLU outputs are non-negative) and each
    dimension is scaled by a spread drawn log-uniformly over 10x. ``quality``: "pretrained", "random"
    or a class separation (higher: more separable), the same for every seed and size."""
    sep, scale = QUALITY[quality] if isinstance(quality, str) else (float(quality), 1.0)
    rng = np.random.default_rng([seed, n_classes, dim])  # the class structure: the same at every size
    means = rng.standard_normal((n_classes, dim)).astype(np.float32)
    rank = 8
    factors = (rng.standard_normal((n_classes, rank, dim)) / math.sqrt(rank)).astype(np.float32)
    spread = np.exp(rng.uniform(0.0, math.log(10.0), dim)).astype(np.float32)
    rows = np.random.default_rng([seed, n_classes, dim, n_rows])
    y = rows.permutation(np.arange(n_rows) % n_classes).astype(np.int64)
    x = np.empty((n_rows, dim), np.float32)
    for s in range(0, n_rows, 4096):
        yc = y[s : s + 4096]
        z = rows.standard_normal((len(yc), 1, rank)).astype(np.float32)
        low = np.matmul(z, factors[yc])[:, 0]
        noise = rows.standard_normal((len(yc), dim)).astype(np.float32)
        x[s : s + 4096] = np.maximum(0.5 + 0.35 * sep * means[yc] + 0.6 * low + noise, 0.0) * spread * scale
    return x, y


SVM_CLASSES, SVM_DIM, SVM_SIZES = 40, 2048, (600, 2400, 9840)
VAL_CLASSES, VAL_DIM, VAL_ROWS, VAL_SIZES = 55, 2048, 8700, (2400, 9600, 42900)
PAPER = {"linear_svm_train": 9840, "linear_svm_test": 2468, "seeds": 3, "val_fit": 42900, "val_rows": VAL_ROWS}
TARGETS = {"validation_classifier_s_max": 30.0, "linear_svm_stage_s_max": 1200.0,
           "machine": "the team's 2-core CPU machines"}


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_s() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def child_svm(n_train: int, bound: int, seed: int) -> dict[str, Any]:
    """One seed of the linear_svm stage on synthetic ModelNet40-shaped features."""
    from crosspoint.evaluate.linear_svm import Params, evaluate_features
    from crosspoint.feature_files import FeatureSet

    n_test = round(n_train * PAPER["linear_svm_test"] / PAPER["linear_svm_train"])
    pre, y = synthetic_features(n_train + n_test, SVM_CLASSES, SVM_DIM, "pretrained", seed)
    rnd, _ = synthetic_features(n_train + n_test, SVM_CLASSES, SVM_DIM, "random", seed)
    split = ["train"] * n_train + ["test"] * n_test
    fs = FeatureSet(pre, rnd, y, split, [f"o{i}" for i in range(len(y))], [f"c{i}" for i in range(SVM_CLASSES)])
    start, cpu = time.perf_counter(), _cpu_s()
    out, _ = evaluate_features(fs, Params(c_folds=5, c_search_rows=bound))
    seconds, cpu = time.perf_counter() - start, _cpu_s() - cpu
    chosen = {f"{init}_{proto}": {"c": out[init][proto]["c"], "oa": out[init][proto]["overall_accuracy"]}
              for init in ("pretrained", "random") for proto in ("c_paper", "c_val", "c_val_std")}
    return {"seconds": seconds, "cpu_seconds": round(cpu, 2), "peak_rss_mib": _peak_rss_mib(), "chosen": chosen}


def child_val(n_fit: int, bound: int, seed: int) -> dict[str, Any]:
    """The pretraining validation classifier on synthetic ShapeNet-shaped features."""
    from sklearn.svm import SVC

    from crosspoint.subsets import grouped_stratified_subset

    x, y = synthetic_features(n_fit + VAL_ROWS, VAL_CLASSES, VAL_DIM, "pretrained", seed)
    x_fit, y_fit, x_val, y_val = x[:n_fit], y[:n_fit], x[n_fit:], y[n_fit:]
    start, cpu = time.perf_counter(), _cpu_s()
    rows = grouped_stratified_subset(y_fit, [str(i) for i in range(n_fit)], bound, seed + 3)
    clf = SVC(kernel="linear", C=0.01).fit(x_fit[rows], y_fit[rows])
    acc = float(np.mean(clf.predict(x_val) == y_val))
    seconds, cpu = time.perf_counter() - start, _cpu_s() - cpu
    return {"seconds": seconds, "cpu_seconds": round(cpu, 2), "peak_rss_mib": _peak_rss_mib(), "fit_rows": int(len(rows)), "val_accuracy": acc}


def child_refit(n_train: int, c: int, standardize: int) -> dict[str, Any]:
    """The refit on all of train at the grid's largest C (the slowest libsvm fit a C search can choose)."""
    from crosspoint.evaluate.svc import linear_svc_predict

    x, y = synthetic_features(n_train, SVM_CLASSES, SVM_DIM, "pretrained", 0)
    start, cpu = time.perf_counter(), _cpu_s()
    # since 2026-12-07 on exact.gram's kernel (the stages' path); the committed svm_scale_refit.json measured
    # libsvm's own linear kernel
    linear_svc_predict(x, y, x[:10], float(c), -1, bool(standardize))
    seconds, cpu = time.perf_counter() - start, _cpu_s() - cpu
    return {"seconds": seconds, "cpu_seconds": round(cpu, 2), "peak_rss_mib": _peak_rss_mib()}


def _run_child(kind: str, n: int, bound: int, seed: int) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--child", kind, str(n), str(bound), str(seed)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} {n} {bound}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def power_law(ns: list[int], ts: list[float]) -> tuple[float, float]:
    """(a, b) of t = a * n^b, least squares in log-log."""
    b, log_a = np.polyfit(np.log(ns), np.log(ts), 1)
    return float(math.exp(log_a)), float(b)


def measure(kind: str, sizes: list[int], bound: int, run_up_to: int, repeats: int,
            unbounded: dict[str, Any] | None = None) -> dict[str, Any]:
    """Time ``kind`` at each size up to ``run_up_to`` (extrapolating the rest); a size where ``bound``
    does not bite reuses the row of ``unbounded`` (the same computation) when it has one."""
    rows: list[dict[str, Any]] = []
    for n in sizes:
        if n > run_up_to:
            continue
        same = [r for r in (unbounded or {}).get("sizes", []) if r["n"] == n and not r["extrapolated"]]
        if same and (bound <= 0 or bound >= n):
            rows.append({**same[0], "reused_from_unbounded": True})
            continue
        runs = [_run_child(kind, n, bound, seed=r) for r in range(repeats if n <= 2400 else 1)]
        secs = sorted(r["seconds"] for r in runs)
        row = {"n": n, "seconds_min": round(secs[0], 2), "seconds_median": round(float(np.median(secs)), 2),
               "seconds_all": [round(s, 2) for s in secs], "peak_rss_mib": round(max(r["peak_rss_mib"] for r in runs)),
               "cpu_seconds_min": min(r["cpu_seconds"] for r in runs),
               "extrapolated": False, **{k: v for k, v in runs[0].items() if k not in ("seconds", "cpu_seconds", "peak_rss_mib")}}
        rows.append(row)
        print(kind, bound, row, flush=True)
    return with_fit({"bound": bound, "sizes": rows}, sizes)


def with_fit(out: dict[str, Any], sizes: list[int]) -> dict[str, Any]:
    """Add the power law fitted to the measured rows, and extrapolated rows for the sizes not measured."""
    rows = [r for r in out["sizes"] if not r.get("extrapolated")]
    out["sizes"] = rows
    if len(rows) >= 2:
        a, b = power_law([r["n"] for r in rows], [r["seconds_min"] for r in rows])
        out["fit"] = {"a": a, "exponent": round(b, 2), "on_sizes": [r["n"] for r in rows]}
        for n in sizes:
            if n not in {r["n"] for r in rows}:
                rows.append({"n": n, "seconds_min": round(a * n ** b, 1), "extrapolated": True})
    return out


def same_choice(features_dir: Path, bounds: list[int], folds: int = 5) -> dict[str, Any]:
    """On real features files (``<features_dir>/<dataset>/seed-*.h5``): the C each protocol's search
    picks on all train rows and on a subset of ``bound`` rows, and the ranking of the encoders (both
    inits of every seed) by the validation classifier's accuracy (C=0.01 on the fitting rows, a 20 %
    stratified validation split of train) with all fitting rows and with ``bound`` of them."""
    from sklearn.svm import SVC

    from crosspoint.evaluate.linear_svm import select_c
    from crosspoint.feature_files import INITS, read_features
    from crosspoint.store import StageError
    from crosspoint.subsets import grouped_stratified_subset, scanned_object
    from crosspoint.training.data import carve_validation

    out: dict[str, Any] = {}
    for ds_dir in sorted(p for p in features_dir.iterdir() if p.is_dir() and p.name != "shards"):
        rows: dict[str, Any] = {}
        val_acc: dict[str, dict[int, float]] = {}
        for path in sorted(ds_dir.glob("seed-*.h5")):
            fs = read_features(path)
            train = fs.split_mask("train")
            y = fs.labels[train]
            groups = [scanned_object(o) for o, t in zip(fs.object_ids, train, strict=True) if t]
            for init in INITS:
                x = fs.features(init)[train]
                for proto, std in (("c_val", False), ("c_val_std", True)):
                    picks = {}
                    for b in [0, *bounds]:
                        try:
                            picks[b] = select_c(x, y, [0.001, 0.01, 0.1, 1.0, 10.0, 100.0], folds, 0, -1, groups,
                                                std, b)[0]
                        except StageError as err:  # a subset too small for the folds: the stage says so
                            picks[b] = f"error: {err}"
                    rows[f"{path.stem}/{init}/{proto}"] = picks
                val = carve_validation(y, 0.2, 0)
                fit_rows = np.flatnonzero(~val)
                accs = {}
                for b in [0, *bounds]:
                    sub = fit_rows[grouped_stratified_subset(y[fit_rows], [groups[i] for i in fit_rows], b, 3)]
                    clf = SVC(kernel="linear", C=0.01).fit(x[sub], y[sub])
                    accs[b] = float(np.mean(clf.predict(x[val]) == y[val]))
                val_acc[f"{path.stem}/{init}"] = accs
        if not rows:
            continue
        same_c = {b: sum(r[b] == r[0] for r in rows.values()) for b in bounds}
        rank = {b: sorted(val_acc, key=lambda k: (-val_acc[k][b], k)) for b in [0, *bounds]}
        out[ds_dir.name] = {"train_rows": int(len(y)), "searches": len(rows), "same_c_as_all_rows": same_c,
                            "chosen_c": {k: {str(b): c for b, c in v.items()} for k, v in rows.items()},
                            "validation_accuracy": {k: {str(b): round(a, 4) for b, a in v.items()}
                                                    for k, v in val_acc.items()},
                            "same_encoder_ranking": {b: rank[b] == rank[0] for b in bounds}}
        print(ds_dir.name, out[ds_dir.name]["same_c_as_all_rows"], out[ds_dir.name]["same_encoder_ranking"], flush=True)
    return out


def cpu_prediction(result: dict[str, Any]) -> dict[str, Any]:
    """The paper-size prediction from CPU seconds (``cpu_seconds_min`` of the measured rows, power law
    fitted per series where a size was not run). The machine is shared, so wall times carry other jobs'
    load; a run's CPU seconds are what it would take on one dedicated core (its fits are single-threaded
    libsvm, two side by side where the stage runs them so): an upper bound on its wall time on an idle
    2-core machine and about twice the lower bound."""

    def cpu_at(series: dict[str, Any], n: int) -> tuple[float, bool]:
        measured = [r for r in series["sizes"] if not r["extrapolated"]]
        hit = [r for r in measured if r["n"] == n]
        if hit:
            return float(hit[0]["cpu_seconds_min"]), False
        a, b = power_law([r["n"] for r in measured], [r["cpu_seconds_min"] for r in measured])
        return a * n ** b, True

    out: dict[str, Any] = {}
    for key, series, n, times in (("linear_svm_stage", result["linear_svm_per_seed"], PAPER["linear_svm_train"],
                                   PAPER["seeds"]),
                                  ("validation_classifier", result["validation_classifier"], PAPER["val_fit"], 1)):
        for when in ("before", "after"):
            cpu, extrapolated = cpu_at(series[when], n)
            measured = [r for r in series[when]["sizes"] if not r["extrapolated"]]
            exponent = power_law([r["n"] for r in measured], [r["cpu_seconds_min"] for r in measured])[1] \
                if len(measured) >= 2 else None
            out[f"{key}_cpu_s_{when}"] = {"seconds": round(times * cpu, 1), "extrapolated": extrapolated,
                                          "exponent": None if exponent is None else round(exponent, 2)}
    out["targets_met"] = (out["linear_svm_stage_cpu_s_after"]["seconds"] <= TARGETS["linear_svm_stage_s_max"]
                          and out["validation_classifier_cpu_s_after"]["seconds"]
                          <= TARGETS["validation_classifier_s_max"])
    return out


def targets_met(prediction: dict[str, Any]) -> bool:
    """Both wall-time targets, judged on ``paper_size_prediction``."""
    return (prediction["linear_svm_stage_s_after"] <= TARGETS["linear_svm_stage_s_max"]
            and prediction["validation_classifier_s_after"] <= TARGETS["validation_classifier_s_max"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", nargs=4, metavar=("KIND", "N", "BOUND", "SEED"), help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="smaller before-sizes (then extrapolated further)")
    ap.add_argument("--repeats", type=int, default=2, help="runs per size up to 2,400 rows (one above)")
    ap.add_argument("--features-dir", type=Path, help="a run's data/features: check that bounded searches choose "
                    "as the unbounded ones (written to results/bench/svm_scale_choice.json)")
    ap.add_argument("--log", type=Path, nargs="+", help="assemble the JSON from the rows these earlier runs "
                    "printed (lines 'svm|val BOUND {row}') instead of measuring; sizes missing are extrapolated")
    ap.add_argument("--summarise", action="store_true",
                    help="recompute the CPU-seconds prediction of an existing results/bench/svm_scale.json")
    ap.add_argument("--bounds", type=int, nargs="+", default=[300, 200, 120])
    ap.add_argument("--remeasure-after", action="store_true",
                    help="measure the linear_svm 'after' rows again (the stage's code as it is now), keeping the "
                         "'before' rows of the existing results/bench/svm_scale.json; the previous 'after' rows "
                         "are kept as 'after_previous'")
    ap.add_argument("--refit", type=int, nargs="+", metavar="N",
                    help="time the refit at C=100 (raw and standardised) at these train sizes, extrapolate to "
                         "9,840; writes results/bench/svm_scale_refit.json")
    args = ap.parse_args()
    if args.features_dir:
        choice = {"features_dir": str(args.features_dir), "bounds": args.bounds,
                  "datasets": same_choice(args.features_dir, args.bounds)}
        dest = ROOT / "results" / "bench" / "svm_scale_choice.json"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.with_suffix(".tmp").write_text(json.dumps(choice, indent=2) + "\n")
        dest.with_suffix(".tmp").replace(dest)
        return
    if args.child:
        kind, n, bound, seed = args.child[0], *map(int, args.child[1:])
        child = {"svm": child_svm, "val": child_val, "refit": child_refit, "refit_std": child_refit}[kind]
        print(json.dumps(child(n, bound, seed)))
        return
    if args.summarise:
        dest = ROOT / "results" / "bench" / "svm_scale.json"
        result = json.loads(dest.read_text())
        result["paper_size_prediction_cpu"] = cpu_prediction(result)
        dest.with_suffix(".tmp").write_text(json.dumps(result, indent=2) + "\n")
        dest.with_suffix(".tmp").replace(dest)
        print(json.dumps(result["paper_size_prediction_cpu"], indent=2))
        return
    if args.remeasure_after:
        import crosspoint.config as config
        from crosspoint.evaluate.linear_svm import Params as SvmParams

        dest = ROOT / "results" / "bench" / "svm_scale.json"
        result = json.loads(dest.read_text())
        c_rows = config.section("linear_svm", SvmParams, path=str(ROOT / "params.yaml")).c_search_rows
        svm = result["linear_svm_per_seed"]
        svm["after_previous"] = {**svm["after"], "kernel": "libsvm's linear kernel (before exact.gram)"}
        svm["after"] = {**measure("svm", [600, 2400, 9840], c_rows, 9840, args.repeats),
                        "kernel": "precomputed: crosspoint.exact.gram"}
        result["machine"] = {"platform": platform.platform(), "cpus": __import__("os").cpu_count(),
                             "processor": cpu_model(), "note": "after rows: no other job on the machine"}
        result["paper_size_prediction"]["linear_svm_stage_s_after"] = round(
            PAPER["seeds"] * next(r["seconds_min"] for r in svm["after"]["sizes"] if r["n"] == 9840), 1)
        result["paper_size_prediction"]["targets_met"] = targets_met(result["paper_size_prediction"])
        result["paper_size_prediction_cpu"] = cpu_prediction(result)
        dest.with_suffix(".tmp").write_text(json.dumps(result, indent=2) + "\n")
        dest.with_suffix(".tmp").replace(dest)
        print(json.dumps({k: result[k] for k in ("paper_size_prediction", "paper_size_prediction_cpu")}, indent=2))
        return
    if args.refit:
        dest = ROOT / "results" / "bench" / "svm_scale_refit.json"
        result: dict[str, Any] = {"what": "SVC(kernel='linear', C=100) on all of train, 40 classes, 2,048-d, "
                                          "synthetic pretrained-like features", "refit_c100": {}}
        for kind, std in (("refit", 0), ("refit_std", 1)):
            rows = []
            for n in args.refit:
                r = _run_child(kind, n, 100, std)
                rows.append({"n": n, "seconds": round(r["seconds"], 2), "cpu_seconds": r["cpu_seconds"],
                             "peak_rss_mib": round(r["peak_rss_mib"]), "extrapolated": False})
                print(kind, rows[-1], flush=True)
            a, b = power_law([r["n"] for r in rows], [r["seconds"] for r in rows])
            ca, cb = power_law([r["n"] for r in rows], [r["cpu_seconds"] for r in rows])
            rows.append({"n": 9840, "seconds": round(a * 9840 ** b, 1), "cpu_seconds": round(ca * 9840 ** cb, 1),
                         "extrapolated": True})
            result["refit_c100"]["standardised" if std else "raw"] = {"exponent": round(b, 2),
                                                                      "cpu_exponent": round(cb, 2), "sizes": rows}
        dest.with_suffix(".tmp").write_text(json.dumps(result, indent=2) + "\n")
        dest.with_suffix(".tmp").replace(dest)
        return
    import crosspoint.config as config
    from crosspoint.evaluate.linear_svm import Params as SvmParams
    from crosspoint.training.params import Params as PretrainParams

    c_rows = config.section("linear_svm", SvmParams, path=str(ROOT / "params.yaml")).c_search_rows
    v_max = config.section("pretrain", PretrainParams, path=str(ROOT / "params.yaml")).val_max_fit
    reps = args.repeats
    if args.log:  # rows printed by earlier runs ("svm|val BOUND {row}" lines): assembled, nothing measured
        logged = [line.split(" ", 2) for f in args.log for line in f.read_text().splitlines()
                  if line.startswith(("svm ", "val "))]

        def rows(kind: str, bound: int) -> list[dict[str, Any]]:
            return [ast.literal_eval(r) for k, b, r in logged if k == kind and int(b) == bound]

        svm_before = with_fit({"bound": 0, "sizes": rows("svm", 0)}, [600, 1200, 2400, 9840])
        svm_after = with_fit({"bound": c_rows, "sizes": [*rows("svm", 0)[:1], *rows("svm", c_rows)]}, [600, 2400, 9840])
        val_before = with_fit({"bound": 0, "sizes": rows("val", 0)}, [2400, 4800, 9600, 42900])
        val_after = with_fit({"bound": v_max, "sizes": [*rows("val", 0)[:1], *rows("val", v_max)]}, [2400, 42900])
        for m in (svm_before, svm_after, val_before, val_after):
            m["from_logs"] = [str(f) for f in args.log]
    else:
        svm_before = measure("svm", [600, 1200, 2400, 9840], 0, 1200 if args.quick else 2400, reps)
        svm_after = measure("svm", [600, 2400, 9840], c_rows, 9840, reps, svm_before)
        val_before = measure("val", [2400, 4800, 9600, 42900], 0, 4800 if args.quick else 9600, reps)
        val_after = measure("val", [2400, 9600, 42900], v_max, 42900, reps, val_before)

    def at(m: dict[str, Any], n: int) -> float:
        return next(r["seconds_min"] for r in m["sizes"] if r["n"] == n)

    seeds = PAPER["seeds"]
    result = {
        "machine": {"platform": platform.platform(), "cpus": __import__("os").cpu_count(),
                    "processor": platform.processor(), "note": "shared with other jobs: times are noisy"},
        "features": {"generator": "bench/svm_scale.py synthetic_features", "quality": QUALITY,
                     "linear_svm": {"classes": SVM_CLASSES, "dim": SVM_DIM},
                     "validation": {"classes": VAL_CLASSES, "dim": VAL_DIM, "val_rows": VAL_ROWS}},
        "params": {"linear_svm.c_search_rows": c_rows, "pretrain.val_max_fit": v_max},
        "targets": TARGETS,
        "linear_svm_per_seed": {"before": svm_before, "after": svm_after},
        "validation_classifier": {"before": val_before, "after": val_after},
        "paper_size_prediction": {
            "linear_svm_stage_s_before": round(seeds * at(svm_before, 9840), 1),
            "linear_svm_stage_s_after": round(seeds * at(svm_after, 9840), 1),
            "validation_classifier_s_before": at(val_before, 42900),
            "validation_classifier_s_after": at(val_after, 42900),
            "note": "stage = 3 seeds x one seed's time at 9,840 train rows (one dataset: ModelNet40); "
                    "'before' values at sizes not run are extrapolated (see each row's 'extrapolated')",
        },
    }
    result["paper_size_prediction"]["targets_met"] = targets_met(result["paper_size_prediction"])
    dest = ROOT / "results" / "bench" / "svm_scale.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".json.tmp")
    result["paper_size_prediction_cpu"] = cpu_prediction(result)
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(dest)
    print(json.dumps(result["paper_size_prediction"], indent=2))


if __name__ == "__main__":
    main()
