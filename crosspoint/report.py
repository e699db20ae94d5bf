"""``crosspoint report``: the summary tables and figures of the evaluations.

Which evaluations exist comes from params (``linear_svm.datasets``, ``fewshot.datasets``, ``partseg``); the
stage reads their metrics JSON files and writes ``paths.tables("summary.csv")`` and
``summary.md``: one row per evaluation and metric, columns

    evaluation, dataset, metric, pretrained, pretrained_std, random_init, random_init_std, gain,
    p_value, significant, seeds, paper, paper_std, paper_random_init, paper_reference, note

``pretrained`` / ``random_init`` are means over the pretraining seeds (``pretrain.seeds``), ``*_std``
the sample std over seeds, ``gain`` = pretrained - random_init (percentage points), ``p_value`` of
Welch's two-sided t-test over seeds and ``significant`` = ``better`` / ``worse`` when p < 0.05, else
``no`` (:func:`crosspoint.metrics.compare_over_seeds`). Few-shot rows compare each seed's mean over
its episodes. Paper numbers (CrossPoint, DGCNN) go in
``paper`` / ``paper_std`` / ``paper_random_init`` only when the dataset IS the paper's dataset
(``modelnet40``, ``scanobjectnn``, ``shapenetpart``) and the metric is the paper's. The default
pipeline's stand-ins (``synth`` for ModelNet40 and ShapeNetPart, ``synth_scan`` for ScanObjectNN)
get the number of the dataset they stand in for in ``paper_reference`` instead, with a note: it is
for orientation only, the data differ. Few-shot paper numbers were measured with queries from the
train split (the upstream script); with ``fewshot.query_split: test`` the note says so.

Figures: a t-SNE of the test features of ``report.tsne_dataset`` (first pretraining seed; pretrained
beside random init, coloured by class) and the confusion matrix of its linear SVM (pretrained, first
seed, C = ``c_paper``) drawn from ``paths.plots("confusion_<dataset>.csv")``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from crosspoint import config, paths
from crosspoint.evaluate import balanced_subset, read_features
from crosspoint.store import StageError, atomic_path, write_json, write_text

log = logging.getLogger("crosspoint.report")

# The run's DVC metrics file: one entry per summary row (beside results/metrics, which this stage reads).
HEADLINE = f"{paths.RESULTS}/headline.json"


@dataclass(frozen=True)
class Params:
    tsne_dataset: str = "synth_scan"  # also the dataset of the confusion-matrix figure
    perplexity: float = 30.0
    tsne_max_points: int = 1000  # test objects in the t-SNE (class-balanced subset)
    seed: int = 0

    def check(self) -> list[str]:
        problems = []
        if self.perplexity <= 0:
            problems.append("perplexity must be positive")
        if self.tsne_max_points < 3:
            problems.append("tsne_max_points must be at least 3")
        return problems


# ---------------------------------------------------------------------------------------------
# Paper numbers (CrossPoint, CVPR 2022, DGCNN backbone)

PAPER_LINEAR = {"modelnet40": 91.2, "scanobjectnn": 81.7}
# setting -> (pretrained mean, std, random-init DGCNN mean); ModelNet40, queries from train (upstream)
PAPER_FEWSHOT = {
    "modelnet40": {
        "5w10s": (92.5, 3.0, 31.6),
        "5w20s": (94.9, 2.1, 40.8),
        "10w10s": (83.6, 5.3, 19.9),
        "10w20s": (87.9, 4.2, 16.9),
    }
}
PAPER_PARTSEG = {"shapenetpart": {"instance_miou": 85.5}}
DISPLAY = {"modelnet40": "ModelNet40", "scanobjectnn": "ScanObjectNN", "shapenetpart": "ShapeNetPart"}
# default-pipeline dataset -> the paper dataset it stands in for, per evaluation
STAND_INS = {
    "linear_svm": {"synth": "modelnet40", "synth_scan": "scanobjectnn", "capod_scan": "scanobjectnn"},
    "fewshot": {"synth": "modelnet40"},  # ModelNet40 only: its few-shot numbers are the ones entered above
    "partseg": {"synth": "shapenetpart"},
}


@dataclass
class Row:
    evaluation: str
    dataset: str
    metric: str
    pretrained: float | None = None
    pretrained_std: float | None = None
    random_init: float | None = None
    random_init_std: float | None = None
    gain: float | None = None
    p_value: float | None = None
    significant: str = ""
    seeds: int | None = None
    paper: float | None = None
    paper_std: float | None = None
    paper_random_init: float | None = None
    paper_reference: float | None = None
    note: str = ""
    # per-seed scores (not table columns: `crosspoint compare` tests on the pretrained ones, the markdown
    # table merges a mean-class row into its overall row when both encoders' scores agree seed by seed)
    pretrained_values: tuple[float, ...] = ()
    random_values: tuple[float, ...] = ()

    @property
    def key(self) -> str:
        """A short, dotted name for the row: ``svm.synth_scan.oa_val``, ``fewshot.capod_scan.5w10s``,
        ``partseg.synth.instance_miou`` (the headline metrics and the ablation table use it)."""
        return f"{SHORT_EVAL.get(self.evaluation, self.evaluation)}.{self.dataset}.{short_metric(self.metric)}"


COLUMNS = [f.name for f in fields(Row) if not f.name.endswith("_values")]
SHORT_EVAL = {"linear_svm": "svm"}


def short_metric(metric: str) -> str:
    """``overall_accuracy (C=val)`` -> ``oa_val``; ``accuracy 5w10s`` -> ``5w10s``; others unchanged."""
    m = re.fullmatch(r"(overall_accuracy|mean_class_accuracy) \(C=(\w+)\)", metric)
    if m:
        return ("oa" if m.group(1) == "overall_accuracy" else "mca") + "_" + m.group(2)
    return metric.removeprefix("accuracy ")


def _num(x: Any) -> float | None:
    return None if x is None else round(float(x), 2)


def _row(evaluation: str, dataset: str, metric: str, cmp: dict[str, Any], note: str = "") -> Row:
    """A row from :func:`crosspoint.metrics.compare_over_seeds`'s result."""
    p = cmp.get("p_value")
    verdict = cmp.get("verdict", "")
    significant = "better" if verdict == "better" else "worse" if verdict == "worse" else (
        "no" if p is not None else "")
    return Row(evaluation, dataset, metric, _num(cmp["pretrained"]["mean"]), _num(cmp["pretrained"]["std"]),
               _num(cmp["random"]["mean"]), _num(cmp["random"]["std"]), _num(cmp["gain"]),
               None if p is None else round(float(p), 4), significant, int(cmp.get("seeds", 0)) or None, note=note,
               pretrained_values=tuple(float(v) for v in cmp["pretrained"].get("values", ())),
               random_values=tuple(float(v) for v in cmp["random"].get("values", ())))


