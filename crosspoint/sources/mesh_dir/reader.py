"""``mesh_dir``: any local folder of labelled meshes.

Two layouts are understood:

- class folders: ``<class>/<name>.<ext>`` or ``<class>/{train,test}/<name>.<ext>`` (ModelNet style);
  the split comes from the ``train``/``test`` folders when present;
- Princeton Shape Benchmark classification files: a ``.cla`` file in the folder lists class blocks
  (``name parent count`` followed by ``count`` model ids); each model is found anywhere below the
  folder as ``m<id>.<ext>`` or ``<id>.<ext>``. Files named ``*train*.cla`` and ``*test*.cla`` give
  the official split; a single ``.cla`` file gives none.

Objects without a split get a deterministic stratified one (``test_fraction``, ``seed``). Formats and
the ``max_faces`` bound: :mod:`crosspoint.sources.mesh_files`.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from crosspoint.sources.base import Reject
from crosspoint.sources.mesh_files import (
    MAX_FACES,
    MESH_EXTENSIONS,
    Entry,
    MeshFilesSource,
    assign_missing_splits,
    check_max_faces,
    file_problem,
    is_hidden,
    limit_per_class,
    scan_class_folders,
)
from crosspoint.store import StageError

log = logging.getLogger("crosspoint.sources.prepare")


@dataclass(frozen=True)
class Params:
    source: Literal["mesh_dir"]
    path: str
    test_fraction: float = 0.2  # share of each class put in the test split when the folder has none
    seed: int = 0
    max_per_class: int | None = None  # at most this many objects per class and split (quick runs)
    required: bool = True  # false: a missing folder gives an empty, skipped dataset
    up_axis: Literal["y", "z"] = "y"  # the files' up axis; z: turned y-up at prepare (+z -> +y)
    heading: Literal["canonical", "random"] = "canonical"  # random: each mesh turned about up by a seeded angle
    max_faces: int | None = MAX_FACES  # meshes with more faces are rejected (from the header when it states them)

    def check(self) -> list[str]:
        problems = check_max_faces(self.max_faces)
        if not 0.0 <= self.test_fraction < 1.0:
            problems.append(f"test_fraction must be in [0, 1), got {self.test_fraction}")
        if self.max_per_class is not None and self.max_per_class < 1:
            problems.append(f"max_per_class must be at least 1, got {self.max_per_class}")
        return problems


def parse_cla(path: Path) -> list[tuple[str, list[str]]]:
    """Class blocks of a Princeton Shape Benchmark ``.cla`` file: [(class name, [model ids])].

    Classes listed with zero models (inner nodes of the hierarchy) are left out.
    """
    try:
        tokens_per_line = [line.split() for line in path.read_text(errors="replace").splitlines()]
    except OSError as err:
        raise StageError(f"{path}: cannot read the classification file ({err})") from err
    lines = [t for t in tokens_per_line if t]
    if len(lines) < 2 or lines[0][0] != "PSB":
        raise StageError(f"{path}: not a Princeton Shape Benchmark .cla file (expected a 'PSB 1' first line)")
    classes: list[tuple[str, list[str]]] = []
    i = 2
    while i < len(lines):
        head = lines[i]
        if len(head) != 3 or not head[2].isdigit():
            raise StageError(f"{path}: expected a class line 'name parent count', got {' '.join(head)!r}")
        name, count = head[0], int(head[2])
        ids = [ln[0] for ln in lines[i + 1:i + 1 + count]]
        if len(ids) < count:
            raise StageError(f"{path}: class {name} announces {count} models, the file ends after {len(ids)}")
        if count:
            classes.append((name, ids))
        i += 1 + count
    return classes


def _index_models(root: Path) -> dict[str, Path]:
    """Model id -> file, for files named ``m<id>.<ext>`` or ``<id>.<ext>`` anywhere below ``root``."""
    index: dict[str, Path] = {}
    rank = {ext: k for k, ext in enumerate(MESH_EXTENSIONS)}
    odd: dict[str, Path] = {}  # ids whose only candidates are not regular files (kept to be rejected)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not is_hidden(d))
        for fname in sorted({*filenames, *dirnames}):
            f = Path(dirpath) / fname
            ext = f.suffix.lower()
            if ext not in rank or is_hidden(fname):
                continue
            m = re.fullmatch(r"m?(\d+)", f.stem)
            key = m.group(1) if m else f.stem
            if file_problem(f) is not None:
                odd.setdefault(key, f)
                continue
            old = index.get(key)
            if old is None or rank[ext] < rank[old.suffix.lower()]:
                index[key] = f
    return {**{k: f for k, f in odd.items() if k not in index}, **index}


def scan_cla(root: Path, cla_files: list[Path]) -> tuple[list[Entry], list[Reject], list[str]]:
    """Entries listed by the ``.cla`` file(s), rejects for ids without a file, and the class order."""
    if len(cla_files) == 1:
        plan = [(cla_files[0], None)]
    else:
        plan = []
        for f in cla_files:
            stem = f.stem.lower()
            split = "test" if "test" in stem else "train" if "train" in stem else None
            if split is None:
                names = ", ".join(p.name for p in cla_files)
                raise StageError(
                    f"{root}: several .cla files ({names}) and {f.name} is neither a train nor a test list; "
                    f"keep one classification file, or name them *train*.cla and *test*.cla"
                )
            plan.append((f, split))
    index = _index_models(root)
    entries, rejects, class_names = [], [], []
    seen: set[str] = set()
    for cla, split in plan:
        for name, ids in parse_cla(cla):
            if name not in class_names:
                class_names.append(name)
            for model_id in ids:
                key = model_id.lstrip("m") if re.fullmatch(r"m?\d+", model_id) else model_id
                f = index.get(key)
                if f is None:
                    rejects.append(Reject(f"{cla}:{model_id}", f"model {model_id} of class {name} not found below {root}"))
                    continue
                problem = file_problem(f)
                if problem is not None:
                    rejects.append(Reject(str(f), f"model {model_id} of class {name}: {problem}"))
                    continue
                if f.stem in seen:
                    rejects.append(Reject(str(f), f"model {model_id} listed twice in the .cla file(s)"))
                    continue
                seen.add(f.stem)
                entries.append(Entry(object_id=f.stem, class_name=name, split=split, path=f))
    return entries, rejects, class_names


class MeshDirSource(MeshFilesSource):
    """Meshes from a local folder (class folders or a Princeton Shape Benchmark ``.cla`` file)."""

    def __init__(self, params: Params, name: str = "mesh_dir"):
        super().__init__(params, name)

    def entries(self) -> list[Entry]:
        """The mesh files found (with their class and split), before loading."""
        if self._entries is not None:
            return self._entries
        root = self.root
        cla_files = sorted(p for p in root.glob("*.cla") if not is_hidden(p.name))
        if cla_files:
            entries, self._rejects, class_names = scan_cla(root, cla_files)
        else:
            entries, self._rejects = scan_class_folders(root)
            class_names = sorted({e.class_name for e in entries})
        if not entries:
            odd = "".join(f"; {r.path}: {r.reason}" for r in self._rejects[:3])
            raise StageError(
                f"{root}: no meshes found; expected <class>/[train|test/]<name>.{{off,obj,ply,stl,glb}} "
                f"or a Princeton Shape Benchmark .cla file with m<id>.<ext> models{odd}"
            )
        entries = limit_per_class(entries, self.params.max_per_class)
        assign_missing_splits(entries, self.params.test_fraction, self.params.seed)
        self.class_names = class_names
        self._entries = entries
        return entries
