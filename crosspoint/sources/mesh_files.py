"""Reading and finding mesh files, shared by the sources that read them (``mesh_dir``, ``mesh_folder``,
``modelnet``, ``shapenetcore``) and by ``crosspoint embed``.

Formats: ``.off`` (read by :mod:`crosspoint.sources.off`), ``.obj``, ``.ply``, ``.stl``, ``.glb``/``.gltf``
(trimesh); a file holding a scene has its geometry concatenated.

``max_faces`` bounds the memory one mesh may take: a file whose header declares more faces (OFF,
PLY, binary STL state their counts) is rejected before its body is read, any other file once
loaded; a header whose counts disagree with the body is rejected too (see docs/robustness.md).
"""

from __future__ import annotations

import os
import stat
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crosspoint import exact
from crosspoint.sources import ply
from crosspoint.sources.base import MeshItem, MeshSource, Reject, data_missing
from crosspoint.sources.helpers import check_mesh, natural_key, stratified_split
from crosspoint.sources.off import OffError, read_off

MESH_EXTENSIONS = (".off", ".obj", ".ply", ".stl", ".glb", ".gltf")
SPLITS = ("train", "test")
# Default bound on the faces of one mesh: ModelNet40's largest meshes have a few hundred thousand,
# ShapeNetCore's a few million; 5M keeps them all with margin and bounds prepare's memory per mesh
# (about 80 bytes a face at prepare, 0.5 GB at 5M; see bench/mesh_memory.py).
MAX_FACES = 5_000_000


def check_max_faces(value: int | None) -> list[str]:
    if value is not None and value < 1:
        return [f"max_faces must be at least 1 (or null: no bound), got {value}"]
    return []


class MeshReadError(ValueError):
    """A mesh file could not be read; the message is the reason."""


@dataclass
class Entry:
    """One mesh file found in the folder, before loading."""

    object_id: str
    class_name: str
    split: str | None
    path: Path


def file_problem(path: str | Path) -> str | None:
    """``not a regular file (a directory)`` and the like for something that exists but cannot be a
    mesh file; None for a regular file, a link to one, or a path that cannot be read (the loader
    reports those with the reason)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    kinds = [(stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")]
    kind = next((name for test, name in kinds if test(mode)), "of an unknown kind")
    return f"not a regular file ({kind})"


def load_mesh_file(
    path: str | Path, max_faces: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Vertices [V, 3], triangles [F, 3] and face colours (uint8 [F, 3] or None) of a mesh file.

    ``max_faces``: refuse a mesh with more faces; from the header, before the body is read, where
    the format states the count (OFF, PLY, binary STL)."""
    path = Path(path)
    problem = file_problem(path)
    if problem is not None:
        raise MeshReadError(problem)
    try:
        if path.stat().st_size == 0:
            raise MeshReadError("empty file")
        ext = path.suffix.lower()
        if ext == ".off":
            vertices, faces = read_off(path, max_faces=max_faces)
            return vertices, faces, None
        if ext == ".ply":
            _check_ply_header(path, max_faces)
        elif ext == ".stl":
            _check_stl_header(path, max_faces)
        vertices, faces, colors = _load_trimesh(path)
        if max_faces is not None and len(faces) > max_faces:
            raise MeshReadError(f"{len(faces)} triangles, more than max_faces = {max_faces}")
        return vertices, faces, colors
    except OffError as err:
        raise MeshReadError(str(err)) from err
    except OSError as err:
        raise MeshReadError(f"cannot open: {err.strerror or err}") from err


def _over(n_faces: int, max_faces: int | None) -> str | None:
    if max_faces is not None and n_faces > max_faces:
        return f"header declares {n_faces} faces, more than max_faces = {max_faces}"
    return None


def _check_ply_header(path: Path, max_faces: int | None) -> None:
    """Refuse a PLY mesh whose header declares too many faces (or vertices no such mesh needs) or
    counts its body does not hold; a header that cannot be parsed is left to the loader."""
    try:
        encoding, elements, offset = ply.read_header(path)
    except ply.PlyError:
        return
    n_faces, n_vertices = ply.element_count(elements, "face"), ply.element_count(elements, "vertex")
    problem = _over(n_faces, max_faces)
    if problem is None and max_faces is not None and n_vertices > 3 * max_faces:
        problem = f"header declares {n_vertices} vertices, more than 3 * max_faces = {3 * max_faces}"
    problem = problem or ply.body_problem(path, encoding, elements, offset)
    if problem:
        raise MeshReadError(problem)


