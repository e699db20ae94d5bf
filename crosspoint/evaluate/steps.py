"""``crosspoint steps --dataset NAME``: the linear SVM's gain over random init at several points of pretraining.

For each pretraining seed ``K`` (``pretrain.seeds``), every encoder kept in ``paths.snapshots("cls", K)`` (the
epochs of ``pretrain.cls.snapshots``) and the random init that run started from give the global features of
``NAME``'s point store, taken as the features stage takes them (``features.points``, ``subset``, ``seed``,
``batch_size``, ``device``), and each pair is scored by the linear SVM's three protocols
(:func:`crosspoint.evaluate.linear_svm.evaluate_features`, the ``linear_svm`` section). The result, per
snapshot: the optimizer steps taken by then (per process), and per protocol both encoders over seeds, the
gain, Welch's p (uncorrected) and the 95 % bootstrap interval over test objects
(:func:`crosspoint.evaluate.linear_svm.summarize`), plus the std over seeds of the per-seed gain
(``gain_std``: the seeds pair a pretrained encoder with the init it started from).

Output: ``paths.metrics("steps_<name>")``; the report draws it (``gain_vs_steps.png``). This is what tells a
user how much pretraining their data needs: where the gain stops growing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from crosspoint import numerics, paths
from crosspoint.checkpoints import load_checkpoint, load_state_strict
from crosspoint.devices import resolve_device
from crosspoint.evaluate.extraction import point_store
from crosspoint.evaluate.linear_svm import PROTOCOLS, evaluate_features, summarize
from crosspoint.evaluate.rounding import rounded
from crosspoint.feature_files import FeatureSet
from crosspoint.models.encoders import build_encoder, encode, point_subset, random_point_encoder
from crosspoint.settings import FeaturesParams, LinearSvmParams
from crosspoint.settings import StepsParams as Params  # noqa: F401  (the section's dataclass, as every stage module)
from crosspoint.store import DatasetMeta, StageError, get_meta, require_labels, write_json

log = logging.getLogger("crosspoint.evaluate.steps")


def load_points(dataset: str) -> tuple[np.ndarray, np.ndarray, list[str], list[str], DatasetMeta, str | None]:
    """(points, labels, split, object ids, meta, skipped reason) of a point store."""
    with h5py.File(point_store(dataset), "r") as h5:
        skipped = get_meta(h5, "skipped")
        meta = DatasetMeta.from_h5(h5)
        return (h5["points"][:], h5["labels"][:].astype(np.int64), [str(v) for v in h5["split"].asstr()[:]],
                [str(v) for v in h5["object_ids"].asstr()[:]], meta, None if skipped is None else str(skipped))


def run(dataset: str, fprm: FeaturesParams, sprm: LinearSvmParams, seeds: list[int]) -> dict[str, Any]:
    dest = paths.metrics(f"steps_{dataset}")
    points, labels, split, object_ids, meta, skipped = load_points(dataset)
    require_labels(meta.labelled, dataset, "steps")
    if skipped is not None or len(labels) == 0:
        reason = skipped or f"{paths.points(dataset)} holds no objects"
        log.warning("steps %s: skipped (%s)", dataset, reason)
        write_json(dest, {"skipped": reason})
        return {"skipped": reason}
    device = resolve_device(fprm.device)
    numerics.configure_torch(device)
    clouds = point_subset(points, fprm.points, fprm.subset, fprm.seed)
    test = np.array([s == "test" for s in split])
    per_epoch: dict[str, dict[str, dict[str, Any]]] = {}  # epoch -> seed -> linear SVM metrics
    right: dict[str, dict[str, np.ndarray]] = {}  # epoch -> protocol -> per test object (as linear_svm.run)
    steps: dict[str, int] = {}
    for seed in seeds:
        snap_path = Path(paths.snapshots("cls", seed))
        if not snap_path.is_file():
            raise StageError(f"{snap_path}: not found (run `crosspoint pretrain --variant cls --seed {seed}`)")
        snap = load_checkpoint(snap_path)
        if not snap["encoders"]:
            raise StageError(f"{snap_path} holds no snapshot: list epochs in pretrain.cls.snapshots")
        if per_epoch and sorted(snap["encoders"]) != sorted(per_epoch):
            raise StageError(f"{snap_path} kept epochs {sorted(snap['encoders'], key=int)}, another seed "
                             f"{sorted(per_epoch, key=int)}: rerun pretraining with the same params")
        torch.manual_seed(fprm.seed)
        random = encode(random_point_encoder(snap["model"], seed), clouds, fprm.batch_size, device,
                        desc=f"steps {dataset} seed {seed} random")
        for epoch, entry in snap["encoders"].items():
            encoder = build_encoder(snap["model"])
            load_state_strict(encoder, entry["point_encoder"], f"{snap_path} epoch {epoch}")
            torch.manual_seed(fprm.seed)
            pretrained = encode(encoder, clouds, fprm.batch_size, device, desc=f"steps {dataset} seed {seed} epoch {epoch}")
            fs = FeatureSet(pretrained=pretrained, random=random, labels=labels, split=split, object_ids=object_ids,
                            class_names=meta.class_names)
            predictions: dict[tuple[str, str], np.ndarray] = {}
            metrics, _ = evaluate_features(fs, sprm, f"{dataset} seed {seed} epoch {epoch}", predictions)
            per_epoch.setdefault(epoch, {})[str(seed)] = {init: metrics[init] for init in ("pretrained", "random")}
            for proto in PROTOCOLS:
                diff = ((predictions["pretrained", proto] == labels[test]).astype(np.int64)
                        - (predictions["random", proto] == labels[test]).astype(np.int64))
                right.setdefault(epoch, {})[proto] = right.get(epoch, {}).get(proto, 0) + diff
            steps[epoch] = int(entry["steps"])
    snapshots = []
    for epoch in sorted(per_epoch, key=int):
        summary = summarize(per_epoch[epoch], right[epoch], sprm.seed)
        for proto in PROTOCOLS:
            gains = [m["pretrained"][proto]["overall_accuracy"] - m["random"][proto]["overall_accuracy"]
                     for m in per_epoch[epoch].values()]
            summary[proto]["overall_accuracy"]["gain_std"] = rounded(float(np.std(gains, ddof=1))) if len(gains) > 1 else None
        snapshots.append({"epoch": int(epoch), "steps": steps[epoch], "summary": summary, "per_seed": per_epoch[epoch]})
    out = {"dataset": dataset, "seeds": list(seeds), "num_train": int((~test).sum()), "num_test": int(test.sum()),
           "unit": "percent", "snapshots": snapshots, "numerics": numerics.record()}
    write_json(dest, out)
    for snap_row in snapshots:
        s = snap_row["summary"]["c_val"]["overall_accuracy"]
        log.info("steps %s: epoch %d (%d steps): C=val gain %+.2f (p=%s)", dataset, snap_row["epoch"],
                 snap_row["steps"], s["gain"], s["p_value"])
    log.info("steps %s: wrote %s", dataset, dest)
    return out
