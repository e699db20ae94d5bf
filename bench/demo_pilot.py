"""Summarise a pilot of the demo preset: what the preset was chosen from, before its record exists.

    python bench/demo_pilot.py --run DIR [--logs DIR/logs]

``DIR`` is a working copy where the demo's pretraining (``crosspoint pretrain --variant cls --seed K`` for
each seed, run one after the other) and ``crosspoint steps --dataset D`` ran with the project's own stages.
Reads its ``params.yaml``, ``results/metrics/steps_*.json`` and the pretraining logs (``pretrain_<seed>.log``
with GNU time's "Elapsed" line), and writes ``results/bench/demo_pilot.json`` (the machine, the wall time of
each pretraining run, and for each dataset and snapshot: pretrained, random init, gain, its std over seeds,
Welch's p uncorrected and the bootstrap interval, per protocol) and ``results/bench/demo_pilot.png`` (the
report's gain-against-steps figure of those files).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from host import cpu_family_model, cpu_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PROTOCOLS = ("c_val", "c_val_std", "c_paper")


def wall_seconds(log: Path) -> float | None:
    """GNU time's "Elapsed (wall clock) time" of a log, in seconds."""
    match = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", log.read_text())
    if not match:
        return None
    parts = [float(p) for p in match.group(1).split(":")]
    return round(sum(p * 60 ** i for i, p in enumerate(reversed(parts))), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--logs", type=Path, default=None)
    args = ap.parse_args()
    logs = args.logs or args.run / "logs"
    params = yaml.safe_load((args.run / "params.yaml").read_text())
    pre = params["pretrain"]
    datasets = params["steps"]["datasets"]
    out = {
        "what": "pilot of presets/demo.yaml: pretraining and the steps stage only, run stage by stage",
        "date": dt.date.today().isoformat(),
        "machine": {"cpu": cpu_model(), "cpu_id": cpu_family_model(), "cores": os.cpu_count()},
        "pretrain": {"datasets": pre["datasets"], "seeds": pre["seeds"], "cls": pre["cls"],
                     "selection": pre["selection"], "val_fraction": pre["val_fraction"],
                     "wall_s": {str(s): wall_seconds(logs / f"pretrain_{s}.log") for s in pre["seeds"]},
                     "note": "seed 0 shared the cores with other work for part of its run"},
        "datasets": {},
    }
    for d in datasets:
        data = json.loads((args.run / f"results/metrics/steps_{d}.json").read_text())
        out["datasets"][d] = {"num_train": data["num_train"], "num_test": data["num_test"], "snapshots": [
            {"epoch": s["epoch"], "steps": s["steps"], **{
                p: {k: s["summary"][p]["overall_accuracy"][k] for k in ("gain", "gain_std", "p_value", "gain_ci95")}
                | {"pretrained": s["summary"][p]["overall_accuracy"]["pretrained"]["mean"],
                   "random": s["summary"][p]["overall_accuracy"]["random"]["mean"]}
                for p in PROTOCOLS}} for s in data["snapshots"]]}
    dest = REPO / "results/bench/demo_pilot.json"
    dest.write_text(json.dumps(out, indent=2) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    os.chdir(args.run)  # the figure reads results/metrics/steps_<d>.json where the run wrote them
    sys.path.insert(0, str(REPO))
    from crosspoint.reporting.figures import gain_vs_steps_figure

    gain_vs_steps_figure(datasets, REPO / "results/bench/demo_pilot.png")
    print(f"wrote {dest} and results/bench/demo_pilot.png")


if __name__ == "__main__":
    main()
