"""Sharded stages: which objects a shard takes, and merging shard files back into one.

A stage sharded ``S`` ways (``<section>.shards = [0, 1, ..., S-1]``) runs once per shard; shard ``I``
takes the contiguous block of objects ``[I*N//S, (I+1)*N//S)`` of its input and writes a file with
the same layout as the unsharded output, holding only that block's rows, plus the attributes
``shard``, ``shards``, ``start`` and ``stop``. A merge step then concatenates the shard files in
order (:func:`concat_h5`), so the result does not depend on how many shards were used as long as
every random draw is keyed on the global object index.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from crosspoint.store import StageError, atomic_path, get_meta, set_meta

log = logging.getLogger("crosspoint.shards")

SHARD_ATTRS = ("shard", "shards", "start", "stop")  # per-shard attributes, dropped when merging
COPY_BYTES = 32 << 20  # about this much of one dataset is read and written at a time
STRING_ROW_BYTES = 64  # size guess for one variable-length string, to size the copy blocks


def shard_block(n_objects: int, shard: int, n_shards: int) -> tuple[int, int]:
    """The contiguous object range ``[start, stop)`` of shard ``shard`` of ``n_shards``."""
    return shard * n_objects // n_shards, (shard + 1) * n_objects // n_shards


def shards_problems(shards: Sequence[int]) -> list[str]:
    """The params check of a ``shards`` list: it must be ``[0, 1, ..., S-1]`` with ``S >= 1``."""
    if not shards or list(shards) != list(range(len(shards))):
        return [f"shards must be [0, 1, ..., S-1] (S >= 1), got {list(shards)}"]
    return []


def check_shard(shard: int, shards: Sequence[int], section: str) -> None:
    """Raise a one-line StageError unless ``shard`` is one of ``<section>.shards``."""
    if shard not in shards:
        raise StageError(
            f"--shard {shard} is not one of {section}.shards {list(shards)} (valid: 0..{len(shards) - 1})"
        )


def shard_attrs(shard: int, n_shards: int, start: int, stop: int) -> dict[str, int]:
    """The attributes every shard file carries (checked by the merge step, dropped from its output)."""
    return {"shard": shard, "shards": n_shards, "start": start, "stop": stop}


def check_shard_file(h5: h5py.File, path: str | Path, kind: str, shard: int, n_shards: int,
                     block: tuple[int, int], rerun: str) -> None:
    """Fail unless the open shard file ``h5`` is shard ``shard`` of ``n_shards`` of ``kind`` and covers
    ``block``; ``rerun`` names the command that remakes it (for the message)."""
    if get_meta(h5, "kind") != kind:
        raise StageError(f"{path}: not a {kind} shard (kind={get_meta(h5, 'kind')!r}); rerun `{rerun}`")
    found = tuple(get_meta(h5, key) for key in SHARD_ATTRS)
    want = (shard, n_shards, *block)
    if found != want:
        raise StageError(
            f"{path}: is shard {found[0]} of {found[1]} covering objects [{found[2]}, {found[3]}), expected shard "
            f"{want[0]} of {want[1]} covering [{want[2]}, {want[3]}) (the input or the shards changed): rerun `{rerun}`"
        )


def missing_files(shard_files: Sequence[str | Path], command: str) -> None:
    """Raise a StageError naming every shard file that does not exist."""
    missing = [str(p) for p in shard_files if not Path(p).exists()]
    if missing:
        raise StageError(f"shard file(s) missing: {', '.join(missing)} (run `{command}` for each)")


def concat_h5(shard_files: Sequence[str | Path], dest: str | Path, attrs: Mapping[str, Any] | None = None,
              drop_attrs: Sequence[str] = SHARD_ATTRS) -> int:
    """Concatenate HDF5 files row-wise into ``dest`` (atomically); return the number of rows.

    Every file must hold the same top-level datasets, each with as many rows as the others of its
    file; a dataset's dtype and trailing shape must agree across the files that have rows (a file
    with no rows may have any trailing shape, e.g. an empty ``[0, 0]`` features block). The
    attributes of the files, less ``drop_attrs``, must agree; they are copied to ``dest`` and then
    updated with ``attrs``. Data are copied a block of rows at a time, never a whole file at once.
    """
    if not shard_files:
        raise ValueError("concat_h5: no files to concatenate")
    layouts = [_layout(Path(p), drop_attrs) for p in shard_files]
    names, attrs0 = layouts[0]["names"], layouts[0]["attrs"]
    for path, lay in zip(shard_files[1:], layouts[1:], strict=True):
        if lay["names"] != names:
            raise StageError(f"{path}: datasets {lay['names']} differ from {shard_files[0]}'s {names}")
        differ = sorted(k for k in set(lay["attrs"]) | set(attrs0) if not _same(lay["attrs"].get(k), attrs0.get(k)))
        if differ:
            raise StageError(f"{path}: attribute(s) {', '.join(differ)} differ from {shard_files[0]}'s "
                             "(the shards were made with different inputs or params): rerun the shards")
    with_rows = [lay for lay in layouts if lay["rows"] > 0] or layouts[:1]
    shapes: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    for name in names:
        trailing, dtype = with_rows[0]["datasets"][name]
        for path, lay in zip(shard_files, layouts, strict=True):
            if lay["rows"] > 0 and lay["datasets"][name] != (trailing, dtype):
                raise StageError(f"{path}: dataset {name!r} is {lay['datasets'][name]}, "
                                 f"other shards have {(trailing, dtype)}: rerun the shards")
        shapes[name] = (trailing, dtype)
    total = sum(lay["rows"] for lay in layouts)

    with atomic_path(dest) as tmp, h5py.File(tmp, "w") as out:
        for name, (trailing, dtype) in shapes.items():
            out.create_dataset(name, shape=(total, *trailing), dtype=dtype)
        offset = 0
        for path, lay in zip(shard_files, layouts, strict=True):
            rows = lay["rows"]
            if rows:
                with h5py.File(path, "r") as src:
                    for name, (trailing, dtype) in shapes.items():
                        _copy_rows(src[name], out[name], offset, rows, trailing, dtype)
            offset += rows
        with h5py.File(shard_files[0], "r") as first:
            for key, value in first.attrs.items():
                if key not in drop_attrs:
                    out.attrs[key] = value
        if attrs:
            set_meta(out, **dict(attrs))
    log.debug("concat_h5: %d rows from %d file(s) -> %s", total, len(shard_files), dest)
    return total


def _layout(path: Path, drop_attrs: Sequence[str]) -> dict[str, Any]:
    """Dataset names, row count, per-dataset (trailing shape, dtype) and attributes of one file."""
    with h5py.File(path, "r") as h5:
        datasets = {}
        rows: set[int] = set()
        for name, obj in h5.items():
            if not isinstance(obj, h5py.Dataset) or obj.ndim == 0:
                raise StageError(f"{path}: {name!r} is not a row-wise dataset; cannot concatenate")
            datasets[name] = (tuple(obj.shape[1:]), obj.dtype)
            rows.add(obj.shape[0])
        if len(rows) > 1:
            raise StageError(f"{path}: its datasets have different row counts {sorted(rows)} (a damaged file): rerun")
        attrs = {k: get_meta(h5, k) for k in h5.attrs if k not in drop_attrs}
    return {"names": sorted(datasets), "datasets": datasets, "rows": rows.pop() if rows else 0, "attrs": attrs}


def _copy_rows(src: h5py.Dataset, dst: h5py.Dataset, offset: int, rows: int, trailing: tuple[int, ...],
               dtype: np.dtype) -> None:
    is_str = h5py.check_string_dtype(dtype) is not None
    row_bytes = STRING_ROW_BYTES if is_str else dtype.itemsize * int(np.prod(trailing, dtype=np.int64))
    step = max(1, COPY_BYTES // max(1, row_bytes))
    for b in range(0, rows, step):
        e = min(rows, b + step)
        block = src.asstr()[b:e] if is_str else src[b:e]
        dst[offset + b : offset + e] = block


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return a == b
