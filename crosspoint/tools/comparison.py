"""Comparing runs: the ablation grid's variants against the baseline, or any DVC experiments beside HEAD,
as summary rows (the report stage's rows) with Welch's test over seeds; rows an experiment did not
recompute are told apart by comparing the two ``dvc.lock`` files."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from crosspoint import config, paths
from crosspoint.store import StageError, atomic_path, write_text
from crosspoint.tools.ablation_grid import EVAL_STAGES, EXP_PREFIX, Params, load_section, variant_params
from crosspoint.tools.exp_status import NOT_RERUN, PARTLY, RERUN, STALE, lock_at, row_files, row_status

log = logging.getLogger("crosspoint.tools.comparison")

# ---------------------------------------------------------------------------------------------
# Comparing


Reader = Callable[[str], dict[str, Any]]


def git_reader(rev: str) -> Reader:
    """Read a JSON file as committed at ``rev``; a file that commit does not have (a dataset only the other
    side of a comparison evaluates) reads as skipped, so its rows are absent on this side."""

    def read(path: str) -> dict[str, Any]:
        result = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            return {"skipped": f"{path} not at {rev[:10]}"}
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
    """Summary rows (by :attr:`~crosspoint.reporting.rows.Row.key`) of the evaluations, read through ``read``."""
    from crosspoint.reporting.rows import build_rows, plan_from_params

    plan = plan_from_params(params)
    if "linear_svm" not in evaluations:
        plan.linear_svm_datasets = []
    if "fewshot" not in evaluations:
        plan.fewshot_datasets = []
    if "partseg" not in evaluations:
        plan.partseg_dataset = None
    return {r.key: r for r in build_rows(plan, read=read) if r.pretrained is not None}


# ---------------------------------------------------------------------------------------------
# Which stages an experiment recomputed (a partial `dvc exp run ... TARGET` reruns only TARGET and what
# it depends on; every other metrics file in the experiment's commit is HEAD's, copied along)


@dataclass
class Cell:
    mean: float
    std: float | None
    p_value: float | None = None  # Welch over seeds against the baseline variant, uncorrected
    p_holm: float | None = None  # Holm-Bonferroni over every test of the table
    verdict: str = ""  # better / worse when p_holm < 0.05; "" (no significant difference, or the baseline itself)
    status: str = ""  # not rerun / stale / partly rerun: the value is (partly) the baseline's (stage_status)


ONE_SIDE = "one side"  # a row the baseline does not have: shown, not tested
# cell status -> its mark in the tables
STATUS_MARK = {NOT_RERUN: "not rerun (HEAD's value)", STALE: "not rerun (HEAD's value; stale)",
               PARTLY: "partly rerun (some seeds HEAD's)", ONE_SIDE: "only here (no baseline row)"}
STATUS_LEGEND = (
    "*not rerun (HEAD's value)*: the experiment did not recompute the stage that writes this row (its "
    "`dvc.lock` entry is HEAD's), so the number is HEAD's, not the experiment's; *stale*: and the stage's "
    "inputs (params, sources or upstream outputs) changed in the experiment, so the experiment's own value is "
    "unknown -- run the experiment with that stage among its targets (or `report`) to get it; *partly rerun*: "
    "some of the row's seeds were recomputed, the others are HEAD's; *only here*: the baseline has no such row "
    "(a dataset it does not evaluate), and *random init* is then this run's. No test against HEAD on these cells.")


def _test_of(key: str) -> str:
    """The row whose test a row repeats when its scores equal it seed by seed: a mean-class accuracy (class
    mIoU) row its overall accuracy (instance mIoU) row, on a class-balanced test split."""
    return key.replace(".mca_", ".oa_").replace(".class_miou", ".instance_miou")


def compare_cells(rows: dict[str, dict[str, Any]], baseline: str,
                  status: dict[str, dict[str, str]] | None = None) -> dict[str, dict[str, Cell]]:
    """row key -> variant -> cell; each variant's per-seed pretrained scores tested against the baseline's,
    unless ``status[variant][key]`` says the variant did not recompute the row (then the cell says so), the
    verdicts corrected by Holm-Bonferroni over every test of the table. A row
    the baseline does not have (a dataset only a variant evaluates) is kept, untested, its cells marked, and
    its random init is that variant's."""
    from crosspoint.metrics import SIGNIFICANCE_LEVEL, compare_over_seeds, holm

    keys = list(rows[baseline]) + [k for by_key in rows.values() for k in by_key if k not in rows[baseline]]
    table: dict[str, dict[str, Cell]] = {}
    tested: list[tuple[tuple, Cell]] = []  # (what was compared, its cell)
    for key in dict.fromkeys(keys):
        base_row = rows[baseline].get(key)
        table[key] = {}
        for variant, by_key in rows.items():
            row = by_key.get(key)
            if row is None:
                continue
            cell = Cell(row.pretrained, row.pretrained_std)
            state = (status or {}).get(variant, {}).get(key, "")
            if state in STATUS_MARK:
                cell.status = state
            elif base_row is None:
                cell.status = ONE_SIDE
            elif variant != baseline and row.pretrained_values and base_row.pretrained_values:
                cmp = compare_over_seeds(row.pretrained_values, base_row.pretrained_values)
                cell.p_value = cmp["p_value"]
                cell.verdict = "better" if cmp["gain"] > 0 else "worse"  # kept only if it survives the correction
                tested.append(((variant, _test_of(key), row.pretrained_values, base_row.pretrained_values), cell))
            table[key][variant] = cell
        source = base_row or next(by_key[key] for by_key in rows.values() if key in by_key)
        table[key]["random init"] = Cell(source.random_init, source.random_init_std)
    # a mean-class row equal to its overall row seed by seed (a balanced test split) is the same test, not a
    # second one
    tests: dict[tuple, list[Cell]] = {}
    for sig, cell in tested:
        tests.setdefault(sig, []).append(cell)
    for cells, adjusted in zip(tests.values(), holm([cells[0].p_value for cells in tests.values()]), strict=True):
        for cell in cells:
            cell.p_holm = round(adjusted, 4)
            cell.verdict = cell.verdict if adjusted < SIGNIFICANCE_LEVEL else ""
    return table


