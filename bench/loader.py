"""Pretraining loader throughput: ``python bench/loader.py [--objects N] [--out results/bench/loader.json]``.

Times the pretraining input pipeline alone (``crosspoint.training.pretrain.PretrainData`` and the DataLoader
of ``_make_loader``: per object one random view read from the HDF5 view store, a random point
subset, collated into batches) in objects/s with 0, 1, 2 and N workers (N = CPU count). The stores
are written here to a temporary folder in the real layouts (``crosspoint.store``: view store via
``crosspoint.rendering.views.ViewStoreWriter``, one gzip chunk per view; point store via
``write_point_store``), with render-like images (white background, smoothly shaded blobs) at the
paper's 224 px and 24 views. Each rate is given twice: for a whole epoch, which pays the worker
start-up (the stage does not keep workers between epochs), and after the first batch (steady).
The file is in the page cache, so disk reads are not part of the numbers.

Also recorded: the view store's measured gzip ratio (and that of a rendered store, ``--rendered``,
when one exists), h5py's rate of reading one view per object with the store's chunking (one view
per chunk) and with a copy chunked one object per chunk (the layout before: the whole object is
inflated for one view), the growth of this process's resident memory
while it reads every object with 0 workers (the views are streamed, never loaded whole), and, for
comparison, the training step rate of the default and paper-shaped configs from
``bench/pretrain.py`` (a few steps, fp32). Writes ``results/bench/loader.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.data import machine  # noqa: E402
from crosspoint.store import DatasetMeta, PointSet, write_json, write_point_store  # noqa: E402

PAPER_OBJECTS = 43_783  # the paper's ShapeNet pretraining set (3D-R2N2 renders)


# ---------------------------------------------------------------------------------------------
# Synthetic stores in the real layouts


def render_like(rng: np.random.Generator, views: int, size: int) -> np.ndarray:
    """``[views, size, size, 3]`` uint8: 2-4 shaded ellipses on white, moved a little per view, so
    the gzip ratio is near that of flat-shaded renders (not of noise)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    out = np.full((views, size, size, 3), 255, dtype=np.uint8)
    blobs = [(rng.uniform(0.3, 0.7, 2), rng.uniform(0.08, 0.3, 2), rng.uniform(40, 220, 3))
             for _ in range(int(rng.integers(2, 5)))]
    for v in range(views):
        angle = 2 * np.pi * v / views
        shift = 0.08 * np.array([np.cos(angle), np.sin(angle)], dtype=np.float32)
        for centre, radii, colour in blobs:
            cx, cy = centre + shift
            d = ((xx - cx) / radii[0]) ** 2 + ((yy - cy) / radii[1]) ** 2
            inside = d <= 1.0
            shade = 0.55 + 0.45 * (1.0 - d[inside]) * (0.6 + 0.4 * np.cos(angle - xx[inside] * 3))
            out[v][inside] = np.clip(colour[None, :] * shade[:, None], 0, 255).astype(np.uint8)
    return out


def write_stores(folder: Path, objects: int, views: int, size: int, points: int, compression: int,
                 seed: int) -> tuple[Path, Path, dict[str, Any]]:
    """A view store and a point store of ``objects`` train objects; returns their paths and sizes."""
    from crosspoint.rendering.views import ViewStoreWriter

    rng = np.random.default_rng(seed)
    meta = DatasetMeta(source="bench", class_names=["a", "b"])
    ids = [f"bench/{i:05d}" for i in range(objects)]
    labels = np.arange(objects) % 2
    t0 = time.perf_counter()
    views_path = folder / "views.h5"
    with h5py.File(views_path, "w") as h5:
        writer = ViewStoreWriter(h5, views, size, compression)
        poses = np.tile(np.eye(4, dtype=np.float32), (views, 1, 1))
        for i in range(objects):
            writer.append(render_like(rng, views, size), poses, int(labels[i]), "train", ids[i])
        writer.finish(meta, image_size=size, views=views)
    write_s = time.perf_counter() - t0
    with h5py.File(views_path, "r") as h5:
        images = h5["images"]
        raw, stored = images.size, images.id.get_storage_size()
    cloud = rng.normal(size=(objects, points, 3)).astype(np.float32)
    cloud /= np.linalg.norm(cloud, axis=-1, keepdims=True)
    points_path = folder / "points.h5"
    write_point_store(points_path, PointSet(cloud, labels, ["train"] * objects, ids, meta))
    return views_path, points_path, {
        "objects": objects, "views": views, "image_size": size, "points": points, "gzip_level": compression,
        "images_raw_bytes": int(raw), "images_stored_bytes": int(stored),
        "gzip_ratio": round(raw / stored, 2), "view_store_file_bytes": views_path.stat().st_size,
        "point_store_file_bytes": points_path.stat().st_size, "write_seconds": round(write_s, 2),
    }


