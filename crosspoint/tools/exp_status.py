"""Which stages a DVC experiment recomputed: a partial ``dvc exp run ... TARGET`` reruns only TARGET and
what it depends on, and every other metrics file in the experiment's commit is HEAD's, copied along.
Told apart by comparing the two ``dvc.lock`` files (and the params each stage reads)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from crosspoint import config, paths

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
    """The metrics files a summary row (by :attr:`~crosspoint.reporting.summary.Row.key`) is read from."""
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
