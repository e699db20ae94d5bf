"""``crosspoint scan --dataset NAME``: partial, noisy, cluttered scans of a mesh store (a ScanObjectNN
OBJ_BG stand-in).

ScanObjectNN's OBJ_BG variant crops real RGB-D reconstructions to an object's bounding box, so
each cloud is partial (only the scanned side), noisy, carries background (the floor and pieces
of the furniture standing next to it), and keeps the object's heading in the room: real scans are
not turned to a canonical front. This stage imitates that for every object of
``paths.prepared(NAME)``, ``scan.datasets[NAME]`` times (independent viewpoints, headings, clutter):

1. place the object on a floor patch (a large quad at its lowest point) and put ``neighbours``
   other objects of the store beside it (random turn about y, random scale, standing on the floor,
   their nearest side a small ``neighbour_gap`` from the object, away from the camera's side);
2. render one depth map (with a per-pixel segment index) from a random viewpoint looking at the
   object, and back-project its pixels to world points;
3. add sensor noise: Gaussian along each viewing ray plus a small lateral jitter;
4. keep the points inside the object's bounding box grown by ``crop_margin`` (the OBJ_BG crop,
   which keeps the floor under the object and the parts of neighbours that reach into the box);
5. resample to ``points`` points, at most ``max_background`` of them background; with
   ``heading: random`` turn the cloud about the up axis by a random angle (the object's heading in
   the room); normalise to the unit sphere; keep the label and split.

Scan ``r`` of object ``i`` uses its own generator seeded with ``(scan.seed, i, r)``. A scan whose
visible part is too small (``min_object_points``) is rejected. The output is the point store
``paths.points(f"{NAME}_scan")`` (no part labels); with several scans per object the ids are
``<object id>#<r>``, all scans of an object stay in the object's split (no train/test leak).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from crosspoint import exact, paths
from crosspoint.progress import progress
from crosspoint.rendering.camera import backproject, look_at, spherical_to_xyz
from crosspoint.rendering.meshes import mesh_problem, open_mesh_store, read_skipped
from crosspoint.rendering.renderer import Renderer
from crosspoint.store import DatasetMeta, Mesh, PointSet, Rejects, StageError, write_point_store

log = logging.getLogger("crosspoint.points.scans")

# Segment codes of the returned points.
OBJECT, FLOOR, CLUTTER = 0, 1, 2


@dataclass(frozen=True)
class Params:
    """The ``scan`` section of params.yaml."""

    # mesh store -> scans per object; one scan stage per entry, writing points/<dataset>_scan
    datasets: dict[str, int] = field(default_factory=lambda: {"synth": 1, "capod": 4})
    heading: Literal["random", "canonical"] = "random"  # random: a random turn about the up axis per scan
    points: int = 2048  # points per scan after resampling
    image_size: int = 160  # depth map resolution (pixels); more pixels, denser scans
    yfov_deg: float = 45.0  # depth camera vertical field of view
    distance: tuple[float, float] = (2.6, 3.2)  # camera distance range from the object's centre
    elevation_deg: tuple[float, float] = (10.0, 50.0)  # camera elevation range (looking down at the floor)
    depth_noise: float = 0.01  # std of the Gaussian noise along the viewing ray (unit-sphere units)
    lateral_noise: float = 0.003  # std of the jitter across the ray
    floor: bool = True  # a floor patch under the object
    floor_size: float = 3.0  # half-width of the floor patch
    neighbours: int = 2  # other objects placed beside the object (clutter); 0 for none
    neighbour_scale: tuple[float, float] = (0.6, 1.0)  # their scale range
    neighbour_gap: tuple[float, float] = (-0.05, 0.12)  # distance from the object's extent to theirs
    crop_margin: float = 0.15  # the crop box is the object's bounding box grown by this on every side
    max_background: float = 0.3  # at most this fraction of a scan's points from the floor and neighbours
    min_object_points: int = 200  # reject an object seen in fewer depth pixels than this
    backend: Literal["egl", "osmesa"] = "egl"  # OpenGL platform (see crosspoint/rendering/backend.py)
    seed: int = 0

    def check(self) -> list[str]:
        problems = []
        if not self.datasets:
            problems.append("datasets must map at least one mesh store to its scans per object")
        if any(n < 1 for n in self.datasets.values()):
            problems.append("datasets: scans per object must be >= 1")
        if self.points < 1:
            problems.append("points must be >= 1")
        if not 16 <= self.image_size <= 2048:
            problems.append("image_size must be in [16, 2048]")
        if not 1.0 < self.yfov_deg < 170.0:
            problems.append("yfov_deg must be in (1, 170)")
        if not 0.0 < self.distance[0] <= self.distance[1]:
            problems.append("distance must be [near, far] with 0 < near <= far")
        lo, hi = self.elevation_deg
        if not -90.0 <= lo <= hi <= 90.0:
            problems.append("elevation_deg must be [low, high] with -90 <= low <= high <= 90")
        if self.depth_noise < 0 or self.lateral_noise < 0:
            problems.append("depth_noise and lateral_noise must be >= 0")
        if self.floor_size <= 0:
            problems.append("floor_size must be > 0")
        if self.neighbours < 0:
            problems.append("neighbours must be >= 0")
        if not 0.0 < self.neighbour_scale[0] <= self.neighbour_scale[1]:
            problems.append("neighbour_scale must be [low, high] with 0 < low <= high")
        if self.neighbour_gap[0] > self.neighbour_gap[1]:
            problems.append("neighbour_gap must be [low, high] with low <= high")
        if not 0.0 <= self.max_background < 1.0:
            problems.append("max_background must be in [0, 1)")
        if self.crop_margin < 0:
            problems.append("crop_margin must be >= 0")
        if self.min_object_points < 1:
            problems.append("min_object_points must be >= 1")
        return problems


@dataclass
class Scan:
    """One raw scan: world points inside the crop, and what each point hit (OBJECT/FLOOR/CLUTTER)."""

    points: np.ndarray  # float64 [M, 3]
    source: np.ndarray  # int8 [M]
    camera: np.ndarray  # camera-to-world pose [4, 4]


FLOOR_GAP = 2e-3  # unit-sphere units; far above the depth buffer's resolution at scan distances


def _floor_quad(y: float, half: float) -> tuple[np.ndarray, np.ndarray]:
    v = np.array([[-half, y, -half], [half, y, -half], [half, y, half], [-half, y, half]], dtype=np.float32)
    f = np.array([[0, 2, 1], [0, 3, 2]], dtype=np.int32)  # facing +y
    return v, f


class Scanner:
    """Makes scans of the objects of ``meshes`` (any indexable of :class:`Mesh`), reusing one renderer."""

    def __init__(self, params: Params, meshes: Sequence[Mesh]):
        self.params = params
        self.meshes = meshes
        self.renderer = Renderer(params.image_size, yfov_deg=params.yfov_deg, backend=params.backend)

    def close(self) -> None:
        self.renderer.close()

    def __enter__(self) -> Scanner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def scan(self, index: int, rng: np.random.Generator, candidates: Sequence[int] | None = None) -> Scan:
        """Scan object ``index``; neighbours are drawn from ``candidates`` (default: all other objects)."""
        p = self.params
        target = self.meshes[index]
        tv = np.asarray(target.vertices, dtype=np.float64)
        lo, hi = tv.min(axis=0), tv.max(axis=0)
        floor_y = float(lo[1])

        azimuth = rng.uniform(0.0, 2 * np.pi)
        elevation = np.arcsin(rng.uniform(*np.sin(np.deg2rad(p.elevation_deg))))
        centre = (lo + hi) / 2
        eye = centre + spherical_to_xyz(azimuth, elevation, rng.uniform(*p.distance))
        camera = look_at(eye, centre)

        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = [(target.vertices, target.faces, np.eye(4))]
        kinds = [OBJECT]
        if p.floor:
            # Just below the object: a floor coplanar with its bottom faces would leave depth ties,
            # which pyrender resolves in its (unordered) draw order, so scans would not be reproducible.
            fv, ff = _floor_quad(floor_y - FLOOR_GAP, p.floor_size)
            parts.append((fv, ff, np.eye(4)))
            kinds.append(FLOOR)
        pool = [c for c in (range(len(self.meshes)) if candidates is None else candidates) if c != index]
        n_nb = min(p.neighbours, len(pool))
        for j in rng.choice(len(pool), size=n_nb, replace=False) if n_nb else []:
            other = self.meshes[pool[int(j)]]
            # away from the camera's side, so neighbours clutter the box rather than hide the object
            direction_az = azimuth + rng.uniform(np.pi / 3, 5 * np.pi / 3)
            u = np.array([np.sin(direction_az), 0.0, np.cos(direction_az)])
            R = exact.rotation_y(rng.uniform(0.0, 2 * np.pi)) * rng.uniform(*p.neighbour_scale)
            ov = exact.transform(other.vertices, R)
            reach = float(exact.dot(tv, u).max()) + float(exact.dot(-ov, u).max()) + rng.uniform(*p.neighbour_gap)
            pose = np.eye(4)
            pose[:3, :3] = R
            pose[:3, 3] = u * reach
            pose[1, 3] = floor_y - ov[:, 1].min()
            parts.append((other.vertices, other.faces, pose))
            kinds.append(CLUTTER)

        depth, seg = self.renderer.render_depth_seg(parts, camera)
        world, pix = backproject(depth, camera, self.renderer.K)
        source = np.asarray(kinds, dtype=np.int8)[seg[pix[:, 0], pix[:, 1]]]

        if len(world):
            rays = world - eye
            rays /= exact.norm(rays)[:, None]
            world = world + rays * rng.normal(0.0, p.depth_noise, size=(len(world), 1))
            lateral = rng.normal(0.0, p.lateral_noise, size=world.shape)
            world = world + lateral - rays * np.sum(lateral * rays, axis=1, keepdims=True)

        box_lo, box_hi = lo - p.crop_margin, hi + p.crop_margin
        inside = np.all((world >= box_lo) & (world <= box_hi), axis=1)
        return Scan(points=world[inside], source=source[inside], camera=camera)

    def finish(self, scan: Scan, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Resample a scan to ``params.points`` (background capped at ``max_background``), turn it to a
        random heading (``heading: random``) and normalise it to the unit sphere; return the points
        [P, 3] and their segment codes [P]."""
        n = self.params.points
        obj = np.flatnonzero(scan.source == OBJECT)
        bg = np.flatnonzero(scan.source != OBJECT)
        n_bg = min(len(bg), int(self.params.max_background * n))
        idx = np.concatenate([_draw(obj, n - n_bg, rng), _draw(bg, n_bg, rng)])
        rng.shuffle(idx)
        pts = scan.points[idx]
        if self.params.heading == "random":
            pts = exact.transform(pts, exact.rotation_y(rng.uniform(0.0, 2 * np.pi)))
        pts = pts - (pts.min(axis=0) + pts.max(axis=0)) / 2
        pts = pts / max(float(exact.norm(pts).max()), 1e-9)
        return pts.astype(np.float32), scan.source[idx]


