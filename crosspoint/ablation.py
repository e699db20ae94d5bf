"""``crosspoint ablate`` and ``crosspoint compare``: the paper's ablation grid as DVC experiments.

The grid is the ``ablation`` section of params.yaml: each variant a set of params overrides of the
committed baseline (the paper's Table 5: IMID only, CMID only and both terms, for DGCNN and PointNet).
``crosspoint ablate`` runs every variant as a named DVC experiment (``dvc exp run --temp -n
ablate-<variant> -S key=value ... <targets>``, one after the other, each with the baseline's seeds;
data stages come from the DVC cache, only pretraining and what follows rerun), then calls
``compare``. ``crosspoint compare`` reads the metrics of the baseline (``HEAD``) and of each
experiment from git (``refs/exps``, DVC's experiment refs), builds the summary rows with the report
stage's code and writes ``results/tables/ablation.md`` / ``ablation.csv`` and
``results/figures/ablation.png``: one row per evaluation, one column per variant, mean ± std over
seeds of the pretrained encoder, and Welch's test over seeds against the baseline variant.

Snakemake users run the same grid with ``crosspoint ablate --engine snakemake``: one Snakemake run per
variant in its own directory ``ablation/<variant>/`` (its params file = params.yaml plus the
overrides; the data stores are linked from the main tree, so only pretraining and what follows run),
which a cluster profile spreads over nodes; ``compare --from ablation`` then reads those directories.

``crosspoint compare --exp NAME`` puts any DVC experiment beside HEAD the same way. An experiment run with
targets (``dvc exp run -S ... linear_svm@capod_scan``) recomputes only those stages; the other metrics files
in its commit are HEAD's. :func:`stage_status` tells them apart from the two ``dvc.lock`` files, and the
table marks such rows "not rerun (HEAD's value)" (docs/experiments.md).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from crosspoint import config, paths
from crosspoint.store import StageError, atomic_path, write_text

log = logging.getLogger("crosspoint.ablation")

EXP_PREFIX = "ablate-"
ABLATION_DIR = Path("ablation")
# evaluation (summary row) -> the DVC stage that makes its metrics
EVAL_STAGES = {"linear_svm": "linear_svm", "fewshot": "fewshot", "partseg": "partseg"}
# data stores a Snakemake variant directory links from the main tree (never rebuilt per variant)
SHARED_DATA = ("prepared", "render", "views", "points")


@dataclass(frozen=True)
class Params:
    # variant -> {dotted params key: value}; the baseline variant has no overrides (it is HEAD)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    baseline: str = "both"
    targets: list[str] = field(default_factory=lambda: ["report"])  # DVC stages each variant runs

    def check(self) -> list[str]:
        problems = []
        if self.baseline not in self.variants:
            problems.append(f"baseline {self.baseline!r} is not one of the variants")
        elif self.variants[self.baseline]:
            problems.append(f"the baseline variant {self.baseline!r} must have no overrides (it is the committed run)")
        for name in self.variants:
            if not name.replace("_", "").replace("-", "").isalnum():
                problems.append(f"variant name {name!r}: use letters, digits, _ and -")
        unknown = [t for t in self.targets if t not in (*EVAL_STAGES, "report")]
        if unknown:
            problems.append(f"targets {unknown}: choose from {sorted((*EVAL_STAGES, 'report'))}")
        return problems

    def evaluations(self) -> list[str]:
        """The evaluations whose rows the variants recompute (all of them when the report is a target)."""
        if "report" in self.targets:
            return list(EVAL_STAGES)
        return [e for e, stage in EVAL_STAGES.items() if stage in self.targets]


def set_value(params: dict[str, Any], dotted: str, value: Any) -> None:
    """``params[a][b][c] = value`` for ``dotted = "a.b.c"``; the key must already exist."""
    *head, last = dotted.split(".")
    node = params
    for part in head:
        if not isinstance(node, dict) or part not in node:
            raise StageError(f"ablation: params key {dotted!r} does not exist")
        node = node[part]
    if not isinstance(node, dict) or last not in node:
        raise StageError(f"ablation: params key {dotted!r} does not exist")
    node[last] = value


def variant_params(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The params of a variant: a deep copy of ``base`` with the overrides applied (and validated)."""
    from crosspoint.params_check import validate_all

    out = json.loads(json.dumps(base))
    for key, value in overrides.items():
        set_value(out, key, value)
    validate_all(out)
    return out


