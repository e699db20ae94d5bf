"""The summary as tables: ``summary.csv`` (every row), ``summary.md`` (rows that repeat another on
balanced sets merged, verdicts marked) and the DVC metrics file ``headline.json``."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path
from typing import Any

from crosspoint.reporting.rows import COLUMNS, Row
from crosspoint.store import atomic_path, write_text

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
