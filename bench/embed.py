"""``crosspoint embed`` against the features stage: ``python bench/embed.py [--objects N] [--files M]``.

In a temporary project folder: a synthetic dataset of N objects (``crosspoint/sources/synthetic``, 5
classes) is prepared, sampled and merged into a point store by the stages' own functions, with the
``sample`` and ``features`` sections of the repository's params.yaml and an encoder of the shape of
``pretrain.cls`` at its random init (the cost does not depend on the weights). Then, each timed alone
(wall seconds, encoder loading included, the faster of two runs):

* ``extract_shard``: the features stage on the whole store (one shard; it encodes with the pretrained
  and the random-init encoder, so two encoder passes);
* ``embed --store``: the same store, one encoder pass; its rows are checked equal to the stage's;
* ``embed`` of M of the meshes written as .obj files in a folder: read, normalised, sampled and encoded.

Writes ``results/bench/embed.json`` (machine, sizes, seconds and ms per object).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# isort: off
import crosspoint  # noqa: E402, F401  (first: pins the numerics before numpy and torch load)
import numpy as np  # noqa: E402
import yaml  # noqa: E402
# isort: on

from bench.data import machine  # noqa: E402
from crosspoint.store import write_json  # noqa: E402

CLASSES = ["airplane", "chair", "lamp", "mug", "table"]


def project(folder: Path, objects: int) -> dict[str, Any]:
    """params.yaml of the temporary project: the repository's sample and features sections, a synthetic
    dataset of ``objects`` objects, one shard each; returns the params."""
    repo = yaml.safe_load((ROOT / "params.yaml").read_text())
    params = {
        "datasets": {"synth": {"source": "synthetic", "classes": CLASSES,
                               "objects_per_class": max(1, objects // len(CLASSES)), "seed": 0}},
        "sample": {**repo["sample"], "datasets": ["synth"], "shards": [0]},
        "features": {**repo["features"], "datasets": ["synth"], "shards": [0], "device": "cpu",
                     "checkpoint": str(folder / "best.pt")},
    }
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    return params


def write_checkpoint(dest: Path) -> dict[str, Any]:
    """The pretrain.cls encoder of the repository's params at its random init, as a checkpoint."""
    import torch

    from crosspoint import config
    from crosspoint.models.encoders import model_config, random_point_encoder
    from crosspoint.training.params import Params

    cfg = model_config(config.section("pretrain", Params, path=ROOT / "params.yaml").cls, with_images=False)
    torch.save({"point_encoder": random_point_encoder(cfg, 0).state_dict(), "model": cfg, "epoch": 0,
                "params": {}}, dest)
    return cfg


REPEATS = 2  # each measurement is run this many times, the fastest kept (the first pays the warm-up)


def timed(fn, *args, **kwargs) -> tuple[float, Any]:
    """The fastest of :data:`REPEATS` calls, and the last call's result."""
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best, out


def run(objects: int, files: int) -> dict[str, Any]:
    """Build the project in a temporary folder and time the three; the result's JSON."""
    info = machine()
    here = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="bench-embed-") as tmp:
        os.chdir(tmp)
        try:
            return measure(Path(tmp), objects, files, info)
        finally:
            os.chdir(here)


def measure(folder: Path, objects: int, files: int, info: dict[str, Any]) -> dict[str, Any]:
    """The three timings in the project ``folder`` (the working directory)."""
    import h5py
    import trimesh

    from crosspoint import config, paths
    from crosspoint.evaluate.extraction import Params as FeaturesParams
    from crosspoint.evaluate.extraction import extract_shard
    from crosspoint.points.merge import merge_points
    from crosspoint.points.sampling import Params as SampleParams
    from crosspoint.points.sampling import sample_shard
    from crosspoint.sources.prepare import prepare
    from crosspoint.store import MeshStore
    from crosspoint.tools.embed import embed

    params = project(folder, objects)
    model = write_checkpoint(folder / "best.pt")
    smp = config.section("sample", SampleParams, path="params.yaml")
    feats = config.section("features", FeaturesParams, path="params.yaml")
    t_data = time.perf_counter()
    prepare("synth", "params.yaml")
    sample_shard("synth", smp, 0)
    merge_points("synth", smp)
    store = paths.points("synth")
    meshes = MeshStore(paths.prepared("synth"))
    (folder / "meshes").mkdir()
    for i in range(min(files, len(meshes))):
        m = meshes[i]
        trimesh.Trimesh(m.vertices, m.faces, process=False).export(folder / "meshes" / f"{m.object_id}.obj")
    n_files = min(files, len(meshes))
    faces = [len(meshes[i].faces) for i in range(n_files)]
    data_s = time.perf_counter() - t_data

    extract_s, _ = timed(extract_shard, "synth", feats, 0, 0)
    with h5py.File(paths.features_shard("synth", 0, 0), "r") as h5:
        rows = h5["pretrained"][()]
    store_s, got = timed(embed, [], folder / "best.pt", folder / "out/store.h5", store=store, device="cpu",
                         params="params.yaml")
    files_s, _ = timed(embed, [folder / "meshes"], folder / "best.pt", folder / "out/files.h5", device="cpu",
                       params="params.yaml")
    n = len(rows)
    per = lambda s, k: round(1000 * s / k, 2)  # noqa: E731 - ms per object
    return {
        "machine": info,
        "model": model,
        "preprocessing": {"sample": params["sample"], "features": {k: params["features"][k] for k in
                                                                   ("points", "subset", "seed", "batch_size")}},
        "store": {"objects": n, "points_per_object": smp.points, "data_seconds": round(data_s, 2)},
        "mesh_files": {"files": n_files, "format": "obj", "faces_median": int(np.median(faces)),
                       "faces_max": int(max(faces))},
        "features_stage_extract_shard": {"seconds": round(extract_s, 2), "ms_per_object": per(extract_s, n),
                                         "encoder_passes": 2},
        "embed_store": {"seconds": round(store_s, 2), "ms_per_object": per(store_s, n), "encoder_passes": 1,
                        "rows_equal_features_stage": bool(np.array_equal(got, rows))},
        "embed_mesh_files": {"seconds": round(files_s, 2), "ms_per_object": per(files_s, n_files),
                             "encoder_passes": 1},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=300, help="objects in the synthetic store (default 300)")
    parser.add_argument("--files", type=int, default=100, help="of them written as .obj files and embedded (default 100)")
    parser.add_argument("--out", default=str(ROOT / "results/bench/embed.json"))
    args = parser.parse_args(argv)
    result = run(args.objects, args.files)
    write_json(args.out, result)
    print(f"wrote {args.out}: extract_shard {result['features_stage_extract_shard']['ms_per_object']} ms/object, "
          f"embed --store {result['embed_store']['ms_per_object']}, mesh files "
          f"{result['embed_mesh_files']['ms_per_object']}")
    return result


if __name__ == "__main__":
    main()
