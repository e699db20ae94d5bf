"""``crosspoint merge-features --dataset NAME``: concatenate the feature shards of a dataset.

The shards ``paths.features_shard(NAME, 0..S-1)`` (``S = len(features.shards)``) are copied in
order, a block of rows at a time, into ``paths.features(NAME)``. Each shard must be the block the
features stage would make of the current point store ``paths.points(NAME)``: its object ids are the
block's ids, in order. A ``skipped`` mark (an absent optional dataset) passes through.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import h5py

from crosspoint import config, paths
from crosspoint.features import Params
from crosspoint.shards import check_shard_file, concat_h5, missing_files, shard_block
from crosspoint.store import StageError, get_meta, read_strings

log = logging.getLogger("crosspoint.merge_features")


def merge_features(name: str, prm: Params) -> int:
    """Merge the feature shards of ``name``; return the number of objects."""
    src = Path(paths.points(name))
    if not src.exists():
        raise StageError(f"{src}: point store not found (run the stage that makes it: dvc repro)")
    with h5py.File(src, "r") as h5:
        store_ids = read_strings(h5, "object_ids")
    n_shards = len(prm.shards)
    shard_files = [paths.features_shard(name, s) for s in prm.shards]
    missing_files(shard_files, f"crosspoint features --dataset {name} --shard I")
    for s, shard_file in enumerate(shard_files):
        start, stop = shard_block(len(store_ids), s, n_shards)
        rerun = f"crosspoint features --dataset {name} --shard {s}"
        with h5py.File(shard_file, "r") as h5:
            check_shard_file(h5, shard_file, "features", s, n_shards, (start, stop), rerun)
            ids = read_strings(h5, "object_ids")
            skipped = get_meta(h5, "skipped")
        if ids != store_ids[start:stop]:
            raise StageError(f"{shard_file}: its objects are not objects [{start}, {stop}) of {src} in order "
                             f"(the point store changed since): rerun `{rerun}`")
    dest = paths.features(name)
    n = concat_h5(shard_files, dest)
    log.info("merge-features: %s: %d objects from %d shard(s) -> %s%s", name, n, n_shards, dest,
             f" (skipped: {skipped})" if skipped is not None else "")
    return n


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="dataset whose feature shards to merge")


def main(args: argparse.Namespace) -> None:
    prm = config.section("features", Params, path=args.params)
    merge_features(args.dataset, prm)
