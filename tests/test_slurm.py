"""The SLURM profile and workflow/cluster.py without a cluster (seconds). The run on a real one-node SLURM
is in tests/test_e2e.py (``test_slurm_*``, slow), next to the local DVC and Snakemake runs it is compared with."""

from __future__ import annotations

import importlib.util
import os
import re
import stat
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from crosspoint import pipeline

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "workflow/profiles/slurm/config.yaml"

_spec = importlib.util.spec_from_file_location("workflow_cluster", REPO / "workflow/cluster.py")
cluster = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cluster)


def _executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_the_python_running_snakemake_puts_its_crosspoint_first_on_path(tmp_path):
    venv = tmp_path / "venv/bin"
    venv.mkdir(parents=True)
    python = _executable(venv / "python")
    _executable(venv / "crosspoint")
    environ = {"PATH": os.pathsep.join(["/usr/bin", str(venv), "/bin"])}
    assert cluster.put_python_on_path(environ, str(python)) == str(venv)
    assert environ["PATH"].split(os.pathsep) == [str(venv), "/usr/bin", "/bin"]
    cluster.put_python_on_path(environ, str(python))  # every Snakemake process of a run does it again
    assert environ["PATH"].split(os.pathsep) == [str(venv), "/usr/bin", "/bin"]


def test_path_is_left_alone_when_crosspoint_is_not_next_to_the_python(tmp_path):
    python = _executable(tmp_path / "python")
    environ = {"PATH": "/usr/bin:/bin"}
    assert cluster.put_python_on_path(environ, str(python)) is None
    assert environ == {"PATH": "/usr/bin:/bin"}


def _job(rule: str, local: bool = False, **resources):
    return SimpleNamespace(rule=SimpleNamespace(name=rule), is_local=local, resources=resources)


def test_placeholder_accounts_and_partitions_are_found_per_rule():
    jobs = [_job("prepare", slurm_account="your_account", slurm_partition="cpu"),
            _job("prepare", slurm_account="your_account", slurm_partition="cpu"),
            _job("pretrain", slurm_account="", slurm_partition="your_gpu_partition"),
            _job("report", local=True, slurm_account="your_account"),  # a local rule is never submitted
            _job("render", slurm_account=123456, slurm_partition="'your_cpu_partition'")]
    assert cluster.placeholder_problems(jobs) == [
        "slurm_account='your_account' (prepare)", "slurm_partition=\"'your_cpu_partition'\" (render)",
        "slurm_partition='your_gpu_partition' (pretrain)"]
    assert cluster.placeholder_problems([_job("prepare", slurm_account="ab12", slurm_partition="")]) == []
    message = cluster.placeholder_message(["slurm_account='your_account' (prepare)"])
    assert "workflow/profiles/slurm/config.yaml" in message and "--default-resources" in message


class _Log:
    def __init__(self):
        self.lines = []

    def warning(self, line):
        self.lines.append(line)


def _settings(command="sacct", init=40):
    return SimpleNamespace(status_command=command, init_seconds_before_status_checks=init)


def test_squeue_replaces_sacct_where_accounting_is_disabled():
    settings, log = _settings(), _Log()
    chosen = cluster.choose_status_command(settings, log, sacct_error=lambda: "Slurm accounting storage is disabled",
                                           min_job_age=lambda: 300)
    assert chosen == settings.status_command == "squeue"
    assert "accounting storage is disabled" in log.lines[0] and "squeue" in log.lines[0]


def test_sacct_stays_where_it_answers_and_squeue_or_an_explicit_choice_is_kept():
    settings, log = _settings(), _Log()
    assert cluster.choose_status_command(settings, log, sacct_error=lambda: None, min_job_age=lambda: 300) == "sacct"
    assert settings.status_command == "sacct" and log.lines == []
    for command in ("squeue", None):
        settings = _settings(command)
        assert cluster.choose_status_command(settings, log, sacct_error=lambda: pytest.fail("no probe"),
                                             min_job_age=lambda: 300) == command


def test_a_short_min_job_age_without_sacct_is_an_error_with_the_setting_that_avoids_it():
    from snakemake_interface_common.exceptions import WorkflowError

    # the plugin would turn squeue back into sacct (MinJobAge under 3 x 40 s) and wait forever
    with pytest.raises(WorkflowError, match="--slurm-init-seconds-before-status-checks 20"):
        cluster.choose_status_command(_settings(), _Log(), sacct_error=lambda: "accounting disabled",
                                      min_job_age=lambda: 60)
    with pytest.raises(WorkflowError, match="MinJobAge"):
        cluster.choose_status_command(_settings(), _Log(), sacct_error=lambda: "accounting disabled",
                                      min_job_age=lambda: None)


def test_sacct_probe_reports_the_error_sacct_gives():
    def fake(returncode, stderr):
        return lambda cmd, **kw: subprocess.CompletedProcess(cmd, returncode, "", stderr)

    assert cluster.sacct_problem(fake(1, "Slurm accounting storage is disabled\n")) == (
        "Slurm accounting storage is disabled")
    assert cluster.sacct_problem(fake(0, "")) is None

    def missing(cmd, **kw):
        raise FileNotFoundError(cmd[0])

    assert cluster.sacct_problem(missing) is None  # no sacct: the plugin uses squeue by itself


def test_the_profile_has_each_site_value_once_and_every_gpu_rule_asks_for_a_gpu():
    text = PROFILE.read_text()
    for placeholder in ('"your_account"', '"your_cpu_partition"', '"your_gpu_partition"'):
        assert text.count(placeholder) == 1, placeholder  # edited in one place
    profile = yaml.safe_load(text)
    assert profile["executor"] == "slurm"
    assert profile["default-resources"]["slurm_account"] == "your_account"
    gpu_rules = {st.name for st in pipeline.STAGES if st.gpus}
    assert gpu_rules == {"pretrain", "features", "partseg"}
    assert set(profile["set-resources"]) == gpu_rules
    for rule in gpu_rules:  # one block (a YAML anchor) for the three: partition and GPU count
        assert profile["set-resources"][rule] == {"slurm_partition": "your_gpu_partition", "gpu": 1}
        rule_text = (REPO / f"workflow/rules/{rule}.smk").read_text()
        assert re.search(r"^\s+gpu=1,$", rule_text, flags=re.M), rule  # the plugin's --gpus request


class _Resources(dict):
    """A job's resources as the plugin reads them: .get() and attributes."""

    __getattr__ = dict.__getitem__


def test_the_gpu_block_becomes_the_plugins_gpu_request_and_zero_a_cpu_job():
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string
    from snakemake_executor_plugin_slurm_jobstep import get_gpu_setting

    block = yaml.safe_load(PROFILE.read_text())["set-resources"]["pretrain"]
    params = {"run_uuid": "run", "slurm_logfile": "log", "comment_str": "rule_pretrain", "account": "",
              "partition": f" -p {block['slurm_partition']}", "workdir": "/work"}

    def sbatch(gpu):
        job = SimpleNamespace(resources=_Resources(mem_mb=16000, runtime=1440, slurm_partition="p", gpu=gpu),
                              threads=2)
        return get_submit_command(job, params) + set_gres_string(job), get_gpu_setting(job)

    call, step = sbatch(block["gpu"])
    assert " --gpus=1" in call and "--cpus-per-task=2" in call and "--ntasks" not in call, call
    assert step == "--gpus=1"  # the job step's srun asks for it too
    call, step = sbatch(0)  # a partition without GPUs
    assert "--gpus" not in call and "--ntasks=1 --cpus-per-task=2" in call and step == "", call
