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
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from crosspoint import config, paths
from crosspoint.store import StageError, write_text
from crosspoint.tools.ablation_grid import (
    ABLATION_DIR,
    EXP_PREFIX,
    SHARED_DATA,
    Params,
    _set_args,
    load_section,
    variant_params,
)
from crosspoint.tools.comparison import compare

log = logging.getLogger("crosspoint.tools.ablation")

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
# CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variants", default=None,
                        help="comma-separated subset of ablation.variants to run (default: all but the baseline)")
    parser.add_argument("--engine", choices=("dvc", "snakemake"), default="dvc",
                        help="dvc: DVC experiments (default); snakemake: one Snakemake run per variant in ablation/")
    parser.add_argument("--no-compare", action="store_true", help="run the variants only")
    parser.add_argument("snakemake_args", nargs=argparse.REMAINDER,
                        help="after --: extra Snakemake arguments (e.g. -- --profile workflow/profiles/slurm)")


def main(args: argparse.Namespace) -> None:
    prm, params = load_section(args)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `crosspoint ablate` / `crosspoint compare`")
