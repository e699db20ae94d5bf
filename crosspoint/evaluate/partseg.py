"""``crosspoint partseg``: part segmentation fine-tuning, from the pretrained encoder and from scratch.

A :class:`~crosspoint.models.dgcnn.PartSegModel` (categories = the dataset's classes, parts = its global
part ids, one-hot category input) is trained twice with identical data order and head init: once
with its encoder loaded strictly from ``paths.pretrain_dir("seg", K)/best.pt`` or ``partseg.checkpoint``
(e.g. the authors' weights through ``crosspoint import-weights``; a missing or
unexpected key stops the stage; everything outside the encoder is the new head, whose keys must
all start with ``SEG_HEAD_PREFIXES``), and once from scratch.

Training follows the paper (SGD with momentum, cosine schedule to ``lr_min`` stepped once per epoch
after the optimiser steps, label smoothing as in DGCNN's ``cal_loss``: 1 - eps on the true part and
eps / (parts - 1) on each other part); the default sizes are reduced for a CPU budget (see
params.yaml). The epoch kept is the best by instance mIoU on a validation split carved from train
(never the test split); ``val_fraction: 0`` keeps the last epoch. At evaluation the prediction is
restricted to the parts of the shape's category (``argmax: category``, ShapeNetPart practice) or
taken over every part (``argmax: all``, the upstream script: a point given another category's part
counts as missed for its true part). Either way a shape's mIoU averages its category's parts.

One instance per pretraining seed ``K`` of ``pretrain.seeds`` (``crosspoint partseg --seed K``): the
encoder pretrained with ``K``, the head init, dropout and data order drawn from ``K``; the shapes
(train/val/test subsets) are the same for every seed (``partseg.seed``). The report compares the two
runs over seeds.

Outputs: ``paths.partseg_metrics(K)`` (instance and class mIoU on test, in percent),
``paths.partseg_curves(K)`` (per epoch, both runs side by side), ``paths.partseg_examples(K)``
(a few test shapes: truth beside both predictions) and ``paths.partseg_state(K)``: both runs' state
after their latest epoch (:class:`Journal`), so that a killed stage (or one ended by ``--stop-after N``)
resumes where it stopped and writes the bytes of an uninterrupted run.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from crosspoint import config, numerics, paths
from crosspoint.checkpoints import load_checkpoint, save_checkpoint
from crosspoint.devices import resolve_device
from crosspoint.evaluate.rounding import percent
from crosspoint.evaluate.segmentation import (
    Params,
    SegData,
    fixed_subset,
    load_encoder_strict,
    part_mask,
    predict,
    scores,
    seg_data,
    train_epoch,
)
from crosspoint.feature_files import store_skipped
from crosspoint.progress import progress
from crosspoint.store import StageError, atomic_path, read_point_store, require_labels, write_json
from crosspoint.subsets import balanced_subset, stratified_holdout

log = logging.getLogger("crosspoint.partseg")

RUNS = ("pretrained", "scratch")





@dataclass
class RunResult:
    model: nn.Module
    curve: list[dict[str, float]]
    best_epoch: int
    val_instance_miou: float | None
    seconds: float  # logged, not recorded (wall-clock differs between machines)


class Journal:
    """The fine-tuning state of every run after its latest epoch, in one checkpoint
    (``paths.partseg_state(seed)``, kept by DVC while the stage runs): a killed stage resumes where it
    stopped, and ends with the bytes of an uninterrupted one. ``signature`` identifies the params, the
    encoder checkpoint and the data; a state made with others is ignored."""

    def __init__(self, path: str | Path, signature: str):
        self.path, self.signature = Path(path), signature
        self.runs: dict[str, dict[str, Any]] = {}
        self.saves = 0  # epochs saved by this process (for ``--stop-after``)
        if self.path.exists():
            saved = load_checkpoint(self.path)
            if isinstance(saved, dict) and saved.get("signature") == signature:
                self.runs = dict(saved["runs"])
                log.info("partseg: resuming from %s (%s)", self.path, ", ".join(
                    f"{name}: epoch {entry['epoch']}{' (done)' if entry['done'] else ''}"
                    for name, entry in self.runs.items()))
            else:
                log.info("partseg: %s was made with other params or data; starting afresh", self.path)

    def get(self, name: str) -> dict[str, Any] | None:
        return self.runs.get(name)

    def save(self, name: str, entry: dict[str, Any]) -> None:
        self.runs[name] = entry
        self.saves += 1
        save_checkpoint(self.path, {"signature": self.signature, "runs": self.runs})


def journal_signature(prm: Params, seed: int, ckpt: Path, *data: SegData | None) -> str:
    """What a resumed run must share with the saved state: the params (but the device), the seed, the
    numerics, the encoder checkpoint's bytes and the shapes."""
    digest = hashlib.sha256()
    keys = {k: v for k, v in config.to_dict(prm).items() if k != "device"}
    digest.update(json.dumps([keys, seed, numerics.record()], sort_keys=True, default=str).encode())
    digest.update(hashlib.sha256(ckpt.read_bytes()).digest())
    for d in data:
        if d is not None:
            for array in (d.points, d.parts, d.categories):
                digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _rng_states(rng: np.random.Generator, device: torch.device) -> dict[str, Any]:
    """The generators a fine-tuning epoch draws from, for the journal: the run's own NumPy ``Generator``
    (its bit generator's state as JSON), torch's CPU generator and, on CUDA, the run's device's. Not
    :func:`crosspoint.training.seeding.rng_state`, which captures the process's global generators (Python's,
    NumPy's legacy one, every CUDA device's) for a pretraining checkpoint: other generators, another layout."""
    state = {"numpy": json.dumps(rng.bit_generator.state), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_states(rng: np.random.Generator, device: torch.device, state: dict[str, Any]) -> None:
    """Restore what :func:`_rng_states` captured."""
    rng.bit_generator.state = json.loads(state["numpy"])
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def fine_tune(
    model: nn.Module, train: SegData, val: SegData | None, num_categories: int, mask: torch.Tensor | None,
    category_parts: dict[int, list[int]], prm: Params, device: torch.device, name: str, seed: int = 0,
    journal: Journal | None = None, run: str | None = None, stop_after: int | None = None,
) -> RunResult | None:
    """Train ``model`` for ``prm.epochs``; keep the epoch with the best validation instance mIoU.

    With a ``journal``, the state after each epoch is saved under ``run`` and a saved state is resumed
    from; ``stop_after``: return None once the journal has saved that many epochs in this process (what a
    killed run leaves)."""
    start = time.perf_counter()
    model = model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=prm.lr, momentum=prm.momentum, weight_decay=prm.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=prm.epochs, eta_min=prm.lr_min)
    rng = np.random.default_rng(seed)  # same data order and point subsets for both runs
    torch.manual_seed(seed)  # same dropout draws
    curve: list[dict[str, float]] = []
    best_state, best_epoch, best_val = None, prm.epochs, None
    first = 1
    saved = journal.get(run) if journal is not None and run is not None else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        if saved["done"]:
            return RunResult(model, list(saved["curve"]), int(saved["best_epoch"]), saved["best_val"], 0.0)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        _set_rng_states(rng, device, saved["rng"])
        curve, best_state = list(saved["curve"]), saved["best_state"]
        best_epoch, best_val, first = int(saved["best_epoch"]), saved["best_val"], int(saved["epoch"]) + 1
    for epoch in progress(range(first, prm.epochs + 1), desc=f"partseg {name}", unit="epoch"):
        if stop_after is not None and journal is not None and journal.saves >= stop_after:
            return None
        lr = optimizer.param_groups[0]["lr"]
        loss, acc = train_epoch(model, train, num_categories, optimizer, prm, rng, device)
        scheduler.step()  # after the epoch's optimiser steps
        row = {"epoch": epoch, "lr": lr, "train_loss": loss, "train_accuracy": percent(acc)}
        if val is not None:
            val_miou = scores(predict(model, val, num_categories, mask, prm.batch_size, device), val, category_parts)
            row["val_instance_miou"] = percent(val_miou.instance_miou)
            if best_val is None or row["val_instance_miou"] > best_val:
                best_val, best_epoch = row["val_instance_miou"], epoch
                best_state = copy.deepcopy(model.state_dict())
        curve.append(row)
        log.info("partseg %s epoch %d: %s", name, epoch, ", ".join(f"{k} {v:.4g}" for k, v in row.items()))
        done = epoch == prm.epochs
        if done and best_state is not None:
            model.load_state_dict(best_state)
        if journal is not None and run is not None:
            journal.save(run, {
                "epoch": epoch, "done": done, "model": model.state_dict(), "curve": curve,
                "best_epoch": best_epoch, "best_val": best_val,
                **({} if done else {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                                    "rng": _rng_states(rng, device), "best_state": best_state}),
            })
    return RunResult(model, curve, best_epoch, best_val, time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------
# Outputs


def write_curves(dest: str, results: dict[str, RunResult]) -> None:
    """Wide CSV, one row per epoch: ``epoch, lr, <run>_<measure>...`` (one line per run in DVC plots)."""
    epochs = len(next(iter(results.values())).curve)
    measures = [k for k in results[RUNS[0]].curve[0] if k not in ("epoch", "lr")]
    with atomic_path(dest) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["epoch", "lr", *[f"{r}_{m}" for m in measures for r in results]])
        for e in range(epochs):
            first = results[RUNS[0]].curve[e]
            writer.writerow(
                [first["epoch"], f"{first['lr']:.6g}",
                 *[f"{results[r].curve[e][m]:.6g}" for m in measures for r in results]]
            )


