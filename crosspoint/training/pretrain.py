"""``crosspoint pretrain --variant cls|seg``: CrossPoint self-supervised pretraining.

Per step and object: two random augmentations of its cloud go through the point encoder and the
point head (z1, z2); one random rendered view goes through the image encoder and the image head
(z_img). Loss = w_imid * NT-Xent(z1, z2) + w_cmid * NT-Xent(mean(z1, z2), z_img). Adam with a
cosine schedule to 0, stepped once per epoch after the optimiser.

Variants: ``cls`` trains the classification encoder (``pretrain.cls``, DGCNN by default), ``seg``
the part-segmentation encoder (``pretrain.seg``, ``dgcnn_seg``), as the paper pretrains a separate
model for part segmentation.

Data: the train split of every dataset of ``pretrain.datasets`` (labelled or not: a ``mesh_folder``
dataset has no labels), each with its own view store; objects of all of them in every epoch.

Model selection: a validation split is carved (stratified, seeded) from the TRAINING objects and
held out of pretraining; every ``val_every`` epochs the criterion of ``pretrain.selection`` scores
it (:mod:`crosspoint.training.validation`): the accuracy of a linear SVM (or kNN) fitted on the frozen
global features of the remaining training objects (labelled data), or the cross-modal retrieval
top-1 among the held-out objects (no labels needed). Both are logged whenever the data allows. The
test split is never read. The random-init encoder's scores are recorded as epoch 0.

One run per seed of ``pretrain.seeds`` (``--seed K``): everything random below is drawn from ``K``.

Outputs (rank 0 only): ``paths.pretrain_dir(variant, K)/best.pt`` (best validation score) and
``last.pt`` (written atomically every epoch, with the full training state: a killed run started
again resumes from it when the params match, and ends with the same weights as an uninterrupted
run), and DVCLive metrics and plots in ``paths.pretrain_live(variant, K)``. Neither holds wall-clock
data (samples/s is logged only), so the same run gives the same bytes.

Randomness: the order of objects comes from the sampler (seed, epoch); each object's point subset
and view come from a generator keyed by (seed, epoch, object), so they do not depend on the number
of DataLoader workers; augmentations are drawn on the training device from a seeded generator
whose state is checkpointed.

Multi-GPU: ``torchrun --nproc-per-node G -m crosspoint pretrain --variant cls`` uses
DistributedDataParallel (batch_size is per process; with ``global_negatives`` the NT-Xent
negatives come from every process's batch, so the loss and gradient are those of one process at
batch G x batch_size; otherwise from the process's own batch), optional SyncBatchNorm, a per-rank
sharded sampler; only rank 0 validates and writes.

Precision (``precision``): ``fp32`` (the default and upstream's) runs everything in float32;
``bf16`` runs the encoders under bf16 autocast on the training device (CUDA, or the CPU, where it
is slow unless the CPU has native bf16, and exists to exercise the path); the loss is float32
either way. The precision is recorded in every checkpoint and in the metrics beside the numerics.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from crosspoint import config, numerics, paths
from crosspoint.checkpoints import load_checkpoint, load_state_strict, save_checkpoint
from crosspoint.models.encoders import model_config
from crosspoint.models.heads import image_head, point_head
from crosspoint.models.registry import build_image_encoder, build_point_encoder
from crosspoint.progress import Progress
from crosspoint.store import StageError, write_json
from crosspoint.training import live_log
from crosspoint.training.augment import augment_images, augment_points, resize_images
from crosspoint.training.data import EpochSampler, PretrainData, load_training_set
from crosspoint.training.distributed import (
    DistInfo,
    all_reduce_mean,
    barrier,
    cleanup_distributed,
    dist_info,
    init_distributed,
    select_device,
    unwrap,
)
from crosspoint.training.losses import crosspoint_loss, nt_xent
from crosspoint.training.measure import synchronize
from crosspoint.training.optim import make_adam
from crosspoint.training.params import VARIANTS, Params, Variant
from crosspoint.training.precision import autocast
from crosspoint.training.seeding import (
    global_rng_untouched,
    rng_state,
    seed_everything,
    set_rng_state,
    worker_init_fn,
)
from crosspoint.training.validation import CRITERION_KEY, validate

log = logging.getLogger("crosspoint.training.pretrain")


class CrossPointModel(nn.Module):
    """Point encoder + head, and (unless IMID only) image encoder + head, in one module so that a
    single DistributedDataParallel wrapper covers all of them."""

    def __init__(self, v: Variant, with_images: bool):
        super().__init__()
        self.point_encoder = build_point_encoder(v.point_model, k=v.k, emb_dims=v.emb_dims)
        self.point_head = point_head(self.point_encoder.out_dim)
        self.image_encoder: nn.Module | None = None
        self.image_head: nn.Module | None = None
        if with_images:
            self.image_encoder = build_image_encoder(v.image_model)
            self.image_head = image_head(self.image_encoder.out_dim)

    def forward(self, clouds: torch.Tensor, images: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        """``clouds`` [2B, N, 3] (both augmentations stacked) -> z1, z2 [B, 256] and z_img or None."""
        z = self.point_head(self.point_encoder(clouds))
        z1, z2 = z.chunk(2)
        z_img = None
        if images is not None:
            z_img = self.image_head(self.image_encoder(images))
        return z1, z2, z_img


# ---------------------------------------------------------------------------------------------
# Training


def signature(prm: Params, variant: str, seed: int, fingerprint: str) -> str:
    """What a resumed run must share with the checkpoint: every result-changing param, the seed,
    the numerics and the data."""
    keys = config.to_dict(prm)
    keys.pop("workers")
    keys.pop("val_batch_size")
    keys.pop("seeds")
    keys["seed"] = seed
    keys["numerics"] = numerics.record()
    keys = {k: v for k, v in keys.items() if k not in VARIANTS}
    keys["variant"] = {"name": variant, **config.to_dict(prm.variant(variant))}
    keys["variant"].pop("snapshots")  # which epochs are kept does not change the weights
    keys["data"] = fingerprint
    return hashlib.sha256(json.dumps(keys, sort_keys=True, default=str).encode()).hexdigest()


def _make_loader(data: PretrainData, batch: int, prm: Params, info: DistInfo,
                 device: torch.device, generator: torch.Generator, seed: int) -> tuple[DataLoader, EpochSampler]:
    sampler = EpochSampler(data, info, seed)
    loader = DataLoader(
        data, batch_size=batch, sampler=sampler, drop_last=True, num_workers=prm.workers,
        pin_memory=device.type == "cuda", worker_init_fn=worker_init_fn, generator=generator,
        persistent_workers=False,
    )
    return loader, sampler


def _checkpoint(model: CrossPointModel, model_cfg: dict[str, Any], epoch: int, val: dict[str, Any],
                prm: Params, variant: str, seed: int) -> dict[str, Any]:
    m = unwrap(model)
    scores = {f"val_{key.split('/')[1]}": value for key, value in val.items() if key != "val/accuracy"}
    return {
        "point_encoder": m.point_encoder.state_dict(),
        "point_head": m.point_head.state_dict(),
        "image_encoder": None if m.image_encoder is None else m.image_encoder.state_dict(),
        "image_head": None if m.image_head is None else m.image_head.state_dict(),
        "model": model_cfg,
        "epoch": epoch,
        "val_accuracy": val.get("val/accuracy", float("nan")),
        **scores,
        "variant": variant,
        "seed": seed,
        "params": config.to_dict(prm),
        "numerics": numerics.record(),
        "precision": prm.precision,
    }


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, clouds: torch.Tensor,
               images: torch.Tensor | None, prm: Params, image_size: int,
               aug_gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One optimiser step on a batch (clouds float [B, N, 3], views uint8 [B, H, W, 3] or None, on
    the training device): two point augmentations, one image augmentation, the CrossPoint loss;
    the encoders run at ``prm.precision``. Returns the detached (total, imid, cmid)."""
    device = clouds.device
    with torch.no_grad():
        pair = torch.cat([augment_points(clouds, prm.point_augment, aug_gen),
                          augment_points(clouds, prm.point_augment, aug_gen)])
        imgs = None
        if images is not None:
            imgs = resize_images(augment_images(images, prm.image_augment, aug_gen), image_size)
    with autocast(device, prm.precision):
        z1, z2, z_img = model(pair, imgs)
    total, imid, cmid = _loss(z1.float(), z2.float(), None if z_img is None else z_img.float(), prm)
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()
    return total.detach(), imid.detach(), cmid.detach()


