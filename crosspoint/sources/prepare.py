"""``crosspoint prepare --dataset NAME``: turn one dataset of ``params.yaml`` into a store.

Mesh sources: every object is validated (rejects go to the rejects table with the reason),
normalised to the unit sphere (bounding-box centre at the origin, farthest vertex at distance 1),
its part names mapped to the dataset's global part ids (``"class/part"``), given a split when the
source has none and a grey colour when it has no face colours, and written to the mesh store in a
stable order (class, then object id). A mesh source whose ``up_axis`` param is ``z`` has its
meshes turned y-up first (:func:`crosspoint.sources.helpers.to_y_up`); one whose ``heading`` is ``random``
has each mesh turned about the up axis by its own seeded angle
(:func:`crosspoint.sources.helpers.heading_angle`): real meshes, like real scans, are not all posed alike. Point sources are written to a point
store at the same path (marked ``coordinates: raw`` when the source keeps the files' coordinates:
``normalize: false``), with the inputs they left out in the rejects table (a point source that
comes with images, ``shapenet_render``, leaves them to the render stage, which decodes them instead
of rendering). An optional dataset whose data is absent gives an empty store with the attribute
``skipped``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from crosspoint import exact, paths
from crosspoint.config import ParamsError, load_params
from crosspoint.progress import progress
from crosspoint.sources.base import MeshItem, Reject
from crosspoint.sources.helpers import (
    check_mesh,
    heading_angle,
    natural_key,
    normalize_unit_sphere,
    stratified_split,
    to_y_up,
)
from crosspoint.sources.registry import ensure_available, make_source, parse_dataset
from crosspoint.store import (
    DatasetMeta,
    Mesh,
    PointSet,
    Rejects,
    StageError,
    atomic_path,
    set_meta,
    write_mesh_store,
    write_point_store,
)

log = logging.getLogger("crosspoint.sources.prepare")

GREY = np.array([170, 170, 170], dtype=np.uint8)
_EMPTY_V = np.zeros((0, 3))
_EMPTY_F = np.zeros((0, 3), dtype=np.int32)
DEFAULT_TEST_FRACTION = 0.2  # for sources without a split and without a test_fraction param
DEFAULT_SEED = 0






def load_dataset_params(name: str, params_path: str | Path = "params.yaml") -> Any:
    """The validated ``datasets.<name>`` entry."""
    datasets = load_params(params_path).get("datasets") or {}
    if name not in datasets:
        known = ", ".join(sorted(datasets)) or "none"
        raise ParamsError(f"params datasets: no dataset {name!r} (declared: {known})")
    return parse_dataset(name, datasets[name])


def prepare(name: str, params_path: str | Path = "params.yaml") -> Path:
    """Build the store of dataset ``name``; returns its path."""
    params = load_dataset_params(name, params_path)
    source = make_source(params, name)
    dest = Path(paths.prepared(name))
    rejects_path = Path(paths.prepared_rejects(name))
    rejects = Rejects(f"prepare {name}")

    reason = ensure_available(source)
    if reason is not None:
        write_skipped(dest, source, params.source, reason)
        rejects.write(rejects_path)
        log.info("prepare %s: skipped (%s); wrote an empty store %s", name, reason, dest)
        return dest

    if getattr(source, "kind", "meshes") == "points":
        ps = source.load_points()
        for r in getattr(source, "rejects", None) or []:
            rejects.add(r.path, r.reason)
        if len(ps):
            extra = {} if getattr(source, "normalized", True) else {"coordinates": "raw"}
            write_point_store(dest, ps, **extra, **_store_attrs(source))
        else:
            dest.unlink(missing_ok=True)
        log.info("prepare %s: %d point clouds of %d points, %d classes", name, len(ps),
                 ps.points.shape[1] if len(ps) else 0, len(ps.meta.class_names))
        rejects.finish(len(ps), rejects_path)
        return dest

    meshes, meta = collect_meshes(source, params, rejects, desc=f"prepare {name}")
    if not meshes:
        dest.unlink(missing_ok=True)
        rejects.finish(0, rejects_path)  # raises: every input was rejected
    write_mesh_store(dest, meshes, meta)
    n_train = sum(m.split == "train" for m in meshes)
    log.info("prepare %s: %d meshes (%d train, %d test), %s, %d parts -> %s", name, len(meshes), n_train,
             len(meshes) - n_train, f"{len(meta.class_names)} classes" if meta.labelled else "no labels",
             len(meta.part_names), dest)
    rejects.finish(len(meshes), rejects_path)
    return dest


def _store_attrs(source: Any) -> dict[str, Any]:
    """What a point source records in its store for later stages (shapenet_render: where its renders are)."""
    store_attrs = getattr(source, "store_attrs", None)
    return store_attrs() if callable(store_attrs) else {}


def write_skipped(dest: Path, source: Any, source_name: str, reason: str) -> None:
    """An empty store (of the source's kind) with the attribute ``skipped`` = reason."""
    labelled = getattr(source, "labelled", True)
    class_names = list(getattr(source, "class_names", None) or []) if labelled else []
    if getattr(source, "kind", "meshes") == "points":
        meta = DatasetMeta(source=source_name, class_names=class_names)
        empty = PointSet(np.zeros((0, 0, 3), np.float32), np.zeros(0, np.int64), [], [], meta)
        write_point_store(dest, empty, skipped=reason, **_store_attrs(source))
        return
    with atomic_path(dest) as tmp:
        write_mesh_store(tmp, [], DatasetMeta(source=source_name, class_names=class_names, labelled=labelled))
        with h5py.File(tmp, "a") as h5:
            set_meta(h5, skipped=reason)


def collect_meshes(source: Any, params: Any, rejects: Rejects, desc: str = "prepare") -> tuple[list[Mesh], DatasetMeta]:
    """Validate and normalise every item of a mesh source; rejects go to ``rejects``."""
    kept: list[tuple[MeshItem, np.ndarray, np.ndarray]] = []
    seen: set[str] = set()
    up_axis = str(getattr(params, "up_axis", "y"))
    turned = getattr(params, "heading", "canonical") == "random"
    seed = int(getattr(params, "seed", DEFAULT_SEED))
    entries = getattr(source, "entries", None)
    total = len(entries()) if callable(entries) else None
    for item in progress(source.items(), desc=desc, unit="mesh", total=total, leave=True):
        if isinstance(item, Reject):
            rejects.add(item.path, item.reason)
            continue
        where = item.path or item.object_id
        if item.object_id in seen:
            rejects.add(where, f"duplicate object id {item.object_id!r}")
            continue
        try:
            result = clean_mesh(item, up_axis, heading_angle(item.object_id, seed) if turned else None)
        except (ValueError, TypeError) as err:
            rejects.add(where, f"unusable arrays ({err})")
            continue
        if isinstance(result, str):
            rejects.add(where, result)
            continue
        seen.add(item.object_id)
        # the source's arrays are not needed any more: keep only the cleaned ones
        kept.append((replace(item, vertices=_EMPTY_V, faces=_EMPTY_F), *result))
    item = result = None  # type: ignore[assignment]  # drop the last source arrays

    class_names = list(getattr(source, "class_names", None) or sorted({it.class_name for it, _, _ in kept}))
    label_of = {c: i for i, c in enumerate(class_names)}
    for it, _, _ in kept:
        if it.class_name not in label_of:
            raise StageError(f"source gave class {it.class_name!r} that is not among its classes {class_names}")
    kept.sort(key=lambda k: (label_of[k[0].class_name], natural_key(k[0].object_id)))

    part_names, class_parts, part_map = part_vocabulary([it for it, _, _ in kept], class_names)
    splits = [it.split for it, _, _ in kept]
    if any(s is None for s in splits):
        missing = [i for i, s in enumerate(splits) if s is None]
        fill = stratified_split(
            [kept[i][0].class_name for i in missing], [kept[i][0].object_id for i in missing],
            float(getattr(params, "test_fraction", DEFAULT_TEST_FRACTION)), int(getattr(params, "seed", DEFAULT_SEED)),
        )
        for i, s in zip(missing, fill, strict=True):
            splits[i] = s

    labelled = getattr(source, "labelled", True)  # False: mesh_folder, no classes (labels -1)
    meshes = []
    for i, split in enumerate(splits):
        it, vertices, faces = kept[i]
        kept[i] = None  # type: ignore[call-overload]  # free the float64 copy as soon as it is converted
        if split not in ("train", "test"):
            raise StageError(f"source gave split {split!r} for {it.object_id}; expected 'train' or 'test'")
        meshes.append(Mesh(
            object_id=it.object_id,
            label=label_of[it.class_name] if labelled else -1,
            split=split,
            vertices=vertices.astype(np.float32),
            faces=np.asarray(faces, dtype=np.int32),
            face_parts=global_face_parts(it, part_map, len(faces)),
            face_colors=face_colors(it, len(faces)),
        ))
        del vertices, faces
    if not labelled:
        return meshes, DatasetMeta(source=params.source, class_names=[], labelled=False)
    meta = DatasetMeta(source=params.source, class_names=class_names, part_names=part_names, class_parts=class_parts)
    return meshes, meta


def clean_mesh(item: MeshItem, up_axis: str = "y", turn: float | None = None) -> tuple[np.ndarray, np.ndarray] | str:
    """Validated, normalised (vertices, faces) with unreferenced vertices dropped, or the reject reason.

    ``up_axis``: the mesh's up axis as the source has it; ``z`` turns it y-up before normalising.
    ``turn``: an angle (radians) to turn it about the up axis after that (``heading: random``)."""
    vertices = np.asarray(item.vertices, dtype=np.float64)
    faces = np.asarray(item.faces)
    problem = check_mesh(vertices, faces)
    if problem:
        return problem
    if item.face_parts is not None and len(item.face_parts) != len(faces):
        return f"face_parts has {len(item.face_parts)} entries for {len(faces)} faces"
    if item.face_colors is not None and np.shape(item.face_colors)[:1] != (len(faces),):
        return f"face_colors has shape {np.shape(item.face_colors)} for {len(faces)} faces"
    used = np.zeros(len(vertices), dtype=bool)
    used[faces.ravel()] = True
    remap = (np.cumsum(used) - 1).astype(np.int32 if len(vertices) < 2**31 else np.int64)
    faces = remap[faces]
    vertices = to_y_up(vertices[used], up_axis)
    if turn is not None:
        vertices = exact.transform(vertices, exact.rotation_y(turn))
    vertices = normalize_unit_sphere(vertices)
    return vertices, faces


def part_vocabulary(items: list[MeshItem], class_names: list[str]) -> tuple[list[str], dict[str, list[int]], dict[tuple[str, str], int]]:
    """Global part names ("class/part"), class -> global ids, and (class, local name) -> global id.

    Parts are numbered class by class (in class order), each class's parts in order of first
    appearance over its objects (in store order).
    """
    by_class: dict[str, list[str]] = {c: [] for c in class_names}
    for it in items:
        if it.face_parts is None or not it.part_names:
            continue
        names = by_class[it.class_name]
        for p in it.part_names:
            if p not in names:
                names.append(p)
    part_names: list[str] = []
    class_parts: dict[str, list[int]] = {}
    part_map: dict[tuple[str, str], int] = {}
    for c in class_names:
        if not by_class[c]:
            continue
        class_parts[c] = []
        for p in by_class[c]:
            part_map[(c, p)] = len(part_names)
            class_parts[c].append(len(part_names))
            part_names.append(f"{c}/{p}")
    return part_names, class_parts, part_map


def global_face_parts(item: MeshItem, part_map: dict[tuple[str, str], int], n_faces: int | None = None) -> np.ndarray:
    n = len(item.faces) if n_faces is None else n_faces
    if item.face_parts is None or not item.part_names:
        return np.full(n, -1, dtype=np.int16)
    local = np.asarray(item.face_parts, dtype=np.int64)
    lut = np.array([part_map[(item.class_name, p)] for p in item.part_names], dtype=np.int64)
    valid = (local >= 0) & (local < len(lut))
    out = np.full(n, -1, dtype=np.int16)
    out[valid] = lut[local[valid]]
    return out


def face_colors(item: MeshItem, n_faces: int) -> np.ndarray:
    if item.face_colors is None:
        return np.tile(GREY, (n_faces, 1))
    colors = np.asarray(item.face_colors)
    if colors.dtype != np.uint8:
        scale = 255.0 if np.issubdtype(colors.dtype, np.floating) and colors.max(initial=0) <= 1.0 else 1.0
        colors = np.clip(np.round(colors * scale), 0, 255).astype(np.uint8)
    return colors[:, :3]
