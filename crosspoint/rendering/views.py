"""Multi-view images of one shard of a pretraining dataset's meshes (the ``render`` stage).

Shard ``I`` of ``S = len(render.shards)`` of dataset ``D`` (each of ``pretrain.datasets`` is rendered
by its own instances) takes the contiguous block of objects ``[I*N//S, (I+1)*N//S)`` of the mesh store
``paths.prepared(D)`` and writes a view store (layout in :mod:`crosspoint.store`) to
``paths.render_shard(D, I)``. An object that cannot be
rendered, or renders empty in some view, goes to the rejects table instead. Each object's cameras
come from its own generator seeded with ``(render.seed, object index)``, so a shard's output does
not depend on how the objects are split into shards.

A dataset that comes with its own images (source ``shapenet_render``: ShapeNet clouds and the
3D-R2N2 renders, the paper's pretraining data) is a point store, not a mesh store: for it the
stage decodes the first ``views`` stored renders of each object of its block, resized to
``image_size``, into the same shard layout (no re-render); an absent or unreadable image rejects
the object.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from crosspoint import paths
from crosspoint.progress import progress
from crosspoint.rendering.camera import camera_poses
from crosspoint.rendering.meshes import mesh_problem, open_mesh_store, read_skipped
from crosspoint.rendering.r2n2 import StoredRenders, object_views, view_store_attrs
from crosspoint.rendering.renderer import Renderer
from crosspoint.shards import shard_block, shards_problems
from crosspoint.store import (
    DatasetMeta,
    MeshStore,
    Rejects,
    StageError,
    atomic_path,
    get_meta,
    read_strings,
    set_meta,
    store_kind,
    write_strings,
)

log = logging.getLogger("crosspoint.rendering.views")


@dataclass(frozen=True)
class Params:
    """The ``render`` section of params.yaml."""

    shards: list[int] = field(default_factory=lambda: [0, 1])  # [0, 1, ..., S-1]: one render job each
    views: int = 6  # views per object
    image_size: int = 64  # square images, pixels (paper: 224)
    yfov_deg: float = 45.0  # vertical field of view
    elevation_deg: tuple[float, float] = (0.0, 40.0)  # camera elevation range (degrees above the xz plane)
    distance: float = 2.8  # camera distance from the origin (objects fill the unit sphere)
    # ring: even azimuths, stepped elevations; sphere: random viewpoints (uniform on the band);
    # r2n2: like the 3D-R2N2 renders, random azimuth and elevation uniform in degrees (see presets/r2n2.yaml)
    camera: Literal["ring", "sphere", "r2n2"] = "ring"
    light_intensity: float = 2.0  # directional light travelling with the camera
    ambient: float = 0.25  # ambient light level (0..1)
    background: tuple[int, int, int] = (255, 255, 255)  # RGB
    backend: Literal["egl", "osmesa"] = "egl"  # OpenGL platform; osmesa is the software fallback
    compression: int = 1  # gzip level of the image chunks (0 = none)
    seed: int = 0
    contact_sheet_objects: int = 30  # rows of the contact sheet (taken round-robin over classes)

    def check(self) -> list[str]:
        problems = shards_problems(self.shards)
        if self.views < 1:
            problems.append("views must be >= 1")
        if not 8 <= self.image_size <= 2048:
            problems.append("image_size must be in [8, 2048]")
        if not 1.0 < self.yfov_deg < 170.0:
            problems.append("yfov_deg must be in (1, 170)")
        lo, hi = self.elevation_deg
        if not -90.0 <= lo <= hi <= 90.0:
            problems.append("elevation_deg must be [low, high] with -90 <= low <= high <= 90")
        need = 1.0 / np.sin(np.deg2rad(self.yfov_deg) / 2)
        if self.distance < need:
            problems.append(
                f"distance {self.distance} is too close: the unit sphere needs distance >= {need:.3f} "
                f"at yfov_deg {self.yfov_deg}"
            )
        if self.light_intensity < 0 or not 0.0 <= self.ambient <= 1.0:
            problems.append("light_intensity must be >= 0 and ambient in [0, 1]")
        if any(not 0 <= c <= 255 for c in self.background):
            problems.append("background must be three integers in [0, 255]")
        if not 0 <= self.compression <= 9:
            problems.append("compression must be a gzip level in [0, 9]")
        if self.contact_sheet_objects < 0:
            problems.append("contact_sheet_objects must be >= 0")
        return problems


class ViewStoreWriter:
    """Appends objects (images, poses, label, split, id) to a view store being written in ``h5``;
    with ``camera_metadata``, also a float32 [views, 5] record per object (3D-R2N2's camera lines)."""

    def __init__(self, h5: h5py.File, views: int, image_size: int, compression: int, camera_metadata: bool = False):
        self.h5 = h5
        self.camera = (
            h5.create_dataset("camera_metadata", shape=(0, views, 5), maxshape=(None, views, 5), dtype=np.float32)
            if camera_metadata else None
        )
        shape = (views, image_size, image_size, 3)
        opts: dict[str, Any] = {"compression": "gzip", "compression_opts": compression} if compression else {}
        self.images = h5.create_dataset(
            # one chunk per view: pretraining reads one view of an object per step, and a chunk is the unit
            # h5py inflates (bench/loader.py: 23x faster reads than one chunk per object, same size on disk)
            "images", shape=(0, *shape), maxshape=(None, *shape), dtype=np.uint8, chunks=(1, 1, *shape[1:]), **opts
        )
        self.poses = h5.create_dataset(
            "poses", shape=(0, views, 4, 4), maxshape=(None, views, 4, 4), dtype=np.float32
        )
        self.labels: list[int] = []
        self.split: list[str] = []
        self.object_ids: list[str] = []

    def append(self, images: np.ndarray, poses: np.ndarray, label: int, split: str, object_id: str,
               camera: np.ndarray | None = None) -> None:
        n = len(self.labels)
        self.images.resize(n + 1, axis=0)
        self.poses.resize(n + 1, axis=0)
        self.images[n] = images
        self.poses[n] = poses
        if self.camera is not None:
            self.camera.resize(n + 1, axis=0)
            self.camera[n] = camera
        self.labels.append(int(label))
        self.split.append(split)
        self.object_ids.append(object_id)

    def extend(self, images: np.ndarray, poses: np.ndarray, labels: np.ndarray, split: list[str], ids: list[str],
               camera: np.ndarray | None = None) -> None:
        """Append a block of objects at once (used when merging shards)."""
        n, k = len(self.labels), len(labels)
        self.images.resize(n + k, axis=0)
        self.poses.resize(n + k, axis=0)
        self.images[n : n + k] = images
        self.poses[n : n + k] = poses
        if self.camera is not None:
            self.camera.resize(n + k, axis=0)
            self.camera[n : n + k] = camera
        self.labels.extend(int(x) for x in labels)
        self.split.extend(split)
        self.object_ids.extend(ids)

    def finish(self, meta: DatasetMeta, **attrs: Any) -> None:
        self.h5.create_dataset("labels", data=np.asarray(self.labels, dtype=np.int64))
        write_strings(self.h5, "split", self.split)
        write_strings(self.h5, "object_ids", self.object_ids)
        set_meta(self.h5, kind="views", **meta.attrs(), **attrs)


def store_attrs(params: Params, dataset: str, stored: StoredRenders | None = None) -> dict[str, Any]:
    """Attributes every view store carries (besides the dataset vocabulary); ``stored``: the renders
    decoded instead of rendering (see :func:`stored_views`)."""
    attrs = {
        "dataset": dataset,
        "image_size": params.image_size,
        "yfov_deg": params.yfov_deg,
        "views": params.views,
        "camera": params.camera,
        "distance": params.distance,
        "elevation_deg": list(params.elevation_deg),
        "background": list(params.background),
    }
    if stored is not None:
        attrs = {k: v for k, v in attrs.items() if k not in ("distance", "elevation_deg")}
        attrs |= view_store_attrs(stored) | {"background": list(stored.background)}
    return attrs


def stored_views(params: Params, dataset: str) -> StoredRenders | None:
    """The renders to decode when ``dataset`` comes with its own images (a ``shapenet_render`` point
    store records them as ``stored_renders``), else None (a mesh store, rendered)."""
    path = Path(paths.prepared(dataset))
    if not path.exists() or store_kind(path) != "points":
        return None
    with h5py.File(path, "r") as h5:
        value, source = get_meta(h5, "stored_renders"), get_meta(h5, "source")
    if value is None:
        raise StageError(
            f"pretraining dataset {dataset!r} is a point store from source {source!r}, which has no images: "
            "pretrain on a mesh dataset, or use a shapenet_render dataset (ShapeNet clouds + 3D-R2N2 renders)"
        )
    stored = StoredRenders.from_attr(value)
    if params.views > stored.views:
        raise StageError(f"render.views {params.views} exceeds datasets.{dataset}.views {stored.views} "
                         "(the renders each object is checked to have)")
    return stored


def render_shard(params: Params, dataset: str, shard: int) -> int:
    """Render shard ``shard`` of ``dataset``; return how many objects were kept."""
    if shard not in params.shards:
        raise StageError(
            f"--shard {shard} is not one of render.shards {list(params.shards)} (valid: 0..{len(params.shards) - 1})"
        )
    stored = stored_views(params, dataset)
    if stored is not None:
        return decode_shard(params, dataset, shard, stored)
    store = open_mesh_store(dataset)
    skipped = read_skipped(store.path)
    start, stop = shard_block(len(store), shard, len(params.shards))
    rejects = Rejects("render")
    dest, rejects_dest = paths.render_shard(dataset, shard), paths.render_rejects(dataset, shard)
    extra = store_attrs(params, dataset) | {"shard": shard, "shards": len(params.shards), "start": start, "stop": stop}
    if skipped:
        extra["skipped"] = skipped
    log.info("render %s shard %d/%d: objects [%d, %d) of %s", dataset, shard, len(params.shards), start, stop, store.path)

    with atomic_path(dest) as tmp, h5py.File(tmp, "w") as h5:
        writer = ViewStoreWriter(h5, params.views, params.image_size, params.compression)
        if stop > start:
            renderer = Renderer(
                params.image_size,
                yfov_deg=params.yfov_deg,
                light_intensity=params.light_intensity,
                ambient=params.ambient,
                background=params.background,
                backend=params.backend,
            )
            try:
                for i in progress(range(start, stop), desc=f"render shard {shard}", unit="obj"):
                    _render_one(renderer, store, i, params, writer, rejects)
            finally:
                renderer.close()
        writer.finish(store.meta, **extra)
    kept = len(writer.labels)
    if stop == start:
        rejects.write(rejects_dest)
        log.info("render: shard %d is empty%s; kept 0", shard, f" (skipped: {skipped})" if skipped else "")
        return 0
    rejects.finish(kept, rejects_dest)
    return kept


def _render_one(renderer: Renderer, store: MeshStore, i: int, params: Params, writer: ViewStoreWriter, rejects: Rejects) -> None:
    mesh = store[i]
    problem = mesh_problem(mesh)
    if problem:
        rejects.add(mesh.object_id, problem)
        return
    rng = np.random.default_rng([params.seed, i])
    poses = camera_poses(params.views, params.elevation_deg, params.distance, params.camera, rng)
    try:
        images, masks = renderer.render_color(mesh, poses, with_mask=True)
    except Exception as err:  # noqa: BLE001 - one bad mesh must not stop the stage
        rejects.add(mesh.object_id, f"render failed: {type(err).__name__}: {err}")
        return
    empty = np.flatnonzero(~masks.any(axis=(1, 2)))
    if len(empty):
        rejects.add(mesh.object_id, f"rendered empty in view(s) {empty.tolist()}")
        return
    writer.append(images, poses, mesh.label, mesh.split, mesh.object_id)


def decode_shard(params: Params, dataset: str, shard: int, stored: StoredRenders) -> int:
    """Shard ``shard`` of a ``shapenet_render`` dataset: its objects' renders decoded, not rendered."""
    src = Path(paths.prepared(dataset))
    skipped = read_skipped(src)
    with h5py.File(src, "r") as h5:
        meta = DatasetMeta.from_h5(h5)
        n = len(h5["labels"])
        start, stop = shard_block(n, shard, len(params.shards))
        ids = read_strings(h5, "object_ids")[start:stop]
        labels, split = h5["labels"][start:stop], read_strings(h5, "split")[start:stop]
    dest, rejects_dest = paths.render_shard(dataset, shard), paths.render_rejects(dataset, shard)
    extra = store_attrs(params, dataset, stored) | {"shard": shard, "shards": len(params.shards),
                                                             "start": start, "stop": stop}
    if skipped:
        extra["skipped"] = skipped
    log.info("render shard %d/%d: decoding the stored renders of objects [%d, %d) of %s",
             shard, len(params.shards), start, stop, src)
    rejects = Rejects("render")
    nan_poses = np.full((params.views, 4, 4), np.nan, dtype=np.float32)
    with atomic_path(dest) as tmp, h5py.File(tmp, "w") as h5:
        writer = ViewStoreWriter(h5, params.views, params.image_size, params.compression, camera_metadata=True)
        for j in progress(range(len(ids)), desc=f"decode shard {shard}", unit="obj"):
            try:
                images, camera = object_views(stored, ids[j], params.views, params.image_size)
            except ValueError as err:
                rejects.add(ids[j], str(err))
                continue
            writer.append(images, nan_poses, int(labels[j]), split[j], ids[j], camera=camera)
        writer.finish(meta, **extra)
    kept = len(writer.labels)
    if not ids:
        rejects.write(rejects_dest)
        return 0
    rejects.finish(kept, rejects_dest)
    return kept