def run(prm: Params, variant: str, seed: int | None = None, *, stop_after: int | None = None,
        fresh: bool = False, progress: bool = True) -> dict[str, Any]:
    """Pretrain ``variant`` with ``seed`` (default: the first of ``pretrain.seeds``); returns the
    summary (best validation score and its criterion, epochs run).

    ``stop_after``: end this invocation after that many epochs (for time-limited jobs; running
    again resumes). ``fresh``: ignore an existing last.pt."""
    v = prm.variant(variant)
    seed = prm.seeds[0] if seed is None else int(seed)
    live_dir = Path(paths.pretrain_live(variant, seed))
    info = dist_info()
    device = select_device(info)
    numerics.configure_torch(device)
    if not info.is_main:  # one voice per run: the other ranks report warnings only
        log.setLevel(logging.WARNING)
    if prm.precision == "bf16" and device.type == "cpu":
        log.warning("pretrain: precision bf16 on the CPU (autocast; slow without native bf16 support)")
    init_distributed(info, device)
    try:
        return _run(prm, variant, seed, v, live_dir, info, device, stop_after, fresh, progress)
    finally:
        cleanup_distributed()


def _run(prm: Params, variant: str, seed: int, v: Variant, live_dir: Path, info: DistInfo,
         device: torch.device, stop_after: int | None, fresh: bool, progress: bool) -> dict[str, Any]:
    with_images = prm.w_cmid > 0
    model_cfg = model_config(v, with_images)
    data = load_training_set(prm, v, with_images, seed)
    seed_everything(seed)
    model = CrossPointModel(v, with_images)

    if data.skipped is not None:
        if info.is_main:
            ckpt = _checkpoint(model, model_cfg, 0, {}, prm, variant, seed) | {"skipped": data.skipped}
            save_checkpoint(paths.last_checkpoint(variant, seed), ckpt)
            save_checkpoint(paths.best_checkpoint(variant, seed), ckpt)
            save_checkpoint(paths.snapshots(variant, seed), _snapshots_file({}, model_cfg, variant, seed, 0))
            write_json(live_dir / "metrics.json", {"skipped": data.skipped})
        log.warning("pretrain %s: skipped (%s); wrote random-init checkpoints", variant, data.skipped)
        return {"skipped": data.skipped}

    n_per_rank = math.ceil(len(data.train_points) / info.world_size)
    batch = min(v.batch_size, n_per_rank)
    if batch < 2:
        raise StageError(f"pretrain: {len(data.train_points)} training objects are too few for "
                         f"{info.world_size} process(es); use a larger dataset")
    if batch < v.batch_size:
        log.warning("pretrain %s: batch_size %d > %d objects per process; using %d",
                    variant, v.batch_size, n_per_rank, batch)

    model.to(device)
    optimizer = make_adam(model.parameters(), device, lr=prm.lr, weight_decay=prm.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=v.epochs, eta_min=0.0)
    aug_gen = torch.Generator(device=device)
    aug_gen.manual_seed(seed * 1009 + 17 + info.rank)
    loader_gen = torch.Generator()
    loader_gen.manual_seed(seed * 1009 + 31 + info.rank)

    sig = signature(prm, variant, seed, data.fingerprint)
    last_path = Path(paths.last_checkpoint(variant, seed))
    resumed = None if fresh else _resume(last_path, sig, model, optimizer, scheduler, aug_gen,
                                         loader_gen, info, device)
    history: list[dict[str, Any]] = resumed["history"] if resumed else []
    criterion = CRITERION_KEY[data.selection]
    best: dict[str, Any] = resumed["best"] if resumed else {"value": -1.0, "epoch": 0}
    start = resumed["epoch"] if resumed else 0
    if resumed:
        log.info("pretrain %s: resuming from %s after epoch %d", variant, last_path, start)
    elif info.is_main:
        Path(paths.best_checkpoint(variant, seed)).unlink(missing_ok=True)  # a previous run's, with other params
    kept = _kept_snapshots(variant, seed, start, v.snapshots) if info.is_main else {}

    if info.distributed:
        if prm.sync_bn and device.type == "cuda":  # SyncBatchNorm exists for GPU modules only
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)

    dataset = PretrainData(data.train_points, data.views_paths, data.view_rows, data.view_stores, v.points, seed)
    loader, sampler = _make_loader(dataset, batch, prm, info, device, loader_gen, seed)
    core = unwrap(model)
    steps_per_epoch = len(loader)
    if info.is_main:  # the output exists from the start (a resumed run rewrites what it kept)
        save_checkpoint(paths.snapshots(variant, seed), _snapshots_file(kept, model_cfg, variant, seed, steps_per_epoch))
    n_params = sum(p.numel() for p in core.parameters())
    log.info("pretrain %s seed %d: %s (k=%d, %d points) + %s, %.1fM parameters; %d objects of %s (+%d validation, "
             "selection by %s), batch %d x %d process(es)%s, %d epochs, device %s, %s, numerics %s x %d threads",
             variant, seed, v.point_model, v.k, v.points, model_cfg["image_model"], n_params / 1e6,
             len(data.train_points), "+".join(prm.datasets), len(data.val_labels), data.selection, batch, info.world_size,
             " (global negatives)" if info.distributed and prm.global_negatives else "", v.epochs, device,
             prm.precision, numerics.record()["isa"], numerics.threads())

    if start == 0:
        scores0: dict[str, Any] = {}
        if info.is_main:
            with global_rng_untouched():
                scores0 = validate(core, data, prm, v.image_size, device)
        history = [{"epoch": 0, **scores0}]
        log.info("pretrain %s: random-init encoder: %s", variant, _scores_text(scores0))

    done = 0
    for epoch in range(start + 1, v.epochs + 1):
        if stop_after is not None and done >= stop_after:
            break
        sampler.set_epoch(epoch)
        model.train()
        lr = optimizer.param_groups[0]["lr"]
        # (loss, imid, cmid) summed on the training device in float64 (the same bits as Python floats), read
        # once per epoch: no host sync per step on CUDA
        sums = torch.zeros(3, dtype=torch.float64, device=device)
        steps = 0
        seen = 0
        t0 = time.perf_counter()
        bar = Progress(loader, desc=f"pretrain {variant} {epoch}/{v.epochs}", unit="batch",
                       disable=not (progress and info.is_main))
        for clouds, images in bar:
            clouds = clouds.to(device, non_blocking=True)
            images = images.to(device, non_blocking=True) if with_images else None
            total, imid, cmid = train_step(model, optimizer, clouds, images, prm, v.image_size, aug_gen)
            steps += 1
            seen += clouds.shape[0]
            sums += torch.stack([total, imid, cmid]).to(torch.float64)
            if device.type == "cpu" or steps % 50 == 0:  # a postfix reads the device: not every step on CUDA
                bar.set_postfix(loss=f"{float(sums[0]) / steps:.4f}")
        synchronize(device)
        elapsed = time.perf_counter() - t0
        scheduler.step()  # after the optimiser, once per epoch
        row: dict[str, Any] = {"epoch": epoch}
        for key, total_value in zip(("loss", "imid", "cmid"), sums.tolist(), strict=True):
            row[f"train/{key}"] = all_reduce_mean(total_value / max(steps, 1), device)
        row["train/lr"] = lr
        rate = seen * info.world_size / max(elapsed, 1e-9)  # logged only: wall-clock stays out of the record
        scores: dict[str, Any] = {}
        if info.is_main and (epoch % prm.val_every == 0 or epoch == v.epochs):
            with global_rng_untouched():
                scores = validate(core, data, prm, v.image_size, device)
        row |= scores
        history.append(row)
        value = scores.get(criterion, float("nan"))
        improved = not math.isnan(value) and value > best["value"]
        no_val = len(data.val_labels) == 0
        if improved or no_val:
            best = {"value": value, "epoch": epoch}
        rng = _gather_rng({"global": rng_state(), "augment": aug_gen.get_state(),
                           "loader": loader_gen.get_state()})
        if info.is_main:
            if improved or no_val:
                save_checkpoint(paths.best_checkpoint(variant, seed),
                                         _checkpoint(model, model_cfg, epoch, scores, prm, variant, seed))
            state = _checkpoint(model, model_cfg, epoch, scores, prm, variant, seed) | {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng,
                "history": history,
                "best": best,
                "signature": sig,
            }
            if epoch in v.snapshots:
                weights = {k: t.detach().to("cpu", copy=True) for k, t in core.point_encoder.state_dict().items()}
                kept[str(epoch)] = {"point_encoder": weights, "steps": epoch * steps_per_epoch}
                save_checkpoint(paths.snapshots(variant, seed),
                                _snapshots_file(kept, model_cfg, variant, seed, steps_per_epoch))
            save_checkpoint(last_path, state)
            live_log.write_live(live_dir, history, _summary(history, best, data.selection, seed, prm.precision))
        barrier()
        log.info("pretrain %s: epoch %d/%d loss %.4f (imid %.4f, cmid %.4f) lr %.2e, %.1f objects/s, "
                 "validation %s", variant, epoch, v.epochs, row["train/loss"], row["train/imid"],
                 row["train/cmid"], lr, rate, _scores_text(scores))
        done += 1

    summary = _summary(history, best, data.selection, seed, prm.precision)
    if info.is_main:
        live_log.write_live(live_dir, history, summary)
    last_epoch = history[-1]["epoch"]
    if last_epoch < v.epochs:
        log.info("pretrain %s: stopped after epoch %d of %d; run again to resume", variant, last_epoch, v.epochs)
    else:
        log.info("pretrain %s: done; best validation %s %.4f at epoch %d (random init: %s)",
                 variant, data.selection, best["value"], best["epoch"], _scores_text(history[0]))
    return summary | {"epochs_run": done, "last_epoch": last_epoch}


