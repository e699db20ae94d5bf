"""How every CPU stage grows with its input: ``python bench/scale.py [--quick] [--out results/bench/scale.json]``.

Each stage is timed at three or more sizes growing about 4x each, every measurement in its own
subprocess (wall time of the stage call alone, measured in the child; peak resident memory of the
child from ``os.wait4``'s rusage, so one measurement's peak never leaks into the next). From the
sizes it fits the growth exponent of time (least squares of log time on log n) and of memory (of the
peak, and of the peak above the child's resident set just before the stage ran: the working
memory), extrapolates both to the paper's sizes, and judges each stage against the house rule "no
stage grows faster than n log n": on 4x steps n log n shows as an exponent of about 1.1-1.2, so an
exponent <= 1.25 counts as within n log n.

What is timed is the project's own code:

* data stages (prepare, render, merge_views, sample, merge_points, scan, features, merge_features):
  the ``crosspoint`` command of the stage, run in a temporary project folder with its own
  params.yaml that declares a synthetic dataset (``crosspoint/sources/synthetic/``, 5 classes) of
  n objects; each stage reads what the previous one wrote, as in the pipeline. render and sample
  run two shards (both timed, one after the other) so that the merges have something to merge.
  features needs an encoder checkpoint: one is written at the random init of ``pretrain.cls``.
* linear_svm, one measurement per protocol (c_paper, c_val, c_val_std), by the stage's own
  functions (``evaluate_at``, ``select_c``) on one feature matrix; fewshot by ``fewshot.evaluate``;
  pretraining's validation by ``pretrain.validation_accuracy`` (DGCNN feature extraction of
  the training objects + the validation classifier); report by the parts of the report stage whose
  cost depends on the objects (``tsne_figure``, ``confusion_figure``). Their feature matrices are
  synthetic, with the shape of real ones (2 x emb_dims columns, 40 classes, class structure in a
  low-dimensional subspace, per-dimension spreads differing by about 10x): see
  :func:`synthetic_features`.

Everything else takes the defaults of the stages' ``Params`` (the paper's model shapes), so the bench
follows later changes to the code and its defaults; the two bounds on the paper's sizes,
``linear_svm.c_search_rows`` and ``pretrain.val_max_fit``, are read from params.yaml (the record's values). Writes the JSON and a log-log figure next to it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.host import cpu_model, package_version  # noqa: E402

NLOGN_MAX_EXPONENT = 1.25
VERDICT_RULE = (
    "least-squares slope of log(seconds) on log(n) over the sizes measured; n log n over 4x steps shows as "
    "a slope of about 1.1-1.2 (log(4n log 4n / n log n) / log 4 = 1 + log(1 + log 4 / log n) / log 4), so a "
    f"slope <= {NLOGN_MAX_EXPONENT} is judged 'within n log n'. A fixed cost (imports excluded, but e.g. a "
    "renderer's set-up) flattens the slope at small n, so the slope of the last step is given too and a stage "
    "whose last step exceeds the bound is flagged 'watch'."
)

CLASSES = ["airplane", "chair", "lamp", "mug", "table"]  # the synthetic source's classes used (as presets/tiny.yaml)
SVM_CLASSES = 40  # ModelNet40
TRAIN_SHARE = 0.8  # ModelNet40: 9,840 of 12,308 objects are train
RENDER_VIEWS = 2  # views per object rendered here; render's n counts views (objects x views)

# The paper's sizes (objects, or views for rendering).
SHAPENET = 43_783
PAPER_VIEWS = 24
MODELNET40 = {"train": 9_840, "test": 2_468}
SCANOBJECTNN = {"train": 2_309, "test": 581}  # OBJ_BG
SHAPENETPART = {"train": 14_007, "test": 2_874}


@dataclass(frozen=True)
class StageSpec:
    name: str
    group: str  # "data": one project folder per size, stages in order; "rows": independent
    unit: str  # what n counts
    paper: list[dict[str, Any]]  # [{"dataset": ..., "n": ...}]: where the prediction is made
    how: str


def _paper(*pairs: tuple[str, int]) -> list[dict[str, Any]]:
    return [{"dataset": d, "n": n} for d, n in pairs]


MN40_ALL = MODELNET40["train"] + MODELNET40["test"]
SONN_ALL = SCANOBJECTNN["train"] + SCANOBJECTNN["test"]
SNP_ALL = SHAPENETPART["train"] + SHAPENETPART["test"]

STAGES: list[StageSpec] = [
    StageSpec("prepare", "data", "objects", _paper(("ShapeNet (pretraining)", SHAPENET)),
              "crosspoint prepare --dataset synth (synthetic meshes generated and stored)"),
    StageSpec("sample", "data", "objects",
              _paper(("ShapeNet (pretraining)", SHAPENET), ("ModelNet40 train+test", MN40_ALL)),
              "crosspoint sample --dataset synth --shard 0 and --shard 1"),
    StageSpec("merge_points", "data", "objects",
              _paper(("ShapeNet (pretraining)", SHAPENET), ("ShapeNetPart train+test", SNP_ALL)),
              "crosspoint merge-points --dataset synth (2 shards)"),
    StageSpec("render", "data", "views", _paper((f"ShapeNet x {PAPER_VIEWS} views", SHAPENET * PAPER_VIEWS)),
              f"crosspoint render --dataset synth --shard 0 and --shard 1, {RENDER_VIEWS} views per object at render.image_size"),
    StageSpec("merge_views", "data", "views", _paper((f"ShapeNet x {PAPER_VIEWS} views", SHAPENET * PAPER_VIEWS)),
              "crosspoint merge-views --dataset synth (2 shards, contact sheet)"),
    StageSpec("scan", "data", "objects", _paper(("ScanObjectNN OBJ_BG train+test", SONN_ALL)),
              "crosspoint scan --dataset synth (one scan per object)"),
    StageSpec("features", "data", "objects",
              _paper(("ModelNet40 train+test", MN40_ALL), ("ScanObjectNN OBJ_BG train+test", SONN_ALL)),
              "crosspoint features --dataset synth --shard 0/1 --seed 0 (pretrained and random-init DGCNN forward)"),
    StageSpec("merge_features", "data", "objects", _paper(("ModelNet40 train+test", MN40_ALL)),
              "crosspoint merge-features --dataset synth --seed 0 (2 shards)"),
    StageSpec("linear_svm.c_paper", "rows", "train rows",
              _paper(("ModelNet40 train", MODELNET40["train"]), ("ScanObjectNN OBJ_BG train", SCANOBJECTNN["train"])),
              "linear_svm.evaluate_at at c_paper: fit on train, predict test (test = train / 4)"),
    StageSpec("linear_svm.c_val", "rows", "train rows",
              _paper(("ModelNet40 train", MODELNET40["train"]), ("ScanObjectNN OBJ_BG train", SCANOBJECTNN["train"])),
              "linear_svm.select_c over c_grid x c_folds, then evaluate_at at the chosen C"),
    StageSpec("linear_svm.c_val_std", "rows", "train rows",
              _paper(("ModelNet40 train", MODELNET40["train"]), ("ScanObjectNN OBJ_BG train", SCANOBJECTNN["train"])),
              "as c_val on standardised features"),
    StageSpec("fewshot", "rows", "objects (train+test rows, half each)",
              _paper(("ModelNet40 train+test", MN40_ALL), ("ScanObjectNN OBJ_BG train+test", SONN_ALL)),
              "fewshot.evaluate (fewshot.settings x runs episodes) on one feature matrix"),
    StageSpec("pretrain_validation", "rows", "training objects (fit + validation)",
              _paper(("ShapeNet (pretraining)", SHAPENET)),
              "pretrain.validation_accuracy: random-init pretrain.cls encoder on pretrain.cls.points per cloud, "
              "val_fraction held out, pretrain.val_classifier fitted"),
    StageSpec("report", "rows", "test rows of the t-SNE dataset",
              _paper(("ModelNet40 test", MODELNET40["test"]), ("ScanObjectNN OBJ_BG test", SCANOBJECTNN["test"])),
              "report.tsne_figure + report.confusion_figure (t-SNE capped at report.tsne_max_points)"),
]
STAGE_NAMES = [s.name for s in STAGES]

SIZES = {
    "full": {"data": [15, 60, 240], "rows": [150, 600, 2400], "pretrain_validation": [32, 128, 512],
             "report": [100, 400, 1600], "fewshot": [2000, 8000, 32000]},
    "quick": {"data": [5, 10, 20], "rows": [80, 160, 320], "pretrain_validation": [10, 20, 40],
              "report": [10, 20, 40], "fewshot": [1600, 3200, 6400]},
}


def sizes_for(stage: StageSpec, plan: dict[str, list[int]]) -> list[int]:
    """The n of each measurement (render: views; the rest as the stage's unit)."""
    if stage.name in plan:
        return list(plan[stage.name])
    if stage.group == "data":
        per = RENDER_VIEWS if stage.unit == "views" else 1
        return [per * n for n in plan["data"]]
    return list(plan["rows"])


# ---------------------------------------------------------------------------------------------
# Synthetic features


QUALITY = {"pretrained": 1.0, "random": 0.4}  # class separation of this module's generator


def synthetic_features(n_rows: int, n_classes: int, dim: int, quality: str | float = "pretrained",
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(X float32 [n_rows, dim], y int64 [n_rows])`` with the class structure of frozen global
    features: class means in a 32-dimensional subspace (separation ``quality``: "pretrained", "random"
    or a number, 0 none), isotropic noise, then per-dimension scales drawn log-normally (a ~10x spread
    between the 5th and 95th percentile, as on real features) and a positive offset. Classes are
    balanced. The fallback for the generator of the same signature in bench/svm_scale.py, which
    replaces it (below) where that file exists."""
    sep = QUALITY[quality] if isinstance(quality, str) else float(quality)
    rng = np.random.default_rng(seed)
    y = np.arange(n_rows, dtype=np.int64) % n_classes
    rng.shuffle(y)
    rank = min(32, dim)
    centres = rng.normal(size=(n_classes, rank)) * sep
    basis = rng.normal(size=(rank, dim)) / math.sqrt(rank)
    x = centres[y] @ basis + rng.normal(size=(n_rows, dim))
    scale = np.exp(rng.normal(scale=0.7, size=dim))
    return (x * scale + scale).astype(np.float32), y


FEATURES_GENERATOR = "bench/scale.py synthetic_features"
try:  # the svm helper's generator (bench/svm_scale.py), when present: one definition of "real-like features"
    from bench.svm_scale import synthetic_features  # type: ignore[no-redef]  # noqa: F811

    FEATURES_GENERATOR = "bench/svm_scale.py synthetic_features"
except ImportError:
    pass


def _feature_set(n_rows: int, train_rows: int, seed: int):
    from crosspoint.feature_files import FeatureSet

    x, y = synthetic_features(n_rows, SVM_CLASSES, 2 * _emb_dims(), "pretrained", seed)
    xr, _ = synthetic_features(n_rows, SVM_CLASSES, 2 * _emb_dims(), "random", seed + 1)
    split = ["train"] * train_rows + ["test"] * (n_rows - train_rows)
    return FeatureSet(pretrained=x, random=xr, labels=y, split=split, object_ids=[f"o{i}" for i in range(n_rows)],
                      class_names=[f"class{c:02d}" for c in range(SVM_CLASSES)])


def _emb_dims() -> int:
    from crosspoint.training.params import Params

    return Params().cls.emb_dims


# ---------------------------------------------------------------------------------------------
# Worker: one measurement, in a child process


def _rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _project_params(n_objects: int) -> dict[str, Any]:
    per_class = max(1, n_objects // len(CLASSES))
    return {
        "datasets": {"synth": {"source": "synthetic", "classes": CLASSES, "objects_per_class": per_class,
                               "test_fraction": 0.35, "seed": 0}},
        "render": {"shards": [0, 1], "views": RENDER_VIEWS},
        "sample": {"datasets": ["synth"], "shards": [0, 1]},
        "scan": {"datasets": {"synth": 1}},
        "pretrain": {"datasets": ["synth"], "seeds": [0]},
        "features": {"datasets": ["synth"], "shards": [0, 1]},
    }


def _write_checkpoint() -> None:
    """models/pretrain_cls/seed-0/best.pt: the pretrain.cls encoder at its random init (what the
    features stage loads; its cost does not depend on the weights)."""
    import torch

    from crosspoint import paths
    from crosspoint.models.encoders import model_config, random_point_encoder
    from crosspoint.training.params import Params

    cfg = model_config(Params().cls, with_images=False)
    dest = Path(paths.pretrain_dir("cls", 0)) / "best.pt"
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"point_encoder": random_point_encoder(cfg, 0).state_dict(), "model": cfg}, dest)


DATA_COMMANDS: dict[str, list[list[str]]] = {
    "prepare": [["prepare", "--dataset", "synth"]],
    "render": [["render", "--dataset", "synth", "--shard", "0"], ["render", "--dataset", "synth", "--shard", "1"]],
    "merge_views": [["merge-views", "--dataset", "synth"]],
    "sample": [["sample", "--dataset", "synth", "--shard", "0"], ["sample", "--dataset", "synth", "--shard", "1"]],
    "merge_points": [["merge-points", "--dataset", "synth"]],
    "scan": [["scan", "--dataset", "synth"]],
    "features": [["features", "--dataset", "synth", "--shard", s, "--seed", "0"] for s in ("0", "1")],
    "merge_features": [["merge-features", "--dataset", "synth", "--seed", "0"]],
}


def _data_stage(stage: str, folder: Path) -> float:
    """Run the stage's commands in the project folder; returns the seconds of the commands alone."""
    import importlib

    from crosspoint import cli

    os.chdir(folder)
    commands = DATA_COMMANDS[stage]
    importlib.import_module(cli.COMMANDS[commands[0][0]][0])  # imports are not the stage's growth
    if stage == "features":
        _write_checkpoint()
    if stage in ("render", "scan"):
        from crosspoint.rendering.backend import import_pyrender

        import_pyrender()
    t0 = time.perf_counter()
    for argv in commands:
        rc = cli.main(argv)
        if rc != 0:
            raise RuntimeError(f"crosspoint {' '.join(argv)} exited with {rc}")
    return time.perf_counter() - t0


def _rows_stage(stage: str, n: int, folder: Path) -> float:
    if stage.startswith("linear_svm."):
        from crosspoint import config
        from crosspoint.evaluate.linear_svm import Params, evaluate_at, select_c

        prm = config.section("linear_svm", Params, path=ROOT / "params.yaml")  # the record's c_search_rows
        test_rows = max(SVM_CLASSES, n // 4)
        x, y = synthetic_features(n + test_rows, SVM_CLASSES, 2 * _emb_dims(), "pretrained", 0)
        xtr, ytr, xte, yte = x[:n], y[:n], x[n:], y[n:]
        protocol = stage.split(".", 1)[1]
        t0 = time.perf_counter()
        if protocol == "c_paper":
            evaluate_at(xtr, ytr, xte, yte, prm.c_paper, prm.max_iter)
        else:
            std = protocol == "c_val_std"
            best, _ = select_c(xtr, ytr, prm.c_grid, prm.c_folds, prm.seed, prm.max_iter, None, std, prm.c_search_rows)
            evaluate_at(xtr, ytr, xte, yte, best, prm.max_iter, std)
        return time.perf_counter() - t0
    if stage == "fewshot":
        from crosspoint.evaluate.fewshot import Params, evaluate

        fs = _feature_set(n, n // 2, 0)  # half test: 20 queries per class of 40 need 1,600 test rows
        t0 = time.perf_counter()
        evaluate(fs, Params(), "bench")
        return time.perf_counter() - t0
    if stage == "pretrain_validation":
        return _validation(n)
    if stage == "report":
        return _report(n, folder)
    raise ValueError(f"unknown stage {stage!r}")


def _validation(n: int) -> float:
    import torch

    from crosspoint import numerics
    from crosspoint.models.encoders import model_config, random_point_encoder
    from crosspoint.training.data import TrainingSet, carve_validation
    from crosspoint.training.params import Params
    from crosspoint.training.validation import validation_accuracy

    prm = Params()
    v = prm.cls
    device = torch.device("cpu")
    numerics.configure_torch(device)
    rng = np.random.default_rng(0)
    labels = np.arange(n, dtype=np.int64) % len(CLASSES)
    # clouds: one noisy ellipsoid shape per class (the cost does not depend on the shapes)
    axes = rng.uniform(0.3, 1.0, size=(len(CLASSES), 3))
    pts = rng.normal(size=(n, v.points, 3))
    pts = (pts / np.linalg.norm(pts, axis=2, keepdims=True) * axes[labels][:, None, :]).astype(np.float32)
    val = carve_validation(labels, prm.val_fraction, 0)
    # the fitting objects as the stage bounds them (params.yaml's pretrain.val_max_fit)
    from crosspoint import config
    from crosspoint.subsets import grouped_stratified_subset

    bound = config.load_params(ROOT / "params.yaml")["pretrain"].get("val_max_fit", 0)
    fit_rows = np.flatnonzero(~val)
    fit_rows = fit_rows[grouped_stratified_subset(labels[fit_rows], [str(i) for i in fit_rows], bound, 3)]
    data = TrainingSet(train_points=pts[~val], view_rows=None, view_stores=None, views_paths=[], fit_points=pts[fit_rows], fit_labels=labels[fit_rows],
                       val_points=pts[val], val_labels=labels[val], val_ids=[str(i) for i in np.flatnonzero(val)],
                       fingerprint="bench")
    encoder = random_point_encoder(model_config(v, with_images=False), 0)
    t0 = time.perf_counter()
    validation_accuracy(encoder, data, prm, device)
    return time.perf_counter() - t0


def _report(n_test: int, folder: Path) -> float:
    import csv

    import matplotlib

    matplotlib.use("Agg")
    from crosspoint import paths
    from crosspoint.feature_files import write_features
    from crosspoint.reporting.figures import confusion_figure, tsne_figure
    from crosspoint.reporting.rows import Params

    os.chdir(folder)
    n_train = int(round(n_test * TRAIN_SHARE / (1 - TRAIN_SHARE)))
    fs = _feature_set(n_train + n_test, n_train, 0)
    write_features(paths.features("bench", 0), fs)
    rng = np.random.default_rng(0)
    actual = fs.labels[n_train:]
    predicted = np.where(rng.random(n_test) < 0.8, actual, rng.integers(0, SVM_CLASSES, n_test))
    Path(paths.plots("x")).parent.mkdir(parents=True, exist_ok=True)
    with open(paths.plots("confusion_bench.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["actual", "predicted"])
        w.writerows([fs.class_names[a], fs.class_names[p]] for a, p in zip(actual, predicted, strict=True))
    Path(paths.figures("x")).parent.mkdir(parents=True, exist_ok=True)
    prm = Params(tsne_dataset="bench")
    t0 = time.perf_counter()
    tsne_figure("bench", prm, paths.figures("tsne_bench.png"), 0)
    confusion_figure("bench", paths.figures("confusion_bench.png"))
    return time.perf_counter() - t0


def worker(stage: str, n: int, folder: Path, result: Path) -> None:
    spec = next(s for s in STAGES if s.name == stage)
    folder.mkdir(parents=True, exist_ok=True)
    if spec.group == "data":
        if stage == "prepare":
            import yaml

            n_objects = n
            (folder / "params.yaml").write_text(yaml.safe_dump(_project_params(n_objects), sort_keys=False))
        before = _rss_mb()
        seconds = _data_stage(stage, folder)
    else:
        before = _rss_mb()
        seconds = _rows_stage(stage, n, folder)
    result.write_text(json.dumps({"seconds": seconds, "rss_before_mb": before, "vmhwm_mb": _rss_mb("VmHWM")}))


# ---------------------------------------------------------------------------------------------
# Parent: run measurements, fit, predict


def measure(stage: str, n: int, folder: Path, timeout: float) -> dict[str, Any]:
    """Run one measurement in a child; its peak RSS comes from the kernel's rusage of that child."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        log = Path(tmp) / "log.txt"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", stage, "--n", str(n),
               "--folder", str(folder), "--result", str(result)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        t0 = time.perf_counter()
        with open(log, "w") as fh:
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
        status, usage = 0, None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - t0 > timeout:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = -9
                return {"n": n, "timed_out": True, "seconds_more_than": round(timeout, 1),
                        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0 or not result.exists():
            tail = log.read_text()[-2000:]
            raise RuntimeError(f"{stage} at n={n} failed (exit {proc.returncode}):\n{tail}")
        child = json.loads(result.read_text())
    peak = usage.ru_maxrss / 1024  # KiB on Linux
    return {"n": n, "seconds": round(child["seconds"], 4), "peak_rss_mb": round(peak, 1),
            "rss_before_mb": round(child["rss_before_mb"], 1),
            "working_mb": round(max(peak - child["rss_before_mb"], 0.0), 1),
            "process_seconds": round(time.perf_counter() - t0, 2)}


def slope(ns: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares (slope, intercept) of log y on log n."""
    a, b = np.polyfit(np.log(ns), np.log(ys), 1)
    return float(a), float(b)


def fit_stage(spec: StageSpec, points: list[dict[str, Any]]) -> dict[str, Any]:
    done = [p for p in points if not p.get("timed_out")]
    out: dict[str, Any] = {"unit": spec.unit, "how": spec.how, "measurements": points}
    if len(done) < 2:
        out.update(time_exponent=None, verdict="unknown: fewer than two sizes finished")
        return out
    ns = [p["n"] for p in done]
    secs = [max(p["seconds"], 1e-4) for p in done]
    a, b = slope(ns, secs)
    last = math.log(secs[-1] / secs[-2]) / math.log(ns[-1] / ns[-2])
    mem_a, _ = slope(ns, [p["peak_rss_mb"] for p in done])
    work = [max(p["working_mb"], 1.0) for p in done]
    work_a, work_b = slope(ns, work)
    base = float(np.median([p["rss_before_mb"] for p in done]))
    within = a <= NLOGN_MAX_EXPONENT
    verdict = "within n log n" if within else "faster than n log n"
    if within and last > NLOGN_MAX_EXPONENT:
        verdict += " (watch: last step's slope above the bound)"
    if any(p.get("timed_out") for p in points):
        verdict += " (a larger size ran past the time limit: judged on the sizes that finished)"
    out.update(
        time_exponent=round(a, 3), time_exponent_last_step=round(last, 3),
        peak_rss_exponent=round(mem_a, 3), working_memory_exponent=round(work_a, 3), verdict=verdict,
        rate_at_largest={"n_per_s": round(ns[-1] / secs[-1], 2), "unit": spec.unit},
        predictions=[{
            **target,
            "seconds": round(math.exp(b) * target["n"] ** a, 1),
            "hours": round(math.exp(b) * target["n"] ** a / 3600, 2),
            "seconds_if_linear_from_largest": round(secs[-1] * target["n"] / ns[-1], 1),
            "peak_rss_mb": round(base + math.exp(work_b) * target["n"] ** work_a, 0),
        } for target in spec.paper],
    )
    return out


def machine() -> dict[str, Any]:
    from crosspoint import numerics

    return {
        "cpu": cpu_model(),
        "cores_available": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {name: package_version(name) for name in ("numpy", "torch", "scikit-learn", "h5py", "pyrender", "trimesh")},
        "numerics": numerics.record(),
        "pyopengl_platform": os.environ.get("PYOPENGL_PLATFORM"),
    }


def figure(result: dict[str, Any], dest: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(13, 5.5))
    cmap = plt.get_cmap("tab20")
    for i, (name, st) in enumerate(result["stages"].items()):
        pts = [p for p in st["measurements"] if not p.get("timed_out")]
        if not pts:
            continue
        ns = [p["n"] for p in pts]
        exp = st.get("time_exponent")
        label = f"{name} ({st['unit'].split(' ')[0]}; slope {exp:.2f})" if exp is not None else name
        ax_t.plot(ns, [p["seconds"] for p in pts], "o-", color=cmap(i % 20), label=label, ms=4)
        ax_m.plot(ns, [p["peak_rss_mb"] for p in pts], "o-", color=cmap(i % 20), ms=4)
    lo, hi = ax_t.get_xlim()
    xs = np.geomspace(max(lo, 2), hi, 20)
    ax_t.plot(xs, 1e-3 * xs * np.log(xs), "k--", lw=1, label="n log n (reference slope, any height)")
    for ax, title, ylabel in ((ax_t, "wall time of each stage", "seconds"),
                              (ax_m, "peak resident memory of the measuring process", "MiB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("n (objects, views or rows: see legend)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    ax_t.legend(fontsize=6.5, loc="upper left", ncol=1)
    mode = result.get("mode") or "+".join(sorted({r["mode"] for r in result.get("runs", [])}))
    fig.suptitle(f"crosspoint stages on {result['machine']['cpu']} ({result['machine']['cores_available']} cores, "
                 f"{mode} sizes; shared machine, see the JSON's load)", fontsize=10)
    fig.tight_layout()
    tmp = dest.with_name(f".{dest.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(dest)


RUN_KEYS = ("date", "mode", "sizes", "load", "repeat_spread", "timeout_seconds", "wall_seconds")


def _merge_runs(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``old`` with the stages of ``new`` replaced; ``runs`` lists each run's sizes, load and stages."""
    runs = old.pop("runs", None) or [{"stages": list(old["stages"]), **{k: old.get(k) for k in RUN_KEYS}}]
    runs.append({"stages": list(new["stages"]), **{k: new.get(k) for k in RUN_KEYS}})
    merged = {**old, "stages": {**old["stages"], **new["stages"]}, "runs": runs}
    for key in RUN_KEYS:  # per run only
        merged.pop(key, None)
    return merged


def run(mode: str, stages: list[str], out: Path, timeout: float, repeat_stage: str | None, repeats: int,
        workdir: Path | None, update: bool = False) -> dict[str, Any]:
    plan = SIZES[mode]
    started = time.perf_counter()
    load_start = os.getloadavg()
    specs = [s for s in STAGES if s.name in stages]
    measurements: dict[str, list[dict[str, Any]]] = {s.name: [] for s in specs}
    repeat_runs: list[dict[str, Any]] = []
    own_tmp = workdir is None
    base = Path(tempfile.mkdtemp(prefix="crosspoint-scale-")) if own_tmp else workdir
    try:
        data_specs = [s for s in specs if s.group == "data"]
        # a data stage needs the stages before it in the pipeline: run them (unrecorded if not asked)
        if data_specs:
            last = max(STAGE_NAMES.index(s.name) for s in data_specs)
            chain = [s for s in STAGES[: last + 1] if s.group == "data"]
            for i, n_obj in enumerate(plan["data"]):
                folder = base / f"data-{n_obj}"
                for spec in chain:
                    n = sizes_for(spec, plan)[i]
                    m = measure(spec.name, n, folder, timeout)
                    print(f"{spec.name:22s} n={n:7d} {m.get('seconds', 'timeout')} s, peak {m['peak_rss_mb']} MiB",
                          flush=True)
                    if spec.name in measurements:
                        measurements[spec.name].append(m)
                    if spec.name == repeat_stage:
                        runs = [m] + [measure(spec.name, n, folder, timeout) for _ in range(repeats - 1)]
                        repeat_runs.append(_spread(n, runs))
                        m.update(seconds=float(np.median([r["seconds"] for r in runs])), repeated=len(runs))
        for spec in specs:
            if spec.group != "rows":
                continue
            for n in sizes_for(spec, plan):
                m = measure(spec.name, n, base / f"{spec.name}-{n}", timeout)
                print(f"{spec.name:22s} n={n:7d} {m.get('seconds', 'timeout')} s, peak {m['peak_rss_mb']} MiB",
                      flush=True)
                measurements[spec.name].append(m)
                if spec.name == repeat_stage and not m.get("timed_out"):
                    runs = [m] + [measure(spec.name, n, base / f"{spec.name}-{n}", timeout) for _ in range(repeats - 1)]
                    repeat_runs.append(_spread(n, runs))
                    m.update(seconds=float(np.median([r["seconds"] for r in runs])), repeated=len(runs))
                if m.get("timed_out"):
                    break  # larger sizes would only take longer
    finally:
        if own_tmp:
            shutil.rmtree(base, ignore_errors=True)
    result: dict[str, Any] = {
        "machine": machine(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": mode,
        "sizes": plan,
        "load": {
            "load_average_at_start": [round(x, 2) for x in load_start],
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "note": "the machine is shared with other jobs: a load average above the core count means the stages "
                    "competed for the CPU; times are single runs unless 'repeated' (then the median)",
        },
        "repeat_spread": {"stage": repeat_stage, "runs": repeat_runs} if repeat_stage else None,
        "verdict_rule": VERDICT_RULE,
        "features_generator": FEATURES_GENERATOR,
        "timeout_seconds": timeout,
        "paper_sizes": {"shapenet_objects": SHAPENET, "shapenet_views_per_object": PAPER_VIEWS,
                        "modelnet40": MODELNET40, "scanobjectnn_obj_bg": SCANOBJECTNN, "shapenetpart": SHAPENETPART},
        "notes": [
            "data stages: a synthetic dataset of n objects (5 classes) through the crosspoint commands, params.yaml "
            "defaults otherwise (render.image_size, sample.points, features.points: the default run's, not the paper's)",
            f"render: {RENDER_VIEWS} views per object; its n counts views, predicted at {PAPER_VIEWS} views per ShapeNet object",
            "classifier stages: synthetic features (features_generator: bench/svm_scale.py's where that file exists, "
            "else this script's fallback), 40 classes, 2 x pretrain.cls.emb_dims columns; fewshot's rows are half "
            "train, half test (20 queries per class of 40 need 1,600 test rows)",
            "predicted seconds extrapolate the fitted line (log time on log n) to the paper's n; "
            "seconds_if_linear_from_largest scales the largest measurement linearly, for comparison",
            "peak_rss_mb: the child's peak resident set (os.wait4 rusage); working_mb: the peak above the child's "
            "resident set just before the stage ran (imports, inputs in memory); predicted peak = that baseline + "
            "the fitted working-memory line",
        ],
        "stages": {s.name: fit_stage(s, measurements[s.name]) for s in specs},
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    if update and out.exists():
        result = _merge_runs(json.loads(out.read_text()), result)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(out)
    figure(result, out.with_suffix(".png"))
    return result


def _spread(n: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    secs = sorted(r["seconds"] for r in runs)
    return {"n": n, "seconds": secs, "min": secs[0], "median": float(np.median(secs)), "max": secs[-1],
            "spread_percent": round(100 * (secs[-1] - secs[0]) / secs[0], 1)}


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of every stage (minutes on a loaded 2-core machine)")
    parser.add_argument("--stages", nargs="+", default=STAGE_NAMES, choices=STAGE_NAMES, metavar="STAGE",
                        help=f"stages to measure (default all: {', '.join(STAGE_NAMES)})")
    parser.add_argument("--data-sizes", type=int, nargs="+", help="objects of the data stages (default 25 100 400)")
    parser.add_argument("--rows", type=int, nargs="+", help="train rows of the classifiers (default 600 2400 9600)")
    parser.add_argument("--validation-sizes", type=int, nargs="+", help="objects for pretrain_validation")
    parser.add_argument("--report-sizes", type=int, nargs="+", help="test rows for report")
    parser.add_argument("--fewshot-sizes", type=int, nargs="+", help="rows (half train, half test) for fewshot")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds one measurement may take")
    parser.add_argument("--repeat-stage", default="sample", help="stage measured --repeats times at each size")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, help="keep the project folders here (default: a temp dir, removed)")
    parser.add_argument("--out", type=Path, default=ROOT / "results/bench/scale.json")
    parser.add_argument("--update", action="store_true",
                        help="replace only the stages measured now in an existing --out JSON (each run's sizes and "
                             "load kept under 'runs')")
    parser.add_argument("--replot", type=Path, help="only redraw the figure of this JSON (next to it, .png)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.n, args.folder, args.result)
        return None
    if args.replot:
        figure(json.loads(args.replot.read_text()), args.replot.with_suffix(".png"))
        return None
    mode = "quick" if args.quick else "full"
    plan = dict(SIZES[mode])
    for key, value in (("data", args.data_sizes), ("rows", args.rows), ("pretrain_validation", args.validation_sizes),
                       ("report", args.report_sizes), ("fewshot", args.fewshot_sizes)):
        if value:
            if len(value) < 2:
                parser.error("give at least two sizes")
            plan[key] = sorted(value)
    SIZES[mode] = plan
    repeat = args.repeat_stage if args.repeat_stage in args.stages else None
    result = run(mode, args.stages, args.out, args.timeout, repeat, args.repeats, args.workdir, args.update)
    for name, st in result["stages"].items():
        print(f"{name:22s} slope {st.get('time_exponent')}  {st['verdict']}")
    return result


if __name__ == "__main__":
    main()
