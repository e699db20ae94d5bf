"""End to end on the `tiny` preset, in temporary copies of the repository:
``dvc repro`` then a no-op ``dvc repro``; part of the DAG through a one-node SLURM cluster, completed by a
local ``snakemake``, producing the same files; ``dvc exp run -S`` changing a param and ``dvc metrics diff`` /
``dvc params diff`` / ``dvc exp show`` showing it; the ablation grid on both engines; a new dataset.
The slowest module of the suite (about 14 minutes beside the other worker on 2 cores)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from tests import slurm_cluster
from tests.conftest import CAPOD

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow

# Outputs whose content must agree between the two engines (timing-dependent ones are left out).
DATA_OUTPUTS = ["data/prepared/synth.h5", "data/points/synth.h5", "data/views/synth.h5", "data/points/capod.h5",
                "data/points/capod_scan.h5"]
METRIC_OUTPUTS = ["results/metrics/linear_svm_synth.json", "results/metrics/fewshot_synth.json",
                  "results/metrics/steps_capod.json",
                  "results/metrics/partseg/seed-0.json", "results/metrics/partseg/seed-1.json",
                  "results/tables/summary.csv"]
# one pretraining run per seed of the tiny preset's pretrain.seeds: [0, 1]
SEED_OUTPUTS = ["models/pretrain_cls/seed-0/best.pt", "models/pretrain_cls/seed-1/best.pt",
                "models/pretrain_seg/seed-1/best.pt", "data/features/synth/seed-1.h5"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(DVC_NO_ANALYTICS="1", PYOPENGL_PLATFORM=env.get("PYOPENGL_PLATFORM", "egl"),
               GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.org")
    return env


def run(args: list[str], cwd: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env={**_env(), **env}, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def copy_checkout(dest: Path) -> None:
    """This checkout's files (tracked and untracked-not-ignored) into ``dest``, without outputs."""
    files = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], REPO).stdout
    for rel in filter(None, files.split("\0")):
        src = REPO / rel
        if not src.is_file() or rel.startswith(("data/", "models/", "results/")):
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)


def make_copy(dest: Path) -> Path:
    """A fresh git repository holding this checkout's files, on the tiny preset."""
    copy_checkout(dest)
    run(["crosspoint", "preset", "tiny"], dest)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    params["datasets"]["capod"]["path"] = str(CAPOD)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-q", "-m", "tiny"], dest)
    return dest


@pytest.fixture(scope="module")
def dvc_run(tmp_path_factory) -> Path:
    if not (CAPOD / "CAPOD.cla").exists():
        pytest.skip("CAPOD meshes not found")
    repo = make_copy(tmp_path_factory.mktemp("dvc"))
    run(["dvc", "repro"], repo)
    return repo


def test_dvc_repro_makes_every_output_then_does_nothing(dvc_run):
    summary = dvc_run / "results/tables/summary.csv"
    assert summary.exists()
    assert (dvc_run / "results/figures/contact_sheet/synth.png").stat().st_size > 1000
    lock = yaml.safe_load((dvc_run / "dvc.lock").read_text())
    assert {"report", "fewshot@synth", "fewshot@capod_scan", "scan@capod", "partseg@0", "partseg@1", "merge_views@synth",
            "pretrain@cls-0", "pretrain@seg-1", "features@synth-0-1", "merge_features@capod_scan-1"} <= set(
        lock["stages"])
    for rel in SEED_OUTPUTS:
        assert (dvc_run / rel).exists(), rel
    svm = json.loads((dvc_run / "results/metrics/linear_svm_synth.json").read_text())
    assert svm["seeds"] == [0, 1] and set(svm["per_seed"]) == {"0", "1"}
    assert svm["summary"]["c_val"]["overall_accuracy"]["pretrained"]["std"] is not None
    # the steps stage scores the snapshot of the last epoch as the linear SVM scores best.pt (the same encoder
    # when best.pt is that epoch's: the bits of the features path, shared, not copied)
    steps = json.loads((dvc_run / "results/metrics/steps_capod.json").read_text())
    capod = json.loads((dvc_run / "results/metrics/linear_svm_capod.json").read_text())
    assert [s["epoch"] for s in steps["snapshots"]] == [1] and steps["snapshots"][0]["steps"] > 0
    import torch

    for seed in ("0", "1"):
        if torch.load(dvc_run / f"models/pretrain_cls/seed-{seed}/best.pt", weights_only=True)["epoch"] == 1:
            assert steps["snapshots"][0]["per_seed"][seed] == capod["per_seed"][seed]
    again = run(["dvc", "repro"], dvc_run)
    assert "Running stage" not in again.stdout, again.stdout
    status = run(["dvc", "status"], dvc_run)
    assert "up to date" in status.stdout.lower(), status.stdout