def _snapshots_file(kept: dict[str, Any], model_cfg: dict[str, Any], variant: str, seed: int,
                    steps_per_epoch: int) -> dict[str, Any]:
    """snapshots.pt: ``encoders`` maps each kept epoch (as a string) to its point encoder's weights and the
    optimizer steps taken by then (per process)."""
    return {"variant": variant, "seed": seed, "model": model_cfg, "steps_per_epoch": steps_per_epoch,
            "encoders": dict(sorted(kept.items(), key=lambda kv: int(kv[0])))}


def _kept_snapshots(variant: str, seed: int, start: int, wanted: list[int]) -> dict[str, Any]:
    """The snapshots a resumed run already has (epochs up to ``start``); a fresh run has none. A snapshot
    epoch that a resumed run has passed without its file (deleted since) is lost: warned, not made up."""
    if start == 0:
        return {}
    path = Path(paths.snapshots(variant, seed))
    kept = dict(load_checkpoint(path)["encoders"]) if path.is_file() else {}
    missing = [e for e in wanted if e <= start and str(e) not in kept]
    if missing:
        log.warning("pretrain %s: %s lacks the snapshots of epochs %s (the run resumes after epoch %d)",
                    variant, path, missing, start)
    return kept


def _resume(path: Path, sig: str, model: CrossPointModel, optimizer: torch.optim.Optimizer,
            scheduler: Any, aug_gen: torch.Generator, loader_gen: torch.Generator, info: DistInfo,
            device: torch.device) -> dict[str, Any] | None:
    """Restore the whole training state from ``path`` when it was written with the same params and
    data (``sig``); returns its epoch, history and best, or None (start afresh)."""
    if not path.exists():
        return None
    ckpt = load_checkpoint(path, map_location="cpu")  # RNG states must stay on the CPU
    if ckpt.get("signature") != sig or "optimizer" not in ckpt:
        log.info("pretrain: %s was made with other params or data; starting afresh", path)
        return None
    for part in ("point_encoder", "point_head", "image_encoder", "image_head"):
        module = getattr(model, part)
        if module is not None:
            load_state_strict(module, ckpt[part], f"{path} {part}")
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    states = ckpt["rng"]
    state = states[info.rank] if info.rank < len(states) else states[0]
    set_rng_state(state["global"])
    aug_gen.set_state(state["augment"])
    loader_gen.set_state(state["loader"])
    return {"epoch": int(ckpt["epoch"]), "history": list(ckpt["history"]), "best": dict(ckpt["best"])}


