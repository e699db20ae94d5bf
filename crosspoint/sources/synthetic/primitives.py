"""Mesh-building helpers of the synthetic generator (no class knowledge): the ``VF`` pair
(vertices, faces) every part is made of, :class:`_Object` that collects an object's part instances,
rotations and the affine placement ``_xf``, the cached unit primitives and the parts built from them
(boxes, struts, cones, ellipsoids), the three generic shape makers (``_lathe`` surfaces of
revolution, ``_tube`` swept tubes and ``_torus``, ``_extrude`` prisms), the whole-object
deformation ``_deform``, and the small helpers the class builders share (``_u`` for one uniform
draw, ``_densify`` for smoothed polylines). The class modules import from here; this module
imports none of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import trimesh

from crosspoint import exact

# ---------------------------------------------------------------------------------------------
# Geometry: (vertices float64 [V, 3], faces int64 [F, 3]) pairs, outward-facing triangles

VF = tuple[np.ndarray, np.ndarray]


class _Object:
    """Collects the parts of one object."""

    def __init__(self, part_names: Sequence[str]):
        self.part_ids = {name: i for i, name in enumerate(part_names)}
        self.parts: list[tuple[int, np.ndarray, np.ndarray]] = []

    def add(self, name: str, *meshes: VF) -> None:
        """Add part instances (each mesh is one instance, coloured on its own)."""
        for v, f in meshes:
            self.parts.append((self.part_ids[name], v, f))

    def concatenate(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        offsets = np.cumsum([0] + [len(v) for _, v, _ in self.parts])
        vertices = np.concatenate([v for _, v, _ in self.parts])
        faces = np.concatenate([f + o for (_, _, f), o in zip(self.parts, offsets[:-1], strict=True)])
        face_parts = np.concatenate([np.full(len(f), p) for p, _, f in self.parts])
        instance = np.concatenate([np.full(len(f), k) for k, (_, _, f) in enumerate(self.parts)])
        return vertices, faces, face_parts, instance


@cache
def _unit(kind: str) -> VF:
    """Unit primitives from trimesh, y up: box [-.5,.5]^3, cylinder r=1 y in [-.5,.5],
    cone r=1 base y=0 apex y=1, sphere r=1. Boxes and cylinders are subdivided so that the
    whole-object deformation bends them."""
    to_y = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # z -> y, a proper rotation
    if kind == "box":
        m = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
        v, f = trimesh.remesh.subdivide(m.vertices, m.faces)
        v, f = trimesh.remesh.subdivide(v, f)
    elif kind == "cylinder":
        m = trimesh.creation.cylinder(radius=1.0, height=1.0, sections=20)
        v, f = trimesh.remesh.subdivide(exact.transform(m.vertices, to_y), m.faces)
    elif kind == "cone":
        m = trimesh.creation.cone(radius=1.0, height=1.0, sections=20)
        v, f = trimesh.remesh.subdivide(exact.transform(m.vertices, to_y), m.faces)
    elif kind == "sphere":
        m = trimesh.creation.icosphere(subdivisions=2, radius=1.0)
        v, f = m.vertices, m.faces
    else:
        raise ValueError(kind)
    v = np.asarray(v, dtype=np.float64)
    f = np.asarray(f, dtype=np.int64)
    v.flags.writeable = False
    f.flags.writeable = False
    return v, f


def _rot(axis: Sequence[float], angle: float) -> np.ndarray:
    """Rotation matrix about ``axis`` by ``angle`` (right hand)."""
    a = np.asarray(axis, dtype=np.float64)
    a = a / exact.norm(a)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * exact.matmul(k, k)


def _rot_to(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    """A rotation taking direction ``a`` to direction ``b``."""
    a = np.asarray(a, dtype=np.float64) / exact.norm(a)
    b = np.asarray(b, dtype=np.float64) / exact.norm(b)
    v = np.cross(a, b)
    c = float(exact.dot(a, b))
    if c < -1 + 1e-9:
        perp = np.cross(a, [1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 1.0, 0])
        return _rot(perp, np.pi)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + exact.matmul(k, k) / (1 + c)


def _xf(mesh: VF, m: np.ndarray | None = None, t: Sequence[float] = (0, 0, 0),
        s: Sequence[float] | float = 1.0) -> VF:
    """Scale by ``s``, apply the linear map ``m``, translate by ``t``. A reflecting map flips the
    triangle winding so the faces keep pointing outwards."""
    v, f = mesh
    v = v * np.asarray(s, dtype=np.float64)
    if m is not None:
        v = exact.transform(v, m)
        if np.linalg.det(m) < 0:
            f = f[:, ::-1]
    if np.ndim(s) and np.prod(np.sign(s)) < 0:
        f = f[:, ::-1]
    return v + np.asarray(t, dtype=np.float64), f


def _mirror_x(mesh: VF) -> VF:
    return _xf(mesh, s=(-1.0, 1.0, 1.0))


def _box(size: Sequence[float], center: Sequence[float], m: np.ndarray | None = None) -> VF:
    return _xf(_unit("box"), m, center, size)


def _strut(p0: Sequence[float], p1: Sequence[float], r0: float, r1: float | None = None,
           square: bool = False) -> VF:
    """A cylinder (or square bar) from ``p0`` (radius ``r0``) to ``p1`` (radius ``r1``)."""
    p0 = np.asarray(p0, dtype=np.float64)
    p1 = np.asarray(p1, dtype=np.float64)
    r1 = r0 if r1 is None else r1
    v, f = _unit("box" if square else "cylinder")
    length = float(exact.norm(p1 - p0))
    radius = r0 + (r1 - r0) * (v[:, 1:2] + 0.5)
    v = np.column_stack([v[:, 0:1] * radius * (2 if square else 1), v[:, 1] * length,
                         v[:, 2:3] * radius * (2 if square else 1)])
    return _xf((v, f), _rot_to((0, 1, 0), p1 - p0), (p0 + p1) / 2)


def _cone(base: Sequence[float], apex: Sequence[float], r: float) -> VF:
    base = np.asarray(base, dtype=np.float64)
    d = np.asarray(apex, dtype=np.float64) - base
    return _xf(_unit("cone"), _rot_to((0, 1, 0), d), base, (r, float(exact.norm(d)), r))


def _ellipsoid(radii: Sequence[float], center: Sequence[float], m: np.ndarray | None = None) -> VF:
    return _xf(_unit("sphere"), m, center, radii)


def _ring_mesh(rings: np.ndarray, start: np.ndarray | None = None, end: np.ndarray | None = None,
               loop: bool = False) -> VF:
    """Triangulate a stack of rings [m, s, 3]; ``start``/``end`` close the ends with a fan to a
    centre point; ``loop`` joins the last ring to the first (a torus)."""
    m, s = rings.shape[:2]
    idx = np.arange(m * s).reshape(m, s)
    rows = m if loop else m - 1
    j = np.arange(rows)[:, None]
    k = np.arange(s)[None, :]
    a = idx[j, k]
    b = idx[(j + 1) % m, k]
    c = idx[j, (k + 1) % s]
    d = idx[(j + 1) % m, (k + 1) % s]
    faces = [np.stack([a, b, c], -1).reshape(-1, 3), np.stack([c, b, d], -1).reshape(-1, 3)]
    verts = [rings.reshape(-1, 3)]
    n = m * s
    ring_k = np.arange(s)
    if start is not None:
        verts.append(np.asarray(start, dtype=np.float64)[None])
        faces.append(np.column_stack([np.full(s, n), idx[0, ring_k], idx[0, (ring_k + 1) % s]]))
        n += 1
    if end is not None:
        verts.append(np.asarray(end, dtype=np.float64)[None])
        faces.append(np.column_stack([idx[-1, ring_k], np.full(s, n), idx[-1, (ring_k + 1) % s]]))
    return np.concatenate(verts), np.concatenate(faces)


def _lathe(r: Sequence[float], y: Sequence[float], sections: int = 24, closed: bool = False) -> VF:
    """Surface of revolution about the y axis of the profile (r, y), traversed counter-clockwise
    around the solid's cross-section (up the outside). A profile point with r = 0 at either end
    is a pole; ``closed`` joins the last profile point to the first (a shell)."""
    r = np.asarray(r, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    start = end = None
    if not closed and r[0] <= 1e-12:
        start, r, y = np.array([0.0, y[0], 0.0]), r[1:], y[1:]
    if not closed and r[-1] <= 1e-12:
        end, r, y = np.array([0.0, y[-1], 0.0]), r[:-1], y[:-1]
    theta = np.linspace(0, 2 * np.pi, sections, endpoint=False)
    rings = np.stack([r[:, None] * np.cos(theta), np.broadcast_to(y[:, None], (len(r), sections)),
                      r[:, None] * np.sin(theta)], -1)
    return _ring_mesh(rings, start, end, loop=closed)


def _tube(path: np.ndarray, radius: float | np.ndarray, sections: int = 10, loop: bool = False,
          caps: bool = True) -> VF:
    """A tube of circular section swept along a polyline (parallel-transport frames)."""
    p = np.asarray(path, dtype=np.float64)
    m = len(p)
    if loop:
        t = p[np.r_[1:m, 0]] - p[np.r_[m - 1, 0:m - 1]]
    else:
        t = np.gradient(p, axis=0)
    t /= exact.norm(t)[:, None]
    normal = np.cross(t[0], [0.0, 1.0, 0.0] if abs(t[0][1]) < 0.9 else [1.0, 0.0, 0.0])
    normals = np.empty_like(p)
    for i in range(m):
        normal = normal - exact.dot(normal, t[i]) * t[i]
        normal /= exact.norm(normal)
        normals[i] = normal
    binormals = np.cross(t, normals)
    theta = np.linspace(0, 2 * np.pi, sections, endpoint=False)
    rad = np.broadcast_to(np.asarray(radius, dtype=np.float64), (m,))[:, None, None]
    # ring order N -> -B -> ... runs clockwise about the tangent, like the lathe about +y
    rings = p[:, None] + rad * (np.cos(theta)[None, :, None] * normals[:, None]
                                - np.sin(theta)[None, :, None] * binormals[:, None])
    if loop or not caps:
        return _ring_mesh(rings, loop=loop)
    return _ring_mesh(rings, p[0], p[-1])


def _torus(major: float, minor: float, center: Sequence[float], axis: Sequence[float] = (0, 1, 0),
           sections: int = 28) -> VF:
    theta = np.linspace(0, 2 * np.pi, sections, endpoint=False)
    circle = np.column_stack([major * np.cos(theta), np.zeros(sections), major * np.sin(theta)])
    return _xf(_tube(circle, minor, loop=True), _rot_to((0, 1, 0), axis), center)


def _extrude(outline: np.ndarray, depth: float, center: Sequence[float] | None = None) -> VF:
    """Prism of a polygon in the x-y plane (star-shaped about ``center``), z in [-depth/2, depth/2]."""
    q = np.asarray(outline, dtype=np.float64)
    x, y = q[:, 0], q[:, 1]
    if np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y) < 0:  # make it counter-clockwise
        q = q[::-1]
    c = q.mean(axis=0) if center is None else np.asarray(center, dtype=np.float64)
    n = len(q)
    k = np.arange(n)
    k1 = (k + 1) % n
    bottom = np.column_stack([q, np.full(n, -depth / 2)])
    top = np.column_stack([q, np.full(n, depth / 2)])
    v = np.concatenate([bottom, top, [[c[0], c[1], -depth / 2], [c[0], c[1], depth / 2]]])
    f = np.concatenate([
        np.column_stack([k, k1, n + k1]),
        np.column_stack([k, n + k1, n + k]),
        np.column_stack([np.full(n, 2 * n), k1, k]),
        np.column_stack([np.full(n, 2 * n + 1), n + k, n + k1]),
    ])
    return v, f


def _deform(v: np.ndarray, rng: np.random.Generator, amp: float) -> np.ndarray:
    """Mild whole-object deformation: taper and twist along y, bend along the longest axis,
    anisotropic stretch. The random draws do not depend on ``amp``."""
    taper, twist, bend = rng.uniform(-1, 1, 3) * amp
    stretch = rng.uniform(-1, 1, 3) * amp
    bend_dir = rng.integers(2)
    v = v.copy()
    lo, hi = v.min(0), v.max(0)
    mid = (lo + hi) / 2
    ext = np.maximum(hi - lo, 1e-9)
    t = (v[:, 1] - lo[1]) / ext[1] * 2 - 1  # -1 .. 1 along the height
    scale = 1 + taper * t
    v[:, 0] = mid[0] + (v[:, 0] - mid[0]) * scale
    v[:, 2] = mid[2] + (v[:, 2] - mid[2]) * scale
    ang = twist * 0.8 * t
    x, z = v[:, 0] - mid[0], v[:, 2] - mid[2]
    v[:, 0] = mid[0] + x * np.cos(ang) - z * np.sin(ang)
    v[:, 2] = mid[2] + x * np.sin(ang) + z * np.cos(ang)
    long_axis = int(np.argmax(ext))
    other = [a for a in range(3) if a != long_axis][bend_dir]
    u = (v[:, long_axis] - mid[long_axis]) / (ext[long_axis] / 2)
    v[:, other] += bend * 0.4 * ext[long_axis] * u**2
    return v * np.exp(stretch)


# ---------------------------------------------------------------------------------------------
# Shared part makers


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _densify(path: np.ndarray, per_segment: int) -> np.ndarray:
    """Subdivide a polyline and smooth its corners a little (Chaikin), for tubes."""
    p = np.asarray(path, dtype=np.float64)
    for _ in range(2):
        q = [p[0]]
        for a, b in zip(p[:-1], p[1:], strict=True):
            q += [0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b]
        q.append(p[-1])
        p = np.array(q)
    t = np.linspace(0, 1, per_segment + 1)[:-1, None]
    out = [a + (b - a) * t for a, b in zip(p[:-1], p[1:], strict=True)]
    return np.concatenate(out + [p[-1:]])