def _same_h5(a: Path, b: Path) -> None:
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        assert set(fa.keys()) == set(fb.keys())
        for key in fa:
            np.testing.assert_array_equal(fa[key][()], fb[key][()], err_msg=f"{a.name}:{key}")


@dataclass
class SmkRun:
    repo: Path
    from_cluster: list[str]  # outputs the SLURM run had built before the local run (empty: from scratch)
    mtimes: dict[str, int]  # their modification times then


@pytest.fixture(scope="module")
def smk(dvc_run, slurm_attempt, tmp_path_factory) -> SmkRun:
    """The whole tiny DAG through Snakemake on this machine. Where the SLURM run built its part (19 jobs that run
    every cluster rule), a copy of that repository is completed here: the local run has only the remaining jobs
    to do, and the two runs together are one Snakemake build of the whole DAG. Without a cluster: from scratch."""
    dest = tmp_path_factory.mktemp("smk") / "repo"
    built: list[str] = []
    if slurm_attempt is not None and slurm_attempt.proc.returncode == 0:
        shutil.copytree(slurm_attempt.repo, dest, symlinks=True)  # with .snakemake/ (its metadata) and the mtimes
        run(["git", "checkout", "--", "workflow/profiles/slurm/config.yaml"], dest)  # the site values set for the run
        built = [rel for rel in (*DATA_OUTPUTS, *SEED_OUTPUTS, *SLURM_TARGETS.values()) if (dest / rel).exists()]
    else:
        make_copy(dest)
    mtimes = {rel: (dest / rel).stat().st_mtime_ns for rel in built}
    run(["snakemake", "--cores", "2"], dest)
    return SmkRun(dest, built, mtimes)


@pytest.fixture(scope="module")
def smk_run(smk) -> Path:
    return smk.repo


def test_snakemake_produces_the_same_files(dvc_run, smk):
    repo = smk.repo
    # the local run completed the cluster's part without rebuilding it
    assert {rel: (repo / rel).stat().st_mtime_ns for rel in smk.from_cluster} == smk.mtimes
    for rel in SEED_OUTPUTS:
        assert (repo / rel).exists(), rel
    for rel in DATA_OUTPUTS:
        _same_h5(dvc_run / rel, repo / rel)
    for rel in METRIC_OUTPUTS + SEED_OUTPUTS[:3]:  # metrics, tables and checkpoints: the same bytes
        assert (repo / rel).read_bytes() == (dvc_run / rel).read_bytes(), rel
    assert (repo / "logs").is_dir() and any((repo / "logs").iterdir())


# The cluster path: `snakemake --profile workflow/profiles/slurm` on a real one-node SLURM without accounting
# (tests/slurm_cluster.py), from a shell whose PATH lacks the venv. The profile's four site values are set
# where a user sets them (a one-node cluster: no account, one partition, no GPU); on the command line only
# what a small test run wants: status checks every few seconds, and the logs of the successful jobs kept.
SLURM_SITE = {'"your_account"': '""', '"your_cpu_partition"': '"debug"', '"your_gpu_partition"': '"debug"',
              "gpu: 1 ": "gpu: 0 "}