def _gather_rng(local: dict[str, Any]) -> list[dict[str, Any]]:
    """Every rank's generator states, in rank order (a collective call under torchrun)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return [local]
    out: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(out, local)
    return out


def _scores_text(scores: dict[str, Any]) -> str:
    shown = {k.split("/")[1]: v for k, v in scores.items() if k.startswith("val/")}
    return ", ".join(f"{k} {v:.4f}" for k, v in shown.items()) or "-"


def _summary(history: list[dict[str, Any]], best: dict[str, Any], selection: str,
             seed: int, precision: str) -> dict[str, Any]:
    """The run's summary: the random init's scores, the best one of the selection criterion, its epoch."""
    name = CRITERION_KEY[selection].split("/")[1]
    random_init = {f"val/random_init_{k.split('/')[1]}": v for k, v in history[0].items() if k.startswith("val/")}
    return {
        **random_init,
        "val/criterion": name,
        f"val/best_{name}": best["value"],
        "val/best_epoch": best["epoch"],
        "epochs_done": history[-1]["epoch"],
        "seed": seed,
        "numerics": numerics.record(),
        "precision": precision,
    }


def _loss(z1: torch.Tensor, z2: torch.Tensor, z_img: torch.Tensor | None, prm: Params):
    """(total, imid, cmid); IMID only (no image branch) reports cmid as 0. Negatives from every
    process under torchrun when ``prm.global_negatives``."""
    if z_img is None:
        imid = nt_xent(z1, z2, prm.temperature, global_batch=prm.global_negatives)
        return prm.w_imid * imid, imid, torch.zeros((), device=z1.device)
    return crosspoint_loss(z1, z2, z_img, temperature=prm.temperature, w_imid=prm.w_imid, w_cmid=prm.w_cmid,
                           global_batch=prm.global_negatives)









