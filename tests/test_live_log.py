"""Training curves without DVCLive: the same files, byte for byte, as DVCLive writes."""

from __future__ import annotations

import math

import pytest

from crosspoint.training.live_log import write_live

HISTORY = [
    {"epoch": 0, "val/accuracy": 0.7166666666666667},
    {"epoch": 1, "train/loss": 8.562344517026629, "train/imid": 3.5, "train/cmid": 5.06, "train/lr": 0.001,
     "val/accuracy": math.nan},
    {"epoch": 2, "train/loss": 6.949887650353568, "train/imid": 3.25, "train/cmid": 3.7, "train/lr": 0.00075,
     "val/accuracy": 0.9},
]
SUMMARY = {"val/random_init_accuracy": 0.7166666666666667, "val/best_accuracy": 0.9, "val/best_epoch": 2,
           "epochs_done": 2, "seed": 0, "numerics": {"isa": "avx2", "threads": 2}, "precision": "fp32"}


def files(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_plain_writer_matches_dvclive(tmp_path):
    pytest.importorskip("dvclive")
    write_live(tmp_path / "dvclive", HISTORY, SUMMARY, use_dvclive=True)
    write_live(tmp_path / "plain", HISTORY, SUMMARY, use_dvclive=False)
    expected = files(tmp_path / "dvclive")
    assert set(expected) == {"metrics.json", "plots/metrics/train/loss.tsv", "plots/metrics/train/imid.tsv",
                             "plots/metrics/train/cmid.tsv", "plots/metrics/train/lr.tsv",
                             "plots/metrics/val/accuracy.tsv"}
    assert files(tmp_path / "plain") == expected


def test_rewrite_from_a_shorter_history_drops_old_curves(tmp_path):
    write_live(tmp_path, HISTORY, SUMMARY, use_dvclive=False)
    write_live(tmp_path, HISTORY[:1], SUMMARY, use_dvclive=False)
    assert set(files(tmp_path)) == {"metrics.json", "plots/metrics/val/accuracy.tsv"}
    assert (tmp_path / "plots/metrics/val/accuracy.tsv").read_text() == "step\taccuracy\n0\t0.7166666666666667\n"