SLURM_ARGS = ["--profile", "workflow/profiles/slurm", "--slurm-init-seconds-before-status-checks", "2",
              "--slurm-keep-successful-logs"]
SLURM_RULES = {"prepare", "render", "merge_views", "sample", "merge_points", "scan", "pretrain", "features",
               "merge_features", "linear_svm", "fewshot", "partseg"}  # every rule but the local all/report
# The SLURM run builds the part of the tiny DAG behind these three evaluations: every cluster rule at least
# once, in 19 sbatch jobs instead of the whole run's 35 (most of a tiny job's time is its two Snakemake
# start-ups and the executor's status polls). DVC commits and pushes the same part (`--with-deps`).
SLURM_TARGETS = {"linear_svm@capod_scan": "results/metrics/linear_svm_capod_scan.json",
                 "fewshot@capod_scan": "results/metrics/fewshot_capod_scan.json",
                 "partseg@0": "results/metrics/partseg/seed-0.json"}
SLURM_DATA = [rel for rel in DATA_OUTPUTS if rel != "data/points/capod.h5"]  # CAPOD's scans come from its meshes
SLURM_CHECKPOINTS = ["models/pretrain_cls/seed-0/best.pt", "models/pretrain_cls/seed-1/best.pt",
                     "models/pretrain_seg/seed-0/best.pt"]


@dataclass
class SlurmRun:
    repo: Path
    refused: subprocess.CompletedProcess  # the run with the profile as committed (placeholders)
    refused_jobs: list[str]
    proc: subprocess.CompletedProcess
    seconds: float
    jobs: list[str]  # squeue --states=all after the run: id|name|state|partition|cpus


