"""The GPU check as one command: ``bash bench/gpu.sh`` (this script) on a machine with one GPU.

Meant for a lent machine with CUDA torch, numpy, h5py, PyYAML and nothing else of the pipeline (no DVC,
dvclive, Snakemake, trimesh, pyrender or ruamel.yaml; no network). In about 5-8 minutes on one H100 it:

1. times the pretraining step at the paper's shape (``bench/pretrain.py``, preset ``paper``: DGCNN k 15 on
   2,048 points + ResNet-50 at 224 px, batch 20) in fp32 and bf16, each with the stage's own numerics
   (deterministic algorithms, TF32 off) and with torch's fast defaults (TF32, cuDNN autotuning);
2. runs the real ``crosspoint pretrain`` stage at the paper preset's config for two epochs on stores it
   writes in the real layouts (a few hundred objects, 24 views at the 3D-R2N2 renders' 137 px, 2,048
   points), killed after epoch 1 by ``--stop-after 1`` and resumed, and once uninterrupted: the two
   runs' checkpoints must be the same bytes;
3. times part-segmentation fine-tuning steps at the paper's sizes (DGCNN part-seg model, k 40, 2,048
   points, 16 categories, 50 parts, batch 8, SGD) with the stage's own ``train_epoch``;

and writes ``results/bench/gpu.json`` naming the device (and a copy under ``$OUT`` when that is set).
``--tiny`` runs the same steps at toy sizes on whatever device there is (the CPU test in
``tests/test_gpu_check.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

# Sizes of each part: the paper's, and toy ones for the CPU test.
SIZES = {
    "paper": {"bench_steps": 10, "bench_warmup": 3, "objects": 320, "views": 24, "image_size": 137,
              "store_points": 2048, "classes": 13, "seg_shapes": 96, "seg_points": 2048, "seg_k": 40,
              "seg_batch": 8, "workers": 8},
    "tiny": {"bench_steps": 1, "bench_warmup": 1, "objects": 24, "views": 2, "image_size": 32,
             "store_points": 256, "classes": 3, "seg_shapes": 8, "seg_points": 64, "seg_k": 8,
             "seg_batch": 4, "workers": 0},
}
# The tiny variant of the pretraining model (the paper's is presets/paper.yaml's pretrain.cls).
TINY_VARIANT = {"point_model": "dgcnn", "k": 8, "emb_dims": 64, "points": 128, "image_model": "resnet18",
                "image_size": 32, "batch_size": 8}
SEG_CATEGORIES, SEG_PARTS = 16, 50


def log(msg: str) -> None:
    print(f"[gpu check] {msg}", file=sys.stderr, flush=True)


def environment() -> dict[str, Any]:
    import torch

    cuda = torch.cuda.is_available()
    return {
        "device": torch.cuda.get_device_name(0) if cuda else f"CPU ({platform.processor() or platform.machine()})",
        "cuda": torch.version.cuda if cuda else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "gpu_memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1) if cuda else None,
    }


# ---------------------------------------------------------------------------------------------
# 1. The step at the paper's shape


def step_bench(sizes: dict[str, Any], tiny: bool, work: Path) -> dict[str, Any]:
    import torch

    cuda = torch.cuda.is_available()
    out = work / "pretrain_bench.json"
    cmd = [sys.executable, str(ROOT / "bench" / "pretrain.py"), "--presets", "tiny" if tiny else "paper",
           "--impls", "stage", "--precisions", "fp32,bf16" if cuda else "fp32",
           "--numerics", "stage,fast" if cuda else "stage",
           "--steps", str(sizes["bench_steps"]), "--warmup", str(sizes["bench_warmup"]), "--out", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"bench/pretrain.py failed:\n{proc.stderr[-3000:]}")
    result = json.loads(out.read_text())
    result["wall_seconds"] = round(time.perf_counter() - t0, 1)
    return result


# ---------------------------------------------------------------------------------------------
# 2. The real stage on stores in the real layouts


def write_stores(folder: Path, sizes: dict[str, Any], seed: int = 0) -> None:
    """``data/points/gpucheck.h5`` (train objects of ``classes`` classes: noisy class-shaped clouds) and
    ``data/views/gpucheck.h5`` (their views: shaded discs on white, one per view) under ``folder``."""
    from crosspoint.rendering.views import ViewStoreWriter
    from crosspoint.store import DatasetMeta, PointSet, write_point_store

    rng = np.random.default_rng(seed)
    n, views, size, points, classes = (sizes[k] for k in ("objects", "views", "image_size", "store_points", "classes"))
    labels = np.arange(n) % classes
    ids = [f"gpucheck/{i:05d}" for i in range(n)]
    meta = DatasetMeta(source="gpu_check", class_names=[f"class{c}" for c in range(classes)])
    # class c: an ellipsoid with axes from the class, jittered per object
    axes = 0.4 + 0.6 * rng.random((classes, 3))
    cloud = rng.normal(size=(n, points, 3)).astype(np.float32)
    cloud /= np.linalg.norm(cloud, axis=-1, keepdims=True)
    cloud *= (axes[labels] * (1 + 0.05 * rng.normal(size=(n, 3))))[:, None, :].astype(np.float32)
    (folder / "data" / "points").mkdir(parents=True)
    write_point_store(folder / "data" / "points" / "gpucheck.h5", PointSet(cloud, labels, ["train"] * n, ids, meta))

    (folder / "data" / "views").mkdir(parents=True)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    poses = np.tile(np.eye(4, dtype=np.float32), (views, 1, 1))
    with h5py.File(folder / "data" / "views" / "gpucheck.h5", "w") as h5:
        writer = ViewStoreWriter(h5, views, size, 1)
        for i in range(n):
            img = np.full((views, size, size, 3), 255, dtype=np.uint8)
            for v in range(views):
                cx, cy = 0.5 + 0.1 * np.cos(v), 0.5 + 0.1 * np.sin(v)
                rx, ry = 0.15 + 0.2 * axes[labels[i], :2]
                inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
                img[v][inside] = (60 + 150 * axes[labels[i]]).astype(np.uint8)
            writer.append(img, poses, int(labels[i]), "train", ids[i])
        writer.finish(meta, image_size=size, views=views)


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def stage_params(sizes: dict[str, Any], tiny: bool) -> dict[str, Any]:
    """params.yaml with presets/paper.yaml on top (as ``crosspoint preset paper`` gives), pretraining the
    check's stores for two epochs, validated every epoch."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params = deep_merge(params, yaml.safe_load((ROOT / "presets" / "paper.yaml").read_text()))
    pre = params["pretrain"]
    pre.update(datasets=["gpucheck"], seeds=[0], val_every=1, val_fraction=0.1, workers=sizes["workers"])
    pre["cls"] = dict(TINY_VARIANT) if tiny else dict(pre["cls"])
    pre["cls"]["epochs"] = 2
    pre["cls"]["snapshots"] = []  # the preset's snapshot epochs lie beyond these two
    return params


