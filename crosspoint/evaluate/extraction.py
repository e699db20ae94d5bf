"""``crosspoint features --dataset NAME --shard I``: frozen global features of one shard of a dataset.

``crosspoint features --dataset NAME --shard I --seed K``: shard ``I`` of ``S = len(features.shards)``
takes objects ``[I*N//S, (I+1)*N//S)`` of the point store ``paths.points(NAME)`` and writes
``paths.features_shard(NAME, I, K)``; ``crosspoint merge-features --dataset NAME --seed K``
(:mod:`crosspoint.evaluate.merge_features`) concatenates the shards into ``paths.features(NAME, K)`` (layout
in :mod:`crosspoint.evaluate`). One set per pretraining seed ``K`` of ``pretrain.seeds``. For each object, ``features.points``
points (1024, the paper's linear protocol) are taken from the stored cloud (the first ones, or a
random subset drawn with ``numpy.random.default_rng([seed, i])`` for object ``i`` of the whole store),
and the global feature (DGCNN: max-pool ‖ avg-pool = 2048-d) is computed by the classification
encoder pretrained with seed ``K`` (``paths.pretrain_dir("cls", K)/best.pt``, or ``features.checkpoint``,
e.g. the authors' weights through ``crosspoint import-weights``, for every seed) and by the same
architecture at the random init that run started from (drawn from ``K``; the same in every shard), so
the merged file does not depend on the number of shards and the two encoders differ only by the
pretraining. The encoder keeps the k it was pretrained with; :func:`crosspoint.models.encoders.frozen_features` (also used by
the few-shot stage with ``fewshot.features: own``) can extract with another k (the upstream few-shot
script used k = 5). An empty point store (``skipped``, an absent optional dataset) gives empty shards
with the same mark.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from crosspoint import paths
from crosspoint.feature_files import FeatureSet, write_features
from crosspoint.models.encoders import frozen_features
from crosspoint.settings import FeaturesParams as Params
from crosspoint.shards import check_shard, shard_attrs, shard_block
from crosspoint.store import DatasetMeta, StageError, get_meta

log = logging.getLogger("crosspoint.evaluate.extraction")



def point_store(dataset: str) -> Path:
    """The path of ``dataset``'s point store, checked to exist and to hold points."""
    src = Path(paths.points(dataset))
    if not src.exists():
        raise StageError(f"{src}: point store not found (run the stage that makes it: dvc repro)")
    with h5py.File(src, "r") as h5:
        if get_meta(h5, "kind") != "points":
            raise StageError(f"{src}: expected a point store, found kind={get_meta(h5, 'kind')!r}")
    return src


def extract_shard(dataset: str, prm: Params, shard: int, seed: int) -> int:
    """Compute and write the features of block ``shard`` of ``dataset`` by the encoder pretrained
    with ``seed`` and its random init; return the block's number of objects."""
    check_shard(shard, prm.shards, "features")
    src = point_store(dataset)
    with h5py.File(src, "r") as h5:
        n_total = len(h5["labels"])
        skipped = get_meta(h5, "skipped")
        meta = DatasetMeta.from_h5(h5)
        class_names = meta.class_names
    start, stop = shard_block(n_total, shard, len(prm.shards))
    dest = paths.features_shard(dataset, shard, seed)
    attrs: dict[str, Any] = {"points": prm.points, "subset": prm.subset, "seed": prm.seed, "encoder_seed": seed,
                             **shard_attrs(shard, len(prm.shards), start, stop)}
    if not meta.labelled:  # a mesh_folder dataset: its features can be extracted, not evaluated
        attrs["labelled"] = False
    if skipped is not None or n_total == 0:
        reason = str(skipped) if skipped is not None else f"{src} holds no objects"
        empty = np.zeros((0, 0), np.float32)
        fs = FeatureSet(pretrained=empty, random=empty, labels=np.zeros(0, np.int64), split=[], object_ids=[],
                        class_names=class_names, skipped=reason)
        write_features(dest, fs, **attrs)
        log.warning("features %s shard %d: skipped (%s); wrote an empty features shard %s", dataset, shard, reason,
                    dest)
        return 0

    ckpt = Path(paths.encoder_checkpoint("cls", seed, prm.checkpoint))
    if prm.checkpoint is not None and not ckpt.is_file():
        raise StageError(f"{ckpt}: features.checkpoint not found (make it with `crosspoint import-weights`)")
    if not ckpt.exists():
        raise StageError(f"{ckpt}: pretrained encoder not found (run `crosspoint pretrain` first: dvc repro)")
    with h5py.File(src, "r") as h5:
        points = h5["points"][start:stop]
        labels = h5["labels"][start:stop]
        split = [str(v) for v in h5["split"].asstr()[start:stop]]
        object_ids = [str(v) for v in h5["object_ids"].asstr()[start:stop]]
    log.info("features %s seed %d shard %d/%d: objects [%d, %d) x %d points", dataset, seed, shard,
             len(prm.shards), start, stop, prm.points)
    pretrained, random, model_cfg = frozen_features(
        points, ckpt, seed, points=prm.points, subset=prm.subset, subset_seed=prm.seed, batch_size=prm.batch_size,
        device=prm.device, offset=start, tag=f"{dataset} seed {seed} shard {shard}",
    )
    fs = FeatureSet(pretrained=pretrained, random=random, labels=np.asarray(labels, np.int64), split=split,
                    object_ids=object_ids, class_names=class_names)
    write_features(dest, fs, encoder=str(model_cfg.get("point_model", "")), k=int(model_cfg.get("k", 0)),
                   checkpoint=str(ckpt), **attrs)
    log.info("features %s shard %d: wrote %s (%d x %d)", dataset, shard, dest, *pretrained.shape)
    return len(object_ids)


def extract(dataset: str, prm: Params, seed: int) -> None:
    """Every shard of ``dataset`` then the merge (what the pipeline does, in one process)."""
    from crosspoint.evaluate.merge_features import merge_features

    for shard in prm.shards:
        extract_shard(dataset, prm, shard, seed)
    merge_features(dataset, prm, seed)