def _attach_paper(row: Row, evaluation: str, paper: tuple[float, float | None, float | None] | None,
                  paper_dataset: str | None, extra_note: str = "") -> None:
    """Put the paper's number in ``paper*`` (same dataset) or ``paper_reference`` (a stand-in)."""
    if paper is None or paper_dataset is None:
        return
    value, std, rnd = paper
    if row.dataset == paper_dataset:
        row.paper, row.paper_std, row.paper_random_init = value, std, rnd
        notes = [extra_note] if extra_note else []
    else:
        row.paper_reference = value
        ref = f"{value}" + (f" ± {std}" if std is not None else "") + (f", random init {rnd}" if rnd is not None else "")
        notes = [f"{row.dataset} stands in for {DISPLAY[paper_dataset]}; paper_reference ({ref}) is the paper's "
                 f"{DISPLAY[paper_dataset]} number, for orientation only (different data)"]
        if extra_note:
            notes.append(extra_note)
    row.note = "; ".join(n for n in [row.note, *notes] if n)


def _paper_dataset(evaluation: str, dataset: str) -> str | None:
    known = {"linear_svm": PAPER_LINEAR, "fewshot": PAPER_FEWSHOT, "partseg": PAPER_PARTSEG}[evaluation]
    if dataset in known:
        return dataset
    return STAND_INS[evaluation].get(dataset)


