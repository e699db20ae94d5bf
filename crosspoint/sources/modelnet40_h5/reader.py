"""``modelnet40_h5``: PointNet's ModelNet40 point clouds (``modelnet40_ply_hdf5_2048/``), read from a local copy.

This is the evaluation set of the CrossPoint paper (and of PointNet, DGCNN and most of their
successors): 2,048 points per object sampled from the ModelNet40 meshes, already centred and scaled,
9,840 train and 2,468 test objects in the official split. ``path`` is the folder holding

- ``ply_data_train{0..4}.h5`` and ``ply_data_test{0,1}.h5``, each with ``data`` float32
  [N, 2048, 3] and ``label`` uint8 [N, 1] (the class index into ``shape_names.txt``);
- ``shape_names.txt``: the 40 class names, one a line, in label order;
- ``train_files.txt`` / ``test_files.txt``: the h5 files of each split, one a line (as paths such
  as ``data/modelnet40_ply_hdf5_2048/ply_data_train0.h5``; only the file name is used, looked up
  in ``path``). Without a list, the split's files are ``ply_data_<split>*.h5`` in natural order.

Objects are kept in file order (files in list order, rows in file order) and so are their points,
so ``features.subset: first`` on an unresampled store takes the same first 1,024 points as the
upstream scripts. Each cloud is normalised to the unit sphere like every point store (bounding-box
centre at the origin, farthest point at 1); the files are already close to that. Object ids are
``<file stem>/<row>`` (``ply_data_test0/00017``).

Bad input never stops the stage: a listed file that is absent, unreadable, lacks ``data`` or
``label``, has the wrong shapes or another point count than the first file is rejected whole; a
row with a label outside the class list, a non-finite coordinate or all points in one place is
rejected alone. Each goes to the rejects table with the reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import h5py
import numpy as np

from crosspoint.sources.base import PointSource, Reject, data_missing
from crosspoint.sources.helpers import natural_key, normalize_unit_sphere
from crosspoint.store import DatasetMeta, PointSet, StageError

log = logging.getLogger("crosspoint.sources.prepare")

SPLITS = ("train", "test")
NAMES_FILE = "shape_names.txt"
HELP = (
    "get modelnet40_ply_hdf5_2048.zip (PointNet's release, also in the CrossPoint authors' "
    "data/download_data.sh as modelnet40.tar.gz), unpack it and set datasets.{name}.path to the "
    "modelnet40_ply_hdf5_2048 folder"
)


@dataclass(frozen=True)
class Params:
    source: Literal["modelnet40_h5"]
    path: str  # the modelnet40_ply_hdf5_2048 folder
    normalize: bool = True  # each cloud to the unit sphere; false: the files' coordinates (upstream; paper preset)
    required: bool = True  # false: missing files give an empty, skipped dataset


def list_file(root: Path, split: str) -> Path:
    return root / f"{split}_files.txt"


def read_names(path: Path) -> list[str]:
    """The class names of ``shape_names.txt`` (one a line, blank lines ignored), checked unique."""
    try:
        names = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError as err:
        raise StageError(f"{path}: cannot read the class names ({err})") from err
    if not names:
        raise StageError(f"{path}: no class names in it; replace it with the file from the release")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise StageError(f"{path}: class name(s) listed twice: {', '.join(dup)}")
    return names


class ModelNet40H5Source(PointSource):
    """ModelNet40 point clouds from PointNet's HDF5 files, official split."""

    def __init__(self, params: Params, name: str = "modelnet40_h5"):
        self.params = params
        self.normalized = params.normalize
        self.name = name
        self.class_names: list[str] | None = None
        self.rejects: list[Reject] = []
        self._skip: str | None = None
        self._files: list[tuple[str, Path]] | None = None
        self._missing: list[Reject] = []

    @property
    def root(self) -> Path:
        return Path(self.params.path)

    def files(self) -> tuple[list[tuple[str, Path]], list[Reject]]:
        """(split, file) pairs in list order, and rejects for listed files that are absent."""
        found: list[tuple[str, Path]] = []
        missing: list[Reject] = []
        if not self.root.is_dir():
            return found, missing
        for split in SPLITS:
            listing = list_file(self.root, split)
            if listing.is_file():
                lines = [ln.strip() for ln in listing.read_text(errors="replace").splitlines() if ln.strip()]
                for line in lines:
                    f = self.root / Path(line.replace("\\", "/")).name
                    if f.is_file():
                        found.append((split, f))
                    else:
                        missing.append(Reject(str(f), f"listed in {listing.name} but not found in {self.root}"))
            else:
                globbed = sorted(self.root.glob(f"ply_data_{split}*.h5"), key=lambda p: natural_key(p.name))
                found += [(split, f) for f in globbed if f.is_file()]
        return found, missing

    def ensure_available(self) -> str | None:
        if self._files is not None:
            return None
        if self._skip is not None:
            return self._skip
        files, missing = self.files()
        names = self.root / NAMES_FILE
        problem = None
        if not self.root.is_dir():
            problem = f"ModelNet40 HDF5 folder {self.root} not found (cwd {Path.cwd()})"
        elif not names.is_file():
            problem = f"{NAMES_FILE} not found in {self.root}"
        else:
            absent = [s for s in SPLITS if not any(split == s for split, _ in files)]
            if absent:
                problem = (f"no {' or '.join(absent)} file (ply_data_<split>*.h5, or those listed in "
                           f"<split>_files.txt) found in {self.root}")
        if problem is not None:
            self._skip = data_missing(self.name, self.params.required, problem, HELP.format(name=self.name))
            return self._skip
        self.class_names = read_names(names)
        self._files = files
        self._missing = missing
        return None

    def load_points(self) -> PointSet:
        if self.ensure_available() is not None:
            meta = DatasetMeta(source="modelnet40_h5", class_names=list(self.class_names or []))
            return PointSet(np.zeros((0, 2048, 3), np.float32), np.zeros(0, np.int64), [], [], meta)
        class_names = list(self.class_names or [])
        self.rejects = list(self._missing)
        points, labels, split, ids = [], [], [], []
        n_points: int | None = None
        for name, f in self._files or []:
            got = read_file(f)
            if isinstance(got, str):
                self.rejects.append(Reject(str(f), got))
                continue
            data, label = got
            if n_points is None:
                n_points = data.shape[1]
            elif data.shape[1] != n_points:
                self.rejects.append(Reject(str(f), f"{data.shape[1]} points per cloud, the first file has {n_points}"))
                continue
            keep = np.ones(len(data), dtype=bool)
            for row in range(len(data)):
                reason = row_problem(data[row], int(label[row]), len(class_names))
                if reason is not None:
                    self.rejects.append(Reject(f"{f}:{row}", reason))
                    keep[row] = False
            rows = np.flatnonzero(keep)
            if not len(rows):
                continue
            xyz = data[rows]
            points.append((normalize_unit_sphere(xyz) if self.normalized else xyz).astype(np.float32))
            labels.append(label[rows])
            split += [name] * len(rows)
            ids += [f"{f.stem}/{r:05d}" for r in rows]
        meta = DatasetMeta(source="modelnet40_h5", class_names=class_names)
        if not points:
            return PointSet(np.zeros((0, n_points or 2048, 3), np.float32), np.zeros(0, np.int64), [], [], meta)
        return PointSet(np.concatenate(points), np.concatenate(labels), split, ids, meta)


