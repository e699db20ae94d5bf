"""The ``sample`` stage: surface point clouds with per-point part labels, one shard at a time.

``crosspoint sample --dataset NAME --shard I`` reads block ``I`` of the prepared store of NAME (a
mesh store, or a point store that a point source made directly): objects ``[I*N//S, (I+1)*N//S)``
with ``S = len(sample.shards)``. It writes the point store ``paths.points_shard(NAME, I)`` and its
rejects table; ``crosspoint merge-points --dataset NAME`` (:mod:`crosspoint.points.merge`) then
concatenates the shards into ``paths.points(NAME)``. Each object gets ``points`` points, drawn
uniformly on the surface (area-weighted triangle choice, uniform barycentric coordinates), each
labelled with the part of the triangle it lies on, then normalised to the unit sphere (centroid at
the origin, farthest point at distance 1). Point stores are resampled to ``points`` per cloud
(``point_stores: resample``: a random subset, renormalised) or kept as the source stored them
(``keep``: the first ``points`` points in file order, coordinates untouched, as upstream reads the
h5 files; then ``features.subset: first`` takes upstream's first points). A point store marked
``coordinates: raw`` (a point source with ``normalize: false``) is never renormalised, either way,
and the merged store carries the mark on.
Object ``i`` (its index in the whole store) is sampled with ``numpy.random.default_rng([seed, i])``,
so the merged store does not depend on the number of shards.

Objects with no faces, non-finite coordinates or zero surface area go to the rejects table; a shard
whose objects are all rejected is still written (merge-points fails when the whole dataset is). An
empty block (more shards than objects), or an empty store marked ``skipped`` (an absent optional
dataset), gives an empty shard, carrying the mark.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from crosspoint import exact, paths
from crosspoint.progress import progress
from crosspoint.shards import check_shard, shard_attrs, shard_block, shards_problems
from crosspoint.store import (
    DatasetMeta,
    Mesh,
    PointSet,
    Rejects,
    StageError,
    get_meta,
    write_point_store,
)

log = logging.getLogger("crosspoint.points.sampling")


@dataclass(frozen=True)
class Params:
    """``sample`` section of params.yaml."""

    datasets: list[str] = field(default_factory=lambda: ["synth", "capod"])  # what the pipeline samples
    shards: list[int] = field(default_factory=lambda: [0])  # [0, 1, ..., S-1]: one sample job per shard
    points: int = 2048  # points per object (the paper's value)
    point_stores: Literal["resample", "keep"] = "resample"  # clouds of point sources: see the module docstring
    seed: int = 0

    def check(self) -> list[str]:
        problems = shards_problems(self.shards)
        if self.points < 1:
            problems.append("points must be at least 1")
        if self.point_stores not in ("resample", "keep"):
            problems.append(f"point_stores must be resample or keep, got {self.point_stores!r}")
        if len(set(self.datasets)) != len(self.datasets):
            problems.append("datasets: a dataset is listed twice")
        return problems






def sample_shard(name: str, params: Params, shard: int) -> int:
    """Write ``paths.points_shard(name, shard)`` and its rejects table from block ``shard`` of
    ``paths.prepared(name)``; return how many objects were kept."""
    check_shard(shard, params.shards, "sample")
    src = Path(paths.prepared(name))
    dest, rejects_path = paths.points_shard(name, shard), paths.points_shard_rejects(name, shard)
    if not src.exists():
        raise StageError(f"{src}: prepared store not found (run `crosspoint prepare --dataset {name}` first)")
    with h5py.File(src, "r") as h5:
        kind = get_meta(h5, "kind")
        skipped = get_meta(h5, "skipped")
        n_total = len(h5["labels"]) if "labels" in h5 else 0
        meta = DatasetMeta.from_h5(h5)
        raw = kind == "points" and get_meta(h5, "coordinates") == "raw"
    if kind == "meshes":
        sampler = _sample_mesh
    elif kind == "points":
        if params.point_stores == "keep":
            sampler = _keep_cloud
        else:
            sampler = _resample_raw if raw else _resample_cloud
    else:
        raise StageError(f"{src}: not a mesh or point store (kind={kind!r}); rerun `crosspoint prepare --dataset {name}`")
    if n_total == 0 and not skipped:
        raise StageError(f"{src}: the store holds no objects; rerun `crosspoint prepare --dataset {name}`")

    start, stop = shard_block(n_total, shard, len(params.shards))
    attrs: dict[str, Any] = {"points_per_object": params.points, "sampled_from": kind, "seed": params.seed,
                             **shard_attrs(shard, len(params.shards), start, stop)}
    if raw:
        attrs["coordinates"] = "raw"
    if skipped:
        attrs["skipped"] = skipped
        log.info("sample: %s was skipped upstream (%s); writing an empty shard", name, skipped)
    log.info("sample %s shard %d/%d: objects [%d, %d) of %s", name, shard, len(params.shards), start, stop, src)

    rejects = Rejects("sample")
    n = stop - start
    points = np.empty((n, params.points, 3), dtype=np.float32)
    parts = np.empty((n, params.points), dtype=np.int16)
    ids, labels, splits = [], [], []
    objects = _read_block(src, kind, start, stop)
    for i, obj in enumerate(progress(objects, total=n, desc=f"sample {name} shard {shard}", unit="obj")):
        rng = np.random.default_rng([params.seed, start + i])  # the global index: shard-independent draws
        try:
            pts, lab = sampler(obj, params.points, rng)
        except ValueError as err:
            rejects.add(obj.object_id, str(err))
            continue
        k = len(ids)
        points[k], parts[k] = pts, lab
        ids.append(obj.object_id)
        labels.append(obj.label)
        splits.append(obj.split)
    kept = len(ids)
    out = PointSet(
        points=points[:kept],
        labels=np.asarray(labels, dtype=np.int64),
        split=splits,
        object_ids=ids,
        meta=meta,
        part_labels=parts[:kept],
    )
    write_point_store(dest, out, **attrs)
    rejects.write(rejects_path)
    log.info("sample %s shard %d: kept %d, rejected %d (rejects table: %s)", name, shard, kept, len(rejects.rows),
             rejects_path)
    return kept


def _read_block(src: Path, kind: str, start: int, stop: int) -> Iterator[Any]:
    """The objects ``[start, stop)`` of a mesh or point store, reading only that block from disk."""
    if stop <= start:
        return iter(())
    with h5py.File(src, "r") as h5:
        labels = h5["labels"][start:stop]
        split = [str(v) for v in h5["split"].asstr()[start:stop]]
        object_ids = [str(v) for v in h5["object_ids"].asstr()[start:stop]]
        if kind == "points":
            meta = DatasetMeta.from_h5(h5)
            ps = PointSet(
                points=h5["points"][start:stop],
                labels=labels,
                split=split,
                object_ids=object_ids,
                meta=meta,
                part_labels=h5["part_labels"][start:stop] if meta.has_parts else None,
            )
            return iter([_PointObject(ps, i) for i in range(stop - start)])
        v_off, f_off = h5["v_offsets"][start : stop + 1], h5["f_offsets"][start : stop + 1]
        vertices = h5["vertices"][v_off[0] : v_off[-1]]
        faces = h5["faces"][f_off[0] : f_off[-1]]
        face_parts = h5["face_parts"][f_off[0] : f_off[-1]]
        face_colors = h5["face_colors"][f_off[0] : f_off[-1]]
    v_off, f_off = v_off - v_off[0], f_off - f_off[0]
    return iter([
        Mesh(
            object_id=object_ids[j],
            label=int(labels[j]),
            split=split[j],
            vertices=vertices[v_off[j] : v_off[j + 1]],
            faces=faces[f_off[j] : f_off[j + 1]],
            face_parts=face_parts[f_off[j] : f_off[j + 1]],
            face_colors=face_colors[f_off[j] : f_off[j + 1]],
        )
        for j in range(stop - start)
    ])


def sample_surface(mesh: Mesh, n_points: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n_points`` points uniformly distributed on the mesh surface, with the part id of the face
    each lies on. Returns points float32 [n, 3] (not normalised) and part labels int16 [n].
    Raises ValueError for a mesh that has no area to sample.

    Memory: the face areas are computed in blocks (:func:`face_areas`), so the per-face cost is
    the areas and their cumulative sum (16 bytes a face), not the corner coordinates."""
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces)
    problem = _shape_problem(vertices, faces)
    if problem:
        raise ValueError(problem)
    areas = face_areas(vertices, faces)
    problem = _area_problem(areas)
    if problem:
        raise ValueError(problem)
    cdf = np.cumsum(areas)
    del areas
    # a uniform position along the cumulative area picks a face with probability area / total;
    # zero-area faces own an empty interval and are never picked
    face = np.searchsorted(cdf, rng.random(n_points) * cdf[-1], side="right")
    face = np.minimum(face, len(faces) - 1)
    u, v = rng.random(n_points), rng.random(n_points)
    flip = u + v > 1  # fold the unit square onto the triangle u + v <= 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    tri = vertices[faces[face]]  # [n, 3, 3]: the corners of the picked faces only
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    pts = tri[:, 0] + u[:, None] * e1 + v[:, None] * e2
    labels = np.asarray(mesh.face_parts)[face].astype(np.int16)
    return pts.astype(np.float32), labels