def markdown(table: dict[str, dict[str, Cell]], variants: list[str], baseline: str, overrides: dict[str, dict],
             seeds: int, title: str = "Ablation: which pretraining terms and backbone matter",
             what: str = "variant of the grid (`crosspoint ablate`)") -> str:
    cols = [*variants, "random init"]
    tests = len({(v, _test_of(key), c.mean, c.std) for key, cells in table.items() for v, c in cells.items()
                 if c.p_value is not None})
    lines = [
        f"# {title}",
        "",
        f"Pretrained-encoder score per evaluation (percent), mean ± std over {seeds} pretraining seeds, for each "
        f"{what}; **better** / **worse**: Welch's two-sided t-test over seeds against *{baseline}*, "
        f"significant after Holm-Bonferroni over the {tests} tests of this table (p (Holm) < 0.05; in parentheses: "
        "the corrected p, then the uncorrected one). *random init* is the baseline's random-init encoder, for scale.",
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
                text += f" **{cell.verdict}** ({cell.p_holm:.3f}; {cell.p_value:.3f})"
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
        w.writerow(["row", "variant", "mean", "std", "p_value_vs_baseline", "p_holm", "verdict"])
        for key, cells in table.items():
            for v in [*variants, "random init"]:
                c = cells.get(v)
                if c is not None:
                    w.writerow([key, v, f"{c.mean:.2f}", "" if c.std is None else f"{c.std:.2f}",
                                "" if c.p_value is None else f"{c.p_value:.4g}",
                                "" if c.p_holm is None else f"{c.p_holm:.4g}", c.status or c.verdict])


def figure(table: dict[str, dict[str, Cell]], variants: list[str], dest: str | Path) -> None:
    """Grouped bars: one group per row (the C=val / few-shot / mIoU rows), one bar per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from crosspoint.reporting.figures import save_figure

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


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="from_dir", default=None,
                        help="read the variants from this folder of Snakemake runs (e.g. ablation) instead of "
                             "DVC experiments")
    parser.add_argument("--exp", action="append", default=[], metavar="NAME",
                        help="instead of the grid: print any DVC experiment(s) on top of HEAD beside it, as a "
                             "table on stdout (repeatable; writes nothing); rows the experiment did not "
                             "recompute are marked 'not rerun (HEAD's value)'")


def compare_main(args: argparse.Namespace) -> None:
    prm, params = load_section(args)
    if args.exp:
        print(compare_experiments(args.exp, params), end="")
        return
    compare(prm, params, from_dir=Path(args.from_dir) if args.from_dir else None)