def draw_examples(dest: str, data: SegData, preds: dict[str, np.ndarray], category_names: list[str],
                  category_parts: dict[int, list[int]], n: int) -> None:
    """Grid of 3D scatters: one row per shape (one per category first), truth then each run's prediction;
    a part's colour is its position in its category's part list (so each shape uses distinct colours)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen: list[int] = []
    for c in np.unique(data.categories):
        if len(chosen) < n:
            chosen.append(int(np.flatnonzero(data.categories == c)[0]))
    chosen += [i for i in range(len(data)) if i not in chosen][: max(0, n - len(chosen))]
    columns = [("truth", data.parts), *[(f"{r} prediction", p) for r, p in preds.items()]]
    cmap = plt.get_cmap("tab10")
    fig = plt.figure(figsize=(3.2 * len(columns), 3.0 * max(len(chosen), 1)))
    for row, i in enumerate(chosen):
        x, y, z = data.points[i].T
        local = {g: j for j, g in enumerate(category_parts.get(int(data.categories[i]), []))}
        for col, (title, labels) in enumerate(columns):
            ax = fig.add_subplot(len(chosen), len(columns), row * len(columns) + col + 1, projection="3d")
            colours = [cmap(local[g] % cmap.N) if g in local else (0.6, 0.6, 0.6, 1.0) for g in labels[i].tolist()]
            ax.scatter(x, z, y, c=colours, s=4, depthshade=False)
            ax.set_title(f"{category_names[data.categories[i]]}: {title}", fontsize=8)
            ax.set_axis_off()
            ax.view_init(elev=20, azim=-60)
    if not chosen:
        fig.text(0.5, 0.5, "no test shapes", ha="center")
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


def write_skipped(reason: str, seed: int) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    log.warning("partseg: skipped (%s)", reason)
    write_json(paths.partseg_metrics(seed), {"skipped": reason})
    with atomic_path(paths.partseg_curves(seed)) as tmp:
        tmp.write_text("epoch,lr\n")
    fig = plt.figure(figsize=(4, 2))
    fig.text(0.5, 0.5, f"part segmentation skipped:\n{reason}", ha="center", va="center", wrap=True)
    with atomic_path(paths.partseg_examples(seed)) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    return {"skipped": reason}


# ---------------------------------------------------------------------------------------------
# Stage


def build_model(num_categories: int, num_parts: int, model_cfg: dict[str, Any], prm: Params, seed: int) -> nn.Module:
    from crosspoint.models.dgcnn import PartSegModel

    torch.manual_seed(seed)
    return PartSegModel(
        num_categories, num_parts, k=prm.k, emb_dims=int(model_cfg.get("emb_dims", 1024)), dropout=prm.dropout
    )


def run(prm: Params, seed: int = 0, stop_after: int | None = None) -> dict[str, Any]:
    """Fine-tune from the seg encoder pretrained with ``seed`` and from scratch; write the outputs."""
    from crosspoint.models.dgcnn import SEG_HEAD_PREFIXES
    from crosspoint.models.encoders import load_point_encoder

    src = Path(paths.points(prm.dataset))
    ps = read_point_store(src)
    require_labels(ps.meta, prm.dataset, "partseg")
    skipped = store_skipped(src)
    if skipped is not None or len(ps) == 0:
        return write_skipped(skipped or f"{src} holds no objects", seed)
    meta = ps.meta
    if ps.part_labels is None or not meta.has_parts:
        raise StageError(f"partseg: {src} has no part labels; set partseg.dataset to a part-labelled dataset")
    names = meta.class_names
    category_parts = {names.index(c): sorted(p) for c, p in meta.class_parts.items() if p and c in names}
    num_categories, num_parts = len(names), len(meta.part_names)
    usable = np.isin(ps.labels, list(category_parts))
    if not usable.all():
        log.warning("partseg: %d objects of classes without parts left out", int((~usable).sum()))

    train_all = seg_data(ps, ps.split_mask("train") & usable)
    test = seg_data(ps, ps.split_mask("test") & usable)
    if len(train_all) < 2 or len(test) == 0:
        raise StageError(f"partseg: need train and test shapes with parts, got {len(train_all)} and {len(test)}")
    train_all = train_all.take(balanced_subset(train_all.categories, prm.max_train, prm.seed))
    test = fixed_subset(test.take(balanced_subset(test.categories, prm.max_test, prm.seed)), prm.points, prm.seed)
    val = None
    if prm.val_fraction > 0:
        fit_idx, val_idx = stratified_holdout(train_all.categories, prm.val_fraction, prm.seed)
        if len(val_idx):
            val = fixed_subset(train_all.take(val_idx), prm.points, prm.seed + 1)
            train_all = train_all.take(fit_idx)
        else:
            log.warning("partseg: too few train shapes per category for a validation split; keeping the last epoch")
    mask = part_mask(num_categories, num_parts, category_parts) if prm.argmax == "category" else None

    ckpt = Path(paths.encoder_checkpoint("seg", seed, prm.checkpoint))
    if prm.checkpoint is not None and not ckpt.is_file():
        raise StageError(f"{ckpt}: partseg.checkpoint not found (make it with `crosspoint import-weights`)")
    if not ckpt.exists():
        raise StageError(f"{ckpt}: pretrained seg encoder not found (run `crosspoint pretrain --variant seg`)")
    encoder, model_cfg = load_point_encoder(ckpt, map_location="cpu")
    if model_cfg.get("point_model") != "dgcnn_seg":
        raise StageError(
            f"partseg: {ckpt} holds a {model_cfg.get('point_model')!r} encoder; part seg needs dgcnn_seg"
        )
    device = resolve_device(prm.device)
    numerics.configure_torch(device)
    log.info(
        "partseg %s: %d train, %d val, %d test shapes; %d categories, %d parts; %d points; device %s",
        prm.dataset, len(train_all), 0 if val is None else len(val), len(test), num_categories, num_parts,
        prm.points, device,
    )

    journal = Journal(paths.partseg_state(seed), journal_signature(prm, seed, ckpt, train_all, val))
    results: dict[str, RunResult] = {}
    for name in RUNS:
        model = build_model(num_categories, num_parts, model_cfg, prm, seed)  # same head init for both
        if name == "pretrained":
            head = load_encoder_strict(model, encoder.state_dict(), tuple(SEG_HEAD_PREFIXES))
            log.info("partseg: loaded the pretrained encoder strictly; %d head tensors start fresh", len(head))
        result = fine_tune(model, train_all, val, num_categories, mask, category_parts, prm, device,
                           f"{name} seed {seed}", seed, journal=journal, run=name, stop_after=stop_after)
        if result is None:
            log.info("partseg: stopped in the %s run; run again to resume", name)
            return {"stopped": name}
        results[name] = result
        log.info("partseg %s seed %d: %d epochs in %.1f s", name, seed, prm.epochs, results[name].seconds)

    metrics: dict[str, Any] = {
        "dataset": prm.dataset, "seed": seed, "unit": "percent", "num_train": len(train_all),
        "num_val": 0 if val is None else len(val), "num_test": len(test), "epochs": prm.epochs, "points": prm.points,
    }
    preds = {}
    for name, res in results.items():
        pred = predict(res.model, test, num_categories, mask, prm.batch_size, device)
        preds[name] = pred
        s = scores(pred, test, category_parts)
        metrics[name] = {
            "instance_miou": percent(s.instance_miou), "class_miou": percent(s.class_miou),
            "per_category_miou": {names[c]: percent(v) for c, v in s.per_category.items()},
            "epoch": res.best_epoch, "val_instance_miou": res.val_instance_miou,
        }
        log.info("partseg %s: test instance mIoU %.2f, class mIoU %.2f (epoch %d)", name,
                 metrics[name]["instance_miou"], metrics[name]["class_miou"], res.best_epoch)
    metrics["numerics"] = numerics.record()
    write_json(paths.partseg_metrics(seed), metrics)
    write_curves(paths.partseg_curves(seed), results)
    draw_examples(paths.partseg_examples(seed), test, preds, names, category_parts, prm.examples)
    log.info("partseg: wrote %s", paths.partseg_metrics(seed))
    return metrics
