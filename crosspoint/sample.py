"""The ``sample`` stage: surface point clouds with per-point part labels.

``crosspoint sample --dataset NAME`` reads the prepared store of NAME (a mesh store, or a point
store that a point source made directly) and writes its point store: ``points`` points per
object, drawn uniformly on the surface (area-weighted triangle choice, uniform barycentric
coordinates), each labelled with the part of the triangle it lies on, then normalised to the unit
sphere (centroid at the origin, farthest point at distance 1). Point stores are resampled to
``points`` per cloud. Object ``i`` is sampled with ``numpy.random.default_rng([seed, i])``.

Objects with no faces, non-finite coordinates or zero surface area go to the rejects table. An
empty store marked ``skipped`` (an absent optional dataset) passes through as an empty point
store with the same mark.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from crosspoint import config, paths
from crosspoint.store import (
    DatasetMeta,
    Mesh,
    MeshStore,
    PointSet,
    Rejects,
    StageError,
    get_meta,
    read_point_store,
    store_kind,
    write_point_store,
)

log = logging.getLogger("crosspoint.sample")


@dataclass(frozen=True)
class Params:
    """``sample`` section of params.yaml."""

    datasets: list[str] = field(default_factory=lambda: ["synth", "capod"])  # what the pipeline samples
    points: int = 2048  # points per object (the paper's value)
    seed: int = 0

    def check(self) -> list[str]:
        problems = []
        if self.points < 1:
            problems.append("points must be at least 1")
        if len(set(self.datasets)) != len(self.datasets):
            problems.append("datasets: a dataset is listed twice")
        return problems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", help="dataset to sample (default: every dataset in sample.datasets)")


def main(args: argparse.Namespace) -> None:
    params = config.section("sample", Params, path=args.params)
    names = [args.dataset] if args.dataset else list(params.datasets)
    if not names:
        raise StageError("sample: no dataset given (pass --dataset NAME or list them in sample.datasets)")
    for name in names:
        sample_dataset(name, params)


def sample_dataset(name: str, params: Params) -> None:
    """Write ``paths.points(name)`` and its rejects table from ``paths.prepared(name)``."""
    src = Path(paths.prepared(name))
    dest, rejects_path = paths.points(name), paths.points_rejects(name)
    if not src.exists():
        raise StageError(f"{src}: prepared store not found (run `crosspoint prepare --dataset {name}` first)")
    kind = store_kind(src)
    with h5py.File(src, "r") as h5:
        skipped = get_meta(h5, "skipped")
    rejects = Rejects("sample")
    if kind == "meshes":
        store = MeshStore(src)
        meta, n_total = store.meta, len(store)
        objects = (store[i] for i in range(n_total))
        sampler = _sample_mesh
    elif kind == "points":
        ps = read_point_store(src)
        meta, n_total = ps.meta, len(ps)
        objects = (_PointObject(ps, i) for i in range(n_total))
        sampler = _resample_cloud
    else:
        raise StageError(f"{src}: not a mesh or point store (kind={kind!r}); rerun `crosspoint prepare --dataset {name}`")

    if n_total == 0:
        if skipped:
            log.info("sample: %s was skipped upstream (%s); writing an empty point store", name, skipped)
            write_point_store(dest, _empty(meta, params.points), skipped=skipped)
            rejects.write(rejects_path)
            return
        raise StageError(f"{src}: the store holds no objects; rerun `crosspoint prepare --dataset {name}`")

    points = np.empty((n_total, params.points, 3), dtype=np.float32)
    parts = np.empty((n_total, params.points), dtype=np.int16)
    keep: list[int] = []
    ids, labels, splits = [], [], []
    for i, obj in enumerate(tqdm(objects, total=n_total, desc=f"sample {name}", unit="obj")):
        rng = np.random.default_rng([params.seed, i])
        try:
            pts, lab = sampler(obj, params.points, rng)
        except ValueError as err:
            rejects.add(obj.object_id, str(err))
            continue
        k = len(keep)
        points[k], parts[k] = pts, lab
        keep.append(i)
        ids.append(obj.object_id)
        labels.append(obj.label)
        splits.append(obj.split)
    out = PointSet(
        points=points[: len(keep)],
        labels=np.asarray(labels, dtype=np.int64),
        split=splits,
        object_ids=ids,
        meta=meta,
        part_labels=parts[: len(keep)],
    )
    if keep:
        write_point_store(dest, out, points_per_object=params.points, sampled_from=kind)
    rejects.finish(len(keep), rejects_path)


def sample_surface(mesh: Mesh, n_points: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n_points`` points uniformly distributed on the mesh surface, with the part id of the face
    each lies on. Returns points float32 [n, 3] (not normalised) and part labels int16 [n].
    Raises ValueError for a mesh that has no area to sample."""
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces)
    problem = mesh_problem(vertices, faces)
    if problem:
        raise ValueError(problem)
    tri = vertices[faces]  # [F, 3, 3]
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    cdf = np.cumsum(0.5 * np.linalg.norm(np.cross(e1, e2), axis=1))
    # a uniform position along the cumulative area picks a face with probability area / total;
    # zero-area faces own an empty interval and are never picked
    face = np.searchsorted(cdf, rng.random(n_points) * cdf[-1], side="right")
    face = np.minimum(face, len(faces) - 1)
    u, v = rng.random(n_points), rng.random(n_points)
    flip = u + v > 1  # fold the unit square onto the triangle u + v <= 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    pts = tri[face, 0] + u[:, None] * e1[face] + v[:, None] * e2[face]
    labels = np.asarray(mesh.face_parts)[face].astype(np.int16)
    return pts.astype(np.float32), labels


def mesh_problem(vertices: np.ndarray, faces: np.ndarray) -> str | None:
    """Why a mesh cannot be sampled (None when it can)."""
    if faces.ndim != 2 or faces.shape[1:] != (3,) or len(faces) == 0:
        return "no faces"
    if len(vertices) == 0 or faces.min() < 0 or faces.max() >= len(vertices):
        return f"face index out of range ({len(vertices)} vertices)"
    if not np.all(np.isfinite(vertices[faces])):
        return "non-finite (NaN or infinite) vertex coordinates"
    tri = vertices[faces]
    total = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum()
    if not np.isfinite(total) or total <= 0:
        return "zero total surface area"
    return None


def normalize_cloud(points: np.ndarray) -> np.ndarray:
    """Centre a cloud on its centroid and scale it so the farthest point has norm 1."""
    p = np.asarray(points, dtype=np.float64)
    p = p - p.mean(axis=0)
    r = float(np.linalg.norm(p, axis=1).max())
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


def _resample_cloud(obj: _PointObject, n_points: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random subset of ``n_points`` (all points, topped up with repeats, when the cloud has fewer)."""
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
    return normalize_cloud(cloud[idx]), labels[idx]


def _empty(meta: DatasetMeta, n_points: int) -> PointSet:
    return PointSet(
        points=np.zeros((0, n_points, 3), dtype=np.float32),
        labels=np.zeros(0, dtype=np.int64),
        split=[],
        object_ids=[],
        meta=meta,
        part_labels=np.zeros((0, n_points), dtype=np.int16),
    )
