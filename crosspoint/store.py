"""File formats shared by the stages, and the helpers that write them safely.

Every output is written to a temporary file and renamed into place only when complete, so an
interrupted stage never leaves a file that looks finished. Outputs under the working directory (the
repository root, where DVC and Snakemake run every stage) get their temporary in its
``.crosspoint-tmp/`` folder, outside every declared output and dependency: a killed writer's leftover
is invisible to both engines (``data/render`` is a directory dependency: a temporary beside a shard made
``merge_views`` look changed) and is removed by the next ``crosspoint`` process on this host, whatever
stage it runs. Other outputs, and outputs on another filesystem than that folder, get theirs beside
the destination (``.<name>.XXXXXXXX.tmp``), removed by the next write of the same destination.

HDF5 layouts (all string datasets are UTF-8 variable-length; ``split`` values are "train"/"test"):

Mesh store (``kind = "meshes"``), one file per dataset, meshes normalised to the unit sphere::

    vertices    float32 [total_vertices, 3]
    faces       int32   [total_faces, 3]    (indices local to the object)
    face_parts  int16   [total_faces]       (global part id, -1 when the source has no parts)
    face_colors uint8   [total_faces, 3]
    v_offsets   int64   [N + 1]             (object i: vertices[v_offsets[i]:v_offsets[i+1]])
    f_offsets   int64   [N + 1]
    labels      int64   [N]
    split       str     [N]
    object_ids  str     [N]
    attrs: kind, source, class_names (JSON list), part_names (JSON list),
           class_parts (JSON {class name: [global part ids]}), has_parts (bool), and
           labelled = False for a dataset without classes (``mesh_folder``: labels all -1,
           class_names empty, every object "train"; absent means labelled)

Point store (``kind = "points"``)::

    points      float32 [N, P, 3]   (unit sphere)
    part_labels int16   [N, P]      (global part id, -1 when no parts)
    labels, split, object_ids as above; same attrs.

View store (``kind = "views"``), rows in the order of the mesh store they were rendered from::

    images      uint8   [N, V, H, W, 3]   (chunked one view per chunk: pretraining reads one view at a time)
    poses       float32 [N, V, 4, 4]      (camera-to-world)
    labels, split, object_ids as above
    attrs: kind, image_size, yfov_deg, views, class_names
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

log = logging.getLogger("crosspoint")

STR = h5py.string_dtype("utf-8")

# When this process started (this module is imported at start-up by every stage): temporaries older
# than that belong to an earlier run.
PROCESS_STARTED = time.time()


def setup_logging(verbose: bool = False) -> None:
    """Log to stderr as ``time level stage: message``; called once by the CLI."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


#: The workspace's folder for temporaries (relative to the working directory; git- and dvc-ignored).
TMP_DIR = ".crosspoint-tmp"
_OWNER_SEP = "~"  # temporaries in TMP_DIR are named host~pid~<destination name>~XXXXXXXX.tmp


def _workspace_tmp_dir(dest: Path) -> Path | None:
    """TMP_DIR when ``dest`` lies under the working directory on the same filesystem, else None."""
    try:
        cwd = Path.cwd().resolve()
        parent = dest.parent.resolve()
        if not parent.is_relative_to(cwd) or parent == cwd / TMP_DIR:
            return None
        root = cwd / TMP_DIR
        root.mkdir(exist_ok=True)
        return root if root.stat().st_dev == parent.stat().st_dev else None
    except OSError:
        return None


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path for ``dest``; rename it onto ``dest`` only if the block succeeds.

    The temporary lives in the workspace's ``TMP_DIR`` (see the module docstring) or, for a destination
    outside the working directory or on another filesystem, beside ``dest`` as ``.<name>.XXXXXXXX.tmp``.
    Leftovers of killed runs are removed first: in ``TMP_DIR`` those of dead processes of this host
    (:func:`sweep_workspace_temporaries`, once per process), beside ``dest`` those older than this process
    (:func:`remove_stale_temporaries`).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(dest)
    tmp_dir = _workspace_tmp_dir(dest)
    if tmp_dir is not None:
        _sweep_once(tmp_dir)
        owner = _OWNER_SEP.join([socket.gethostname(), str(os.getpid()), dest.name.replace(_OWNER_SEP, "_")])
        fd, tmp = tempfile.mkstemp(prefix=owner + _OWNER_SEP, suffix=".tmp", dir=tmp_dir)
    else:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp_path, dest)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


