"""The rows of the summary: the report section's params, the paper's numbers, one row per evaluation,
dataset and metric built from the evaluations' metrics files, and which evaluations a params file plans."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from crosspoint import config, paths
from crosspoint.metrics import SIGNIFICANCE_LEVEL, compare_over_seeds, holm
from crosspoint.store import StageError

# Every summary row's numbers (beside results/metrics, which this stage reads), and the run's DVC metrics
# file: the primary rows' gains and verdicts, what `dvc exp show` shows.
HEADLINE = f"{paths.RESULTS}/headline.json"
PRIMARY = f"{paths.RESULTS}/primary.json"


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
    gain_ci_low: float | None = None  # 95 % bootstrap interval of the gain over test objects (linear SVM OA)
    gain_ci_high: float | None = None
    p_value: float | None = None  # Welch's two-sided t-test over seeds, uncorrected
    p_holm: float | None = None  # Holm-Bonferroni over the table's tests (tables.apply_holm)
    significant: str = ""  # better / worse when p_holm < 0.05, else no
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
    low, high = cmp.get("gain_ci95", (None, None))
    return Row(evaluation, dataset, metric, _num(cmp["pretrained"]["mean"]), _num(cmp["pretrained"]["std"]),
               _num(cmp["random"]["mean"]), _num(cmp["random"]["std"]), _num(cmp["gain"]),
               gain_ci_low=_num(low), gain_ci_high=_num(high), p_value=None if p is None else round(float(p), 4), significant=significant,
               seeds=int(cmp.get("seeds", 0)) or None, note=note,
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


# ---------------------------------------------------------------------------------------------
# Rows that repeat another (balanced test splits) and the table's multiple-testing correction

# measure -> the measure that equals it on a class-balanced test split (per-class mean of the same scores)
BALANCED_PAIRS = {"overall_accuracy": "mean_class_accuracy", "instance_miou": "class_miou"}


def split_metric(metric: str) -> tuple[str, str]:
    """``overall_accuracy (C=val)`` -> (``overall_accuracy``, `` (C=val)``); ``class_miou`` -> (``class_miou``, "")."""
    name, _, rest = metric.partition(" ")
    return name, f" {rest}" if rest else ""


def _agree(a: Row, b: Row) -> bool:
    """Both encoders score the same on the two rows, seed by seed (only decidable with per-seed values)."""
    return (bool(a.pretrained_values) and a.pretrained_values == b.pretrained_values
            and bool(a.random_values) and a.random_values == b.random_values)


def balanced_duplicates(rows: list[Row]) -> tuple[dict[int, Row], list[tuple[str, str]]]:
    """``id(mean-class row) -> its overall row`` for every evaluation and dataset where the two agree in every
    protocol (:func:`crosspoint.reporting.tables.merge_balanced` shows them as one row), and those (evaluation, dataset) pairs."""
    by_metric = {(r.evaluation, r.dataset, r.metric): r for r in rows}
    partner: dict[tuple[str, str, str], Row] = {}  # overall row's key -> its mean-class row
    for r in rows:
        measure, protocol = split_metric(r.metric)
        other = by_metric.get((r.evaluation, r.dataset, BALANCED_PAIRS.get(measure, "") + protocol))
        if other is not None:
            partner[(r.evaluation, r.dataset, r.metric)] = other
    groups: dict[tuple[str, str], list[bool]] = {}
    for (evaluation, dataset, metric), other in partner.items():
        groups.setdefault((evaluation, dataset), []).append(_agree(by_metric[(evaluation, dataset, metric)], other))
    merged = [g for g, agree in groups.items() if all(agree)]
    return {id(partner[k]): by_metric[k] for k in partner if k[:2] in merged}, merged


def apply_holm(rows: list[Row], alpha: float = SIGNIFICANCE_LEVEL) -> int:
    """Holm-Bonferroni over the table's tests: every row with a p-value that the markdown table shows (a
    mean-class row identical to its overall row is the same test, and takes its partner's correction).
    Sets ``p_holm`` and the corrected verdict ``significant`` on each row; returns the number of tests."""
    duplicate_of, _ = balanced_duplicates(rows)
    family = [r for r in rows if r.p_value is not None and id(r) not in duplicate_of]
    for r, adjusted in zip(family, holm([r.p_value for r in family]), strict=True):
        r.p_holm = round(adjusted, 4)
        r.significant = ("better" if r.gain > 0 else "worse") if adjusted < alpha else "no"
    for r in rows:
        if id(r) in duplicate_of:
            r.p_holm, r.significant = duplicate_of[id(r)].p_holm, duplicate_of[id(r)].significant
    return len(family)


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
    steps_datasets: list[str] = field(default_factory=list)  # drawn (gain_vs_steps.png), not tabled


def build_rows(plan: Plan, read: Callable[[str], dict[str, Any]] = read_metrics) -> list[Row]:
    """The summary rows, their verdicts corrected over the table (:func:`apply_holm`); ``read`` loads a
    metrics file by path (another commit's, for ``compare``)."""
    rows: list[Row] = []
    for d in plan.linear_svm_datasets:
        rows += linear_svm_rows(d, read(paths.metrics(f"linear_svm_{d}")))
    for d in plan.fewshot_datasets:
        rows += fewshot_rows(read(paths.metrics(f"fewshot_{d}")), d, plan.fewshot_settings)
    if plan.partseg_dataset is not None:
        rows += partseg_rows([read(paths.partseg_metrics(s)) for s in plan.seeds], plan.partseg_dataset)
    apply_holm(rows)
    return rows


# ---------------------------------------------------------------------------------------------


def plan_from_params(params: dict[str, Any]) -> Plan:
    from crosspoint.settings import FewshotParams, LinearSvmParams, PartsegParams, StepsParams, setting_name

    svm = config.parse_section(LinearSvmParams, params.get("linear_svm"), "linear_svm")
    few = config.parse_section(FewshotParams, params.get("fewshot"), "fewshot")
    seg = config.parse_section(PartsegParams, params.get("partseg"), "partseg")
    return Plan(
        linear_svm_datasets=list(svm.datasets),
        fewshot_datasets=list(few.datasets) if "fewshot" in params else [],
        fewshot_settings=[setting_name(w, s) for w, s in few.settings],
        partseg_dataset=seg.dataset if "partseg" in params else None,
        seeds=config.pretrain_seeds(params=params),
        steps_datasets=list(config.parse_section(StepsParams, params.get("steps"), "steps").datasets),
    )
