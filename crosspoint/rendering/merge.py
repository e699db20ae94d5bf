"""Concatenate a pretraining dataset's render shards and draw its contact sheet (``merge-views``).

The shards ``paths.render_shard(D, 0..S-1)`` of dataset ``D`` are copied in order, a block of objects at a
time, into ``paths.views(D)``; their object ids must be the mesh store's ids in order (less the rejected ones),
each shard's within its own block, and the store records the md5 of the dataset's point store
``paths.points(D)`` as ``points_md5`` (pretraining checks it: see :func:`merge`) (for a ``shapenet_render`` dataset: the point store's ids, the
shards holding the decoded 3D-R2N2 renders and their ``camera_metadata``). The contact sheet ``paths.contact_sheet(D)`` shows a few objects
per class (one row per object: class name and id, then its views) so a person can check the renders.
"""

from __future__ import annotations

import logging
from pathlib import Path

import h5py
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from crosspoint import paths
from crosspoint.rendering.meshes import read_skipped
from crosspoint.rendering.views import Params, ViewStoreWriter, store_attrs, stored_views
from crosspoint.shards import shard_block
from crosspoint.store import DatasetMeta, StageError, atomic_path, file_md5, get_meta, read_strings

log = logging.getLogger("crosspoint.rendering.merge")

COPY_BLOCK = 64  # objects copied per read/write


def merge(params: Params, dataset: str) -> int:
    """Merge the shards of ``dataset`` into its view store; return the number of objects."""
    mesh_path = Path(paths.prepared(dataset))
    if not mesh_path.exists():
        raise StageError(f"{mesh_path}: prepared store not found (run `crosspoint prepare --dataset {dataset}`)")
    stored = stored_views(params, dataset)
    with h5py.File(mesh_path, "r") as h5:
        mesh_ids = read_strings(h5, "object_ids")
    skipped = read_skipped(mesh_path)
    shard_paths = [Path(paths.render_shard(dataset, s)) for s in params.shards]
    missing = [str(p) for p in shard_paths if not p.exists()]
    if missing:
        raise StageError(f"render shard(s) missing: {', '.join(missing)} "
                         f"(run `crosspoint render --dataset {dataset} --shard I` for each)")

    position = {oid: i for i, oid in enumerate(mesh_ids)}
    meta: DatasetMeta | None = None
    dest = paths.views(dataset)
    points_path = Path(paths.points(dataset))
    if not points_path.exists():
        raise StageError(f"{points_path}: point store not found (run `crosspoint merge-points --dataset {dataset}`)")
    # pretraining reads this point store with these views, and checks the md5 (the DAG's only link to it)
    extra = store_attrs(params, dataset, stored) | {"points_md5": file_md5(points_path)}
    if skipped:
        extra["skipped"] = skipped
    with atomic_path(dest) as tmp, h5py.File(tmp, "w") as out:
        writer = ViewStoreWriter(out, params.views, params.image_size, params.compression,
                                 camera_metadata=stored is not None)
        last = -1
        for s, shard_path in enumerate(shard_paths):
            with h5py.File(shard_path, "r") as h5:
                _check_shard(h5, shard_path, params)
                meta = meta or DatasetMeta.from_h5(h5)
                ids = read_strings(h5, "object_ids")
                start, stop = shard_block(len(mesh_ids), s, len(shard_paths))
                for oid in ids:
                    pos = position.get(oid)
                    if pos is None or not start <= pos < stop or pos <= last:
                        raise StageError(
                            f"{shard_path}: object {oid!r} is not in order in {mesh_path} block [{start}, {stop}) "
                            "(the mesh store changed since rendering: rerun the render stage)"
                        )
                    last = pos
                labels, split = h5["labels"][()], read_strings(h5, "split")
                for b in range(0, len(ids), COPY_BLOCK):
                    e = min(b + COPY_BLOCK, len(ids))
                    camera = h5["camera_metadata"][b:e] if stored is not None else None
                    writer.extend(h5["images"][b:e], h5["poses"][b:e], labels[b:e], split[b:e], ids[b:e], camera)
        if meta is None:
            with h5py.File(mesh_path, "r") as h5:
                meta = DatasetMeta.from_h5(h5)
        writer.finish(meta, **extra)
    n = len(writer.labels)
    log.info("merge-views %s: %d objects from %d shard(s) (%d of the mesh store rejected) -> %s",
             dataset, n, len(shard_paths), len(mesh_ids) - n, dest)
    return n


def _check_shard(h5: h5py.File, path: Path, params: Params) -> None:
    if get_meta(h5, "kind") != "views":
        raise StageError(f"{path}: not a view store (rerun the render stage)")
    shape = h5["images"].shape[1:]
    want = (params.views, params.image_size, params.image_size, 3)
    if tuple(shape) != want:
        raise StageError(f"{path}: images are {tuple(shape)}, params ask for {want} (rerun the render stage)")


# ---------------------------------------------------------------------------------------------
# Contact sheet


def pick_rows(labels: np.ndarray, n_rows: int) -> list[int]:
    """Up to ``n_rows`` object indices, round-robin over classes (first objects of each class first)."""
    by_class = [np.flatnonzero(labels == c).tolist() for c in np.unique(labels)]
    rows: list[int] = []
    depth = 0
    while len(rows) < n_rows and any(depth < len(idx) for idx in by_class):
        for idx in by_class:
            if depth < len(idx) and len(rows) < n_rows:
                rows.append(idx[depth])
        depth += 1
    return sorted(rows, key=lambda i: (labels[i], i))


def contact_sheet(views_path: str | Path, dest: str | Path, n_rows: int) -> None:
    """Draw a PNG grid: one row per chosen object, its class and id on the left, then its views."""
    with h5py.File(views_path, "r") as h5:
        labels = h5["labels"][()]
        ids = read_strings(h5, "object_ids")
        class_names = list(get_meta(h5, "class_names", []))
        skipped = get_meta(h5, "skipped")
        rows = pick_rows(labels, n_rows)
        images = [h5["images"][i] for i in rows]
        n_views, size = h5["images"].shape[1], h5["images"].shape[2]
    font = ImageFont.load_default()
    cell = int(np.clip(size, 64, 128))  # readable thumbnails whatever the render size
    label_w, pad = 150, 2
    if not rows:
        sheet = Image.new("RGB", (480, 40), "white")
        text = f"no views rendered (skipped: {skipped})" if skipped else "no views rendered"
        ImageDraw.Draw(sheet).text((8, 12), text, fill="black", font=font)
    else:
        width = label_w + n_views * (cell + pad)
        sheet = Image.new("RGB", (width, len(rows) * (cell + pad) + pad), (235, 235, 235))
        draw = ImageDraw.Draw(sheet)
        for r, (i, views) in enumerate(zip(rows, images, strict=True)):
            y = pad + r * (cell + pad)
            name = class_names[labels[i]] if 0 <= labels[i] < len(class_names) else "(no label)" if labels[i] < 0 else str(labels[i])
            draw.text((6, y + cell // 2 - 14), name[:22], fill="black", font=font)
            draw.text((6, y + cell // 2 + 2), ids[i][-22:], fill=(90, 90, 90), font=font)
            for v in range(n_views):
                thumb = Image.fromarray(views[v])
                if thumb.size[0] != cell:
                    thumb = thumb.resize((cell, cell), Image.Resampling.BILINEAR)
                sheet.paste(thumb, (label_w + v * (cell + pad), y))
    with atomic_path(dest) as tmp:
        sheet.save(tmp, format="PNG")
    log.info("merge-views: contact sheet of %d object(s) -> %s", len(rows), dest)