AREA_BLOCK = 1 << 18  # faces per step of face_areas


def face_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area of every face, float64 [F], computed block by block (the same values as all at once)."""
    out = np.empty(len(faces), dtype=np.float64)
    for s in range(0, len(faces), AREA_BLOCK):
        tri = vertices[faces[s:s + AREA_BLOCK]]
        out[s:s + AREA_BLOCK] = 0.5 * exact.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]))
    return out


def mesh_problem(vertices: np.ndarray, faces: np.ndarray) -> str | None:
    """Why a mesh cannot be sampled (None when it can)."""
    return _shape_problem(vertices, faces) or _area_problem(face_areas(vertices, faces))


def _shape_problem(vertices: np.ndarray, faces: np.ndarray) -> str | None:
    if faces.ndim != 2 or faces.shape[1:] != (3,) or len(faces) == 0:
        return "no faces"
    if len(vertices) == 0 or faces.min() < 0 or faces.max() >= len(vertices):
        return f"face index out of range ({len(vertices)} vertices)"
    used = np.zeros(len(vertices), dtype=bool)
    used[faces.ravel()] = True
    if not np.all(np.isfinite(vertices[used])):
        return "non-finite (NaN or infinite) vertex coordinates"
    return None


def _area_problem(areas: np.ndarray) -> str | None:
    total = areas.sum()
    if not np.isfinite(total) or total <= 0:
        return "zero total surface area"
    return None


def normalize_cloud(points: np.ndarray) -> np.ndarray:
    """Centre a cloud on its centroid and scale it so the farthest point has norm 1."""
    p = np.asarray(points, dtype=np.float64)
    p = p - p.mean(axis=0)
    r = float(exact.norm(p).max())
    if not np.isfinite(r) or r <= 0:
        raise ValueError("degenerate cloud (all points coincide)")
    return (p / r).astype(np.float32)


def _sample_mesh(mesh: Mesh, n_points: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    pts, labels = sample_surface(mesh, n_points, rng)
    return normalize_cloud(pts), labels


@dataclass
class _PointObject:
    """One cloud of a point store, with the same fields the mesh loop reads."""

    ps: PointSet
    i: int

    @property
    def object_id(self) -> str:
        return self.ps.object_ids[self.i]

    @property
    def label(self) -> int:
        return int(self.ps.labels[self.i])

    @property
    def split(self) -> str:
        return self.ps.split[self.i]


def _resample_cloud(obj: _PointObject, n_points: int, rng: np.random.Generator,
                    normalize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A random subset of ``n_points`` (all points, topped up with repeats, when the cloud has fewer),
    normalised (or, ``normalize`` false, as stored)."""
    cloud = np.asarray(obj.ps.points[obj.i], dtype=np.float64)
    parts = obj.ps.part_labels
    labels = np.full(len(cloud), -1, dtype=np.int16) if parts is None else np.asarray(parts[obj.i], dtype=np.int16)
    if len(cloud) == 0:
        raise ValueError("empty cloud")
    if not np.all(np.isfinite(cloud)):
        raise ValueError("non-finite (NaN or infinite) point coordinates")
    if len(cloud) >= n_points:
        idx = rng.choice(len(cloud), n_points, replace=False)
    else:
        idx = np.concatenate([rng.permutation(len(cloud)), rng.integers(0, len(cloud), n_points - len(cloud))])
    if not normalize:
        return cloud[idx].astype(np.float32), labels[idx]
    return normalize_cloud(cloud[idx]), labels[idx]


def _keep_cloud(obj: _PointObject, n_points: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n_points`` points as stored (order and coordinates kept; ``rng`` unused)."""
    cloud = np.asarray(obj.ps.points[obj.i])
    if len(cloud) < n_points:
        raise ValueError(f"{len(cloud)} points stored, sample.points asks for {n_points} (point_stores: keep)")
    if not np.all(np.isfinite(cloud[:n_points])):
        raise ValueError("non-finite (NaN or infinite) point coordinates")
    parts = obj.ps.part_labels
    labels = np.full(n_points, -1, dtype=np.int16) if parts is None else np.asarray(parts[obj.i][:n_points], np.int16)
    return cloud[:n_points].astype(np.float32), labels


def _resample_raw(obj: _PointObject, n_points: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return _resample_cloud(obj, n_points, rng, normalize=False)