def _draw(pool: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` items of ``pool``: distinct when there are enough, otherwise all of them plus repeats."""
    if k <= len(pool):
        return rng.choice(pool, size=k, replace=False)
    return np.concatenate([pool, rng.choice(pool, size=k - len(pool), replace=True)])


def scan_id(object_id: str, r: int, scans_per_object: int) -> str:
    """The point-store id of scan ``r`` of an object: the object's id when it is scanned once."""
    return object_id if scans_per_object == 1 else f"{object_id}#{r}"


def scan_dataset(params: Params, dataset: str) -> int:
    """Scan every object of mesh store ``dataset`` ``params.datasets[dataset]`` times; write the point
    store and rejects; return the number of scans kept."""
    if dataset not in params.datasets:
        raise StageError(f"scan: {dataset!r} is not in scan.datasets ({', '.join(params.datasets)})")
    repeats = params.datasets[dataset]
    store = open_mesh_store(dataset)
    mesh_path = store.path
    skipped = read_skipped(mesh_path)
    name = f"{dataset}_scan"
    dest, rejects_dest = paths.points(name), paths.points_rejects(name)
    meta = DatasetMeta(source=store.meta.source, class_names=store.meta.class_names)
    rejects = Rejects("scan")
    extra = {"dataset": name, "variant": "obj_bg", "source_dataset": dataset, "scans_per_object": repeats,
             "heading": params.heading}
    if skipped:
        extra["skipped"] = skipped

    clouds: list[np.ndarray] = []
    kept: list[tuple[int, int]] = []  # (object index, scan number)
    valid: list[int] = []
    for i in range(len(store)):
        problem = mesh_problem(store[i])
        if problem:
            rejects.add(store.object_ids[i], problem)
        else:
            valid.append(i)
    if valid:
        with Scanner(params, store) as scanner:
            jobs = [(i, r) for i in valid for r in range(repeats)]
            for i, r in progress(jobs, desc=f"scan {dataset}", unit="scan"):
                rng = np.random.default_rng([params.seed, i, r])
                sid = scan_id(store.object_ids[i], r, repeats)
                try:
                    raw = scanner.scan(i, rng, candidates=valid)
                except Exception as err:  # noqa: BLE001 - one bad mesh must not stop the stage
                    rejects.add(sid, f"scan failed: {type(err).__name__}: {err}")
                    continue
                seen = int(np.sum(raw.source == OBJECT))
                if seen < params.min_object_points:
                    rejects.add(sid, f"object seen in only {seen} points (min_object_points)")
                    continue
                pts, _ = scanner.finish(raw, rng)
                clouds.append(pts)
                kept.append((i, r))

    ps = PointSet(
        points=np.stack(clouds) if clouds else np.zeros((0, params.points, 3), np.float32),
        labels=store.labels[[i for i, _ in kept]] if kept else np.zeros(0, np.int64),
        split=[store.split[i] for i, _ in kept],
        object_ids=[scan_id(store.object_ids[i], r, repeats) for i, r in kept],
        meta=meta,
    )
    write_point_store(dest, ps, **extra)
    if len(store) == 0:
        rejects.write(rejects_dest)
        log.info("scan: %s is empty%s; wrote an empty %s", mesh_path, f" (skipped: {skipped})" if skipped else "", dest)
        return 0
    rejects.finish(len(kept), rejects_dest)
    return len(kept)