def linear_svm_rows(dataset: str, m: dict[str, Any]) -> list[Row]:
    if "skipped" in m:
        return [Row("linear_svm", dataset, "overall_accuracy", note=f"skipped: {m['skipped']}")]
    rows = []
    paper_ds = _paper_dataset("linear_svm", dataset)
    protocols = (("c_paper", "C=paper"), ("c_val", "C=val"), ("c_val_std", "C=val_std"))
    for key, label in ((k, lab) for k, lab in protocols if k in m["summary"]):  # older files lack c_val_std
        chosen = {init: sorted({f"{s[init][key]['c']:g}" for s in m["per_seed"].values()}, key=float)
                  for init in ("pretrained", "random")}
        c_note = f"C={'/'.join(chosen['pretrained'])} (pretrained), C={'/'.join(chosen['random'])} (random init)"
        if key == "c_val":
            c_note += ", chosen by cross-validation on train"
        elif key == "c_val_std":
            c_note += ", chosen by cross-validation on train; features standardised on the rows fit"
        for metric in ("overall_accuracy", "mean_class_accuracy"):
            row = _row("linear_svm", dataset, f"{metric} ({label})", m["summary"][key][metric], note=c_note)
            if metric == "overall_accuracy" and key == "c_paper" and paper_ds is not None:
                _attach_paper(row, "linear_svm", (PAPER_LINEAR[paper_ds], None, None), paper_ds)
            rows.append(row)
    return rows


def fewshot_rows(m: dict[str, Any], dataset: str, settings: list[str]) -> list[Row]:
    if "skipped" in m:
        return [Row("fewshot", dataset, f"accuracy {s}", note=f"skipped: {m['skipped']}") for s in settings]
    rows = []
    paper_ds = _paper_dataset("fewshot", dataset)
    split_note = ""
    if m.get("query_split") == "test":
        split_note = "queries from the test split (the paper's numbers: queries from train, upstream script)"
    for name in settings:
        s = m["summary"].get(name)
        if s is None:
            raise StageError(f"report: {paths.metrics(f'fewshot_{dataset}')} has no setting {name}; "
                             "rerun `crosspoint fewshot`")
        metric = f"accuracy {name}"
        if "skipped" in s:
            rows.append(Row("fewshot", dataset, metric, note=f"skipped: {s['skipped']}"))
            continue
        row = _row("fewshot", dataset, metric, s, note=f"each seed: mean over {m.get('runs', '?')} episodes")
        if paper_ds is not None and name in PAPER_FEWSHOT[paper_ds]:
            _attach_paper(row, "fewshot", PAPER_FEWSHOT[paper_ds][name], paper_ds, split_note)
        rows.append(row)
    return rows


def partseg_rows(per_seed: list[dict[str, Any]], dataset: str) -> list[Row]:
    from crosspoint.metrics import compare_over_seeds

    metrics = ("instance_miou", "class_miou")
    skipped = [m["skipped"] for m in per_seed if "skipped" in m]
    if skipped:
        return [Row("partseg", dataset, k, note=f"skipped: {skipped[0]}") for k in metrics]
    rows = []
    paper_ds = _paper_dataset("partseg", dataset)
    m = per_seed[0]
    note = f"{m.get('epochs', '?')} epochs, {m.get('points', '?')} points; random_init = trained from scratch"
    for k in metrics:
        cmp = compare_over_seeds([s["pretrained"][k] for s in per_seed], [s["scratch"][k] for s in per_seed])
        row = _row("partseg", dataset, k, cmp, note=note)
        if paper_ds is not None and k in PAPER_PARTSEG[paper_ds]:
            _attach_paper(row, "partseg", (PAPER_PARTSEG[paper_ds][k], None, None), paper_ds)
        rows.append(row)
    return rows