def _set_args(overrides: dict[str, Any]) -> list[str]:
    return [arg for key, value in overrides.items() for arg in ("-S", f"{key}={json.dumps(value)}")]


# ---------------------------------------------------------------------------------------------
# Running the grid


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
    log.info("$ %s", " ".join(cmd))
    return subprocess.run(cmd, check=False, **kwargs)


def run_dvc(prm: Params, names: list[str]) -> None:
    """Each variant as a DVC experiment ``ablate-<name>`` on top of HEAD, run in a temporary copy."""
    status = subprocess.run(["dvc", "status", "--quiet"], capture_output=True, text=True, check=False)
    if status.returncode != 0:
        raise StageError("ablate: the workspace is not up to date (`dvc status` reports changes); run `dvc repro` "
                         "and commit the record first: the variants are compared with the committed run")
    for name in names:
        exp = EXP_PREFIX + name
        _run(["dvc", "exp", "remove", exp], capture_output=True)  # a rerun replaces the old experiment
        result = _run(["dvc", "exp", "run", "--temp", "-n", exp, *_set_args(prm.variants[name]), *prm.targets])
        if result.returncode != 0:
            raise StageError(f"ablate: experiment {exp} failed (exit {result.returncode}); see the log above")


def prepare_variant_dir(name: str, overrides: dict[str, Any], base: dict[str, Any], root: Path = ABLATION_DIR) -> Path:
    """``ablation/<name>/`` for a Snakemake run: its params.yaml, links to the shared data stores and to
    the folders the params reference (``../shared`` and the like are resolved from the main tree)."""
    work = root / name
    (work / paths.DATA).mkdir(parents=True, exist_ok=True)
    for sub in SHARED_DATA:
        link, target = work / paths.DATA / sub, Path(paths.DATA, sub).resolve()
        if not link.is_symlink():
            link.symlink_to(target, target_is_directory=True)
    code = work / "crosspoint"  # the rules list the package's modules as inputs, relative to the run folder
    if not code.is_symlink():
        code.symlink_to(Path("crosspoint").resolve(), target_is_directory=True)
    params = variant_params(base, overrides)
    for ds in params.get("datasets", {}).values():  # relative dataset paths are relative to the main tree
        if isinstance(ds, dict) and isinstance(ds.get("path"), str) and not os.path.isabs(ds["path"]):
            ds["path"] = str(Path(ds["path"]).resolve())
    write_text(work / "params.yaml", yaml.safe_dump(params, sort_keys=False))
    return work


def run_snakemake(prm: Params, names: list[str], base: dict[str, Any], extra: list[str]) -> None:
    """Each variant as a Snakemake run in ``ablation/<name>/`` (targets: the evaluations' outputs)."""
    snakefile = Path("workflow/Snakefile").resolve()
    for name in names:
        work = prepare_variant_dir(name, prm.variants[name], base)
        params = yaml.safe_load((work / "params.yaml").read_text())
        cmd = ["snakemake", "--snakefile", str(snakefile), "--directory", str(work),
               "--allowed-rules", *DOWNSTREAM_RULES, *extra, "--", *snakemake_targets(prm.targets, params)]
        result = _run(cmd)
        if result.returncode != 0:
            raise StageError(f"ablate: the Snakemake run of {name} failed (exit {result.returncode})")


# The rules a variant reruns; the data stages' outputs are taken as they are (linked from the main tree).
DOWNSTREAM_RULES = ("pretrain", "features", "merge_features", "linear_svm", "fewshot", "partseg", "report")


def snakemake_targets(targets: list[str], params: dict[str, Any]) -> list[str]:
    """The files that stand for the DVC stage names in ``targets`` (Snakemake targets files, not
    rules with wildcards)."""
    files: list[str] = []
    for t in targets:
        if t == "linear_svm":
            files += [paths.metrics(f"linear_svm_{d}") for d in params["linear_svm"]["datasets"]]
        elif t == "fewshot":
            files += [paths.metrics(f"fewshot_{d}") for d in params["fewshot"]["datasets"]]
        elif t == "partseg":
            files += [paths.partseg_metrics(s) for s in config.pretrain_seeds(params=params)]
        elif t == "report":
            files.append(paths.tables("summary.csv"))
    return files


# ---------------------------------------------------------------------------------------------
# Comparing


