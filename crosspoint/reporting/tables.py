"""The summary as tables: ``summary.csv`` (every row), ``summary.md`` (rows that repeat another on
balanced sets merged, verdicts marked) and the DVC metrics file ``headline.json``."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path
from typing import Any

from crosspoint.reporting.rows import COLUMNS, Row, balanced_duplicates, split_metric
from crosspoint.store import atomic_path, write_text

# Tables


def _cell(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.2f}"
    return str(x)


def write_csv(dest: str | Path, rows: list[Row]) -> None:
    formatted = {"p_value", "p_holm"}
    with atomic_path(dest) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for r in rows:
            writer.writerow([f"{getattr(r, c):.4g}" if c in formatted and getattr(r, c) is not None
                             else _cell(getattr(r, c)) for c in COLUMNS])


def _pm(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "–"
    return f"{mean:.1f}" + (f" ± {std:.1f}" if std is not None else "")


PAPER_DATASETS = ("modelnet40", "scanobjectnn", "shapenetpart")
MERGED_NAME = {"overall_accuracy": "accuracy", "instance_miou": "mIoU"}
BALANCED_MARK = "¹"
VERDICT_MARK = {"better": "▲ **better**", "worse": "▼ **worse**"}
PROTOCOLS = (
    "**Primary protocol: C=val** (the linear SVM's C chosen by 5-fold cross-validation on the train split, "
    "for each encoder). *C=paper* is the paper's protocol (the fixed C=0.01 on raw features), kept to compare "
    "with the paper: at a fixed small C an untrained encoder's smaller features under-fit, so its gains are "
    "not evidence on their own. *C=val_std*: C by cross-validation on standardised features.")


def merge_balanced(rows: list[Row]) -> tuple[list[Row], list[str]]:
    """The markdown table's rows: for each evaluation and dataset where every mean-class (class mIoU) row
    equals its overall-accuracy (instance mIoU) row for both encoders in every seed -- the test split is
    class-balanced -- one row per protocol, named ``accuracy`` (``mIoU``) and marked with
    :data:`BALANCED_MARK`, instead of two identical ones. Returns the rows and the merged
    ``evaluation dataset`` names (for the footnote). The CSV and headline keep every row."""
    duplicate_of, merged = balanced_duplicates(rows)
    dropped = set(duplicate_of)
    kept = {id(r) for r in duplicate_of.values()}
    out = []
    for r in rows:
        if id(r) in dropped:
            continue
        if id(r) in kept:
            measure, protocol = split_metric(r.metric)
            r = replace(r, metric=f"{MERGED_NAME[measure]}{BALANCED_MARK}{protocol}")
        out.append(r)
    return out, [f"{e} {d}" for e, d in merged]


def _p(p: float | None) -> str:
    return "" if p is None else "<0.001" if p < 0.0005 else f"{p:.3f}"


def _ci(r: Row) -> str:
    return "" if r.gain_ci_low is None else f"[{r.gain_ci_low:+.1f}, {r.gain_ci_high:+.1f}]"


def _p_text(p: float | None) -> str:
    return "< 0.001" if _p(p) == "<0.001" else f"= {_p(p)}"


def markdown(rows: list[Row]) -> str:
    """The summary table, one row per evaluation, dataset, protocol and measure (identical overall and
    mean-class rows merged: :func:`merge_balanced`), then the significant verdicts as a list. When some
    rows are on the paper's own datasets (the ``paper`` preset), those come first in a table of their
    own, and the pipeline's datasets (synthetic, CAPOD) in a second."""
    seeds = max((r.seeds or 0 for r in rows), default=0)
    shown, merged = merge_balanced(rows)
    tests = sum(r.p_value is not None for r in shown)
    lines = [
        "# CrossPoint evaluation summary",
        "",
        PROTOCOLS,
        "",
        f"Accuracies and mIoU in percent, mean ± std over {seeds} pretraining seeds; gain = pretrained − random "
        "init (percentage points); 95% CI: the gain's bootstrap interval over test objects (the linear SVM's "
        "overall accuracy; the ± are the spread over seeds); p: Welch's two-sided t-test over seeds, uncorrected; p (Holm): "
        f"Holm-Bonferroni over the {tests} tests of this table; verdict: ▲ **better** / ▼ **worse** when "
        "p (Holm) < 0.05, else no (the significant rows are listed under the table). "
        "*paper* is the CrossPoint (DGCNN) number where the dataset is the paper's; a number in parentheses "
        "is the paper's result on the dataset this one stands in for (orientation only, different data).",
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
                      f"{_pm(r.random_init, r.random_init_std)}, gain {r.gain:+.1f} (p (Holm) {_p_text(r.p_holm)}, "
                      f"uncorrected {_p_text(r.p_value)})"
                      for r in picked]
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _table(rows: list[Row]) -> list[str]:
    head = ["evaluation", "dataset", "metric", "pretrained", "random init", "gain", "95% CI", "p", "p (Holm)",
            "verdict", "paper", "note"]
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
                 _pm(r.random_init, r.random_init_std), gain, _ci(r), _p(r.p_value), _p(r.p_holm), verdict, paper,
                 r.note.replace("|", "/")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_tables(rows: list[Row], csv_path: str | Path, md_path: str | Path) -> None:
    write_csv(csv_path, rows)
    write_text(md_path, markdown(rows))


