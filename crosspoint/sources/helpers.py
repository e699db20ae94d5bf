"""Helpers shared by the sources and the prepare stage: sort keys, splits, mesh checks, axis turns."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

from crosspoint import exact


def natural_key(text: str) -> tuple:
    """Sort key putting ``m2`` before ``m10``."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text))


def stratified_split(classes: Sequence[str], ids: Sequence[str], test_fraction: float, seed: int) -> list[str]:
    """A deterministic per-class train/test split.

    Within each class the objects are ordered by id and shuffled with a generator seeded from
    ``seed`` and the class name, so the split of one class does not depend on the others. A class
    with at least two objects gets at least one of each split when ``0 < test_fraction < 1``.
    """
    out = ["train"] * len(classes)
    by_class: dict[str, list[int]] = {}
    for i, c in enumerate(classes):
        by_class.setdefault(c, []).append(i)
    for c, members in by_class.items():
        members.sort(key=lambda i: natural_key(ids[i]))
        n = len(members)
        n_test = int(round(n * test_fraction))
        if 0 < test_fraction < 1 and n >= 2:
            n_test = min(max(n_test, 1), n - 1)
        rng = np.random.default_rng([seed, zlib.crc32(c.encode())])
        for k in rng.permutation(n)[:n_test]:
            out[members[k]] = "test"
    return out


def check_mesh(vertices: np.ndarray, faces: np.ndarray) -> str | None:
    """Why a triangle mesh is unusable (None when it is fine)."""
    v = np.asarray(vertices)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        return f"no vertices (vertex array of shape {v.shape})"
    if f.ndim != 2 or f.shape[1] != 3 or len(f) == 0:
        return f"no triangles (face array of shape {f.shape})"
    if not np.issubdtype(f.dtype, np.integer):
        return f"face indices are not integers ({f.dtype})"
    if f.min() < 0 or f.max() >= len(v):
        return f"face index out of range (indices {f.min()}..{f.max()}, {len(v)} vertices)"
    mask = np.zeros(len(v), dtype=bool)
    mask[f.ravel()] = True
    used = v[mask]
    if not np.all(np.isfinite(used)):
        return "non-finite (NaN or infinite) vertex coordinates"
    area = mesh_area(v, f)
    extent = float(np.ptp(used, axis=0).max())
    if extent == 0.0 or not area > 1e-12 * extent**2:
        return "zero surface area (every face is degenerate)"
    return None


AREA_BLOCK = 1 << 16  # faces per step of mesh_area (bounds its temporaries to about 12 MB)


def mesh_area(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Total area: the face areas computed block by block (:data:`AREA_BLOCK` faces), then summed
    at once (the same value as ``face_areas(vertices, faces).sum()``, at 8 bytes a face)."""
    v = np.asarray(vertices, dtype=np.float64)
    areas = np.empty(len(faces), dtype=np.float64)
    for s in range(0, len(faces), AREA_BLOCK):
        areas[s:s + AREA_BLOCK] = face_areas(v, faces[s:s + AREA_BLOCK])
    return float(areas.sum())


def face_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    v = np.asarray(vertices, dtype=np.float64)
    a, b, c = v[faces[:, 0]], v[faces[:, 1]], v[faces[:, 2]]
    return 0.5 * exact.norm(np.cross(b - a, c - a))


UP_AXES = ("y", "z")


def heading_angle(object_id: str, seed: int) -> float:
    """The turn about the up axis of an object prepared with ``heading: random``: drawn from
    ``numpy.random.default_rng([seed, crc32(object_id)])``, so it depends on the object alone, not on
    which other objects the store holds or their order."""
    return float(np.random.default_rng([seed, zlib.crc32(object_id.encode())]).uniform(0.0, 2 * np.pi))


def to_y_up(vertices: np.ndarray, up_axis: str) -> np.ndarray:
    """The vertices of a mesh whose up axis is ``up_axis``, turned so that up is +y.

    ``y``: returned unchanged (the same array). ``z``: a rotation of -90 degrees about x,
    ``(x, y, z) -> (x, z, -y)``: +z becomes +y, +y becomes -z, x stays; a proper rotation
    (determinant +1), so handedness and face winding are kept.
    """
    if up_axis == "y":
        return vertices
    if up_axis != "z":
        raise ValueError(f"up_axis must be one of {', '.join(UP_AXES)}, got {up_axis!r}")
    v = np.asarray(vertices)
    return np.stack([v[..., 0], v[..., 2], -v[..., 1]], axis=-1)


def normalize_unit_sphere(points: np.ndarray) -> np.ndarray:
    """Centre on the bounding-box centre and scale so the farthest point has norm 1 (last axis = xyz)."""
    p = np.asarray(points, dtype=np.float64)
    if p.size == 0:
        return p
    lo = p.min(axis=-2, keepdims=True)
    hi = p.max(axis=-2, keepdims=True)
    p = p - (lo + hi) / 2
    r = exact.norm(p).max(axis=-1)
    r = np.where(r > 0, r, 1.0)
    return p / np.asarray(r)[..., None, None]