def _bounded(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """Run ``cmd``; past ``timeout`` kill it and its children (the old profile waited forever) and say so."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, err = proc.communicate()
        err += f"\n(killed after {timeout:.0f} s)"
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.fixture(scope="module")
def slurm_attempt(tmp_path_factory) -> SlurmRun | None:
    """The SLURM run, or None where no one-node cluster can run here (its tests are then skipped)."""
    if not (CAPOD / "CAPOD.cla").exists() or slurm_cluster.unavailable():
        return None
    repo = make_copy(tmp_path_factory.mktemp("slurm"))
    path = [p for p in _env()["PATH"].split(os.pathsep) if p and not (Path(p) / "crosspoint").exists()]
    env = {**_env(), "PATH": os.pathsep.join(path)}
    assert shutil.which("crosspoint", path=env["PATH"]) is None
    cmd = [str(BIN / "snakemake"), *SLURM_ARGS, *SLURM_TARGETS.values()]
    with slurm_cluster.OneNodeSlurm(tmp_path_factory.mktemp("cluster")) as cluster:
        refused = _bounded(cmd, repo, env, timeout=300)
        refused_jobs = cluster.jobs()
        profile = repo / "workflow/profiles/slurm/config.yaml"
        text = profile.read_text()
        for old, new in SLURM_SITE.items():
            assert text.count(old) == 1, old  # each site value in one place
            text = text.replace(old, new)
        profile.write_text(text)
        start = time.monotonic()
        proc = _bounded(cmd, repo, env, timeout=1200)
        seconds = time.monotonic() - start
        jobs = cluster.jobs()
    print(f"SLURM run of the tiny preset: {seconds:.0f} s, {len(jobs)} sbatch jobs")
    return SlurmRun(repo, refused, refused_jobs, proc, seconds, jobs)


@pytest.fixture(scope="module")
def slurm_run(slurm_attempt) -> SlurmRun:
    if not (CAPOD / "CAPOD.cla").exists():
        pytest.skip("CAPOD meshes not found")
    if slurm_attempt is None:
        pytest.skip(slurm_cluster.unavailable(install=False) or "no one-node SLURM cluster here")
    return slurm_attempt


def test_slurm_profile_stops_at_its_placeholders(slurm_run):
    out = slurm_run.refused.stdout + slurm_run.refused.stderr
    assert slurm_run.refused.returncode != 0, out[-3000:]
    assert "still has placeholder values" in out, out[-3000:]
    assert "slurm_account='your_account' (features, fewshot, linear_svm, merge_features," in out, out[-3000:]
    assert "slurm_partition='your_gpu_partition' (features, partseg, pretrain)" in out, out[-3000:]
    assert slurm_run.refused_jobs == []  # nothing submitted


def test_slurm_run_makes_the_same_files(dvc_run, smk_run, slurm_run):
    repo, proc = slurm_run.repo, slurm_run.proc
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    # sacct fails here (no accounting storage): the workflow switched the job-state queries to squeue
    assert "job states come from squeue" in out, out[-3000:]
    states = [job.split("|")[2] for job in slurm_run.jobs]
    assert states and set(states) == {"COMPLETED"}, slurm_run.jobs
    ran = {d.name.removeprefix("rule_") for d in (repo / ".snakemake/slurm_logs").iterdir()}
    assert ran == SLURM_RULES, ran  # every rule but the local ones went through sbatch
    assert len(list((repo / ".snakemake/slurm_logs").rglob("*.log"))) == len(states)
    for rel in SLURM_DATA:
        _same_h5(dvc_run / rel, repo / rel)
    for rel in [*SLURM_TARGETS.values(), *SLURM_CHECKPOINTS]:  # the same bytes as the local DVC and Snakemake runs
        assert (repo / rel).read_bytes() == (dvc_run / rel).read_bytes() == (smk_run / rel).read_bytes(), rel


def test_slurm_outputs_recorded_with_dvc_commit_and_pushed(dvc_run, slurm_run):
    repo = slurm_run.repo
    assert slurm_run.proc.returncode == 0
    stages = list(SLURM_TARGETS)
    run(["dvc", "commit", "-f", "--with-deps", *stages], repo)  # the README's steps after a cluster run
    assert "up to date" in run(["dvc", "status", "--with-deps", *stages], repo).stdout.lower()
    # the same record as `dvc repro` made: every dependency, parameter and output hash of every stage built
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    reference = yaml.safe_load((dvc_run / "dvc.lock").read_text())["stages"]
    built = {name for name in reference if (repo / reference[name]["outs"][0]["path"]).exists()}
    assert len(built) == len(slurm_run.jobs) and set(stages) <= built, sorted(built)  # one sbatch job each
    assert {name: lock[name] for name in built} == {name: reference[name] for name in built}
    storage = repo.parent / "crosspoint-dvc-storage"  # the example remote, ../../crosspoint-dvc-storage
    shutil.rmtree(storage, ignore_errors=True)
    assert "pushed" in run(["dvc", "push", "-r", "local-example", "--with-deps", *stages], repo).stdout
    assert "in sync" in run(["dvc", "status", "--cloud", "-r", "local-example", "--with-deps", *stages], repo).stdout
    shutil.rmtree(storage)


def test_snakemake_report_is_one_self_contained_page(smk_run):
    run(["snakemake", "--cores", "1", "--report", "results/report.html"], smk_run)
    page = (smk_run / "results/report.html").read_text(errors="replace")
    assert len(page) > 100_000
    # every reported figure and table, with its caption, under its stage
    for caption in ("Rendered views of a pretraining dataset", "Summary of every evaluation", "t-SNE of the test features",
                    "Confusion matrix", "Pretraining curves of every run", "Part segmentation fine-tuning",
                    "Part segmentation on a few test shapes"):
        assert caption in page, caption
    for name in ("synth.png", "summary.csv", "tsne_capod_scan.png", "pretrain_curves.png",
                 "partseg_curves.png", "seed-1.png"):
        assert name in page, name
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"https?://", page)  # nothing fetched from the web


def test_every_figure_is_a_dvc_plot(dvc_run, tmp_path):
    shown = json.loads(run(["dvc", "plots", "show", "--json", "-o", str(tmp_path / "plots")], dvc_run).stdout)
    images = {p for p, items in shown["data"].items() if p.endswith(".png") and items}
    figures = {str(p.relative_to(dvc_run)) for p in (dvc_run / "results/figures").rglob("*.png")}
    assert figures and figures <= images, figures - images
    assert "results/figures/ablation.png" in shown["data"]  # made by `crosspoint compare`, declared too


def test_exp_run_changes_a_param_and_the_diffs_show_it(dvc_run):
    run(["git", "add", "-A"], dvc_run)
    run(["git", "commit", "-q", "-m", "baseline results"], dvc_run)
    before = json.loads((dvc_run / "results/metrics/fewshot_synth.json").read_text())
    run(["dvc", "exp", "run", "-n", "fewer-runs", "-S", "fewshot.runs=3"], dvc_run)
    after = json.loads((dvc_run / "results/metrics/fewshot_synth.json").read_text())
    assert after != before
    params = run(["dvc", "params", "diff", "--json"], dvc_run)
    assert json.loads(params.stdout)["params.yaml"]["fewshot.runs"]["new"] == 3
    metrics = json.loads(run(["dvc", "metrics", "diff", "--json"], dvc_run).stdout)
    assert set(metrics) == {"results/primary.json"}, metrics  # the one metrics file of the run
    changed = set(metrics["results/primary.json"])
    assert changed and all(k.startswith("fewshot.") for k in changed), changed
    # every row's numbers are a flag away
    full = json.loads(run(["dvc", "metrics", "diff", "--json", "--targets", "results/headline.json"], dvc_run).stdout)
    assert {k for k in full["results/headline.json"] if k.endswith(".gain")} >= changed
    shown = run(["dvc", "exp", "show", "--json"], dvc_run).stdout
    assert "fewer-runs" in shown
    by_name = json.loads(run(["dvc", "metrics", "diff", "main", "fewer-runs", "--json"], dvc_run).stdout)
    assert set(by_name["results/primary.json"]) == changed  # the README's command, with the experiment's name
    # readable in a terminal: one changed param, the headline's changed columns, at most 120 columns
    table = run(["dvc", "exp", "show", "--only-changed", "--no-pager"], dvc_run, COLUMNS="120").stdout
    lines = table.splitlines()
    assert lines and max(len(line) for line in lines) <= 120, table
    assert "fewer-runs" in table and "fewshot.synth" in table, table  # the experiment and its first changed numbers
    assert "results/metrics/" not in table and "val_accuracy" not in table, table


def _baseline_copy(src: Path, dest: Path) -> Path:
    """A copy of a finished run with its results committed (the ablation's baseline is HEAD); its variants
    run the paper's classification ablation only (``ablation.targets: [linear_svm, fewshot]``: no part-seg
    pretraining and fine-tuning per variant, half the stages of ``[report]``)."""
    shutil.copytree(src, dest, symlinks=True)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    params["ablation"]["targets"] = ["linear_svm", "fewshot"]
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-q", "--allow-empty", "-m", "baseline record"], dest)
    return dest


def test_ablation_grid_as_dvc_experiments_and_as_snakemake_runs(dvc_run, smk_run, tmp_path):
    dvc_repo = _baseline_copy(dvc_run, tmp_path / "dvc")
    run(["crosspoint", "ablate", "--variants", "imid_only"], dvc_repo)
    assert "ablate-imid_only" in run(["dvc", "exp", "list", "--name-only"], dvc_repo).stdout
    table = (dvc_repo / "results/tables/ablation.md").read_text()
    assert "| row | both | imid_only | random init |" in table, table
    headline = json.loads((dvc_repo / "results/headline.json").read_text())
    n_rows = sum(len(ms) for ev in ("svm", "fewshot") for ms in headline[ev].values())
    assert sum(line.startswith(("| svm.", "| fewshot.")) for line in table.splitlines()) == n_rows
    assert "| partseg." not in table  # not a target: its row is not recomputed per variant
    assert (dvc_repo / "results/figures/ablation.png").stat().st_size > 5000
    refs = run(["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps/"], dvc_repo).stdout
    ref = next(line.split()[1] for line in refs.splitlines() if line.split()[0].endswith("/ablate-imid_only"))
    exp_params = yaml.safe_load(run(["git", "show", f"{ref}:params.yaml"], dvc_repo).stdout)
    assert exp_params["pretrain"]["w_cmid"] == 0.0

    # the same variant through Snakemake, in ablation/imid_only: the same numbers as the DVC experiment
    smk_repo = _baseline_copy(smk_run, tmp_path / "smk")
    run(["crosspoint", "ablate", "--engine", "snakemake", "--variants", "imid_only", "--", "--cores", "2"], smk_repo)
    for d in ("synth", "capod", "capod_scan"):
        rel = f"results/metrics/linear_svm_{d}.json"
        assert (smk_repo / "ablation/imid_only" / rel).read_text() == run(
            ["git", "show", f"{ref}:{rel}"], dvc_repo).stdout, rel
    assert "| row | both | imid_only | random init |" in (smk_repo / "results/tables/ablation.md").read_text()
    # the data stores were linked, not rebuilt
    assert (smk_repo / "ablation/imid_only/data/points").is_symlink()
    assert not (smk_repo / "ablation/imid_only/logs/sample_synth_0.log").exists()


# The new dataset's stages (one point shard per sample.shards entry, one features job per shard and seed).
NEW_DATASET_STAGES = {"prepare@extra", "sample@extra-0", "sample@extra-1", "merge_points@extra",
                      "features@extra-0-0", "features@extra-0-1", "merge_features@extra-0",
                      "merge_features@extra-1", "linear_svm@extra", "report"}


def _add_dataset(repo: Path) -> None:
    """A second mesh folder as a new evaluation dataset, listed where a user lists it."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["datasets"]["extra"] = {"source": "mesh_dir", "path": str(CAPOD), "test_fraction": 0.5, "seed": 1,
                                   "max_per_class": 2, "required": True}
    for section in ("sample", "features", "linear_svm"):
        params[section]["datasets"].append("extra")
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _smk_jobs(repo: Path) -> dict[str, int]:
    out = run(["snakemake", "-n", "--cores", "2", "--quiet", "rules"], repo).stdout
    jobs = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("job", "total"):
            jobs[parts[0]] = int(parts[1])
    return jobs