def run_stage(work: Path, args: list[str]) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "crosspoint", "pretrain", "--variant", "cls", "--seed", "0", *args],
                          cwd=work, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"crosspoint pretrain {' '.join(args)} failed:\n{proc.stderr[-4000:]}")
    return time.perf_counter() - t0, proc.stderr


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def stage_run(sizes: dict[str, Any], tiny: bool, work: Path) -> dict[str, Any]:
    resumed, straight = work / "resumed", work / "straight"
    resumed.mkdir()
    t0 = time.perf_counter()
    write_stores(resumed, sizes)
    write_s = time.perf_counter() - t0
    (resumed / "params.yaml").write_text(yaml.safe_dump(stage_params(sizes, tiny), sort_keys=False))
    shutil.copytree(resumed, straight)
    first_s, first_log = run_stage(resumed, ["--stop-after", "1"])
    second_s, second_log = run_stage(resumed, [])
    straight_s, straight_log = run_stage(straight, [])
    ckpt = Path("models/pretrain_cls/seed-0")
    same = {name: md5(resumed / ckpt / name) == md5(straight / ckpt / name) for name in ("best.pt", "last.pt")}
    live = Path("results/pretrain_cls/seed-0/metrics.json")
    rates = [float(r) for r in re.findall(r"([0-9.]+) objects/s", straight_log)]
    metrics = json.loads((straight / live).read_text())
    return {
        "objects": sizes["objects"], "views": sizes["views"], "image_size": sizes["image_size"],
        "config": stage_params(sizes, tiny)["pretrain"]["cls"],
        "store_write_seconds": round(write_s, 1),
        "epoch1_then_stop_seconds": round(first_s, 1),
        "resume_to_epoch2_seconds": round(second_s, 1),
        "uninterrupted_2_epochs_seconds": round(straight_s, 1),
        "objects_per_s_per_epoch": rates,
        "resumed_as_uninterrupted": same,
        "resume_logged": "resuming from" in second_log,
        "live_metrics_same": (resumed / live).read_bytes() == (straight / live).read_bytes(),
        "val_accuracy": metrics.get("val", {}),
        "first_run_log_tail": first_log.strip().splitlines()[-3:],
    }