_swept: set[Path] = set()


def _sweep_once(tmp_dir: Path) -> None:
    if tmp_dir not in _swept:
        _swept.add(tmp_dir)
        sweep_workspace_temporaries(tmp_dir)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def sweep_workspace_temporaries(tmp_dir: str | Path | None = None) -> list[Path]:
    """Remove the temporaries in the workspace's ``TMP_DIR`` whose writer, a process of this host, has
    ended (killed mid-write); log each one and return the paths removed. A live writer's, another
    host's (a cluster node sharing the filesystem) and names not made by :func:`atomic_path` are kept.
    The CLI calls this at start-up, so any stage cleans up after an earlier killed one."""
    tmp_dir = Path(TMP_DIR) if tmp_dir is None else Path(tmp_dir)
    host = socket.gethostname()
    removed = []
    try:
        entries = list(os.scandir(tmp_dir))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        parts = entry.name.split(_OWNER_SEP)
        if len(parts) != 4 or parts[0] != host or not parts[1].isdigit() or not entry.name.endswith(".tmp"):
            continue
        if int(parts[1]) == os.getpid() or _alive(int(parts[1])):
            continue
        if _remove_leftover(entry, f" (process {parts[1]})"):
            removed.append(Path(entry.path))
    return removed


def _remove_leftover(entry: os.DirEntry, detail: str = "") -> bool:
    """Delete a killed run's temporary (file or folder) and log it; False when it is already gone."""
    try:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)
    except FileNotFoundError:  # removed meanwhile by someone else
        return False
    log.info("removed %s, a temporary file left by an interrupted earlier run%s", entry.path, detail)
    return True


def remove_stale_temporaries(dest: str | Path, suffix: str = ".tmp") -> list[Path]:
    """Remove the temporaries of ``dest`` (``.<name>.XXXXXXXX<suffix>`` beside it, as :func:`atomic_path`
    and ``tempfile`` name them) last modified before this process started, and log each one.

    Every destination has a single writer (each shard writes its own files), so such a file was left by
    an earlier run that was killed; one changed since this process started belongs to a live writer
    and is kept. Returns the paths removed.
    """
    dest = Path(dest)
    pattern = re.compile(re.escape(f".{dest.name}.") + r"[a-z0-9_]{8}" + re.escape(suffix))
    removed = []
    try:
        entries = list(os.scandir(dest.parent))
    except FileNotFoundError:
        return removed
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_mtime >= PROCESS_STARTED:
                continue
        except FileNotFoundError:  # removed meanwhile by someone else
            continue
        if _remove_leftover(entry):
            removed.append(Path(entry.path))
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_md5(path: str | Path, block: int = 1 << 22) -> str:
    """The md5 of a file's bytes (DVC's digest of a file), read a block at a time."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(dest: str | Path, data: Any) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def write_text(dest: str | Path, text: str) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_text(text)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


@dataclass
class Rejects:
    """Inputs a stage skipped, with the reason; written as CSV beside the stage's output."""

    stage: str
    rows: list[tuple[str, str]] = field(default_factory=list)

    def add(self, path: str | Path, reason: str) -> None:
        self.rows.append((str(path), reason))
        log.warning("%s: rejected %s: %s", self.stage, path, reason)

    def write(self, dest: str | Path) -> None:
        with atomic_path(dest) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["path", "reason"])
            writer.writerows(self.rows)

    def finish(self, kept: int, dest: str | Path) -> None:
        """Write the table, log the closing count, and fail when nothing at all was kept."""
        self.write(dest)
        log.info("%s: kept %d, rejected %d (rejects table: %s)", self.stage, kept, len(self.rows), dest)
        if kept == 0:
            raise StageError(
                f"{self.stage}: every input was rejected ({len(self.rows)}); see {dest} for the reasons"
            )


class StageError(RuntimeError):
    """A stage cannot go on; the message says why and what to do. The CLI prints it on one line."""


# ---------------------------------------------------------------------------------------------
# Common metadata helpers


def write_strings(h5: h5py.File, name: str, values: Sequence[str]) -> None:
    h5.create_dataset(name, data=np.asarray(list(values), dtype=object), dtype=STR)


