"""``mesh_folder``: any folder tree of meshes, without labels, for pretraining on your own shapes.

Every file below ``path`` (recursively; hidden files and folders skipped) whose extension is one of
:data:`~crosspoint.sources.mesh_files.MESH_EXTENSIONS` is an object; its id is its path relative to the
folder without the extension (``chairs/a12``). The folder names mean nothing: there are no classes, the
store is marked ``labelled = False`` (labels -1, no class names) and every object is in the ``train``
split, so pretraining uses all of them and every evaluation stage refuses the dataset with a one-line
error. Files are read, bounded (``max_faces``) and rejected with the reason exactly as ``mesh_dir``
does; two files with the same id (``a.obj`` and ``a.off``) keep the first in sorted order.

Store order: the object ids in natural order (``m2`` before ``m10``), the order :func:`scan_folder`
returns and the one ``crosspoint embed`` follows for a folder, so that object ``i`` of the store and
file ``i`` of an embedded folder get the same sampling seed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from crosspoint.sources.base import Reject
from crosspoint.sources.helpers import natural_key
from crosspoint.sources.mesh_files import (
    MAX_FACES,
    MESH_EXTENSIONS,
    Entry,
    MeshFilesSource,
    check_max_faces,
    file_problem,
    is_hidden,
)
from crosspoint.store import StageError

UNLABELLED = ""  # the class name every object carries inside prepare (the store has no classes)


@dataclass(frozen=True)
class Params:
    source: Literal["mesh_folder"]
    path: str
    required: bool = True  # false: a missing folder gives an empty, skipped dataset
    up_axis: Literal["y", "z"] = "y"  # the files' up axis; z: turned y-up at prepare (+z -> +y)
    heading: Literal["canonical", "random"] = "canonical"  # random: each mesh turned about up by a seeded angle
    max_faces: int | None = MAX_FACES  # meshes with more faces are rejected (from the header when it states them)
    max_objects: int | None = None  # at most this many files, the first in store order (quick runs)

    def check(self) -> list[str]:
        problems = check_max_faces(self.max_faces)
        if self.max_objects is not None and self.max_objects < 1:
            problems.append(f"max_objects must be at least 1 (or null: all), got {self.max_objects}")
        return problems


def scan_folder(root: str | Path, extensions: tuple[str, ...] = MESH_EXTENSIONS) -> tuple[list[Entry], list[Reject]]:
    """The mesh files below ``root`` in store order (natural order of their ids), and rejects for
    names with a mesh extension that are not regular files or repeat an id."""
    root = Path(root)
    found: dict[str, Path] = {}
    rejects: list[Reject] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not is_hidden(d))
        for name in sorted({*filenames, *dirnames}):
            f = Path(dirpath) / name
            if f.suffix.lower() not in extensions or is_hidden(name):
                continue
            problem = file_problem(f)
            if problem is not None:
                rejects.append(Reject(str(f), problem))
                continue
            object_id = f.relative_to(root).with_suffix("").as_posix()
            if object_id in found:
                rejects.append(Reject(str(f), f"same object id {object_id!r} as {found[object_id]}"))
                continue
            found[object_id] = f
    order = sorted(found, key=natural_key)
    entries = [Entry(object_id=oid, class_name=UNLABELLED, split="train", path=found[oid]) for oid in order]
    return entries, rejects


class MeshFolderSource(MeshFilesSource):
    """Unlabelled meshes from a folder tree (see the module docstring); reading, bounds and rejects are
    ``mesh_dir``'s (:class:`~crosspoint.sources.mesh_files.MeshFilesSource`), only the finding of the files
    differs."""

    labelled = False

    def __init__(self, params: Params, name: str = "mesh_folder"):
        super().__init__(params, name)
        self.class_names: list[str] = [UNLABELLED]

    def entries(self) -> list[Entry]:
        if self._entries is None:
            entries, self._rejects = scan_folder(self.root)
            if not entries:
                odd = "".join(f"; {r.path}: {r.reason}" for r in self._rejects[:3])
                raise StageError(f"{self.root}: no mesh files found below it "
                                 f"(.off, .obj, .ply, .stl, .glb, .gltf){odd}")
            if self.params.max_objects is not None:
                entries = entries[: self.params.max_objects]
            self._entries = entries
        return self._entries