def _check_stl_header(path: Path, max_faces: int | None) -> None:
    """Binary STL states its triangle count at byte 80 and takes exactly 84 + 50 per triangle bytes;
    ASCII STL (``solid ...``, any other size) states none and is checked once loaded."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(84)
    if len(head) < 84:
        return
    n = int(np.frombuffer(head, dtype="<u4", count=1, offset=80)[0])
    if size == 84 + 50 * n:
        problem = _over(n, max_faces)
        if problem:
            raise MeshReadError(problem)
    elif not head.lstrip().startswith(b"solid"):
        raise MeshReadError(
            f"binary STL header declares {n} triangles ({84 + 50 * n} bytes), the file has {size} bytes "
            f"(a header that lies, or a truncated file)"
        )


def _load_trimesh(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    import trimesh

    try:
        scene = trimesh.load_scene(path, file_type=path.suffix.lower().lstrip("."), process=False)
    except MeshReadError:
        raise
    except Exception as err:  # trimesh's loaders raise many exception types on bad input
        raise MeshReadError(f"unreadable {path.suffix} file ({type(err).__name__}: {str(err)[:120]})") from err
    meshes = []
    for node in scene.graph.nodes_geometry:
        transform, name = scene.graph[node]
        geom = scene.geometry.get(name)
        if isinstance(geom, trimesh.Trimesh) and len(geom.faces):
            meshes.append((geom, transform))
    if not meshes:
        raise MeshReadError(f"no triangle geometry in this {path.suffix} file")
    vertices, faces, colors = [], [], []
    offset = 0
    for geom, transform in meshes:
        v = np.asarray(geom.vertices, dtype=np.float64)
        v = exact.rigid(v, transform)
        vertices.append(v)
        faces.append(np.asarray(geom.faces, dtype=np.int64) + offset)
        colors.append(_face_colors(geom))
        offset += len(v)
    face_colors = None
    if any(c is not None for c in colors):
        grey = np.full(3, 170, dtype=np.uint8)
        face_colors = np.concatenate(
            [c if c is not None else np.tile(grey, (len(f), 1)) for c, f in zip(colors, faces, strict=True)]
        )
    return np.concatenate(vertices), np.concatenate(faces), face_colors


def _face_colors(geom) -> np.ndarray | None:
    """Per-face RGB from a trimesh visual when it has real colours (no texture sampling)."""
    visual = geom.visual
    kind = getattr(visual, "kind", None)
    try:
        if kind == "face":
            return np.asarray(visual.face_colors)[:, :3].astype(np.uint8)
        if kind == "vertex":
            vc = np.asarray(visual.vertex_colors)[:, :3].astype(np.float64)
            return vc[np.asarray(geom.faces)].mean(axis=1).round().astype(np.uint8)
        if kind == "texture":
            material = getattr(visual, "material", None)
            color = getattr(material, "main_color", None)
            if color is not None:
                return np.tile(np.asarray(color)[:3].astype(np.uint8), (len(geom.faces), 1))
    except (ValueError, IndexError, AttributeError):
        return None
    return None


# ---------------------------------------------------------------------------------------------
# Finding the meshes


def is_hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("__MACOSX")


def scan_class_folders(
    root: Path, extensions: tuple[str, ...] = MESH_EXTENSIONS,
) -> tuple[list[Entry], list[Reject]]:
    """Entries of the ``<class>/[train|test/]<name>.<ext>`` layout, sorted, and rejects for names
    with a mesh extension that are not regular files (a folder ``x.obj``, a named pipe, ...)."""
    entries, rejects = [], []
    for class_dir in sorted((d for d in root.iterdir() if d.is_dir() and not is_hidden(d.name)), key=lambda d: d.name):
        for split in (None, *SPLITS):
            folder = class_dir if split is None else class_dir / split
            if not folder.is_dir():
                continue
            for f in sorted(folder.iterdir(), key=lambda p: natural_key(p.name)):
                if f.suffix.lower() not in extensions or is_hidden(f.name):
                    continue
                problem = file_problem(f)
                if problem is not None:
                    rejects.append(Reject(str(f), problem))
                    continue
                rel = f.relative_to(root).with_suffix("").as_posix()
                entries.append(Entry(object_id=rel, class_name=class_dir.name, split=split, path=f))
    return entries, rejects



def limit_per_class(entries: list[Entry], max_per_class: int | None) -> list[Entry]:
    """Keep the first ``max_per_class`` entries of each (class, split)."""
    if max_per_class is None:
        return entries
    counts: dict[tuple[str, str | None], int] = {}
    kept = []
    for e in entries:
        key = (e.class_name, e.split)
        if counts.get(key, 0) < max_per_class:
            counts[key] = counts.get(key, 0) + 1
            kept.append(e)
    return kept


def assign_missing_splits(entries: list[Entry], test_fraction: float, seed: int) -> None:
    """Give entries without a split a deterministic stratified one (in place)."""
    todo = [e for e in entries if e.split is None]
    if not todo:
        return
    splits = stratified_split([e.class_name for e in todo], [e.object_id for e in todo], test_fraction, seed)
    for e, s in zip(todo, splits, strict=True):
        e.split = s


def load_entries(entries: list[Entry], max_faces: int | None = None) -> Iterator[MeshItem | Reject]:
    """Load each entry's mesh; unreadable, unusable or too large (``max_faces``) meshes become rejects."""
    for e in entries:
        try:
            vertices, faces, colors = load_mesh_file(e.path, max_faces=max_faces)
        except MeshReadError as err:
            yield Reject(str(e.path), str(err))
            continue
        problem = check_mesh(vertices, faces)
        if problem:
            yield Reject(str(e.path), problem)
            continue
        yield MeshItem(
            object_id=e.object_id, class_name=e.class_name, split=e.split, vertices=vertices, faces=faces,
            face_colors=colors, path=str(e.path),
        )


class MeshFilesSource(MeshSource):
    """A source of the mesh files below a local folder (``params.path``); a subclass finds them
    (:meth:`entries`), this class loads them, bounded by ``params.max_faces``."""

    def __init__(self, params, name: str):
        self.params = params
        self.name = name
        self.class_names: list[str] | None = None
        self._entries: list[Entry] | None = None
        self._rejects: list[Reject] = []

    @property
    def root(self) -> Path:
        return Path(self.params.path)

    def ensure_available(self) -> str | None:
        if not self.root.is_dir():
            reason = data_missing(
                self.name, self.params.required, f"mesh folder {self.root} not found (cwd {Path.cwd()})",
                f"put the meshes there or set datasets.{self.name}.path", warn=self._entries is None,
            )
            self._entries = []
            return reason
        self.entries()
        return None

    @abstractmethod
    def entries(self) -> list[Entry]:
        """The mesh files found (with their class and split), before loading."""

    def items(self) -> Iterator[MeshItem | Reject]:
        if self.ensure_available() is not None:
            return
        entries = self.entries()
        yield from self._rejects
        yield from load_entries(entries, self.params.max_faces)