def read_strings(h5: h5py.File, name: str) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in h5[name][()]]


def set_meta(h5: h5py.File, **attrs: Any) -> None:
    """Store attrs; lists and dicts are stored as JSON strings."""
    for key, value in attrs.items():
        h5.attrs[key] = json.dumps(value) if isinstance(value, (list, dict, tuple)) else value


def get_meta(h5: h5py.File, key: str, default: Any = None) -> Any:
    if key not in h5.attrs:
        return default
    value = h5.attrs[key]
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and value[:1] in "[{":
        return json.loads(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass
class DatasetMeta:
    """Class and part vocabulary of a dataset, carried in every store's attrs."""

    source: str
    class_names: list[str]
    part_names: list[str] = field(default_factory=list)
    class_parts: dict[str, list[int]] = field(default_factory=dict)
    labelled: bool = True  # False: the objects have no classes (labels -1); evaluations refuse the dataset

    @property
    def has_parts(self) -> bool:
        return bool(self.part_names)

    def attrs(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "class_names": self.class_names,
            "part_names": self.part_names,
            "class_parts": self.class_parts,
            "has_parts": self.has_parts,
        }
        if not self.labelled:  # written only when false: labelled stores keep their bytes
            out["labelled"] = False
        return out

    @classmethod
    def from_h5(cls, h5: h5py.File) -> DatasetMeta:
        return cls(
            source=str(get_meta(h5, "source", "")),
            class_names=list(get_meta(h5, "class_names", [])),
            part_names=list(get_meta(h5, "part_names", [])),
            class_parts={k: list(v) for k, v in (get_meta(h5, "class_parts", {}) or {}).items()},
            labelled=bool(get_meta(h5, "labelled", True)),
        )


def require_labels(meta: DatasetMeta | bool, dataset: str, stage: str) -> None:
    """Stop ``stage`` with a one-line error when ``dataset`` holds no labels (a ``mesh_folder`` store)."""
    labelled = meta if isinstance(meta, bool) else meta.labelled
    if not labelled:
        raise StageError(
            f"{stage}: dataset {dataset!r} has no labels (an unlabelled mesh folder: it can be pretrained on, "
            f"not evaluated); remove it from {stage}.datasets and evaluate on a labelled dataset"
        )


def store_kind(path: str | Path) -> str:
    with h5py.File(path, "r") as h5:
        return str(get_meta(h5, "kind", ""))


# ---------------------------------------------------------------------------------------------
# Mesh store


@dataclass
class Mesh:
    """One normalised object mesh with its labels."""

    object_id: str
    label: int
    split: str
    vertices: np.ndarray  # float32 [V, 3]
    faces: np.ndarray  # int32 [F, 3]
    face_parts: np.ndarray  # int16 [F], -1 when no parts
    face_colors: np.ndarray  # uint8 [F, 3]


def write_mesh_store(dest: str | Path, meshes: Sequence[Mesh], meta: DatasetMeta, **extra_attrs: Any) -> None:
    v_off = np.zeros(len(meshes) + 1, dtype=np.int64)
    f_off = np.zeros(len(meshes) + 1, dtype=np.int64)
    for i, m in enumerate(meshes):
        v_off[i + 1] = v_off[i] + len(m.vertices)
        f_off[i + 1] = f_off[i] + len(m.faces)
    with atomic_path(dest) as tmp, h5py.File(tmp, "w") as h5:
        def put(name: str, arrays: list[np.ndarray], offsets: np.ndarray, shape: tuple[int, ...], dtype: Any) -> None:
            """Write the arrays mesh by mesh (no concatenated copy of the whole dataset in memory)."""
            if not arrays:
                h5.create_dataset(name, data=np.zeros(shape, dtype))
                return
            ds = h5.create_dataset(name, shape=(int(offsets[-1]), *shape[1:]), dtype=dtype)
            for a, lo, hi in zip(arrays, offsets[:-1], offsets[1:], strict=True):
                if hi > lo:
                    ds[lo:hi] = np.asarray(a, dtype=dtype)

        put("vertices", [m.vertices for m in meshes], v_off, (0, 3), np.float32)
        put("faces", [m.faces for m in meshes], f_off, (0, 3), np.int32)
        put("face_parts", [m.face_parts for m in meshes], f_off, (0,), np.int16)
        put("face_colors", [m.face_colors for m in meshes], f_off, (0, 3), np.uint8)
        h5.create_dataset("v_offsets", data=v_off)
        h5.create_dataset("f_offsets", data=f_off)
        h5.create_dataset("labels", data=np.array([m.label for m in meshes], dtype=np.int64))
        write_strings(h5, "split", [m.split for m in meshes])
        write_strings(h5, "object_ids", [m.object_id for m in meshes])
        set_meta(h5, kind="meshes", **meta.attrs(), **extra_attrs)


class MeshStore:
    """Read access to a mesh store; ``len()`` objects, ``store[i]`` gives a :class:`Mesh`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        with h5py.File(self.path, "r") as h5:
            kind = get_meta(h5, "kind")
            if kind != "meshes":
                raise StageError(f"{self.path}: expected a mesh store, found kind={kind!r}")
            self.meta = DatasetMeta.from_h5(h5)
            self.vertices = h5["vertices"][()]
            self.faces = h5["faces"][()]
            self.face_parts = h5["face_parts"][()]
            self.face_colors = h5["face_colors"][()]
            self.v_offsets = h5["v_offsets"][()]
            self.f_offsets = h5["f_offsets"][()]
            self.labels = h5["labels"][()]
            self.split = read_strings(h5, "split")
            self.object_ids = read_strings(h5, "object_ids")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> Mesh:
        v0, v1 = self.v_offsets[i], self.v_offsets[i + 1]
        f0, f1 = self.f_offsets[i], self.f_offsets[i + 1]
        return Mesh(
            object_id=self.object_ids[i],
            label=int(self.labels[i]),
            split=self.split[i],
            vertices=self.vertices[v0:v1],
            faces=self.faces[f0:f1],
            face_parts=self.face_parts[f0:f1],
            face_colors=self.face_colors[f0:f1],
        )


# ---------------------------------------------------------------------------------------------
# Point store


@dataclass
class PointSet:
    """A labelled set of point clouds (the point store in memory)."""

    points: np.ndarray  # float32 [N, P, 3]
    labels: np.ndarray  # int64 [N]
    split: list[str]
    object_ids: list[str]
    meta: DatasetMeta
    part_labels: np.ndarray | None = None  # int16 [N, P]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask: np.ndarray) -> PointSet:
        idx = np.flatnonzero(mask)
        return PointSet(
            points=self.points[idx],
            labels=self.labels[idx],
            split=[self.split[i] for i in idx],
            object_ids=[self.object_ids[i] for i in idx],
            meta=self.meta,
            part_labels=None if self.part_labels is None else self.part_labels[idx],
        )

    def split_mask(self, name: str) -> np.ndarray:
        return np.array([s == name for s in self.split], dtype=bool)


def write_point_store(dest: str | Path, ps: PointSet, **extra_attrs: Any) -> None:
    with atomic_path(dest) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("points", data=ps.points.astype(np.float32))
        parts = ps.part_labels
        if parts is None:
            parts = np.full(ps.points.shape[:2], -1, dtype=np.int16)
        h5.create_dataset("part_labels", data=parts.astype(np.int16))
        h5.create_dataset("labels", data=np.asarray(ps.labels, dtype=np.int64))
        write_strings(h5, "split", ps.split)
        write_strings(h5, "object_ids", ps.object_ids)
        set_meta(h5, kind="points", **ps.meta.attrs(), **extra_attrs)


def read_point_store(path: str | Path) -> PointSet:
    path = Path(path)
    if not path.exists():
        raise StageError(f"{path}: point store not found (run the stage that makes it: dvc repro)")
    with h5py.File(path, "r") as h5:
        kind = get_meta(h5, "kind")
        if kind != "points":
            raise StageError(f"{path}: expected a point store, found kind={kind!r}")
        meta = DatasetMeta.from_h5(h5)
        parts = h5["part_labels"][()]
        return PointSet(
            points=h5["points"][()],
            labels=h5["labels"][()],
            split=read_strings(h5, "split"),
            object_ids=read_strings(h5, "object_ids"),
            meta=meta,
            part_labels=parts if meta.has_parts else None,
        )
