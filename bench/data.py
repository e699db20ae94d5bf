"""Data-stage throughput: rendering (views/s), surface sampling (objects/s) and scanning (objects/s).

    python bench/data.py [--objects N] [--out results/bench/data.json]

The objects are synthetic-like meshes built here from trimesh primitives (3 to 6 coloured parts
each: boxes, cylinders, cones, spheres, capsules), about the size of the synthetic dataset's
meshes, so the numbers do not depend on any prepared data. The JSON records the machine (CPU
model, cores, load, OpenGL renderer, library versions, date) next to the timings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import trimesh

from crosspoint.rendering.backend import import_pyrender
from crosspoint.rendering.camera import camera_poses
from crosspoint.rendering.renderer import Renderer
from crosspoint.store import Mesh

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.host import cpu_model, package_version  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Objects


def _primitive(kind: str, size: np.ndarray) -> trimesh.Trimesh:
    if kind == "box":
        return trimesh.creation.box(extents=size)
    if kind == "cylinder":
        return trimesh.creation.cylinder(radius=size[0] / 2, height=size[1], sections=48)
    if kind == "cone":
        return trimesh.creation.cone(radius=size[0] / 2, height=size[1], sections=48)
    if kind == "capsule":
        return trimesh.creation.capsule(height=size[1], radius=size[0] / 4, count=[24, 24])
    return trimesh.creation.icosphere(subdivisions=3, radius=size[0] / 2)


def make_objects(n: int, seed: int = 0) -> list[Mesh]:
    """``n`` random multi-part meshes normalised to the unit sphere, one colour per part."""
    rng = np.random.default_rng(seed)
    kinds = ["box", "cylinder", "cone", "capsule", "sphere"]
    objects = []
    for i in range(n):
        parts, colours, labels = [], [], []
        for p in range(int(rng.integers(3, 7))):
            part = _primitive(kinds[int(rng.integers(len(kinds)))], rng.uniform(0.15, 1.0, size=3))
            angle = rng.uniform(0, np.pi)
            part.apply_transform(trimesh.transformations.rotation_matrix(angle, rng.normal(size=3)))
            part.apply_translation(rng.uniform(-0.5, 0.5, size=3))
            parts.append(part)
            colours.append(np.tile(rng.integers(30, 230, size=3), (len(part.faces), 1)))
            labels.append(np.full(len(part.faces), p))
        whole = trimesh.util.concatenate(parts)
        v = np.asarray(whole.vertices)
        v = v - (v.min(axis=0) + v.max(axis=0)) / 2
        v = v / np.linalg.norm(v, axis=1).max()
        objects.append(Mesh(
            object_id=f"bench_{i:04d}", label=i % 5, split="train",
            vertices=v.astype(np.float32), faces=np.asarray(whole.faces, np.int32),
            face_parts=np.concatenate(labels).astype(np.int16),
            face_colors=np.concatenate(colours).astype(np.uint8),
        ))
    return objects


# ---------------------------------------------------------------------------------------------
# Timings


def timed(fn: Callable[[], object], repeats: int = 1) -> float:
    """Best wall time of ``repeats`` runs of ``fn`` (the machine is shared: the best is the least noisy)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_render(objects: list[Mesh], size: int, views: int, repeats: int) -> dict:
    from crosspoint.rendering.views import Params

    p = Params()
    with Renderer(size, p.yfov_deg, p.light_intensity, p.ambient, p.background) as r:
        r.render_color(objects[0], camera_poses(1, p.elevation_deg, p.distance, p.camera,
                                                          np.random.default_rng(0)))  # warm-up (shaders)
        poses = [camera_poses(views, p.elevation_deg, p.distance, p.camera, np.random.default_rng(i))
                 for i in range(len(objects))]
        seconds = timed(lambda: [r.render_color(m, q) for m, q in zip(objects, poses, strict=True)], repeats)
        gl = r.gl_renderer()
    n_views = views * len(objects)
    return {"image_size": size, "views_per_object": views, "objects": len(objects), "seconds": round(seconds, 3),
            "views_per_s": round(n_views / seconds, 1), "objects_per_s": round(len(objects) / seconds, 2),
            "gl_renderer": gl}


def bench_sample(objects: list[Mesh], points: int, repeats: int) -> dict:
    try:
        from crosspoint.points.sampling import sample_surface
    except ImportError as err:
        return {"skipped": f"crosspoint.points.sampling.sample_surface is not importable ({err})"}
    seconds = timed(lambda: [sample_surface(m, points, np.random.default_rng(i)) for i, m in enumerate(objects)],
                    repeats)
    return {"points": points, "objects": len(objects), "seconds": round(seconds, 3),
            "objects_per_s": round(len(objects) / seconds, 1)}


def bench_scan(objects: list[Mesh], repeats: int) -> dict:
    from crosspoint.points.scans import Params, Scanner

    p = Params()
    with Scanner(p, objects) as scanner:
        scanner.scan(0, np.random.default_rng(0))  # warm-up

        def run() -> None:
            for i in range(len(objects)):
                rng = np.random.default_rng(i)
                scanner.finish(scanner.scan(i, rng), rng)

        seconds = timed(run, repeats)
    return {"image_size": p.image_size, "points": p.points, "neighbours": p.neighbours, "objects": len(objects),
            "seconds": round(seconds, 3), "objects_per_s": round(len(objects) / seconds, 1)}


# ---------------------------------------------------------------------------------------------
# Machine


def machine() -> dict:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu_model(),
        "cores_available": cores,
        "cpu_count": os.cpu_count(),
        "load_average_1m_at_start": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {name: package_version(name) for name in ("numpy", "torch", "pyrender", "PyOpenGL", "trimesh", "h5py")},
        "pyopengl_platform": os.environ.get("PYOPENGL_PLATFORM"),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=40, help="synthetic-like objects to time (default 40)")
    parser.add_argument("--views", type=int, default=6, help="views per object when rendering (default 6)")
    parser.add_argument("--points", type=int, default=2048, help="points per sampled cloud (default 2048)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per measurement, the best is kept")
    parser.add_argument("--out", default="results/bench/data.json")
    args = parser.parse_args(argv)

    from crosspoint.rendering.views import Params as RenderParams

    sizes = sorted({224, 128, RenderParams().image_size}, reverse=True)  # paper, mid, the default run's
    import_pyrender()  # choose the GL platform before anything imports OpenGL
    info = machine()
    objects = make_objects(args.objects)
    faces = np.array([len(m.faces) for m in objects])
    result = {
        "machine": info,
        "objects": {"count": len(objects), "faces_median": int(np.median(faces)), "faces_max": int(faces.max())},
        "render": [bench_render(objects, size, args.views, args.repeats) for size in sizes],
        "sample": bench_sample(objects, args.points, args.repeats),
        "scan": bench_scan(objects, args.repeats),
        "note": "best of --repeats runs on a machine that may be shared; see load_average_1m_at_start",
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(out)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
