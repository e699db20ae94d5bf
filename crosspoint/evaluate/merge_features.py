"""``crosspoint merge-features --dataset NAME``: concatenate the feature shards of a dataset.

The shards ``paths.features_shard(NAME, 0..S-1, K)`` (``S = len(features.shards)``, ``K`` the
pretraining seed) are copied in order, a block of rows at a time, into ``paths.features(NAME, K)``. Each shard must be the block the
features stage would make of the current point store ``paths.points(NAME)``: its object ids are the
block's ids, in order. A ``skipped`` mark (an absent optional dataset) passes through.
"""

from __future__ import annotations

import logging
from pathlib import Path

import h5py

from crosspoint import paths
from crosspoint.settings import FeaturesParams as Params
from crosspoint.shards import check_shard_file, concat_h5, missing_files, shard_block
from crosspoint.store import StageError, get_meta, read_strings

log = logging.getLogger("crosspoint.evaluate.merge_features")


def merge_features(name: str, prm: Params, seed: int) -> int:
    """Merge the feature shards of ``name`` for pretraining seed ``seed``; return the number of objects."""
    src = Path(paths.points(name))
    if not src.exists():
        raise StageError(f"{src}: point store not found (run the stage that makes it: dvc repro)")
    with h5py.File(src, "r") as h5:
        store_ids = read_strings(h5, "object_ids")
    n_shards = len(prm.shards)
    shard_files = [paths.features_shard(name, s, seed) for s in prm.shards]
    missing_files(shard_files, f"crosspoint features --dataset {name} --shard I --seed {seed}")
    for s, shard_file in enumerate(shard_files):
        start, stop = shard_block(len(store_ids), s, n_shards)
        rerun = f"crosspoint features --dataset {name} --shard {s} --seed {seed}"
        with h5py.File(shard_file, "r") as h5:
            check_shard_file(h5, shard_file, "features", s, n_shards, (start, stop), rerun)
            ids = read_strings(h5, "object_ids")
            skipped = get_meta(h5, "skipped")
        if ids != store_ids[start:stop]:
            raise StageError(f"{shard_file}: its objects are not objects [{start}, {stop}) of {src} in order "
                             f"(the point store changed since): rerun `{rerun}`")
    dest = paths.features(name, seed)
    n = concat_h5(shard_files, dest)
    log.info("merge-features: %s seed %d: %d objects from %d shard(s) -> %s%s", name, seed, n, n_shards, dest,
             f" (skipped: {skipped})" if skipped is not None else "")
    return n
