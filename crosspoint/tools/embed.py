"""``crosspoint embed INPUT... --checkpoint CKPT -o OUT.h5``: global features of your own files.

INPUT: mesh files (.off .obj .ply .stl .glb .gltf), point-cloud files (.xyz/.txt: ``x y z`` per line,
whitespace or comma separated, extra columns ignored; .npy ``[N, 3+]``; a .ply whose header declares no
faces), or folders of them (recursive, in the natural order of the files' paths without extension:
a ``mesh_folder`` dataset's store order, :func:`crosspoint.sources.mesh_folder.reader.scan_folder`); or
``--store data/points/NAME.h5``, a point store the DAG made.

Each object goes through what the DAG does to it, with the same functions, so that the features are
the features stage's, bit for bit:

* a mesh file: read and checked as prepare does (``load_mesh_file``, ``check_mesh``), normalised by
  ``clean_mesh`` (``--up-axis``), stored as float32 vertices and int32 faces, sampled with
  ``_sample_mesh(mesh, sample.points, default_rng([sample.seed, i]))``, ``i`` its index among the
  objects kept so far (the sample stage's seed for object ``i`` of a mesh store);
* a point-cloud file: as a point store row (float32) resampled by the sample stage
  (``_resample_cloud``: ``sample.points`` points drawn with ``default_rng([sample.seed, i])``, normalised);
* then, for every object, ``point_subset(features.points, features.subset, features.seed)`` with its
  row index, and the encoder (``encode``, batches of ``features.batch_size``).

Objects are numbered from ``--start-index`` (default 0) in the order given (a folder in store order),
rejected files not counted: embedding a folder gives the rows the DAG gives for it as a ``mesh_folder``
dataset, and one of its files embedded alone with ``--start-index i`` gives row ``i``. With ``--store``,
row ``i`` is row ``i`` of the features stage's ``pretrained`` dataset for the same checkpoint and params
(encoded in the same shard blocks and batches; on the CPU a cloud's features do not depend on its batch).

Writes OUT.h5 (``features`` float32 [N, D], ``object_ids``, ``paths``; attrs: the checkpoint and its
MD5, the model config, the preprocessing used), with ``--npy`` OUT.npy (the features), and
OUT_rejects.csv (path, reason) listing every input that could not be used. All are written atomically;
when nothing is left to embed, no features are written and the command fails.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from crosspoint import numerics
from crosspoint.devices import resolve_device
from crosspoint.models.encoders import encode, load_point_encoder, point_subset
from crosspoint.models.export import read_encoder_file
from crosspoint.points.sampling import _PointObject, _resample_cloud, _sample_mesh
from crosspoint.progress import progress
from crosspoint.shards import shard_block
from crosspoint.sources import ply
from crosspoint.sources.base import MeshItem, Reject
from crosspoint.sources.mesh_files import MAX_FACES, MESH_EXTENSIONS, Entry, file_problem, load_entries
from crosspoint.sources.mesh_folder.reader import UNLABELLED, scan_folder
from crosspoint.sources.prepare import clean_mesh, face_colors, global_face_parts
from crosspoint.store import (
    DatasetMeta,
    Mesh,
    PointSet,
    Rejects,
    StageError,
    atomic_path,
    file_md5,
    read_point_store,
    set_meta,
    write_strings,
)
from crosspoint.tools.export import preprocessing

log = logging.getLogger("crosspoint.tools.embed")

CLOUD_EXTENSIONS = (".xyz", ".txt", ".npy")  # and .ply without faces
EXTENSIONS = MESH_EXTENSIONS + CLOUD_EXTENSIONS


# ---------------------------------------------------------------------------------------------
# Inputs


def expand_inputs(inputs: list[str | Path]) -> tuple[list[Entry], list[Reject]]:
    """The files to embed, in order (a folder expanded in store order), and the inputs refused."""
    entries: list[Entry] = []
    rejects: list[Reject] = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            found, odd = scan_folder(path, EXTENSIONS)
            rejects.extend(odd)
            entries.extend(found)
            if not found and not odd:
                reason = f"no mesh or point-cloud files below it ({', '.join(EXTENSIONS)})"
                rejects.append(Reject(str(path), reason))
        elif not path.exists():
            rejects.append(Reject(str(path), "not found"))
        elif path.suffix.lower() not in EXTENSIONS:
            reason = f"unknown file type {path.suffix!r} (expected one of {', '.join(EXTENSIONS)})"
            rejects.append(Reject(str(path), reason))
        elif (problem := file_problem(path)) is not None:
            rejects.append(Reject(str(path), problem))
        else:
            entries.append(Entry(object_id=path.stem, class_name=UNLABELLED, split="train", path=path))
    return entries, rejects


def is_cloud(path: Path) -> bool:
    """A point-cloud file: .xyz, .txt, .npy, or a .ply whose header declares vertices and no faces."""
    ext = path.suffix.lower()
    if ext != ".ply":
        return ext in CLOUD_EXTENSIONS
    try:
        _, elements, _ = ply.read_header(path)
    except (ply.PlyError, OSError):
        return False  # left to the mesh reader, which gives the reason
    return ply.element_count(elements, "face") == 0 and ply.element_count(elements, "vertex") > 0


def read_cloud(path: Path) -> np.ndarray:
    """The ``x, y, z`` of a point-cloud file, float64 [N, 3]; ValueError with the reason when unreadable."""
    ext = path.suffix.lower()
    try:
        if path.stat().st_size == 0:
            raise ValueError("empty file")
        if ext == ".ply":
            return ply.read_ply_points(path)
        if ext == ".npy":
            arr = np.load(path, allow_pickle=False)
            if not isinstance(arr, np.ndarray):
                raise ValueError("an .npz archive, not one array")
            if arr.ndim != 2 or arr.shape[1] < 3 or not np.issubdtype(arr.dtype, np.number):
                raise ValueError(f"expected a numeric [N, 3+] array, got {arr.dtype} {arr.shape}")
            return np.asarray(arr[:, :3], dtype=np.float64)
        text = path.read_text(errors="replace").replace(",", " ")
        lines = (line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
        rows = [line.split()[:3] for line in lines]
        short = next((k for k, r in enumerate(rows) if len(r) < 3), None)
        if short is not None:
            raise ValueError(f"data line {short + 1}: fewer than 3 columns")
        return np.array(rows, dtype=np.float64).reshape(-1, 3)
    except (OSError, EOFError) as err:
        raise ValueError(f"cannot read: {err}") from err


def prepared_object(entry: Entry, up_axis: str, max_faces: int | None) -> Mesh | _PointObject | str:
    """The object as the mesh or point store would hold it after prepare, or the reason it is rejected."""
    if is_cloud(entry.path):
        try:
            cloud = read_cloud(entry.path).astype(np.float32)  # a point store holds float32
        except ValueError as err:
            return f"unreadable point cloud ({err})"
        ps = PointSet(cloud[None], np.zeros(1, np.int64), ["train"], [entry.object_id], DatasetMeta("embed", []))
        return _PointObject(ps, 0)
    item = next(load_entries([entry], max_faces))  # prepare's reader and check_mesh
    if isinstance(item, Reject):
        return item.reason
    assert isinstance(item, MeshItem)
    try:
        result = clean_mesh(item, up_axis)
    except (ValueError, TypeError) as err:
        return f"unusable arrays ({err})"
    if isinstance(result, str):
        return result
    vertices, faces = result
    return Mesh(object_id=item.object_id, label=-1, split="train", vertices=vertices.astype(np.float32),
                faces=np.asarray(faces, dtype=np.int32), face_parts=global_face_parts(item, {}, len(faces)),
                face_colors=face_colors(item, len(faces)))


def file_clouds(entries: list[Entry], pre: dict[str, Any], start: int, up_axis: str, max_faces: int | None,
                rejects: Rejects) -> tuple[np.ndarray, list[str], list[str]]:
    """The encoder inputs ``[N, features.points, 3]`` of the files, their ids and paths; rejects added."""
    smp, feats = pre["sample"], pre["features"]
    clouds, ids, paths = [], [], []
    n_prepared = 0  # objects a mesh store would hold so far: the sample seed's index
    for entry in progress(entries, desc="embed read", unit="file"):
        obj = prepared_object(entry, up_axis, max_faces)
        if isinstance(obj, str):
            rejects.add(entry.path, obj)
            continue
        rng = np.random.default_rng([int(smp["seed"]), start + n_prepared])
        n_prepared += 1
        sampler = _sample_mesh if isinstance(obj, Mesh) else _resample_cloud
        try:
            pts, _ = sampler(obj, int(smp["points"]), rng)
        except ValueError as err:
            rejects.add(entry.path, str(err))
            continue
        row = start + len(clouds)  # index in the point store: the point subset's
        clouds.append(point_subset(pts[None], int(feats["points"]), str(feats["subset"]), int(feats["seed"]),
                                   offset=row)[0])
        ids.append(entry.object_id)
        paths.append(str(entry.path))
    empty = np.zeros((0, int(feats["points"]), 3), np.float32)
    return (np.stack(clouds) if clouds else empty), ids, paths


def store_clouds(store: str | Path, pre: dict[str, Any]) -> tuple[np.ndarray, list[str], list[str]]:
    """The encoder inputs of every row of a point store (as the features stage takes them)."""
    ps = read_point_store(store)
    if len(ps) == 0:
        raise StageError(f"{store}: the point store holds no objects")
    feats = pre["features"]
    pts = point_subset(ps.points, int(feats["points"]), str(feats["subset"]), int(feats["seed"]), offset=0)
    return pts, list(ps.object_ids), [f"{store}:{i}" for i in range(len(ps))]


# ---------------------------------------------------------------------------------------------
# Embedding


def output_paths(out: str | Path) -> tuple[Path, Path, Path]:
    """OUT.h5, OUT.npy and OUT_rejects.csv."""
    out = Path(out)
    return out, out.with_suffix(".npy"), out.with_name(f"{out.stem}_rejects.csv")


def embed(inputs: list[str | Path], checkpoint: str | Path, out: str | Path, *, store: str | Path | None = None,
          npy: bool = False, device: str = "auto", batch_size: int | None = None, start_index: int = 0,
          up_axis: str = "y", params: str | Path | None = None, max_faces: int | None = MAX_FACES) -> np.ndarray:
    """Embed ``inputs`` (or the point store ``store``) with the checkpoint's encoder and write the
    outputs (see the module docstring); returns the features. ``params`` None: the exported file's
    preprocessing, or params.yaml for a pretraining checkpoint."""
    if bool(inputs) == (store is not None):
        raise StageError("embed: give input files or folders, or --store, not both (nor neither)")
    if start_index < 0:
        raise StageError("embed: --start-index must be non-negative")
    if store is not None and start_index:
        raise StageError("embed: --start-index applies to files; a store's rows keep their own indices")
    if batch_size is not None and batch_size < 1:
        raise StageError("embed: --batch-size must be positive")
    if up_axis not in ("y", "z"):
        raise StageError(f"embed: --up-axis must be y or z, got {up_axis!r}")
    h5_path, npy_path, rejects_path = output_paths(out)

    src = read_encoder_file(checkpoint)
    if src.kind == "exported" and params is None:
        pre = src.preprocessing
    else:
        pre = preprocessing(params or "params.yaml")
    batch = int(batch_size if batch_size is not None else pre["features"]["batch_size"])
    encoder, model_cfg = load_point_encoder(checkpoint)

    rejects = Rejects("embed")
    if store is not None:
        clouds, ids, paths = store_clouds(store, pre)
    else:
        entries, refused = expand_inputs(list(inputs))
        for r in refused:
            rejects.add(r.path, r.reason)
        clouds, ids, paths = file_clouds(entries, pre, start_index, up_axis, max_faces, rejects)
    if not ids:
        for stale in (h5_path, npy_path):
            stale.unlink(missing_ok=True)
        rejects.finish(0, rejects_path)  # raises: nothing to embed

    dev = resolve_device(device)
    numerics.configure_torch(dev)
    torch.manual_seed(int(pre["features"]["seed"]))  # as the features stage, before encoding
    # a store in the features stage's shard blocks: its batches, so its bits on a GPU too
    n_shards = int(pre["features"].get("shards", 1)) if store is not None else 1
    blocks = [shard_block(len(ids), s, n_shards) for s in range(n_shards)]
    features = np.concatenate([encode(encoder, clouds[a:b], batch, dev, desc="embed") for a, b in blocks if b > a])
    used = {**pre, "up_axis": up_axis, "max_faces": max_faces, "start_index": start_index, "batch_size": batch,
            "device": str(dev)}
    attrs = {"kind": "embeddings", "checkpoint": str(checkpoint), "checkpoint_md5": file_md5(checkpoint),
             "checkpoint_kind": src.kind, "model": model_cfg, "preprocessing": used,
             "source": "store" if store is not None else "files", **({"store": str(store)} if store else {})}
    with atomic_path(h5_path) as tmp:
        with h5py.File(tmp, "w") as h5:
            h5.create_dataset("features", data=np.asarray(features, np.float32))
            write_strings(h5, "object_ids", ids)
            write_strings(h5, "paths", paths)
            set_meta(h5, **attrs)
        if npy:  # inside the block: a failure here leaves neither file
            with atomic_path(npy_path) as tmp_npy, open(tmp_npy, "wb") as fh:
                np.save(fh, np.asarray(features, np.float32))
    rejects.finish(len(ids), rejects_path)
    log.info("embed: %d objects -> %s (%d x %d)%s", len(ids), h5_path, *features.shape,
             f" and {npy_path}" if npy else "")
    return features


# ---------------------------------------------------------------------------------------------
# CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="*", metavar="INPUT",
                        help="mesh files (.off .obj .ply .stl .glb .gltf), point-cloud files (.xyz .txt .npy, "
                             ".ply without faces) or folders of them (recursive, in store order); inputs that "
                             "cannot be used go to OUT_rejects.csv")
    parser.add_argument("--store", default=None, help="a point store the DAG made (data/points/NAME.h5) instead "
                        "of INPUT: row i equals row i of the features stage's pretrained features")
    parser.add_argument("--checkpoint", required=True,
                        help="pretraining checkpoint (models/pretrain_cls/seed-K/best.pt) or a `crosspoint export` "
                             "file")
    parser.add_argument("-o", "--out", required=True,
                        help="features file to write (OUT.h5; the rejects go to OUT_rejects.csv)")
    parser.add_argument("--npy", action="store_true", help="also write the features as OUT.npy")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: auto")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="objects per encoder batch (default: features.batch_size, as the features stage; "
                             "another --batch-size may change the last bits of the features: not on the CPU, "
                             "where a cloud's features do not depend on its batch, but on a GPU)")
    parser.add_argument("--start-index", type=int, default=0,
                        help="index of the first object (default 0): file i of a folder embedded alone with "
                             "--start-index i gets its row of the whole folder")
    parser.add_argument("--up-axis", default="y", choices=("y", "z"),
                        help="the mesh files' up axis (default y; z: turned y-up, as prepare's up_axis: z)")
    parser.set_defaults(params=None)  # None: an exported file's own preprocessing
    for action in parser._actions:
        if action.dest == "params":
            action.help = ("params file for the preprocessing (its sample and features sections); default: the "
                           "preprocessing stored in an exported --checkpoint (given, it replaces that), "
                           "params.yaml for a pretraining checkpoint")


def main(args: argparse.Namespace) -> None:
    embed(args.inputs, args.checkpoint, args.out, store=args.store, npy=args.npy, device=args.device,
          batch_size=args.batch_size, start_index=args.start_index, up_axis=args.up_axis, params=args.params)