def test_adding_a_dataset_reruns_only_its_stages(dvc_run, smk_run, tmp_path):
    dvc_repo = tmp_path / "dvc"
    shutil.copytree(dvc_run, dvc_repo, symlinks=True)
    _add_dataset(dvc_repo)
    status = json.loads(run(["dvc", "status", "--json"], dvc_repo).stdout)
    assert set(status) == NEW_DATASET_STAGES, set(status) ^ NEW_DATASET_STAGES

    smk_repo = tmp_path / "smk"
    shutil.copytree(smk_run, smk_repo, symlinks=True)
    _add_dataset(smk_repo)
    jobs = _smk_jobs(smk_repo)
    assert jobs == {"prepare": 1, "sample": 2, "merge_points": 1, "features": 2, "merge_features": 2,
                    "linear_svm": 1, "report": 1, "all": 1}, jobs

    # changing one dataset's setting reruns that dataset's chain only (and the report)
    params = yaml.safe_load((dvc_run / "params.yaml").read_text())
    params["scan"]["datasets"]["capod"] = 3
    (dvc_repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = json.loads(run(["dvc", "status", "--json"], dvc_repo).stdout)
    changed = {s for s in status if s != "report"}
    assert changed and all("capod_scan" in s or s == "scan@capod" for s in changed), changed
