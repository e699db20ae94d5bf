"""``bench/gpu.sh``, the one prepared command for a lent GPU machine, run here on the CPU at toy sizes with
the packages that machine lacks made unimportable (DVC, DVCLive, Snakemake, trimesh, pyrender, ruamel.yaml),
so that it keeps working between the rare sessions that have a GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ABSENT_ON_GPU_MACHINE = ("dvc", "dvclive", "snakemake", "trimesh", "pyrender", "ruamel")

BLOCKER = f'''
import sys

class _Absent:
    """Import finder refusing the packages the GPU machine does not have."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {ABSENT_ON_GPU_MACHINE!r}:
            raise ImportError(f"{{name}}: not installed on the GPU machine (tests/test_gpu_check.py)")
        return None

sys.meta_path.insert(0, _Absent())
'''

pytestmark = pytest.mark.slow


def test_gpu_check_runs_without_the_pipeline_packages(tmp_path):
    blocker = tmp_path / "site"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    out = tmp_path / "gpu.json"
    env = {**os.environ, "PYTHONPATH": str(blocker), "CROSSPOINT_SYSTEM_PYTHON": "1", "PYTHON": sys.executable}
    env.pop("OUT", None)
    probe = subprocess.run([sys.executable, "-c", "import dvclive"], env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "not installed on the GPU machine" in probe.stderr
    proc = subprocess.run(["bash", str(REPO / "bench" / "gpu.sh"), "--tiny", "--out", str(out)], env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(out.read_text())
    assert result["sizes"] == "tiny" and result["environment"]["device"]
    assert not [part for part, value in result.items() if isinstance(value, dict) and "error" in value]
    step = result["bench"]["presets"]["tiny"]["stage"]
    assert step["objects_per_s"] > 0 and step["numerics"] == "stage"
    stage = result["stage"]
    assert stage["resume_logged"] and stage["live_metrics_same"]
    assert stage["resumed_as_uninterrupted"] == {"best.pt": True, "last.pt": True}
    assert len(stage["objects_per_s_per_epoch"]) == 2
    assert result["partseg"]["shapes_per_s"] > 0 and result["partseg"]["steps"] >= 1
