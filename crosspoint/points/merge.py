"""``crosspoint merge-points --dataset NAME``: concatenate the sample shards of a dataset.

The shards ``paths.points_shard(NAME, 0..S-1)`` (``S = len(sample.shards)``) are copied in order, a
block of rows at a time, into ``paths.points(NAME)``, and their rejects tables into
``paths.points_rejects(NAME)``. Each shard must be the block the sample stage would make of the
current prepared store: its object ids, and those of its rejects, are the block's ids in store
order. The closing log line counts kept and rejected objects of the whole dataset, and the stage
fails when every object was rejected. An empty store marked ``skipped`` gives an empty point store
with the same mark.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import h5py

from crosspoint import paths
from crosspoint.points import sampling as sample
from crosspoint.points.sampling import Params
from crosspoint.shards import check_shard_file, concat_h5, missing_files, shard_block
from crosspoint.store import Rejects, StageError, get_meta, read_strings

log = logging.getLogger("crosspoint.points.merge")


def merge_points(name: str, params: Params) -> int:
    """Merge the sample shards of ``name``; return the number of objects kept."""
    src = Path(paths.prepared(name))
    if not src.exists():
        raise StageError(f"{src}: prepared store not found (run `crosspoint prepare --dataset {name}` first)")
    with h5py.File(src, "r") as h5:
        store_ids = read_strings(h5, "object_ids")
        skipped = get_meta(h5, "skipped")
    if not store_ids and not skipped:
        raise StageError(f"{src}: the store holds no objects; rerun `crosspoint prepare --dataset {name}`")
    n_shards = len(params.shards)
    shard_files = [paths.points_shard(name, s) for s in params.shards]
    reject_files = [paths.points_shard_rejects(name, s) for s in params.shards]
    missing_files(shard_files + reject_files, f"crosspoint sample --dataset {name} --shard I")

    rows: list[tuple[str, str]] = []
    for s, (shard_file, reject_file) in enumerate(zip(shard_files, reject_files, strict=True)):
        start, stop = shard_block(len(store_ids), s, n_shards)
        rerun = f"crosspoint sample --dataset {name} --shard {s}"
        with h5py.File(shard_file, "r") as h5:
            check_shard_file(h5, shard_file, "points", s, n_shards, (start, stop), rerun)
            per_object = h5["points"].shape[1]
            ids = read_strings(h5, "object_ids")
            shard_skipped = get_meta(h5, "skipped")
        if shard_skipped != skipped:
            raise StageError(f"{shard_file}: skipped={shard_skipped!r} but {src} has skipped={skipped!r} "
                             f"(the prepared store changed since sampling): rerun `{rerun}`")
        if per_object != params.points:
            raise StageError(f"{shard_file}: {per_object} points per object, sample.points is {params.points}: "
                             f"rerun `{rerun}`")
        with open(reject_file, newline="") as fh:
            shard_rows = [(r["path"], r["reason"]) for r in csv.DictReader(fh)]
        block = store_ids[start:stop]
        rejected = {path for path, _ in shard_rows}
        if [oid for oid in block if oid not in rejected] != ids or len(ids) + len(shard_rows) != len(block):
            raise StageError(
                f"{shard_file}: its objects and rejects are not objects [{start}, {stop}) of {src} in order "
                f"(the prepared store changed since sampling): rerun `{rerun}`"
            )
        rows.extend(shard_rows)

    kept = len(store_ids) - len(rows)
    rejects = Rejects("sample", rows=rows)
    dest = paths.points(name)
    if kept or skipped:
        concat_h5(shard_files, dest)
    if skipped:
        rejects.write(paths.points_rejects(name))
        log.info("merge-points: %s was skipped upstream (%s); wrote an empty point store %s", name, skipped, dest)
        return 0
    log.info("merge-points: %s: %d shard(s) -> %s", name, n_shards, dest)
    rejects.finish(kept, paths.points_rejects(name))
    return kept






def sample_dataset(name: str, params: Params) -> None:
    """Sample every shard of ``name`` and merge them (what the pipeline does, in one process)."""
    for shard in params.shards:
        sample.sample_shard(name, params, shard)
    merge_points(name, params)