def read_metrics(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise StageError(f"report: {path} not found (run the evaluation first: dvc repro)")
    return json.loads(path.read_text())


@dataclass
class Plan:
    """Which evaluations to report (from params)."""

    linear_svm_datasets: list[str]
    fewshot_datasets: list[str]
    fewshot_settings: list[str]
    partseg_dataset: str | None
    seeds: list[int]


def build_rows(plan: Plan, read: Callable[[str], dict[str, Any]] = read_metrics) -> list[Row]:
    """The summary rows; ``read`` loads a metrics file by path (another commit's, for ``compare``)."""
    rows: list[Row] = []
    for d in plan.linear_svm_datasets:
        rows += linear_svm_rows(d, read(paths.metrics(f"linear_svm_{d}")))
    for d in plan.fewshot_datasets:
        rows += fewshot_rows(read(paths.metrics(f"fewshot_{d}")), d, plan.fewshot_settings)
    if plan.partseg_dataset is not None:
        rows += partseg_rows([read(paths.partseg_metrics(s)) for s in plan.seeds], plan.partseg_dataset)
    return rows


# ---------------------------------------------------------------------------------------------
# Tables


def _cell(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.2f}"
    return str(x)


def write_csv(dest: str | Path, rows: list[Row]) -> None:
    with atomic_path(dest) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for r in rows:
            writer.writerow([f"{r.p_value:.4g}" if c == "p_value" and r.p_value is not None else _cell(getattr(r, c))
                             for c in COLUMNS])


def _pm(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "–"
    return f"{mean:.1f}" + (f" ± {std:.1f}" if std is not None else "")


PAPER_DATASETS = ("modelnet40", "scanobjectnn", "shapenetpart")
# measure -> the measure that equals it on a class-balanced test split (per-class mean of the same scores)
BALANCED_PAIRS = {"overall_accuracy": "mean_class_accuracy", "instance_miou": "class_miou"}
MERGED_NAME = {"overall_accuracy": "accuracy", "instance_miou": "mIoU"}
BALANCED_MARK = "¹"
VERDICT_MARK = {"better": "▲ **better**", "worse": "▼ **worse**"}


def _measure(metric: str) -> tuple[str, str]:
    """``overall_accuracy (C=val)`` -> (``overall_accuracy``, `` (C=val)``); ``class_miou`` -> (``class_miou``, "")."""
    name, _, rest = metric.partition(" ")
    return name, f" {rest}" if rest else ""


def _agree(a: Row, b: Row) -> bool:
    """Both encoders score the same on the two rows, seed by seed (only decidable with per-seed values)."""
    return (bool(a.pretrained_values) and a.pretrained_values == b.pretrained_values
            and bool(a.random_values) and a.random_values == b.random_values)


def merge_balanced(rows: list[Row]) -> tuple[list[Row], list[str]]:
    """The markdown table's rows: for each evaluation and dataset where every mean-class (class mIoU) row
    equals its overall-accuracy (instance mIoU) row for both encoders in every seed -- the test split is
    class-balanced -- one row per protocol, named ``accuracy`` (``mIoU``) and marked with
    :data:`BALANCED_MARK`, instead of two identical ones. Returns the rows and the merged
    ``evaluation dataset`` names (for the footnote). The CSV and headline keep every row."""
    by_metric = {(r.evaluation, r.dataset, r.metric): r for r in rows}
    partner: dict[tuple[str, str, str], Row] = {}  # overall row's key -> its mean-class row
    for r in rows:
        measure, protocol = _measure(r.metric)
        other = by_metric.get((r.evaluation, r.dataset, BALANCED_PAIRS.get(measure, "") + protocol))
        if other is not None:
            partner[(r.evaluation, r.dataset, r.metric)] = other
    groups: dict[tuple[str, str], list[bool]] = {}
    for (evaluation, dataset, metric), other in partner.items():
        groups.setdefault((evaluation, dataset), []).append(_agree(by_metric[(evaluation, dataset, metric)], other))
    merged = {g for g, agree in groups.items() if all(agree)}
    dropped = {id(partner[k]) for k in partner if k[:2] in merged}
    out = []
    for r in rows:
        if id(r) in dropped:
            continue
        if (r.evaluation, r.dataset) in merged and (r.evaluation, r.dataset, r.metric) in partner:
            measure, protocol = _measure(r.metric)
            r = replace(r, metric=f"{MERGED_NAME[measure]}{BALANCED_MARK}{protocol}")
        out.append(r)
    return out, [f"{e} {d}" for e, d in groups if (e, d) in merged]


def _p(p: float | None) -> str:
    return "" if p is None else "<0.001" if p < 0.0005 else f"{p:.3f}"


def markdown(rows: list[Row]) -> str:
    """The summary table, one row per evaluation, dataset, protocol and measure (identical overall and
    mean-class rows merged: :func:`merge_balanced`), then the significant verdicts as a list. When some
    rows are on the paper's own datasets (the ``paper`` preset), those come first in a table of their
    own, and the pipeline's datasets (synthetic, CAPOD) in a second."""
    seeds = max((r.seeds or 0 for r in rows), default=0)
    shown, merged = merge_balanced(rows)
    lines = [
        "# CrossPoint evaluation summary",
        "",
        f"Accuracies and mIoU in percent, mean ± std over {seeds} pretraining seeds; gain = pretrained − random "
        "init (percentage points); p: Welch's two-sided t-test over seeds; verdict: ▲ **better** / ▼ **worse** "
        "when p < 0.05, else no (the significant rows are listed under the table). "
        "*paper* is the CrossPoint (DGCNN) number where the dataset is the paper's; a number in parentheses "
        "is the paper's result on the dataset this one stands in for (orientation only, different data). "
        "C=paper: the paper's fixed C; C=val: C chosen by cross-validation on train; C=val_std: the same on "
        "standardised features.",
        "",
    ]
    paper_rows = [r for r in shown if r.dataset in PAPER_DATASETS]
    if not paper_rows:
        lines += _table(shown)
    else:
        others = [r for r in shown if r.dataset not in PAPER_DATASETS]
        lines += ["## The paper's datasets", "", *_table(paper_rows)]
        if others:
            lines += ["", "## Pipeline datasets (synthetic set, CAPOD; not the paper's data)", "", *_table(others)]
    if merged:
        lines += ["", f"{BALANCED_MARK} {', '.join(merged)}: the mean class accuracy (part segmentation: the class "
                  "mIoU) equals the overall accuracy (instance mIoU) for both encoders in every seed and protocol, as it "
                  "does on a class-balanced test split, so one row shows both; results/tables/summary.csv and "
                  "results/headline.json keep both."]
    significant = [r for r in shown if r.significant in VERDICT_MARK]
    lines += ["", "## Significant", ""]
    if not significant:
        lines.append("No evaluation differs significantly between the pretrained and the random-init encoder.")
    for verdict in ("better", "worse"):
        picked = [r for r in significant if r.significant == verdict]
        if picked:
            lines.append(f"{VERDICT_MARK[verdict]} than random init ({len(picked)}):")
            lines.append("")
            lines += [f"- {r.evaluation} {r.dataset}, {r.metric}: {_pm(r.pretrained, r.pretrained_std)} vs "
                      f"{_pm(r.random_init, r.random_init_std)}, gain {r.gain:+.1f} (p {'< 0.001' if _p(r.p_value) == '<0.001' else '= ' + _p(r.p_value)})"
                      for r in picked]
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _table(rows: list[Row]) -> list[str]:
    head = ["evaluation", "dataset", "metric", "pretrained", "random init", "gain", "p", "verdict", "paper", "note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        if r.paper is not None:
            paper = _pm(r.paper, r.paper_std) + (f" (rand. {r.paper_random_init:.1f})" if r.paper_random_init else "")
        elif r.paper_reference is not None:
            paper = f"({r.paper_reference:.1f})"
        else:
            paper = ""
        gain = "" if r.gain is None else f"{r.gain:+.1f}"
        verdict = VERDICT_MARK.get(r.significant, r.significant)
        cells = [r.evaluation, r.dataset, r.metric, _pm(r.pretrained, r.pretrained_std),
                 _pm(r.random_init, r.random_init_std), gain, _p(r.p_value), verdict, paper, r.note.replace("|", "/")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_tables(rows: list[Row], csv_path: str | Path, md_path: str | Path) -> None:
    write_csv(csv_path, rows)
    write_text(md_path, markdown(rows))


def headline(rows: list[Row]) -> dict[str, Any]:
    """One entry per summary row, nested by its :attr:`Row.key` (``svm`` -> ``synth_scan`` ->
    ``oa_val``): ``pre`` / ``pre_sd`` (pretrained mean and std over seeds), ``rand`` / ``rand_sd``
    (random init), ``gain`` and ``sig`` (1 better, -1 worse, 0 no significant difference). Skipped
    rows are left out. This is the run's DVC metrics file: ``dvc exp show`` and ``dvc metrics diff``
    read it; the detailed per-evaluation JSON files stay beside it as plain outputs."""
    out: dict[str, Any] = {}
    for r in rows:
        if r.pretrained is None or r.random_init is None:
            continue
        evaluation, dataset, metric = r.key.split(".", 2)
        entry = {"pre": r.pretrained, "pre_sd": r.pretrained_std, "rand": r.random_init,
                 "rand_sd": r.random_init_std, "gain": r.gain,
                 "sig": {"better": 1, "worse": -1}.get(r.significant, 0)}
        out.setdefault(evaluation, {}).setdefault(dataset, {})[metric] = {
            k: v for k, v in entry.items() if v is not None}
    return out


# ---------------------------------------------------------------------------------------------
# Figures


def save_figure(fig: Any, dest: str | Path, dpi: int = 90) -> None:
    """Write a matplotlib figure as PNG (atomically) and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)


def _placeholder(dest: str | Path, text: str) -> None:
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(5, 2))
    fig.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    save_figure(fig, dest, dpi=80)


def tsne_figure(dataset: str, prm: Params, dest: str | Path, seed: int) -> None:
    """t-SNE of the test features (the encoder of pretraining seed ``seed``), pretrained beside
    random init, coloured by class."""
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    fs = read_features(paths.features(dataset, seed))
    test = np.flatnonzero(fs.split_mask("test"))
    if fs.skipped is not None or len(test) < 3:
        _placeholder(dest, f"t-SNE of {dataset}: skipped ({fs.skipped or 'fewer than 3 test objects'})")
        return
    test = test[balanced_subset(fs.labels[test], prm.tsne_max_points, prm.seed)]
    labels = fs.labels[test]
    perplexity = min(prm.perplexity, (len(test) - 1) / 3)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    cmap = plt.get_cmap("tab20" if len(fs.class_names) > 10 else "tab10")
    for ax, init in zip(axes, ("pretrained", "random"), strict=True):
        emb = TSNE(n_components=2, perplexity=perplexity, random_state=prm.seed, init="pca").fit_transform(
            fs.features(init)[test].astype(np.float64)
        )
        for c in np.unique(labels):
            sel = labels == c
            ax.scatter(emb[sel, 0], emb[sel, 1], s=8, color=cmap(int(c) % cmap.N), label=fs.class_names[c])
        ax.set_title(f"{dataset} test features (seed {seed}): {'pretrained' if init == 'pretrained' else 'random init'}")
        ax.set_xticks([])
        ax.set_yticks([])
    if len(fs.class_names) <= 20:
        axes[1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, markerscale=2)
    fig.tight_layout()
    save_figure(fig, dest)


def confusion_figure(dataset: str, dest: str | Path) -> None:
    """Row-normalised confusion matrix (counts written in the cells) from the linear SVM's plot CSV."""
    import matplotlib.pyplot as plt

    src = Path(paths.plots(f"confusion_{dataset}.csv"))
    if not src.exists():
        raise StageError(f"report: {src} not found (run `crosspoint linear-svm --dataset {dataset}` first)")
    with open(src, newline="") as fh:
        pairs = [(r["actual"], r["predicted"]) for r in csv.DictReader(fh)]
    if not pairs:
        _placeholder(dest, f"confusion matrix of {dataset}: no test predictions (dataset skipped)")
        return
    names = sorted({a for a, _ in pairs} | {p for _, p in pairs})
    index = {n: i for i, n in enumerate(names)}
    counts = np.zeros((len(names), len(names)), dtype=np.int64)
    for a, p in pairs:
        counts[index[a], index[p]] += 1
    rates = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    size = max(4.0, 0.45 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    acc = np.trace(counts) / counts.sum()
    ax.set_title(f"{dataset}: linear SVM on pretrained features (OA {100 * acc:.1f}%)", fontsize=9)
    if len(names) <= 25:
        for i in range(len(names)):
            for j in range(len(names)):
                if counts[i, j]:
                    ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=6,
                            color="white" if rates[i, j] > 0.5 else "black")
    fig.tight_layout()
    save_figure(fig, dest)


# ---------------------------------------------------------------------------------------------
# Stage


def plan_from_params(params: dict[str, Any]) -> Plan:
    from crosspoint.evaluate import fewshot, linear_svm, partseg

    svm = config.parse_section(linear_svm.Params, params.get("linear_svm"), "linear_svm")
    few = config.parse_section(fewshot.Params, params.get("fewshot"), "fewshot")
    seg = config.parse_section(partseg.Params, params.get("partseg"), "partseg")
    return Plan(
        linear_svm_datasets=list(svm.datasets),
        fewshot_datasets=list(few.datasets) if "fewshot" in params else [],
        fewshot_settings=[fewshot.setting_name(w, s) for w, s in few.settings],
        partseg_dataset=seg.dataset if "partseg" in params else None,
        seeds=config.pretrain_seeds(params=params),
    )


def _read_tsv(path: Path) -> tuple[list[float], list[float]]:
    """The (step, value) columns of a DVCLive plot file; empty when it does not exist."""
    if not path.exists():
        return [], []
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))[1:]
    return [float(r[0]) for r in rows], [float(r[1]) for r in rows]


def pretrain_curves_figure(seeds: list[int], dest: str | Path) -> None:
    """Training loss and validation accuracy per epoch of every pretraining run (both variants,
    every seed), from the DVCLive plot files."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    drawn = 0
    for variant, style in (("cls", "-"), ("seg", "--")):
        for seed in seeds:
            live = Path(paths.pretrain_live(variant, seed)) / "plots" / "metrics"
            for ax, name in zip(axes, ("train/loss.tsv", "val/accuracy.tsv"), strict=True):
                x, y = _read_tsv(live / name)
                if x:
                    ax.plot(x, [100 * v for v in y] if name.startswith("val") else y, style, marker="o",
                            markersize=3, label=f"{variant} seed {seed}")
                    drawn += 1
    if not drawn:
        plt.close(fig)
        return _placeholder(dest, "pretraining curves: no DVCLive plots found (pretraining skipped?)")
    axes[0].set(title="pretraining loss (IMID + CMID)", xlabel="epoch", ylabel="NT-Xent loss")
    axes[1].set(title="validation accuracy, frozen features (epoch 0: random init)", xlabel="epoch",
                ylabel="accuracy (%)")
    for ax in axes:
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, dest)


def partseg_curves_figure(seeds: list[int], dest: str | Path) -> None:
    """Validation instance mIoU per epoch of the part-segmentation runs, pretrained beside scratch."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    drawn = 0
    for seed in seeds:
        src = Path(paths.partseg_curves(seed))
        if not src.exists():
            continue
        with open(src, newline="") as fh:
            rows = list(csv.DictReader(fh))
        if not rows or "pretrained_val_instance_miou" not in rows[0]:
            continue
        epochs = [int(r["epoch"]) for r in rows]
        for run, color in (("pretrained", "tab:blue"), ("scratch", "tab:orange")):
            values = [float(r[f"{run}_val_instance_miou"]) for r in rows]
            ax.plot(epochs, values, color=color, alpha=0.4 + 0.6 / (1 + seeds.index(seed)), marker="o",
                    markersize=3, label=f"{run} seed {seed}")
            drawn += 1
    if not drawn:
        plt.close(fig)
        return _placeholder(dest, "part segmentation curves: none found (partseg skipped?)")
    ax.set(title="part segmentation: validation instance mIoU", xlabel="epoch", ylabel="mIoU (%)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, dest)


def run(prm: Params, plan: Plan) -> list[Row]:
    import matplotlib

    matplotlib.use("Agg")
    rows = build_rows(plan)
    write_tables(rows, paths.tables("summary.csv"), paths.tables("summary.md"))
    write_json(HEADLINE, headline(rows))
    log.info("report: %d rows -> %s, %s, %s", len(rows), paths.tables("summary.csv"), paths.tables("summary.md"),
             HEADLINE)
    tsne_figure(prm.tsne_dataset, prm, paths.figures(f"tsne_{prm.tsne_dataset}.png"), plan.seeds[0])
    confusion_figure(prm.tsne_dataset, paths.figures(f"confusion_{prm.tsne_dataset}.png"))
    pretrain_curves_figure(plan.seeds, paths.figures("pretrain_curves.png"))
    partseg_curves_figure(plan.seeds if plan.partseg_dataset is not None else [], paths.figures("partseg_curves.png"))
    log.info("report: figures tsne_%s.png, confusion_%s.png, pretrain_curves.png, partseg_curves.png written",
             prm.tsne_dataset, prm.tsne_dataset)
    for r in rows:
        if r.gain is not None and not math.isnan(r.gain):
            log.info("%s %s %s: pretrained %.1f ± %s, random %.1f ± %s, gain %+.1f (p=%s, %s)", r.evaluation,
                     r.dataset, r.metric, r.pretrained, r.pretrained_std, r.random_init, r.random_init_std, r.gain,
                     r.p_value, r.significant or "-")
    return rows


def main(args: argparse.Namespace) -> None:
    params = config.load_params(args.params)
    prm = config.section("report", Params, params=params)
    run(prm, plan_from_params(params))