def headline(rows: list[Row]) -> dict[str, Any]:
    """One entry per summary row, nested by its :attr:`Row.key` (``svm`` -> ``synth_scan`` ->
    ``oa_val``): ``pre`` / ``pre_sd`` (pretrained mean and std over seeds), ``rand`` / ``rand_sd``
    (random init), ``gain``, ``p`` (Welch, uncorrected), ``p_holm`` (:func:`~crosspoint.reporting.rows.apply_holm`)
    and ``sig`` (1 better, -1 worse, 0 no significant difference, after the correction). Skipped rows are
    left out. ``dvc metrics show results/headline.json`` (and ``diff ... --targets``) reads it; the run's
    declared metrics file is the shorter :func:`primary`."""
    out: dict[str, Any] = {}
    for r in rows:
        if r.pretrained is None or r.random_init is None:
            continue
        evaluation, dataset, metric = r.key.split(".", 2)
        entry = {"pre": r.pretrained, "pre_sd": r.pretrained_std, "rand": r.random_init,
                 "rand_sd": r.random_init_std, "gain": r.gain, "p": r.p_value, "p_holm": r.p_holm,
                 "sig": {"better": 1, "worse": -1}.get(r.significant, 0)}
        out.setdefault(evaluation, {}).setdefault(dataset, {})[metric] = {
            k: v for k, v in entry.items() if v is not None}
    return out


# ---------------------------------------------------------------------------------------------


def is_primary(row: Row) -> bool:
    """A row of the primary protocol: the linear SVM at C=val (overall accuracy), every few-shot setting, part
    segmentation's instance mIoU."""
    return (row.evaluation == "linear_svm" and row.metric == "overall_accuracy (C=val)") or \
        row.evaluation == "fewshot" or (row.evaluation == "partseg" and row.metric == "instance_miou")


def primary(rows: list[Row]) -> dict[str, Any]:
    """The run's DVC metrics file: for each primary row (:func:`is_primary`), nested by its key, the ``gain``
    and the corrected verdict ``sig``. Small on purpose: ``dvc exp show`` shows it whole, and a change to
    pretraining, which moves every number, still fits a terminal. The full set is :func:`headline`."""
    full = headline([r for r in rows if is_primary(r)])
    return {ev: {ds: {m: {"gain": e["gain"], "sig": e["sig"]} for m, e in ms.items()} for ds, ms in by_ds.items()}
            for ev, by_ds in full.items()}
