"""Procedural, part-annotated meshes: the offline stand-in for ShapeNet / ModelNet.

Fifteen object classes, each assembled from named parts (a chair is seat + back + legs [+ arms],
an airplane fuselage + wings + tail [+ engines], ...). Parts are built from trimesh primitives
(boxes, cylinders, cones, spheres, cached once at unit size and then scaled and placed) and from
three generic shape makers written here: surfaces of revolution (``_lathe``: bottles, vases,
fuselages, lamp shades), tubes swept along a path (``_tube``: handles, tori, bent stems) and
extruded star-shaped outlines (``_extrude``: wings, fins, guitar bodies, car profiles).

Every object has random proportions, optional parts and variable part counts (3-6 legs, 3-4
fins, ...), then a mild whole-object deformation (taper, twist, bend, anisotropic scale) and a
random colour per part instance. Parts are shared between classes (legs of chairs, tables,
benches, stools, beds and sofas are the same struts), so a class is told by its arrangement of
parts rather than by one telltale shape.

Object ``i`` of class ``c`` is generated from ``numpy.random.default_rng([seed, c, i])`` with ``c``
the class's index in :data:`CLASSES`, so changing the number of objects or the class selection
never changes the other objects. The y axis points up.
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

import numpy as np
import trimesh

from crosspoint import exact
from crosspoint.sources.base import MeshItem, MeshSource

# class -> its fixed part vocabulary (face_parts index into this list)
CLASS_PARTS: dict[str, list[str]] = {
    "airplane": ["fuselage", "wing", "tail", "engine"],
    "bed": ["frame", "mattress", "headboard", "leg", "pillow"],
    "bench": ["seat", "leg", "back"],
    "bookshelf": ["side", "shelf", "back"],
    "bottle": ["body", "neck", "cap"],
    "car": ["body", "cabin", "wheel"],
    "chair": ["seat", "back", "leg", "arm"],
    "guitar": ["body", "neck", "head"],
    "lamp": ["base", "stem", "shade"],
    "mug": ["body", "handle"],
    "rocket": ["body", "nose", "fin", "nozzle"],
    "sofa": ["seat", "back", "arm", "leg"],
    "stool": ["seat", "leg", "rung"],
    "table": ["top", "leg", "shelf"],
    "vase": ["body", "neck", "handle"],
}

# parts an object of the class may lack; every other part is present in every object
OPTIONAL_PARTS: dict[str, list[str]] = {
    "airplane": ["engine"],
    "bed": ["leg", "pillow"],
    "bench": ["back"],
    "bookshelf": ["back"],
    "bottle": ["cap"],
    "car": [],
    "chair": ["arm"],
    "guitar": [],
    "lamp": [],
    "mug": [],
    "rocket": ["nozzle"],
    "sofa": ["arm", "leg"],
    "stool": ["rung"],
    "table": ["shelf"],
    "vase": ["handle"],
}

CLASSES: list[str] = list(CLASS_PARTS)


@dataclass(frozen=True)
class Params:
    """``datasets.<name>`` entry of a synthetic dataset."""

    source: Literal["synthetic"] = "synthetic"
    classes: list[str] = field(default_factory=lambda: list(CLASSES))
    objects_per_class: int = 60
    test_fraction: float = 0.35  # the last round(test_fraction * n) objects of each class are "test"
    seed: int = 0
    deform: float = 0.15  # amplitude of the whole-object taper / twist / bend / stretch
    required: bool = True  # ignored: the generator is always available
    up_axis: Literal["y", "z"] = "y"  # the generator builds y-up objects; z would turn them (+z -> +y)

    def check(self) -> list[str]:
        problems = []
        unknown = [c for c in self.classes if c not in CLASS_PARTS]
        if unknown:
            problems.append(f"classes: unknown {', '.join(unknown)}; known: {', '.join(CLASSES)}")
        if not self.classes:
            problems.append("classes: give at least one class")
        if len(set(self.classes)) != len(self.classes):
            problems.append("classes: a class is listed twice")
        if self.objects_per_class < 1:
            problems.append("objects_per_class must be at least 1")
        if not 0.0 <= self.test_fraction < 1.0:
            problems.append("test_fraction must be in [0, 1)")
        if not 0.0 <= self.deform <= 0.5:
            problems.append("deform must be in [0, 0.5]")
        return problems


class SyntheticSource(MeshSource):
    """Yields ``objects_per_class`` generated objects of every selected class."""

    def __init__(self, params: Params):
        self.params = params
        self.class_names = list(params.classes)

    def __len__(self) -> int:
        return len(self.params.classes) * self.params.objects_per_class

    def items(self) -> Iterator[MeshItem]:
        p = self.params
        n_test = int(round(p.test_fraction * p.objects_per_class))
        for class_name in p.classes:
            for i in range(p.objects_per_class):
                split = "test" if i >= p.objects_per_class - n_test else "train"
                yield generate_object(class_name, i, p.seed, deform=p.deform, split=split)


def generate_object(class_name: str, index: int, seed: int, deform: float = 0.15,
                    split: str | None = None) -> MeshItem:
    """Object ``index`` of ``class_name``, the same for the same (seed, class, index)."""
    if class_name not in CLASS_PARTS:
        raise ValueError(f"unknown synthetic class {class_name!r}; known: {', '.join(CLASSES)}")
    rng = np.random.default_rng([seed, CLASSES.index(class_name), index])
    obj = _Object(CLASS_PARTS[class_name])
    _BUILDERS[class_name](obj, rng)
    vertices, faces, face_parts, instance = obj.concatenate()
    vertices = _deform(vertices, rng, deform)
    hues = rng.random(instance.max() + 1)
    sats = rng.uniform(0.3, 0.9, instance.max() + 1)
    vals = rng.uniform(0.45, 0.95, instance.max() + 1)
    palette = np.array([colorsys.hsv_to_rgb(h, s, v) for h, s, v in zip(hues, sats, vals, strict=True)])
    face_colors = np.round(palette[instance] * 255).astype(np.uint8)
    object_id = f"{class_name}_{index:04d}"
    return MeshItem(
        object_id=object_id,
        class_name=class_name,
        split=split,
        vertices=vertices.astype(np.float32),
        faces=faces.astype(np.int32),
        face_parts=face_parts.astype(np.int16),
        part_names=list(CLASS_PARTS[class_name]),
        face_colors=face_colors,
        path=f"synthetic:{object_id}",
    )


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


@dataclass
class _LegStyle:
    radius: float
    square: bool
    taper: float  # radius at the floor / radius at the top
    splay: float  # outward lean of the foot, relative to the top's distance from the centre

    @classmethod
    def draw(cls, rng: np.random.Generator, r_lo: float, r_hi: float) -> _LegStyle:
        return cls(
            radius=_u(rng, r_lo, r_hi),
            square=bool(rng.random() < 0.4),
            taper=_u(rng, 0.45, 0.9) if rng.random() < 0.4 else 1.0,
            splay=_u(rng, 0.05, 0.25) if rng.random() < 0.3 else 0.0,
        )


def _legs(obj: _Object, style: _LegStyle, tops: Sequence[tuple[float, float]], y_top: float,
          y_bottom: float = 0.0, name: str = "leg") -> None:
    for x, z in tops:
        foot = (x * (1 + style.splay), y_bottom, z * (1 + style.splay))
        obj.add(name, _strut(foot, (x, y_top, z), style.radius * style.taper, style.radius, style.square))


def _pedestal(obj: _Object, rng: np.random.Generator, y_top: float, spread: float, name: str = "leg") -> None:
    """A central column on a disc or on 3-6 radial feet (office chairs, bistro tables, stools)."""
    r = spread * _u(rng, 0.08, 0.2)
    if rng.random() < 0.5:
        hb = _u(rng, 0.02, 0.06) * y_top
        obj.add(name, _strut((0, 0, 0), (0, hb, 0), spread * _u(rng, 0.6, 1.0)))
        obj.add(name, _strut((0, hb, 0), (0, y_top, 0), r * _u(rng, 0.8, 1.5), r))
    else:
        hf = _u(rng, 0.05, 0.15) * y_top
        obj.add(name, _strut((0, hf * 0.5, 0), (0, y_top, 0), r))
        n = int(rng.integers(3, 7))
        phase = _u(rng, 0, 2 * np.pi)
        fr = r * _u(rng, 0.35, 0.7)
        for a in phase + 2 * np.pi * np.arange(n) / n:
            foot = (spread * np.cos(a), 0.0, spread * np.sin(a))
            obj.add(name, _strut((0, hf, 0), foot, fr, fr * 0.7, square=bool(rng.random() < 0.5)))


def _ring_positions(n: int, radius: float, phase: float) -> list[tuple[float, float]]:
    a = phase + 2 * np.pi * np.arange(n) / n
    return [(radius * np.cos(t), radius * np.sin(t)) for t in a]


def _corner_positions(half_w: float, half_d: float, six: bool = False) -> list[tuple[float, float]]:
    pts = [(sx * half_w, sz * half_d) for sx in (-1, 1) for sz in (-1, 1)]
    if six:
        pts += [(0.0, -half_d), (0.0, half_d)]
    return pts


def _slab_top(rng: np.random.Generator, w: float, d: float, t: float, y: float, round_p: float) -> VF:
    """A flat board: a box, or a (possibly elliptic) disc."""
    if rng.random() < round_p:
        return _xf(_unit("cylinder"), None, (0, y, 0), (w / 2, t, d / 2))
    return _box((w, t, d), (0, y, 0))


# ---------------------------------------------------------------------------------------------
# Classes


def _table(o: _Object, rng: np.random.Generator) -> None:
    h = _u(rng, 0.6, 1.0)
    t = _u(rng, 0.025, 0.08)
    round_top = rng.random() < 0.3
    if round_top:
        w = _u(rng, 0.8, 1.6)
        d = w * (_u(rng, 0.6, 1.0) if rng.random() < 0.4 else 1.0)
    else:
        w, d = _u(rng, 0.9, 2.4), _u(rng, 0.5, 1.3)
    o.add("top", _slab_top(rng, w, d, t, h - t / 2, 1.0 if round_top else 0.0))
    y_top = h - t
    style = _LegStyle.draw(rng, 0.015, 0.055)
    config = rng.choice(["legs", "pedestal", "panels"], p=[0.7, 0.15, 0.15])
    if config == "pedestal":
        _pedestal(o, rng, y_top, min(w, d) * _u(rng, 0.25, 0.45))
    elif config == "panels":
        inset = _u(rng, 0.03, 0.15) * w
        pt = _u(rng, 0.02, 0.06)
        pd = d * _u(rng, 0.5, 0.95)
        for sx in (-1, 1):
            o.add("leg", _box((pt, y_top, pd), (sx * (w / 2 - inset), y_top / 2, 0)))
        if rng.random() < 0.5:
            ys = y_top * _u(rng, 0.1, 0.4)
            o.add("leg", _strut((-(w / 2 - inset), ys, 0), (w / 2 - inset, ys, 0), pt * 0.6, square=True))
    else:
        if round_top:
            tops = _ring_positions(int(rng.integers(3, 7)), min(w, d) / 2 * _u(rng, 0.5, 0.85),
                                   _u(rng, 0, 2 * np.pi))
            tops = [(x * w / min(w, d), z * d / min(w, d)) for x, z in tops]
        else:
            inset = _u(rng, 0.02, 0.12)
            tops = _corner_positions(w / 2 - inset, d / 2 - inset, six=w > 1.6 and rng.random() < 0.5)
        style.splay = min(style.splay, 0.1)
        _legs(o, style, tops, y_top)
        if rng.random() < 0.35:
            xs = max(abs(x) for x, _ in tops)
            zs = max(abs(z) for _, z in tops)
            o.add("shelf", _box((2 * xs, t * _u(rng, 0.5, 1.0), 2 * zs), (0, y_top * _u(rng, 0.12, 0.35), 0)))


def _chair(o: _Object, rng: np.random.Generator) -> None:
    hs = _u(rng, 0.4, 0.55)
    w, d = _u(rng, 0.38, 0.62), _u(rng, 0.38, 0.6)
    t = _u(rng, 0.03, 0.09)
    round_seat = rng.random() < 0.2
    o.add("seat", _slab_top(rng, w, d, t, hs - t / 2, 1.0 if round_seat else 0.0))
    y_seat = hs - t
    config = rng.choice(["legs", "pedestal", "sled"], p=[0.7, 0.18, 0.12])
    if config == "pedestal":
        _pedestal(o, rng, y_seat, max(w, d) * _u(rng, 0.45, 0.6))
    elif config == "sled":
        r = _u(rng, 0.01, 0.025)
        for sx in (-1, 1):
            x = sx * w / 2 * _u(rng, 0.8, 0.95)
            zf, zb = d / 2 * _u(rng, 0.8, 1.1), -d / 2 * _u(rng, 0.8, 1.1)
            path = np.array([[x, y_seat, zf * 0.8], [x, r, zf], [x, r, zb], [x, y_seat, zb * 0.8]])
            o.add("leg", _tube(_densify(path, 6), r))
    else:
        style = _LegStyle.draw(rng, 0.012, 0.035)
        if round_seat:
            tops = _ring_positions(int(rng.integers(3, 6)), min(w, d) / 2 * _u(rng, 0.55, 0.85),
                                   _u(rng, 0, 2 * np.pi))
        else:
            inset = _u(rng, 0.0, 0.06)
            tops = _corner_positions(w / 2 - inset - style.radius, d / 2 - inset - style.radius)
        _legs(o, style, tops, y_seat)
        if rng.random() < 0.3:  # stretchers between the legs
            ys = y_seat * _u(rng, 0.2, 0.45)
            for (x0, z0), (x1, z1) in zip(tops, tops[1:] + tops[:1], strict=True):
                if not round_seat and abs(x0 - x1) > 1e-9 and abs(z0 - z1) > 1e-9:
                    continue
                s = 1 + style.splay * (1 - ys / y_seat)
                o.add("leg", _strut((x0 * s, ys, z0 * s), (x1 * s, ys, z1 * s), style.radius * 0.5))
    # back, built about the pivot at the seat's rear edge, then tilted backwards
    hb = _u(rng, 0.3, 0.7)
    wb = w * _u(rng, 0.7, 1.0)
    tb = _u(rng, 0.02, 0.06)
    back: list[VF] = []
    kind = rng.choice(["solid", "slats", "rails"], p=[0.5, 0.3, 0.2])
    if kind == "solid":
        back.append(_box((wb, hb, tb), (0, hb / 2, 0)))
    else:
        pr = _u(rng, 0.012, 0.03)
        for sx in (-1, 1):
            back.append(_strut((sx * (wb / 2 - pr), 0, 0), (sx * (wb / 2 - pr), hb, 0), pr, square=True))
        rail_h = _u(rng, 0.05, 0.2) * hb
        back.append(_box((wb, rail_h, tb), (0, hb - rail_h / 2, 0)))
        n = int(rng.integers(2, 6))
        if kind == "slats":
            for x in np.linspace(-wb / 2, wb / 2, n + 2)[1:-1]:
                back.append(_box((wb / (3 * n), hb - rail_h, tb * 0.6), (x, (hb - rail_h) / 2, 0)))
        else:
            for y in np.linspace(0, hb - rail_h, n + 1)[1:-1]:
                back.append(_box((wb, rail_h * 0.6, tb * 0.6), (0, y, 0)))
    tilt = _rot((1, 0, 0), -_u(rng, 0.0, 0.3))
    o.add("back", *[_xf(m, tilt, (0, hs, -d / 2 + tb / 2)) for m in back])
    if rng.random() < 0.35:
        ha = _u(rng, 0.15, 0.3)
        ta = _u(rng, 0.025, 0.06)
        for sx in (-1, 1):
            x = sx * (w / 2 + _u(rng, -0.02, 0.04))
            o.add("arm", _box((ta, ta * 0.8, d * _u(rng, 0.7, 1.0)), (x, hs + ha, 0)))
            o.add("arm", _strut((x, hs - t, d / 2 * 0.8), (x, hs + ha, d / 2 * 0.8), ta * 0.4))


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


def _bench(o: _Object, rng: np.random.Generator) -> None:
    length, d, h = _u(rng, 1.1, 2.4), _u(rng, 0.3, 0.55), _u(rng, 0.38, 0.5)
    t = _u(rng, 0.03, 0.08)
    if rng.random() < 0.4:
        n = int(rng.integers(3, 6))
        bw = d / n * _u(rng, 0.6, 0.9)
        for z in np.linspace(-d / 2 + bw / 2, d / 2 - bw / 2, n):
            o.add("seat", _box((length, t, bw), (0, h - t / 2, z)))
    else:
        o.add("seat", _box((length, t, d), (0, h - t / 2, 0)))
    y_top = h - t
    config = rng.choice(["legs", "panels", "aframe"], p=[0.55, 0.25, 0.2])
    inset = _u(rng, 0.03, 0.2) * length / 2
    if config == "legs":
        style = _LegStyle.draw(rng, 0.015, 0.04)
        _legs(o, style, _corner_positions(length / 2 - inset, d / 2 * _u(rng, 0.6, 0.9),
                                          six=length > 1.7 and rng.random() < 0.6), y_top)
    elif config == "panels":
        pt = _u(rng, 0.03, 0.08)
        for sx in (-1, 1):
            o.add("leg", _box((pt, y_top, d * _u(rng, 0.7, 1.0)), (sx * (length / 2 - inset), y_top / 2, 0)))
    else:
        r = _u(rng, 0.015, 0.035)
        sq = bool(rng.random() < 0.5)
        for sx in (-1, 1):
            x = sx * (length / 2 - inset)
            for sz in (-1, 1):
                o.add("leg", _strut((x, 0, sz * d / 2 * _u(rng, 0.7, 1.1)), (x, y_top, 0), r, square=sq))
    if rng.random() < 0.5:
        hb = _u(rng, 0.25, 0.5)
        tilt = _rot((1, 0, 0), -_u(rng, 0.0, 0.3))
        z0 = -d / 2
        pr = _u(rng, 0.015, 0.035)
        n_posts = 3 if length > 1.7 and rng.random() < 0.5 else 2
        parts = [_strut((x, 0, 0), (x, hb, 0), pr, square=True)
                 for x in np.linspace(-(length / 2 - inset), length / 2 - inset, n_posts)]
        if rng.random() < 0.5:
            parts.append(_box((length, hb * _u(rng, 0.4, 0.7), _u(rng, 0.02, 0.05)), (0, hb * 0.65, 0)))
        else:
            for y in np.linspace(hb * 0.35, hb, int(rng.integers(2, 4))):
                parts.append(_box((length, hb * 0.12, 0.03), (0, y - hb * 0.06, 0)))
        o.add("back", *[_xf(m, tilt, (0, h, z0)) for m in parts])


def _stool(o: _Object, rng: np.random.Generator) -> None:
    h = _u(rng, 0.45, 0.85)
    r = _u(rng, 0.14, 0.25)
    t = _u(rng, 0.03, 0.07)
    round_seat = rng.random() < 0.7
    o.add("seat", _slab_top(rng, 2 * r, 2 * r, t, h - t / 2, 1.0 if round_seat else 0.0))
    y_top = h - t
    if rng.random() < 0.2:
        _pedestal(o, rng, y_top, r * _u(rng, 1.0, 1.5))
        if rng.random() < 0.5:
            yr = y_top * _u(rng, 0.25, 0.45)
            rr = r * _u(rng, 0.7, 1.0)
            o.add("rung", _torus(rr, _u(rng, 0.008, 0.02), (0, yr, 0)))
            o.add("rung", _strut((-rr, yr, 0), (rr, yr, 0), 0.01))
        return
    style = _LegStyle.draw(rng, 0.012, 0.03)
    style.splay = _u(rng, 0.0, 0.6)
    n = int(rng.integers(3, 5)) if round_seat else 4
    rt = r * _u(rng, 0.55, 0.8)
    tops = _ring_positions(n, rt, _u(rng, 0, 2 * np.pi) if round_seat else np.pi / 4)
    _legs(o, style, tops, y_top)
    if rng.random() < 0.55:
        frac = _u(rng, 0.25, 0.45)
        yr = y_top * frac
        s = 1 + style.splay * (1 - frac)
        rod = _u(rng, 0.007, 0.018)
        if round_seat and rng.random() < 0.6:
            o.add("rung", _torus(rt * s, rod, (0, yr, 0)))
        else:
            for (x0, z0), (x1, z1) in zip(tops, tops[1:] + tops[:1], strict=True):
                o.add("rung", _strut((x0 * s, yr, z0 * s), (x1 * s, yr, z1 * s), rod))


def _bed(o: _Object, rng: np.random.Generator) -> None:
    w, length = _u(rng, 0.9, 2.0), _u(rng, 1.9, 2.3)
    has_legs = rng.random() < 0.6
    legh = _u(rng, 0.06, 0.25) if has_legs else 0.0
    fh = _u(rng, 0.12, 0.3)
    o.add("frame", _box((w, fh, length), (0, legh + fh / 2, 0)))
    mh = _u(rng, 0.12, 0.3)
    y_mat = legh + fh
    o.add("mattress", _box((w * _u(rng, 0.9, 1.0), mh, length * _u(rng, 0.9, 0.99)), (0, y_mat + mh / 2, 0)))
    th = _u(rng, 0.04, 0.1)
    hh = y_mat + mh + _u(rng, 0.2, 0.8)
    zh = -length / 2 - th / 2
    if rng.random() < 0.5:
        o.add("headboard", _box((w, hh, th), (0, hh / 2, zh)))
    else:  # arched top, optionally with posts
        arch = _u(rng, 0.05, 0.3)
        xs = np.linspace(-w / 2, w / 2, 17)
        top = hh - arch + arch * np.cos(xs / (w / 2) * np.pi / 2)
        outline = np.concatenate([np.column_stack([xs, top]), [[w / 2, 0.0], [-w / 2, 0.0]]])
        o.add("headboard", _xf(_extrude(outline, th, center=(0, hh / 3)), None, (0, 0, zh)))
        if rng.random() < 0.5:
            pr = _u(rng, 0.03, 0.06)
            for sx in (-1, 1):
                o.add("headboard", _strut((sx * w / 2, 0, zh), (sx * w / 2, hh * _u(rng, 1.0, 1.15), zh), pr,
                                          square=bool(rng.random() < 0.5)))
    if rng.random() < 0.35:
        hf = y_mat + _u(rng, 0.0, 0.4)
        o.add("frame", _box((w, hf, th), (0, hf / 2, length / 2 + th / 2)))
    if has_legs:
        style = _LegStyle.draw(rng, 0.025, 0.06)
        style.splay = 0.0
        _legs(o, style, _corner_positions(w / 2 - 0.06, length / 2 - 0.06, six=rng.random() < 0.3), legh + 0.01)
    n_pillows = int(rng.choice([0, 1, 2], p=[0.25, 0.35, 0.4]))
    if n_pillows == 1:
        xs = [0.0]
    else:
        xs = [-w / 4, w / 4]
    for x in xs[:n_pillows]:
        pw = w / (2 * n_pillows) * _u(rng, 0.7, 0.95) if n_pillows else 0
        o.add("pillow", _ellipsoid((pw, _u(rng, 0.04, 0.09), _u(rng, 0.12, 0.22)),
                                   (x, y_mat + mh + 0.03, -length / 2 + _u(rng, 0.2, 0.35))))


def _sofa(o: _Object, rng: np.random.Generator) -> None:
    w, d = _u(rng, 1.3, 2.6), _u(rng, 0.7, 1.0)
    has_legs = rng.random() < 0.65
    legh = _u(rng, 0.05, 0.15) if has_legs else 0.0
    hs = _u(rng, 0.35, 0.5)
    has_arms = rng.random() < 0.85
    wa = _u(rng, 0.08, 0.25) if has_arms else 0.0
    tb = _u(rng, 0.12, 0.3)
    inner = w - 2 * wa
    n = int(rng.integers(1, 4))
    cw = inner / n
    base_h = (hs - legh) * _u(rng, 0.4, 0.7)
    o.add("seat", _box((inner, base_h, d - tb), (0, legh + base_h / 2, tb / 2)))
    for i in range(n):
        x = -inner / 2 + cw * (i + 0.5)
        ch = hs - legh - base_h
        o.add("seat", _box((cw * 0.97, ch, (d - tb) * 0.97), (x, legh + base_h + ch / 2, tb / 2)))
    if rng.random() < 0.2:  # chaise section
        side = rng.choice([-1, 1])
        ext = d * _u(rng, 0.5, 0.9)
        o.add("seat", _box((cw, hs - legh, ext), (side * (inner / 2 - cw / 2), legh + (hs - legh) / 2, d / 2 + ext / 2)))
    hb = _u(rng, 0.3, 0.6)
    tilt = _rot((1, 0, 0), -_u(rng, 0.0, 0.25))
    o.add("back", _xf(_box((w, hs + hb - legh, tb), (0, (hs + hb - legh) / 2, 0)), tilt, (0, legh, -d / 2 + tb / 2)))
    if rng.random() < 0.4:  # back cushions
        for i in range(n):
            x = -inner / 2 + cw * (i + 0.5)
            o.add("back", _box((cw * 0.95, hb * 0.9, tb * 0.6), (x, hs + hb * 0.45, -d / 2 + tb * 1.3)))
    if has_arms:
        ha = hs + _u(rng, 0.08, 0.3)
        rounded = rng.random() < 0.4
        for sx in (-1, 1):
            x = sx * (w / 2 - wa / 2)
            top = ha - (wa / 2 if rounded else 0.0)
            o.add("arm", _box((wa, top - legh, d), (x, legh + (top - legh) / 2, 0)))
            if rounded:
                o.add("arm", _strut((x, top, -d / 2), (x, top, d / 2), wa / 2))
    if has_legs:
        style = _LegStyle.draw(rng, 0.02, 0.045)
        style.splay = min(style.splay, 0.08)
        _legs(o, style, _corner_positions(w / 2 - 0.08, d / 2 - 0.08, six=w > 2.0 and rng.random() < 0.6),
              legh + 0.01)


def _bookshelf(o: _Object, rng: np.random.Generator) -> None:
    h, w, d = _u(rng, 0.9, 2.2), _u(rng, 0.5, 1.6), _u(rng, 0.22, 0.45)
    t = _u(rng, 0.015, 0.045)
    for sx in (-1, 1):
        o.add("side", _box((t, h, d), (sx * (w / 2 - t / 2), h / 2, 0)))
    n = int(rng.integers(3, 8))
    bottom = _u(rng, 0.0, 0.1)
    top = h - t / 2 if rng.random() < 0.8 else h * _u(rng, 0.8, 0.95)
    ys = np.linspace(bottom + t / 2, top, n)
    ys[1:-1] += rng.uniform(-0.2, 0.2, n - 2) * (top - bottom) / (n - 1)
    for y in ys:
        o.add("shelf", _box((w - 2 * t, t, d), (0, y, 0)))
    if w > 0.9 and rng.random() < 0.35:
        o.add("side", _box((t, top - bottom, d), (_u(rng, -0.2, 0.2) * w, (top + bottom) / 2, 0)))
    if rng.random() < 0.7:
        o.add("back", _box((w, h, t * 0.4), (0, h / 2, -d / 2 - t * 0.2)))


def _lamp(o: _Object, rng: np.random.Generator) -> None:
    kind = rng.choice(["desk", "floor", "arm"], p=[0.4, 0.35, 0.25])
    rb = _u(rng, 0.08, 0.22) * (1.3 if kind == "floor" else 1.0)
    hb = _u(rng, 0.02, 0.08)
    base = rng.choice(["disc", "box", "dome"], p=[0.5, 0.2, 0.3])
    if base == "disc":
        o.add("base", _strut((0, 0, 0), (0, hb, 0), rb, rb * _u(rng, 0.6, 1.0)))
    elif base == "box":
        o.add("base", _box((2 * rb, hb, 2 * rb * _u(rng, 0.6, 1.0)), (0, hb / 2, 0)))
    else:
        a = np.linspace(0, np.pi / 2, 8)
        hb = hb * 1.5
        o.add("base", _lathe(np.r_[0, rb * np.cos(a)], np.r_[0, hb * np.sin(a)], closed=False))
    rs = _u(rng, 0.008, 0.025)
    if kind == "floor":
        top = np.array([0.0, _u(rng, 1.2, 1.8), 0.0])
        o.add("stem", _strut((0, 0, 0), top, rs))
        axis = np.array([0.0, -1.0, 0.0])
    elif kind == "desk" and rng.random() < 0.45:  # curved gooseneck
        hgt, reach = _u(rng, 0.25, 0.6), _u(rng, 0.1, 0.35)
        s = np.linspace(0, 1, 14)
        path = np.column_stack([reach * s**2, hgt * np.sin(s * np.pi / 2), np.zeros_like(s)])
        o.add("stem", _tube(path, rs))
        top = path[-1]
        axis = np.array([_u(rng, 0.0, 0.6), -1.0, 0.0])
    elif kind == "desk":
        top = np.array([0.0, _u(rng, 0.25, 0.6), 0.0])
        o.add("stem", _strut((0, 0, 0), top, rs))
        axis = np.array([0.0, -1.0, 0.0])
    else:  # articulated arm: two struts and joints
        a1, a2 = _u(rng, 0.2, 0.7), _u(rng, 0.8, 2.0)
        l1, l2 = _u(rng, 0.25, 0.5), _u(rng, 0.2, 0.45)
        j = np.array([l1 * np.sin(a1), hb + l1 * np.cos(a1), 0.0])
        top = j + np.array([l2 * np.sin(a2), l2 * np.cos(a2), 0.0])
        o.add("stem", _strut((0, hb, 0), j, rs), _strut(j, top, rs), _ellipsoid((rs * 2,) * 3, j))
        axis = np.array([_u(rng, 0.2, 1.0), -1.0, 0.0])
    axis /= exact.norm(axis)
    style = rng.choice(["drum", "cone", "globe", "dome"], p=[0.4, 0.25, 0.15, 0.2])
    size = _u(rng, 0.08, 0.18) * (1.8 if kind == "floor" else 1.0)
    e = size * 0.04
    if style == "drum":  # open frustum shell, wide end down
        rt = size * _u(rng, 0.45, 0.9)
        hh = size * _u(rng, 0.8, 1.6)
        shade = _lathe([size, rt, rt - e, size - e], [0, hh, hh, 0], closed=True)
        shade = _xf(shade, None, (0, -hh * 0.6, 0))
    elif style == "cone":
        hh = size * _u(rng, 0.7, 1.5)
        shade = _lathe([size, rs * 1.5, rs * 1.5 - e * 0.5, size - e], [0, hh, hh, 0], closed=True)
        shade = _xf(shade, None, (0, -hh, 0))
    elif style == "globe":
        shade = _ellipsoid((size * 0.7, size * _u(rng, 0.6, 0.8), size * 0.7), (0, -size * 0.6, 0))
    else:
        a = np.linspace(0, np.pi / 2, 9)
        outer_r, outer_y = size * np.cos(a), size * np.sin(a)
        shade = _lathe(np.r_[outer_r, outer_r[::-1] * 0.96], np.r_[outer_y, outer_y[::-1] * 0.96], closed=True)
        shade = _xf(shade, None, (0, -size, 0))
    # the shade is built hanging down the -y axis from the stem's end; aim it along ``axis``
    o.add("shade", _xf(shade, _rot_to((0, -1, 0), axis), top))


def _fuselage_profile(length: float, radius: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    tail_r = _u(rng, 0.1, 0.4)
    nose_len = _u(rng, 0.08, 0.2)
    tail_len = _u(rng, 0.2, 0.4)
    s = np.linspace(0, 1, 22)
    f = np.ones_like(s)
    tail = s < tail_len
    f[tail] = tail_r + (1 - tail_r) * np.sin(s[tail] / tail_len * np.pi / 2)
    nose = s > 1 - nose_len
    f[nose] = np.sqrt(np.clip(1 - ((s[nose] - (1 - nose_len)) / nose_len) ** 2, 0, 1))
    f[-1] = 0.0
    return np.r_[0.0, radius * f], np.r_[0.0, length * s]


def _wing(span: float, chord: float, taper: float, sweep: float, thick: float) -> VF:
    """Planform in (span x, chord z) with the root leading edge at the origin; thickness along y."""
    outline = np.array([[0, 0], [span, -sweep], [span, -sweep - chord * taper], [0, -chord]])
    m = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]])  # polygon x -> x, polygon y -> z, depth -> y
    return _xf(_extrude(outline, thick), m)


def _airplane(o: _Object, rng: np.random.Generator) -> None:
    lf = _u(rng, 2.5, 4.0)
    r = lf * _u(rng, 0.035, 0.075)
    pr, py = _fuselage_profile(lf, r, rng)
    o.add("fuselage", _xf(_lathe(pr, py), _rot((1, 0, 0), np.pi / 2), (0, 0, -lf / 2)))  # nose to +z
    span = lf * _u(rng, 0.35, 0.75)
    chord = lf * _u(rng, 0.1, 0.25)
    taper = _u(rng, 0.2, 0.8)
    sweep = span * _u(rng, -0.05, 0.6)
    thick = chord * _u(rng, 0.05, 0.12)
    dihedral = _u(rng, -0.05, 0.12)
    zw = lf * _u(rng, 0.0, 0.2)
    yw = r * _u(rng, -0.6, 0.6)
    wing = _xf(_wing(span, chord, taper, sweep, thick), _rot((0, 0, 1), dihedral), (0, yw, zw))
    o.add("wing", wing, _mirror_x(wing))
    # tail: vertical fin (polygon in z-y, depth along x) and horizontal stabilisers
    fin_h = span * _u(rng, 0.2, 0.45)
    fin_c = chord * _u(rng, 0.6, 1.2)
    fin_sweep = fin_c * _u(rng, 0.2, 0.9)
    z_tail = -lf / 2 + fin_c * 0.15
    fin_outline = np.array([[0, 0], [fin_c, 0], [fin_c - fin_sweep * 0.3, fin_h],
                            [fin_c * _u(rng, 0.3, 0.7) - fin_sweep * 0.3 + 0.0, fin_h]])
    m = np.array([[0, 0, 1.0], [0, 1.0, 0], [1.0, 0, 0]])  # polygon x -> z, y -> y, depth -> x
    o.add("tail", _xf(_extrude(fin_outline, fin_c * 0.08), m, (0, r * 0.5, z_tail)))
    t_tail = rng.random() < 0.25
    st_span = span * _u(rng, 0.2, 0.4)
    st_chord = chord * _u(rng, 0.4, 0.7)
    y_st = r * 0.5 + fin_h * 0.95 if t_tail else r * _u(rng, 0.0, 0.5)
    stab = _xf(_wing(st_span, st_chord, _u(rng, 0.4, 0.9), st_span * _u(rng, 0.0, 0.5), st_chord * 0.08),
               None, (0, y_st, z_tail + st_chord + (fin_c - fin_sweep * 0.3 if t_tail else 0.0) * 0.3))
    o.add("tail", stab, _mirror_x(stab))
    n_eng = int(rng.choice([0, 2, 4], p=[0.3, 0.5, 0.2]))
    if n_eng:
        re = r * _u(rng, 0.3, 0.6)
        le = chord * _u(rng, 0.5, 1.0)
        fracs = [_u(rng, 0.25, 0.4)] if n_eng == 2 else [_u(rng, 0.2, 0.3), _u(rng, 0.55, 0.7)]
        for frac in fracs:
            x = span * frac
            y = yw + np.tan(dihedral) * x - thick / 2 - re * 1.1
            z = zw - sweep * frac + le * 0.5
            prof_r = [0.0, re * 0.8, re, re, re * 0.7, 0.0]
            prof_y = [0.0, 0.0, le * 0.2, le * 0.8, le, le]
            nac = _xf(_lathe(prof_r, prof_y, sections=16), _rot((1, 0, 0), np.pi / 2), (x, y, z - le))
            o.add("engine", nac, _mirror_x(nac))


def _rocket(o: _Object, rng: np.random.Generator) -> None:
    r = _u(rng, 0.08, 0.2)
    hb = r * _u(rng, 6, 14)
    o.add("body", _strut((0, 0, 0), (0, hb, 0), r))
    top, r_top = hb, r
    if rng.random() < 0.35:  # second stage on an adapter
        r2 = r * _u(rng, 0.55, 0.85)
        ha = r * _u(rng, 0.3, 1.0)
        h2 = hb * _u(rng, 0.2, 0.5)
        o.add("body", _strut((0, hb, 0), (0, hb + ha, 0), r, r2), _strut((0, hb + ha, 0), (0, hb + ha + h2, 0), r2))
        top, r_top = hb + ha + h2, r2
    ln = r_top * _u(rng, 1.5, 4.0)
    if rng.random() < 0.4:
        o.add("nose", _cone((0, top, 0), (0, top + ln, 0), r_top))
    else:
        s = np.linspace(0, 1, 12)
        o.add("nose", _lathe(np.r_[r_top * np.sqrt(1 - s[:-1] ** _u(rng, 1.5, 3.0)), 0.0], top + ln * s))
    n_fins = int(rng.integers(3, 5))
    c = hb * _u(rng, 0.12, 0.3)
    span = r * _u(rng, 0.8, 2.2)
    drop = c * _u(rng, -0.1, 0.5)
    tip = c * _u(rng, 0.2, 0.8)
    outline = np.array([[0, 0], [span, -drop], [span, -drop + tip], [0, c]])
    fin = _extrude(outline, r * _u(rng, 0.06, 0.15))  # radial along x, up along y, thin along z
    y0 = hb * _u(rng, 0.0, 0.08) + max(drop, 0.0)
    phase = _u(rng, 0, 2 * np.pi)
    for k in range(n_fins):
        turn = _rot((0, 1, 0), phase + 2 * np.pi * k / n_fins)
        o.add("fin", _xf(fin, turn, exact.transform(np.array([r * 0.9, y0, 0.0]), turn)))
    if rng.random() < 0.25:  # boosters
        nb = int(rng.choice([2, 4]))
        rb = r * _u(rng, 0.3, 0.5)
        hbst = hb * _u(rng, 0.3, 0.6)
        for a in phase + np.pi / n_fins + 2 * np.pi * np.arange(nb) / nb:
            x, z = (r + rb) * np.cos(a), (r + rb) * np.sin(a)
            o.add("body", _strut((x, y0, z), (x, y0 + hbst, z), rb))
            o.add("nose", _cone((x, y0 + hbst, z), (x, y0 + hbst + rb * 2.5, z), rb))
    if rng.random() < 0.7:
        ln = r * _u(rng, 0.4, 1.2)
        rt, rbot = r * _u(rng, 0.3, 0.6), r * _u(rng, 0.6, 0.95)
        s = np.linspace(0, 1, 6)
        prof = rt + (rbot - rt) * s**_u(rng, 0.5, 1.0)
        e = r * 0.04
        o.add("nozzle", _lathe(np.r_[prof[::-1], prof - e], np.r_[-ln * s[::-1], -ln * s] + e, closed=True))


def _bottle(o: _Object, rng: np.random.Generator) -> None:
    r = _u(rng, 0.12, 0.3)
    hb = r * _u(rng, 2.0, 5.0)
    rn = r * _u(rng, 0.2, 0.45)
    shoulder = _u(rng, 0.55, 0.85)
    if rng.random() < 0.2:  # square body with a round shoulder
        hs = hb * shoulder
        o.add("body", _box((2 * r, hs, 2 * r * _u(rng, 0.6, 1.0)), (0, hs / 2, 0)))
        o.add("body", _strut((0, hs, 0), (0, hb, 0), r * 0.98, rn))
    else:
        s = np.linspace(0, 1, 14)
        wall = 1 + _u(rng, -0.15, 0.1) * np.sin(np.pi * s / shoulder * 0.999) * (s < shoulder)
        sh = np.clip((s - shoulder) / (1 - shoulder), 0, 1)
        rad = np.where(s < shoulder, r * wall, rn + (r - rn) * np.cos(sh * np.pi / 2) ** _u(rng, 0.6, 2.0))
        corner = r * 0.1
        o.add("body", _lathe(np.r_[0, r - corner, rad, 0], np.r_[0, 0, np.maximum(s * hb, corner * 0.5), hb]))
    ln = r * _u(rng, 0.4, 1.5)
    o.add("neck", _strut((0, hb - 0.02 * ln, 0), (0, hb + ln, 0), rn, rn * _u(rng, 0.8, 1.1)))
    if rng.random() < 0.5:
        o.add("neck", _torus(rn * 1.05, rn * 0.15, (0, hb + ln * 0.8, 0)))
    if rng.random() < 0.8:
        if rng.random() < 0.3:  # cork
            o.add("cap", _strut((0, hb + ln * 0.7, 0), (0, hb + ln * 1.3, 0), rn * 0.8, rn * 0.95))
        else:
            o.add("cap", _strut((0, hb + ln * 0.85, 0), (0, hb + ln + rn * _u(rng, 0.6, 2.0), 0),
                                rn * _u(rng, 1.05, 1.3)))


def _mug(o: _Object, rng: np.random.Generator) -> None:
    r = _u(rng, 0.3, 0.5)
    h = 2 * r * _u(rng, 0.75, 1.5)
    rt = r * _u(rng, 0.85, 1.2)
    w = r * _u(rng, 0.05, 0.1)
    c = r * 0.08
    o.add("body", _lathe([0, r - c, r, rt, rt - w, r - w, 0], [0, 0, c, h, h, w, w]))
    y0, y1 = h * _u(rng, 0.1, 0.3), h * _u(rng, 0.7, 0.9)
    hw = r * _u(rng, 0.35, 0.8)
    power = _u(rng, 1.0, 4.0)
    a = np.linspace(-np.pi / 2, np.pi / 2, 17)
    cx, sy = np.cos(a), np.sin(a)
    xs = hw * np.abs(cx) ** (2 / power / 2) * np.sign(cx)
    ys = (y0 + y1) / 2 + (y1 - y0) / 2 * np.abs(sy) ** (2 / power / 2) * np.sign(sy)
    wall_r = r + (rt - r) * ys / h - w / 2
    path = np.column_stack([wall_r + xs, ys, np.zeros_like(xs)])
    o.add("handle", _xf(_tube(path, r * _u(rng, 0.06, 0.12)), _rot((0, 1, 0), _u(rng, 0, 2 * np.pi))))


def _vase(o: _Object, rng: np.random.Generator) -> None:
    h = _u(rng, 0.8, 2.0)
    r = h * _u(rng, 0.15, 0.4)
    hb = h * _u(rng, 0.6, 0.88)
    s = np.linspace(0, 1, 18)
    r0, r1 = r * _u(rng, 0.35, 0.8), r * _u(rng, 0.2, 0.6)
    bulge = _u(rng, 0.1, 0.8) * np.sin(np.pi * s ** _u(rng, 0.5, 2.0))
    ripple = _u(rng, 0.0, 0.08) * np.sin(_u(rng, 2, 5) * np.pi * s + _u(rng, 0, 2 * np.pi))
    rad = r0 + (r1 - r0) * s + r * (bulge + ripple)
    rad[-1] = r1
    o.add("body", _lathe(np.r_[0, rad], np.r_[0, s * hb]))
    rl = r1 * _u(rng, 0.7, 1.8)
    s2 = np.linspace(0, 1, 8)
    neck_r = r1 + (rl - r1) * s2 ** _u(rng, 1.0, 3.0)
    neck_y = hb - 0.01 * h + (h - hb) * s2
    e = r * 0.04
    o.add("neck", _lathe(np.r_[neck_r, neck_r[::-1] - e], np.r_[neck_y, neck_y[::-1]], closed=True))
    if rng.random() < 0.3:
        ya, yb = hb * _u(rng, 0.6, 0.85), hb + (h - hb) * _u(rng, 0.3, 0.8)
        ra = np.interp(ya / hb, s, rad)
        rb = np.interp((yb - hb) / (h - hb), s2, neck_r)
        out = max(ra, rb) + r * _u(rng, 0.2, 0.5)
        path = _densify(np.array([[ra * 0.95, ya, 0], [out, (ya + yb) / 2, 0], [rb * 0.95, yb, 0]]), 4)
        handle = _tube(path, r * _u(rng, 0.04, 0.08))
        o.add("handle", handle, _mirror_x(handle))


def _car(o: _Object, rng: np.random.Generator) -> None:
    length = _u(rng, 3.4, 5.2)
    w = length * _u(rng, 0.36, 0.46)
    rw = length * _u(rng, 0.065, 0.095)
    c = rw * _u(rng, 0.45, 0.8)
    hb = length * _u(rng, 0.08, 0.15)
    kind = rng.choice(["sedan", "hatch", "van", "pickup"], p=[0.45, 0.2, 0.15, 0.2])
    to_side = np.array([[0, 0, 1.0], [0, 1.0, 0], [1.0, 0, 0]])  # polygon (z, y), depth along x
    hood = length * _u(rng, 0.03, 0.1)
    profile = np.array([[-length / 2, c], [length / 2, c], [length / 2, c + hb * _u(rng, 0.5, 0.8)],
                        [length / 2 - hood, c + hb], [-length / 2 + length * _u(rng, 0.02, 0.08), c + hb],
                        [-length / 2, c + hb * _u(rng, 0.6, 0.9)]])
    o.add("body", _xf(_extrude(profile, w), to_side))
    lc = length * {"sedan": _u(rng, 0.4, 0.55), "hatch": _u(rng, 0.45, 0.6), "van": _u(rng, 0.7, 0.85),
                   "pickup": _u(rng, 0.25, 0.35)}[kind]
    zc = {"sedan": _u(rng, -0.12, 0.02), "hatch": _u(rng, -0.25, -0.12), "van": _u(rng, -0.1, 0.0),
          "pickup": _u(rng, 0.0, 0.15)}[kind] * length
    hc = hb * _u(rng, 0.6, 1.1)
    front, rear = lc * _u(rng, 0.1, 0.35), lc * (_u(rng, 0.02, 0.1) if kind in ("hatch", "van") else _u(rng, 0.1, 0.3))
    cabin = np.array([[-lc / 2, 0], [lc / 2, 0], [lc / 2 - front, hc], [-lc / 2 + rear, hc]])
    o.add("cabin", _xf(_extrude(cabin, w * _u(rng, 0.8, 0.95)), to_side, (0, c + hb * 0.98, zc)))
    if kind == "pickup":  # bed walls behind the cabin
        zb0, zb1 = -length / 2 + 0.05, zc - lc / 2 - 0.05
        wh = hb * _u(rng, 0.3, 0.5)
        for sx in (-1, 1):
            o.add("body", _box((0.05, wh, zb1 - zb0), (sx * (w / 2 - 0.025), c + hb + wh / 2, (zb0 + zb1) / 2)))
        o.add("body", _box((w, wh, 0.05), (0, c + hb + wh / 2, zb0 + 0.025)))
    if rng.random() < 0.15 and kind != "pickup":
        o.add("body", _box((w * 0.9, 0.03, length * 0.08), (0, c + hb + hc * 0.5, -length / 2 + length * 0.05)))
    axles = [length / 2 - length * _u(rng, 0.13, 0.22), -length / 2 + length * _u(rng, 0.13, 0.22)]
    if kind in ("van", "pickup") and rng.random() < 0.3:
        axles.append(axles[1] + 2.3 * rw)
    tr = rw * _u(rng, 0.25, 0.4)
    tw = tr * _u(rng, 1.2, 2.0)
    for z in axles:
        for sx in (-1, 1):
            x = sx * (w / 2 - tw * _u(rng, 0.2, 0.6))
            o.add("wheel", _torus(rw - tr, tr, (x, rw, z), axis=(1, 0, 0), sections=20),
                  _strut((x - tw / 2, rw, z), (x + tw / 2, rw, z), rw - tr * 0.9))


def _guitar(o: _Object, rng: np.random.Generator) -> None:
    rl = _u(rng, 0.3, 0.45)
    ru = rl * _u(rng, 0.6, 0.85)
    dist = (rl + ru) * _u(rng, 0.7, 0.95)
    y0 = (dist - ru + rl) / 2  # inside both circles: the outline is star-shaped about (0, y0)
    theta = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    dirs = np.column_stack([np.cos(theta), np.sin(theta)])

    def exit_dist(cy: float, rad: float) -> np.ndarray:
        b = dirs[:, 1] * (y0 - cy)
        return -b + np.sqrt(b**2 - ((y0 - cy) ** 2 - rad**2))

    dist_out = np.maximum(exit_dist(0.0, rl), exit_dist(dist, ru))
    electric = rng.random() < 0.35
    if electric:
        dist_out *= 1 + _u(rng, 0.05, 0.15) * np.sin(2 * theta + _u(rng, 0, 2 * np.pi)) + \
            _u(rng, 0.0, 0.1) * np.sin(3 * theta + _u(rng, 0, 2 * np.pi))
    outline = np.column_stack([dist_out * dirs[:, 0], y0 + dist_out * dirs[:, 1]])
    tb = rl * (_u(rng, 0.12, 0.2) if electric else _u(rng, 0.3, 0.5))
    o.add("body", _extrude(outline, tb, center=(0, y0)))
    if rng.random() < 0.6:  # bridge
        o.add("body", _box((rl * 0.5, rl * 0.08, tb * 0.15), (0, rl * _u(rng, -0.45, -0.2), tb / 2)))
    wn = rl * _u(rng, 0.18, 0.3)
    tn = wn * _u(rng, 0.5, 0.8)
    y_neck0 = float(outline[:, 1].max()) - ru * 0.3
    ln = float(np.ptp(outline[:, 1])) * _u(rng, 0.6, 0.95)
    zn = tb / 2 - tn / 2 + tn * 0.3
    o.add("neck", _box((wn, ln, tn), (0, y_neck0 + ln / 2, zn)))
    lh = wn * _u(rng, 2.0, 3.5)
    wh = wn * _u(rng, 1.1, 2.0)
    tilt = _rot((1, 0, 0), -_u(rng, 0.0, 0.3))
    head = np.array([[-wn / 2, 0], [wn / 2, 0], [wh / 2, lh * _u(rng, 0.6, 1.0)], [wh / 2 * _u(rng, 0.3, 1.0), lh],
                     [-wh / 2, lh]])
    o.add("head", _xf(_extrude(head, tn * 0.8, center=(0, lh / 2)), tilt, (0, y_neck0 + ln - 0.01, zn)))


_BUILDERS: dict[str, Callable[[_Object, np.random.Generator], None]] = {
    "airplane": _airplane,
    "bed": _bed,
    "bench": _bench,
    "bookshelf": _bookshelf,
    "bottle": _bottle,
    "car": _car,
    "chair": _chair,
    "guitar": _guitar,
    "lamp": _lamp,
    "mug": _mug,
    "rocket": _rocket,
    "sofa": _sofa,
    "stool": _stool,
    "table": _table,
    "vase": _vase,
}
