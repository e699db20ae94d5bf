"""workflow/cluster.py without a cluster (seconds)."""

from __future__ import annotations

import importlib.util
import os
import stat
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

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