Reader = Callable[[str], dict[str, Any]]


def git_reader(rev: str) -> Reader:
    """Read a JSON file as committed at ``rev``."""

    def read(path: str) -> dict[str, Any]:
        result = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StageError(f"compare: {path} not found at {rev[:10]} ({result.stderr.strip()})")
        return json.loads(result.stdout)

    return read


def dir_reader(root: Path) -> Reader:
    def read(path: str) -> dict[str, Any]:
        p = root / path
        if not p.exists():
            raise StageError(f"compare: {p} not found (run `crosspoint ablate --engine snakemake` first)")
        return json.loads(p.read_text())

    return read


def experiment_refs(baseline_rev: str) -> dict[str, str]:
    """DVC experiment name -> commit, for the experiments based on ``baseline_rev``."""
    out = subprocess.run(["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps/"],
                         capture_output=True, text=True, check=True).stdout
    prefix = f"refs/exps/{baseline_rev[:2]}/{baseline_rev[2:]}/"
    refs = {}
    for line in out.splitlines():
        ref, sha = line.split()
        if ref.startswith(prefix):
            refs[ref[len(prefix):]] = sha
    return refs


def grid_baseline(prefix: str = EXP_PREFIX, depth: int = 100) -> tuple[str, dict[str, str]]:
    """The commit the ablation experiments are based on (HEAD, or the nearest first-parent ancestor of
    HEAD that has ``ablate-*`` experiments: committing the table afterwards moves HEAD) and its refs."""
    revs = subprocess.run(["git", "rev-list", "--first-parent", f"--max-count={depth}", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.split()
    for rev in revs:
        refs = experiment_refs(rev)
        if any(name.startswith(prefix) for name in refs):
            return rev, refs
    return revs[0], {}


def rows_of(read: Reader, params: dict[str, Any], evaluations: list[str]) -> dict[str, Any]:
    """Summary rows (by :attr:`~crosspoint.report.Row.key`) of the evaluations, read through ``read``."""
    from crosspoint import report

    plan = report.plan_from_params(params)
    if "linear_svm" not in evaluations:
        plan.linear_svm_datasets = []
    if "fewshot" not in evaluations:
        plan.fewshot_datasets = []
    if "partseg" not in evaluations:
        plan.partseg_dataset = None
    return {r.key: r for r in report.build_rows(plan, read=read) if r.pretrained is not None}


# ---------------------------------------------------------------------------------------------
# Which stages an experiment recomputed (a partial `dvc exp run ... TARGET` reruns only TARGET and what
# it depends on; every other metrics file in the experiment's commit is HEAD's, copied along)

RERUN, NOT_RERUN, STALE, PARTLY = "rerun", "not rerun", "stale", "partly rerun"


def lock_at(rev: str) -> dict[str, Any]:
    """``dvc.lock`` as committed at ``rev`` (empty when there is none)."""
    result = subprocess.run(["git", "show", f"{rev}:dvc.lock"], capture_output=True, text=True, check=False)
    return (yaml.safe_load(result.stdout) or {}) if result.returncode == 0 else {}


def git_changed(base_rev: str, rev: str) -> Callable[[str], bool]:
    """Whether a path tracked in git (a source file, or a folder holding one) differs between two commits."""
    out = subprocess.run(["git", "diff", "--name-only", "--no-renames", base_rev, rev], capture_output=True,
                         text=True, check=True).stdout.split("\n")
    files = {f for f in out if f}
    folders = {a for f in files for a in _ancestors(f)}
    return lambda path: path.rstrip("/") in files or path.rstrip("/") in folders


def _param(params: dict[str, Any], dotted: str) -> Any:
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return KeyError  # a sentinel no params value equals
        node = node[part]
    return node


def _plain(value: Any) -> Any:
    """A params value as both sides spell it: PyYAML (YAML 1.1) reads DVC's ``1e-06`` in dvc.lock as a
    string where params.yaml's ``1.0e-6`` is a float, so numeric strings compare as numbers."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _ancestors(path: str) -> list[str]:
    parts = Path(path).parts
    return [str(Path(*parts[:i])) for i in range(1, len(parts))]


def stage_status(base_lock: dict[str, Any], exp_lock: dict[str, Any], exp_params: dict[str, Any],
                 source_changed: Callable[[str], bool] = lambda path: False) -> dict[str, str]:
    """Stage (``linear_svm@capod_scan``) -> ``rerun`` when the experiment's dvc.lock entry differs from the
    baseline's (the stage ran, or came from DVC's run cache, for the experiment), else ``not rerun`` (the
    entry, and so its outputs, are the baseline's), or ``stale``: not rerun although a params value it
    records, a source it depends on (``source_changed``) or an output of a rerun or stale stage it depends
    on (a file, or one inside a folder it depends on) changed in the experiment -- its value there is unknown."""
    base = base_lock.get("stages", {})
    stages = exp_lock.get("stages", {})
    status = {name: RERUN if base.get(name) != entry else NOT_RERUN for name, entry in stages.items()}
    produced = {o["path"] for entry in stages.values() for o in entry.get("outs", [])}
    base_hash = {o["path"]: o.get("md5") for entry in base.values() for o in entry.get("outs", [])}
    changed: set[str] = set()  # outputs whose content differs from the baseline's (or is unknown)
    above: set[str] = set()  # the folders holding them (a folder dep above a changed file changed too)

    def mark_changed(entry: dict[str, Any], everything: bool) -> None:
        for o in entry.get("outs", []):
            if everything or base_hash.get(o["path"]) != o.get("md5"):
                changed.add(o["path"])
                above.update(_ancestors(o["path"]))

    def touched(dep: str) -> bool:
        return dep in changed or dep in above or any(a in changed for a in _ancestors(dep))

    for name, entry in stages.items():
        if status[name] == RERUN:
            mark_changed(entry, everything=False)
    grew = True
    while grew:  # staleness flows downstream: a stale stage's outputs are not the experiment's either
        grew = False
        for name, entry in stages.items():
            if status[name] != NOT_RERUN:
                continue
            recorded = entry.get("params", {}).get("params.yaml", {})
            deps = [d["path"] for d in entry.get("deps", [])]
            if (any(_plain(_param(exp_params, k)) != _plain(v) for k, v in recorded.items())
                    or any(touched(d) for d in deps)
                    or any(source_changed(d) for d in deps if d not in produced)):
                status[name] = STALE
                mark_changed(entry, everything=True)
                grew = True
    return status


def file_status(status: dict[str, str], exp_lock: dict[str, Any], files: list[str]) -> str:
    """The status of the stages that write ``files`` (metrics files): ``rerun`` when all were rerun,
    ``stale`` / ``not rerun`` when none was (stale if any is), ``partly rerun`` otherwise; "" when a file
    is no stage's output in the lock (not a DVC run: nothing to say)."""
    writer = {o["path"]: name for name, entry in exp_lock.get("stages", {}).items() for o in entry.get("outs", [])}
    if not files or any(f not in writer for f in files):
        return ""
    found = {status.get(writer[f], RERUN) for f in files}
    if found == {RERUN}:
        return RERUN
    if RERUN in found:
        return PARTLY
    return STALE if STALE in found else NOT_RERUN


def row_files(key: str, seeds: list[int]) -> list[str]:
    """The metrics files a summary row (by :attr:`~crosspoint.report.Row.key`) is read from."""
    evaluation, dataset, _ = key.split(".", 2)
    if evaluation == "svm":
        return [paths.metrics(f"linear_svm_{dataset}")]
    if evaluation == "fewshot":
        return [paths.metrics(f"fewshot_{dataset}")]
    return [paths.partseg_metrics(s) for s in seeds]


def row_status(rev: str, base_rev: str, exp_params: dict[str, Any], keys: list[str],
               base_lock: dict[str, Any] | None = None) -> dict[str, str]:
    """Row key -> :func:`file_status` of the experiment at ``rev`` against ``base_rev``."""
    exp_lock = lock_at(rev)
    status = stage_status(lock_at(base_rev) if base_lock is None else base_lock, exp_lock, exp_params,
                          git_changed(base_rev, rev))
    seeds = config.pretrain_seeds(params=exp_params)
    return {key: file_status(status, exp_lock, row_files(key, seeds)) for key in keys}


@dataclass
class Cell:
    mean: float
    std: float | None
    p_value: float | None = None  # Welch over seeds against the baseline variant
    verdict: str = ""  # better / worse / "" (no significant difference, or the baseline itself)
    status: str = ""  # not rerun / stale / partly rerun: the value is (partly) the baseline's (stage_status)


# cell status -> its mark in the tables
STATUS_MARK = {NOT_RERUN: "not rerun (HEAD's value)", STALE: "not rerun (HEAD's value; stale)",
               PARTLY: "partly rerun (some seeds HEAD's)"}
STATUS_LEGEND = (
    "*not rerun (HEAD's value)*: the experiment did not recompute the stage that writes this row (its "
    "`dvc.lock` entry is HEAD's), so the number is HEAD's, not the experiment's; *stale*: and the stage's "
    "inputs (params, sources or upstream outputs) changed in the experiment, so the experiment's own value is "
    "unknown -- run the experiment with that stage among its targets (or `report`) to get it; *partly rerun*: "
    "some of the row's seeds were recomputed, the others are HEAD's. No test against HEAD on these cells.")


def compare_cells(rows: dict[str, dict[str, Any]], baseline: str,
                  status: dict[str, dict[str, str]] | None = None) -> dict[str, dict[str, Cell]]:
    """row key -> variant -> cell; each variant's per-seed pretrained scores tested against the baseline's,
    unless ``status[variant][key]`` says the variant did not recompute the row (then the cell says so)."""
    from crosspoint.metrics import compare_over_seeds

    table: dict[str, dict[str, Cell]] = {}
    for key, base_row in rows[baseline].items():
        table[key] = {}
        for variant, by_key in rows.items():
            row = by_key.get(key)
            if row is None:
                continue
            cell = Cell(row.pretrained, row.pretrained_std)
            state = (status or {}).get(variant, {}).get(key, "")
            if state in STATUS_MARK:
                cell.status = state
            elif variant != baseline and row.pretrained_values and base_row.pretrained_values:
                cmp = compare_over_seeds(row.pretrained_values, base_row.pretrained_values)
                cell.p_value = cmp["p_value"]
                cell.verdict = cmp["verdict"] if cmp["verdict"] in ("better", "worse") else ""
            table[key][variant] = cell
        random = base_row.random_init
        table[key]["random init"] = Cell(random, base_row.random_init_std)
    return table


def markdown(table: dict[str, dict[str, Cell]], variants: list[str], baseline: str, overrides: dict[str, dict],
             seeds: int, title: str = "Ablation: which pretraining terms and backbone matter",
             what: str = "variant of the grid (`crosspoint ablate`)") -> str:
    cols = [*variants, "random init"]
    lines = [
        f"# {title}",
        "",
        f"Pretrained-encoder score per evaluation (percent), mean ± std over {seeds} pretraining seeds, for each "
        f"{what}; **better** / **worse**: Welch's two-sided t-test over seeds "
        f"against *{baseline}* at p < 0.05 (p in parentheses when significant). *random init* is the baseline's "
        "random-init encoder, for scale.",
        "",
        "Variants: " + "; ".join(
            f"*{v}*: " + (", ".join(f"`{k}={json.dumps(x)}`" for k, x in overrides[v].items()) or "the committed run")
            for v in variants) + ".",
        "",
        "| row | " + " | ".join(cols) + " |",
        "|---|" + "|".join("---" for _ in cols) + "|",
    ]
    for key, cells in table.items():
        out = []
        for c in cols:
            cell = cells.get(c)
            if cell is None:
                out.append("–")
                continue
            text = f"{cell.mean:.1f}" + (f" ± {cell.std:.1f}" if cell.std is not None else "")
            if cell.verdict:
                text += f" **{cell.verdict}** ({cell.p_value:.3f})"
            if cell.status:
                text += f" *{STATUS_MARK[cell.status]}*"
            out.append(text)
        lines.append(f"| {key} | " + " | ".join(out) + " |")
    if any(cell.status for cells in table.values() for cell in cells.values()):
        lines += ["", STATUS_LEGEND]
    return "\n".join(lines) + "\n"


def write_csv(dest: str | Path, table: dict[str, dict[str, Cell]], variants: list[str]) -> None:
    with atomic_path(dest) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["row", "variant", "mean", "std", "p_value_vs_baseline", "verdict"])
        for key, cells in table.items():
            for v in [*variants, "random init"]:
                c = cells.get(v)
                if c is not None:
                    w.writerow([key, v, f"{c.mean:.2f}", "" if c.std is None else f"{c.std:.2f}",
                                "" if c.p_value is None else f"{c.p_value:.4g}", c.status or c.verdict])


def figure(table: dict[str, dict[str, Cell]], variants: list[str], dest: str | Path) -> None:
    """Grouped bars: one group per row (the C=val / few-shot / mIoU rows), one bar per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from crosspoint.report import save_figure

    keys = [k for k in table if not k.split(".")[-1].startswith("mca")]  # mean-class rows repeat OA here
    cols = [*variants, "random init"]
    fig, ax = plt.subplots(figsize=(max(8, 0.7 * len(keys) * len(cols) / 3), 4.5))
    width = 0.8 / len(cols)
    x = np.arange(len(keys))
    for i, v in enumerate(cols):
        means = [table[k][v].mean if v in table[k] else np.nan for k in keys]
        stds = [(table[k][v].std or 0.0) if v in table[k] else 0.0 for k in keys]
        ax.bar(x + (i - (len(cols) - 1) / 2) * width, means, width, yerr=stds, capsize=2, label=v)
    ax.set_xticks(x, keys, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("percent (mean ± std over seeds)")
    ax.set_title("ablation grid: pretrained encoder per variant")
    ax.legend(fontsize=7, ncol=min(4, len(cols)))
    fig.tight_layout()
    save_figure(fig, dest)


def compare(prm: Params, base_params: dict[str, Any], from_dir: Path | None = None) -> dict[str, dict[str, Cell]]:
    """Collect the baseline and every variant that has results; write the ablation table and figure."""
    evaluations = prm.evaluations()
    rows: dict[str, dict[str, Any]] = {}
    overrides = {}
    status: dict[str, dict[str, str]] = {}
    if from_dir is None:
        base_rev, refs = grid_baseline()
        base_params = yaml.safe_load(subprocess.run(["git", "show", f"{base_rev}:params.yaml"], capture_output=True,
                                                    text=True, check=True).stdout)
        log.info("compare: baseline %s (the commit the experiments were run on)", base_rev[:10])
        rows[prm.baseline] = rows_of(git_reader(base_rev), base_params, evaluations)
    else:
        rows[prm.baseline] = rows_of(dir_reader(Path(".")), base_params, evaluations)
        refs = {}
    overrides[prm.baseline] = {}
    for name, ov in prm.variants.items():
        if name == prm.baseline:
            continue
        if from_dir is None:
            if EXP_PREFIX + name not in refs:
                log.warning("compare: no experiment %s%s on top of the baseline (run `crosspoint ablate`); left out",
                            EXP_PREFIX, name)
                continue
            read = git_reader(refs[EXP_PREFIX + name])
            exp_params = variant_params(base_params, ov)
        else:
            if not (from_dir / name).is_dir():
                log.warning("compare: %s missing; left out", from_dir / name)
                continue
            read = dir_reader(from_dir / name)
        rows[name] = rows_of(read, variant_params(base_params, ov), evaluations)
        overrides[name] = ov
        if from_dir is None:
            status[name] = row_status(refs[EXP_PREFIX + name], base_rev, exp_params, list(rows[name]))
            stale = sorted(k for k, s in status[name].items() if s in STATUS_MARK)
            if stale:
                log.warning("compare: %s%s did not recompute %s (HEAD's values, marked)", EXP_PREFIX, name,
                            ", ".join(stale))
    variants = list(rows)
    table = compare_cells(rows, prm.baseline, status)
    seeds = len(config.pretrain_seeds(params=base_params))
    write_text(paths.tables("ablation.md"), markdown(table, variants, prm.baseline, overrides, seeds))
    write_csv(paths.tables("ablation.csv"), table, variants)
    figure(table, variants, paths.figures("ablation.png"))
    log.info("compare: %d variants x %d rows -> %s, %s, %s", len(variants), len(table), paths.tables("ablation.md"),
             paths.tables("ablation.csv"), paths.figures("ablation.png"))
    return table


def changed_params(base: Any, other: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys whose values differ between two params mappings (the other's values)."""
    if isinstance(base, dict) and isinstance(other, dict):
        out: dict[str, Any] = {}
        for key in sorted(set(base) | set(other), key=str):
            out.update(changed_params(base.get(key), other.get(key), f"{prefix}{key}."))
        return out
    return {} if base == other else {prefix[:-1]: other}


def compare_experiments(names: list[str], base_params: dict[str, Any], baseline: str = "HEAD") -> str:
    """Any DVC experiments on top of HEAD beside it, as the ablation table (markdown, not written to disk):
    the readable view of a change that moves every row, where `dvc exp show` is too wide."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    refs = experiment_refs(head)
    rows = {baseline: rows_of(git_reader(head), base_params, list(EVAL_STAGES))}
    overrides: dict[str, dict] = {baseline: {}}
    status: dict[str, dict[str, str]] = {}
    base_lock = lock_at(head)
    recomputed = []
    for name in names:
        if name not in refs:
            raise StageError(f"compare: no experiment {name!r} on top of HEAD; known: {sorted(refs) or 'none'}")
        exp_params = yaml.safe_load(subprocess.run(["git", "show", f"{refs[name]}:params.yaml"], capture_output=True,
                                                   text=True, check=True).stdout)
        rows[name] = rows_of(git_reader(refs[name]), exp_params, list(EVAL_STAGES))
        overrides[name] = changed_params(base_params, exp_params)
        status[name] = row_status(refs[name], head, exp_params, list(rows[name]), base_lock)
        seeds = config.pretrain_seeds(params=exp_params)
        files = sorted({f for k, s in status[name].items() if s in (RERUN, PARTLY) for f in row_files(k, seeds)})
        if any(s in STATUS_MARK for s in status[name].values()):
            recomputed.append(f"*{name}* recomputed " + (", ".join(f"`{f}`" for f in files) or "no metrics file")
                              + (f"; `dvc metrics diff HEAD {name} --targets {' '.join(files)}` lists every number "
                                 "that moved in them." if files else "."))
    table = compare_cells(rows, baseline, status)
    text = markdown(table, list(rows), baseline, overrides, len(config.pretrain_seeds(params=base_params)),
                    title="Experiments against HEAD", what="experiment")
    return text + "".join(f"\n{line}\n" for line in recomputed)


# ---------------------------------------------------------------------------------------------
# CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variants", default=None,
                        help="comma-separated subset of ablation.variants to run (default: all but the baseline)")
    parser.add_argument("--engine", choices=("dvc", "snakemake"), default="dvc",
                        help="dvc: DVC experiments (default); snakemake: one Snakemake run per variant in ablation/")
    parser.add_argument("--no-compare", action="store_true", help="run the variants only")
    parser.add_argument("snakemake_args", nargs=argparse.REMAINDER,
                        help="after --: extra Snakemake arguments (e.g. -- --profile workflow/profiles/slurm)")


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="from_dir", default=None,
                        help="read the variants from this folder of Snakemake runs (e.g. ablation) instead of "
                             "DVC experiments")
    parser.add_argument("--exp", action="append", default=[], metavar="NAME",
                        help="instead of the grid: print any DVC experiment(s) on top of HEAD beside it, as a "
                             "table on stdout (repeatable; writes nothing); rows the experiment did not "
                             "recompute are marked 'not rerun (HEAD's value)'")


def _load(args: argparse.Namespace) -> tuple[Params, dict[str, Any]]:
    params = config.load_params(args.params)
    return config.section("ablation", Params, params=params), params


def main(args: argparse.Namespace) -> None:
    prm, params = _load(args)
    names = [n for n in prm.variants if n != prm.baseline]
    if args.variants:
        wanted = [v.strip() for v in args.variants.split(",") if v.strip()]
        unknown = [v for v in wanted if v not in prm.variants]
        if unknown:
            raise StageError(f"ablate: unknown variant(s) {unknown}; known: {sorted(prm.variants)}")
        names = [n for n in wanted if n != prm.baseline]
    extra = [a for a in args.snakemake_args if a != "--"]
    if args.engine == "dvc":
        run_dvc(prm, names)
    else:
        if shutil.which("snakemake") is None:
            raise StageError("ablate: snakemake is not on PATH")
        run_snakemake(prm, names, params, extra or ["--cores", str(os.cpu_count() or 1)])
    if not args.no_compare:
        compare(prm, params, from_dir=ABLATION_DIR if args.engine == "snakemake" else None)


def compare_main(args: argparse.Namespace) -> None:
    prm, params = _load(args)
    if args.exp:
        print(compare_experiments(args.exp, params), end="")
        return
    compare(prm, params, from_dir=Path(args.from_dir) if args.from_dir else None)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `crosspoint ablate` / `crosspoint compare`")