# ---------------------------------------------------------------------------------------------
# Timing the loader


def rss_bytes() -> int:
    """This process's current resident set size (Linux /proc; 0 where unknown)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def data_size(data) -> int:
    with h5py.File(data.views_paths[0], "r") as h5:
        return int(h5["images"].shape[2])


def time_loader(data, workers: int, batch: int, seed: int) -> dict[str, Any]:
    """One epoch of the stage's DataLoader with ``workers`` workers."""
    import torch

    from crosspoint.training.distributed import DistInfo
    from crosspoint.training.params import Params
    from crosspoint.training.pretrain import _make_loader

    prm = Params(workers=workers)
    gen = torch.Generator().manual_seed(seed)
    loader, sampler = _make_loader(data, batch, prm, DistInfo(), torch.device("cpu"), gen, seed)
    sampler.set_epoch(1)
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    first = None
    seen = 0
    for clouds, images in loader:
        seen += clouds.shape[0]
        if first is None:
            first = time.perf_counter()
            first_seen = seen
            if images.dtype != torch.uint8 or images.shape[1:] != (data_size(data),) * 2 + (3,):
                raise SystemExit(f"bench loader: unexpected batch of views {tuple(images.shape)} {images.dtype}")
    end = time.perf_counter()
    steady = (seen - first_seen) / max(end - first, 1e-9)
    return {
        "workers": workers, "batch_size": batch, "objects": seen,
        "epoch_seconds": round(end - t0, 3), "first_batch_seconds": round(first - t0, 3),
        "objects_per_s_epoch": round(seen / (end - t0), 1), "objects_per_s_steady": round(steady, 1),
        "main_process_rss_growth_bytes": rss_bytes() - rss0,
    }


def chunking_comparison(views_path: Path, folder: Path, objects: int, seed: int) -> dict[str, Any]:
    """Reads of one random view per object, straight from h5py, with the store's chunks (one view
    per chunk) and with a copy chunked one object per chunk (same gzip level): views/s and bytes."""
    rng = np.random.default_rng(seed)
    copy = folder / "views_per_object_chunks.h5"
    with h5py.File(views_path, "r") as src, h5py.File(copy, "w") as dst:
        images = src["images"]
        n = min(objects, images.shape[0])
        dst.create_dataset("images", data=images[:n], chunks=(1, *images.shape[1:]),
                           compression="gzip", compression_opts=images.compression_opts)
    picks = [(i, int(rng.integers(images.shape[1]))) for i in range(n)]
    out = {}
    for name, path in (("view_chunks", views_path), ("object_chunks", copy)):
        with h5py.File(path, "r") as h5:
            images = h5["images"]
            t0 = time.perf_counter()
            for i, v in picks:
                images[i, v]
            elapsed = time.perf_counter() - t0
            stored = images.id.get_storage_size() * n / images.shape[0]
        out[name] = {"views_per_s": round(n / elapsed, 1), "stored_bytes_per_object": int(stored / n)}
    return out