# ---------------------------------------------------------------------------------------------
# 3. Part-segmentation steps at the paper's sizes


def partseg_steps(sizes: dict[str, Any]) -> dict[str, Any]:
    import torch

    from crosspoint import numerics
    from crosspoint.evaluate.partseg import Params
    from crosspoint.evaluate.segmentation import SegData, train_epoch
    from crosspoint.models.dgcnn import PartSegModel
    from crosspoint.training.distributed import select_device
    from crosspoint.training.measure import peak_memory_bytes, reset_peak_memory, synchronize

    device = select_device()
    numerics.configure_torch(device)
    rng = np.random.default_rng(0)
    n, p = sizes["seg_shapes"], sizes["seg_points"]
    pts = rng.normal(size=(n, p, 3)).astype(np.float32)
    pts /= np.linalg.norm(pts, axis=-1, keepdims=True)
    cats = np.arange(n) % SEG_CATEGORIES
    parts = (cats[:, None] * 3 + (pts[..., 2] > 0) + (pts[..., 0] > 0)).astype(np.int64) % SEG_PARTS
    data = SegData(pts, parts, cats.astype(np.int64))
    prm = Params(points=p, k=sizes["seg_k"], batch_size=sizes["seg_batch"], augment=False)
    torch.manual_seed(0)
    model = PartSegModel(SEG_CATEGORIES, SEG_PARTS, k=prm.k, emb_dims=1024, dropout=prm.dropout).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=prm.lr, momentum=prm.momentum, weight_decay=prm.weight_decay)
    train_epoch(model, data.take(np.arange(min(n, 2 * prm.batch_size))), SEG_CATEGORIES, opt, prm,
                np.random.default_rng(1), device)  # warm-up
    synchronize(device)
    reset_peak_memory(device)
    t0 = time.perf_counter()
    loss, acc = train_epoch(model, data, SEG_CATEGORIES, opt, prm, np.random.default_rng(2), device)
    synchronize(device)
    seconds = time.perf_counter() - t0
    return {"shapes": n, "points": p, "k": prm.k, "batch_size": prm.batch_size, "steps": n // prm.batch_size,
            "seconds": round(seconds, 3), "shapes_per_s": round(n / seconds, 1), "loss": round(loss, 4),
            "peak_memory_bytes": peak_memory_bytes(device),
            "numerics": "stage (deterministic algorithms, TF32 off)"}


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="toy sizes (the CPU test)")
    parser.add_argument("--out", default=str(ROOT / "results" / "bench" / "gpu.json"))
    parser.add_argument("--parts", default="bench,stage,partseg", help="comma-separated: bench, stage, partseg")
    args = parser.parse_args(argv)
    sizes = SIZES["tiny" if args.tiny else "paper"]
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    t_all = time.perf_counter()
    result: dict[str, Any] = {"environment": environment(), "sizes": "tiny" if args.tiny else "paper"}
    log(f"device: {result['environment']['device']}")
    with tempfile.TemporaryDirectory(prefix="gpucheck-") as tmp:
        work = Path(tmp)
        for part, fn in (("bench", lambda: step_bench(sizes, args.tiny, work)),
                         ("stage", lambda: stage_run(sizes, args.tiny, work)),
                         ("partseg", lambda: partseg_steps(sizes))):
            if part not in parts:
                continue
            log(f"{part} ...")
            t0 = time.perf_counter()
            try:
                result[part] = fn()
            except Exception as err:  # one failing part must not lose the others' numbers
                result[part] = {"error": f"{type(err).__name__}: {err}"[-3000:]}
            log(f"{part}: {time.perf_counter() - t0:.0f} s")
    result["wall_seconds"] = round(time.perf_counter() - t_all, 1)
    text = json.dumps(result, indent=2) + "\n"
    dest = Path(args.out)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp_dest = dest.with_name(f".{dest.name}.partial")
    tmp_dest.write_text(text)
    tmp_dest.replace(dest)
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], dest.name).write_text(text)
    print(text)
    return 1 if any(isinstance(v, dict) and "error" in v for v in result.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
