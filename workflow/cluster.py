"""What the Snakemake workflow does to run the same on a laptop and on a SLURM cluster.

Imported by ``rules/common.smk`` (so by every Snakemake process: the one you start, and the ones the
SLURM executor starts inside each sbatch job and its srun step):

* ``put_python_on_path``: the rules call ``crosspoint``; the command must be the one installed next to the
  Python that runs Snakemake (the project's .venv, or a conda env), not whatever the submitting shell, or a
  batch job's login environment, finds first on PATH.
* ``check_slurm_run`` (the workflow's ``onstart`` handler, which runs once, in the Snakemake you started,
  before the first job is submitted): stops a run whose account or partitions are still the profile's
  ``your_...`` placeholders, and picks ``squeue`` for the job states where ``sacct`` cannot answer (a
  cluster without accounting storage), since snakemake-executor-plugin-slurm 2.8.0 would use ``sacct``
  there and then wait forever for jobs that have finished.

Kept out of ``crosspoint/`` (the pipeline's code): it is about the engine, not the stages.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

PROFILE = "workflow/profiles/slurm/config.yaml"
PLACEHOLDER_PREFIX = "your_"
PLACEHOLDER_KEYS = ("slurm_account", "slurm_partition")


def put_python_on_path(environ: MutableMapping[str, str] | None = None, python: str | None = None,
                       command: str = "crosspoint") -> str | None:
    """Put the folder of ``python`` (the interpreter running Snakemake) first on ``PATH`` when it holds
    ``command``; returns that folder, or None (PATH unchanged) when it does not.

    The folder of ``sys.executable`` itself, not of its resolved link: a venv's ``bin/python`` links to the
    system interpreter, and ``crosspoint`` is in the venv's ``bin``. Jobs inherit the change: the local
    executor's shell, and sbatch (``--export=ALL``) and srun copy this process's environment. Under
    ``--sdm conda`` the rule's environment is activated after this, so its own ``crosspoint`` comes first.
    """
    environ = os.environ if environ is None else environ
    folder = os.path.dirname(os.path.abspath(python or sys.executable))
    if not os.access(os.path.join(folder, command), os.X_OK):
        return None
    rest = [p for p in environ.get("PATH", "").split(os.pathsep) if p and os.path.abspath(p) != folder]
    environ["PATH"] = os.pathsep.join([folder, *rest])
    return folder


def placeholder_problems(jobs: Iterable[Any]) -> list[str]:
    """``key='value' (rules)`` for every SLURM account or partition that is still a placeholder
    (``your_...``), from each job's resources after the profile and the command line are applied."""
    found: dict[tuple[str, str], set[str]] = {}
    for job in jobs:
        if job.is_local:
            continue  # runs in the Snakemake process, never submitted
        for key in PLACEHOLDER_KEYS:
            value = job.resources.get(key)
            if isinstance(value, str) and value.strip("'\"").startswith(PLACEHOLDER_PREFIX):
                found.setdefault((key, value), set()).add(job.rule.name)
    return [f"{key}={value!r} ({', '.join(sorted(rules))})" for (key, value), rules in sorted(found.items())]


def placeholder_message(problems: list[str]) -> str:
    return (
        "The SLURM profile still has placeholder values, so no job was submitted:\n    "
        + "\n    ".join(problems)
        + f"\nPut your cluster's values in {PROFILE} (the lines marked <--: the account, the partition of the "
        "CPU jobs, and the partition and GPU count of the GPU rules), or give them on the command line, e.g.\n"
        "    snakemake --profile workflow/profiles/slurm --default-resources slurm_account=ACCOUNT "
        "slurm_partition=PARTITION mem_mb=4000 runtime=60 --set-resources pretrain:slurm_partition=GPU_PARTITION "
        "features:slurm_partition=GPU_PARTITION partseg:slurm_partition=GPU_PARTITION\n"
        "An empty value leaves the option out of sbatch: slurm_account=\"\" on a cluster without accounts, "
        "slurm_partition=\"\" for the cluster's default partition."
    )


def sacct_problem(run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> str | None:
    """Why ``sacct`` cannot report job states here (its own error, e.g. "Slurm accounting storage is
    disabled"), or None when it answers (or is not installed: then the plugin uses squeue by itself)."""
    try:
        proc = run(["sacct", "--noheader", "--allocations", "--format=JobIdRaw,State", "--starttime", "now",
                    "--endtime", "now"], capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError:
        return None
    except subprocess.TimeoutExpired:
        return "sacct did not answer within 60 s"
    if proc.returncode == 0:
        return None
    lines = [line.strip() for line in (proc.stderr or proc.stdout or "").splitlines() if line.strip()]
    return lines[-1] if lines else f"sacct exited with status {proc.returncode}"


def choose_status_command(settings: Any, logger: Any, sacct_error: Callable[[], str | None] = sacct_problem,
                          min_job_age: Callable[[], int | None] | None = None) -> str:
    """The job-state query of the run: the plugin's choice (``settings.status_command``), except that
    ``sacct`` becomes ``squeue`` where sacct fails. Sets ``settings.status_command``, which the plugin reads
    before every status check.

    The plugin itself (2.8.0) takes ``sacct`` whenever the command exists, and when a status query fails
    five times in a row it drops the jobs from its watch list without reporting them: the run then waits
    forever. It also turns ``squeue`` back into ``sacct`` when MinJobAge (how long squeue keeps a finished
    job) is unknown or under 3 x ``--slurm-init-seconds-before-status-checks``; that case is an error here,
    with the setting that avoids it.
    """
    current = getattr(settings, "status_command", None)
    if current != "sacct":
        return current
    problem = sacct_error()
    if problem is None:
        return current
    if min_job_age is None:
        from snakemake_executor_plugin_slurm.job_status_query import get_min_job_age as min_job_age
    age = min_job_age()
    init = int(getattr(settings, "init_seconds_before_status_checks", None) or 40)
    if age is None or age < 3 * init:
        from snakemake_interface_common.exceptions import WorkflowError

        hint = (f"pass --slurm-init-seconds-before-status-checks {max(1, age // 3)} (at most MinJobAge/3)"
                if age else "ask for MinJobAge of at least 120 s in slurm.conf")
        raise WorkflowError(
            f"sacct cannot report job states on this cluster ({problem}), and squeue, the other way, keeps a "
            f"finished job for MinJobAge={age} s, under the {3 * init} s snakemake-executor-plugin-slurm needs "
            f"before it trusts squeue (3 x --slurm-init-seconds-before-status-checks={init}): {hint}.")
    settings.status_command = "squeue"
    logger.warning(f"SLURM: sacct cannot report job states on this cluster ({problem}); job states come from "
                   f"squeue instead (MinJobAge={age} s), as with --slurm-status-command squeue.")
    return "squeue"


def check_slurm_run(workflow: Any, logger: Any) -> None:
    """The workflow's onstart handler: nothing unless the jobs go to SLURM."""
    plugin = getattr(workflow, "executor_plugin", None)
    if plugin is None or plugin.name != "slurm":
        return
    problems = placeholder_problems(workflow.dag.needrun_jobs())
    if problems:
        from snakemake_interface_common.exceptions import WorkflowError

        raise WorkflowError(placeholder_message(problems))
    choose_status_command(workflow.executor_settings, logger)