def train_step_rates(steps: int) -> dict[str, Any]:
    """``bench/pretrain.py`` for the stage's step at the default and paper shapes (fp32)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pretrain.json"
        cmd = [sys.executable, str(ROOT / "bench" / "pretrain.py"), "--presets", "default,paper", "--impls", "stage",
               "--precisions", "fp32", "--steps", str(steps), "--warmup", "1", "--out", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
        result = json.loads(out.read_text())
    rows = {}
    for preset, row in result["presets"].items():
        stage = row.get("stage", {})
        rows[preset] = {"config": row["config"], "objects_per_s": stage.get("objects_per_s"),
                        "seconds_per_step": round(stage["seconds"] / stage["steps"], 3) if "seconds" in stage else None,
                        "error": stage.get("error")}
    return {"device": result["device"], "steps": steps, "presets": rows}


def paper_sizes(ratio: float, points: int = 2048) -> dict[str, Any]:
    """Store sizes of the paper's set (24 views) at 137 px (R2N2) and 224 px, compressed with ``ratio``."""
    gib = 2**30
    out = {}
    for size in (137, 224):
        raw = PAPER_OBJECTS * 24 * size * size * 3
        out[f"views_{size}px"] = {"raw_gib": round(raw / gib, 1), "gzip_estimate_gib": round(raw / ratio / gib, 1),
                                  "chunk_mib": round(24 * size * size * 3 / 2**20, 2)}
    out["points"] = {"shape": [PAPER_OBJECTS, points, 3], "float32_gib": round(PAPER_OBJECTS * points * 12 / gib, 2)}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=160, help="objects in the synthetic stores (default 160)")
    parser.add_argument("--views", type=int, default=24)
    parser.add_argument("--size", type=int, default=224, help="image side in pixels (default 224)")
    parser.add_argument("--points", type=int, default=2048, help="stored points per object (default 2048)")
    parser.add_argument("--batch", type=int, default=20, help="batch size (default 20, the paper's)")
    parser.add_argument("--train-steps", type=int, default=1, help="timed train steps per preset; 0 = skip")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rendered", default=str(ROOT / "data/views/synth.h5"),
                        help="a rendered view store whose gzip ratio is recorded too, when it exists")
    parser.add_argument("--out", default=str(ROOT / "results/bench/loader.json"))
    args = parser.parse_args(argv)
    if args.objects < 2 * args.batch or args.batch < 2:
        parser.error("--objects must be at least twice --batch, and --batch at least 2")

    import torch

    from crosspoint.rendering.views import Params as RenderParams
    from crosspoint.store import read_point_store
    from crosspoint.training.data import PretrainData

    info = machine()
    cpus = os.cpu_count() or 1
    result: dict[str, Any] = {"machine": info}
    with tempfile.TemporaryDirectory(prefix="crosspoint-loader-") as tmp:
        print("bench loader: writing the stores ...", file=sys.stderr, flush=True)
        views_path, points_path, store = write_stores(Path(tmp), args.objects, args.views, args.size, args.points,
                                                      RenderParams().compression, args.seed)
        result["store"] = store
        points = read_point_store(points_path).points  # as the stage does: the whole point store in memory
        data = PretrainData(points, [views_path], np.arange(args.objects), np.zeros(args.objects, np.int64),
                            args.points, args.seed)
        rows = []
        for workers in sorted({0, 1, 2, cpus}):
            print(f"bench loader: {workers} worker(s) ...", file=sys.stderr, flush=True)
            rows.append(time_loader(data, workers, args.batch, args.seed))
            print(f"  {rows[-1]}", file=sys.stderr, flush=True)
        result["loader"] = rows
        print("bench loader: chunk layouts ...", file=sys.stderr, flush=True)
        result["chunking"] = chunking_comparison(views_path, Path(tmp), min(args.objects, 120), args.seed)
    result["streaming"] = {
        "views_read_per_item": "one view = one chunk (only that view is decompressed)",
        "h5_opened": "lazily, once per worker process (PretrainData._images)",
        "rss_growth_0_workers_bytes": rows[0]["main_process_rss_growth_bytes"],
        "images_raw_bytes": store["images_raw_bytes"],
    }
    rendered = Path(args.rendered)
    if rendered.exists():
        with h5py.File(rendered, "r") as h5:
            images = h5["images"]
            result["rendered_store"] = {"shape": list(images.shape), "gzip_level": images.compression_opts,
                                        "gzip_ratio": round(images.size / max(images.id.get_storage_size(), 1), 2)}
    result["paper_store_estimate"] = paper_sizes(store["gzip_ratio"], args.points)
    if args.train_steps > 0:
        print("bench loader: train step rates (bench/pretrain.py) ...", file=sys.stderr, flush=True)
        result["train_step"] = train_step_rates(args.train_steps)
    result["torch_threads"] = torch.get_num_threads()
    result["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    result["note"] = ("one run on a machine that may be shared (see the load averages); the stores are in the "
                      "page cache, so disk speed is not measured")
    write_json(args.out, result)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