def read_file(path: Path) -> tuple[np.ndarray, np.ndarray] | str:
    """``data`` float64 [N, P, 3] and ``label`` int64 [N] of one file, or why it cannot be used."""
    try:
        with h5py.File(path, "r") as h5:
            absent = [k for k in ("data", "label") if k not in h5]
            if absent:
                return f"no dataset(s) {', '.join(absent)} in the file (found: {', '.join(h5) or 'none'})"
            data = np.asarray(h5["data"][()])
            label = np.asarray(h5["label"][()])
    except OSError as err:
        return f"not a readable HDF5 file ({err})"
    if data.ndim != 3 or data.shape[2] < 3 or data.shape[1] == 0:
        return f"data has shape {data.shape}, expected [N, P, 3]"
    if not (np.issubdtype(data.dtype, np.floating) or np.issubdtype(data.dtype, np.integer)):
        return f"data has dtype {data.dtype}, expected floats"
    if not np.issubdtype(label.dtype, np.integer) or label.size != len(data) or label.ndim > 2:
        return f"label has shape {label.shape} and dtype {label.dtype}, expected integers [N, 1] for N = {len(data)}"
    return data[:, :, :3].astype(np.float64), label.reshape(-1).astype(np.int64)


def row_problem(cloud: np.ndarray, label: int, n_classes: int) -> str | None:
    """Why one object cannot be kept (None when it can)."""
    if not 0 <= label < n_classes:
        return f"label {label} outside 0..{n_classes - 1} (the classes of {NAMES_FILE})"
    if not np.all(np.isfinite(cloud)):
        return "non-finite (NaN or infinite) point coordinates"
    if not np.ptp(cloud, axis=0).max() > 0:
        return "degenerate cloud (all points coincide)"
    return None
