"""bench/scale.py --quick: every stage measured at three sizes, exponents fitted, paper sizes predicted.

The bench runs the stages' real code in subprocesses (tiny synthetic inputs); this checks the
JSON's structure and that its numbers are usable, not the timings (the machine is shared).
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "bench" / "scale.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scale"] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def test_synthetic_features_shape_and_classes():
    bench = _bench()
    x, y = bench.synthetic_features(400, 40, 64, 1.0, 0)
    assert x.shape == (400, 64) and x.dtype == np.float32
    assert y.dtype == np.int64 and np.bincount(y).tolist() == [10] * 40
    x2, y2 = bench.synthetic_features(400, 40, 64, 1.0, 0)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    # class structure: rows are nearer their own class mean than the others'
    means = np.stack([x[y == c].mean(0) for c in range(40)])
    nearest = np.argmin(((x[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (nearest == y).mean() > 0.5


def test_fit_slope_recovers_power_law():
    bench = _bench()
    a, _ = bench.slope([10, 40, 160], [2.0 * n**1.5 for n in (10, 40, 160)])
    assert a == pytest.approx(1.5)


QUICK_STAGES = ["prepare", "sample", "merge_points", "linear_svm.c_val", "fewshot", "report"]


def check_stage(name: str, st: dict) -> None:
    assert len(st["measurements"]) >= 3, name
    ns = [m["n"] for m in st["measurements"]]
    assert ns == sorted(ns) and ns[-1] >= 4 * ns[0], name
    assert all(m["peak_rss_mb"] > 0 and m["seconds"] > 0 for m in st["measurements"]), name
    for key in ("time_exponent", "time_exponent_last_step", "peak_rss_exponent", "working_memory_exponent"):
        assert math.isfinite(st[key]), (name, key)
    assert st["verdict"].startswith(("within n log n", "faster than n log n")), name
    assert st["predictions"], name
    for p in st["predictions"]:
        assert p["dataset"] and p["n"] > 0
        assert math.isfinite(p["seconds"]) and p["seconds"] >= 0 and p["peak_rss_mb"] > 0


def test_committed_run_covers_every_stage():
    """The committed results/bench/scale.json: every CPU stage with its exponents and paper-size predictions."""
    bench = _bench()
    result = json.loads((ROOT / "results" / "bench" / "scale.json").read_text())
    assert set(result["stages"]) == set(bench.STAGE_NAMES)
    for name, st in result["stages"].items():
        check_stage(name, st)


@pytest.mark.slow
def test_quick_run_writes_the_stages_asked_for(tmp_path):
    """A smoke run of a few stages of each kind (data stages through the CLI, classifiers, report): the
    whole quick run takes minutes, most of it the torch stages' start-up."""
    bench = _bench()
    out = tmp_path / "scale.json"
    bench.main(["--quick", "--stages", *QUICK_STAGES, "--repeat-stage", "sample", "--repeats", "2", "--out", str(out)])
    result = json.loads(out.read_text())
    assert (tmp_path / "scale.png").stat().st_size > 0
    assert set(result["stages"]) == set(QUICK_STAGES)
    for name, st in result["stages"].items():
        check_stage(name, st)
    machine = result["machine"]
    assert machine["cpu"] and machine["cores_available"] >= 1 and machine["versions"]["numpy"]
    assert result["load"]["load_average_at_start"] and result["verdict_rule"]
    spread = result["repeat_spread"]
    assert spread["stage"] == "sample" and all(len(r["seconds"]) == 2 for r in spread["runs"])
