"""``scanobjectnn``: the ScanObjectNN HDF5 files (real scans), read from a local copy.

ScanObjectNN is distributed on request by its authors, so it is never downloaded here. ``path`` is
the ``h5_files`` folder (with ``main_split/`` and ``main_split_nobg/``) or a folder holding the two
files of one variant directly:

- ``obj_bg``: ``main_split/{training,test}_objectdataset.h5`` (objects with background)
- ``obj_only``: ``main_split_nobg/{training,test}_objectdataset.h5``
- ``pb_t50_rs``: ``main_split/{training,test}_objectdataset_augmentedrot_scale75.h5`` (hardest)

Each file holds ``data`` float [N, 2048, 3] and ``label`` int [N] (or [N, 1]). Clouds are
normalised to the unit sphere unless ``normalize`` is false (upstream reads them as stored).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from crosspoint.sources.base import PointSource, data_missing
from crosspoint.sources.h5_points import read_h5_points
from crosspoint.sources.helpers import normalize_unit_sphere
from crosspoint.store import DatasetMeta, PointSet, StageError

log = logging.getLogger("crosspoint.sources.prepare")

# The 15 classes in the order of the label ids in the h5 files.
CLASS_NAMES = [
    "bag", "bin", "box", "cabinet", "chair", "desk", "display", "door",
    "shelf", "table", "bed", "pillow", "sink", "sofa", "toilet",
]
VARIANTS = {
    "obj_bg": ("main_split", ""),
    "obj_only": ("main_split_nobg", ""),
    "pb_t50_rs": ("main_split", "_augmentedrot_scale75"),
}
HELP = (
    "ScanObjectNN is shared by its authors on request (https://hkust-vgd.github.io/scanobjectnn/); "
    "unpack h5_files.zip and set datasets.{name}.path to the h5_files folder"
)


@dataclass(frozen=True)
class Params:
    source: Literal["scanobjectnn"]
    path: str  # the h5_files folder, or a folder holding one variant's two files
    variant: Literal["obj_only", "obj_bg", "pb_t50_rs"] = "obj_bg"
    normalize: bool = True  # each cloud to the unit sphere; false: the files' coordinates (upstream)
    required: bool = True  # false: missing files give an empty, skipped dataset


class ScanObjectNNSource(PointSource):
    """ScanObjectNN point clouds, one variant, official train/test split."""

    def __init__(self, params: Params, name: str = "scanobjectnn"):
        self.params = params
        self.name = name
        self.class_names = list(CLASS_NAMES)
        self.normalized = params.normalize

    def files(self) -> dict[str, Path] | None:
        """{"train": file, "test": file}, or None when not both are present."""
        subdir, suffix = VARIANTS[self.params.variant]
        root = Path(self.params.path)
        for folder in (root / subdir, root):
            found = {
                "train": folder / f"training_objectdataset{suffix}.h5",
                "test": folder / f"test_objectdataset{suffix}.h5",
            }
            if all(f.is_file() for f in found.values()):
                return found
        return None

    def ensure_available(self) -> str | None:
        if self.files() is not None:
            return None
        subdir, suffix = VARIANTS[self.params.variant]
        reason = (
            f"ScanObjectNN {self.params.variant} files ({subdir}/training_objectdataset{suffix}.h5 and "
            f"test_objectdataset{suffix}.h5) not found under {self.params.path}"
        )
        return data_missing(self.name, self.params.required, reason, HELP.format(name=self.name))

    def load_points(self) -> PointSet:
        meta = DatasetMeta(source="scanobjectnn", class_names=list(CLASS_NAMES))
        if self.ensure_available() is not None:
            return PointSet(np.zeros((0, 2048, 3), np.float32), np.zeros(0, np.int64), [], [], meta)
        points, labels, split, ids = [], [], [], []
        for name, f in self.files().items():
            d = read_h5_points(f, ("data", "label"))
            data, label = np.asarray(d["data"]), np.asarray(d["label"]).reshape(-1).astype(np.int64)
            if data.ndim != 3 or data.shape[2] < 3 or len(data) != len(label):
                raise StageError(f"{f}: expected data [N, P, 3] and label [N], got {data.shape} and {label.shape}")
            if label.size and (label.min() < 0 or label.max() >= len(CLASS_NAMES)):
                raise StageError(f"{f}: labels outside 0..{len(CLASS_NAMES) - 1}; is this a ScanObjectNN file?")
            xyz = data[:, :, :3]
            points.append((normalize_unit_sphere(xyz) if self.normalized else xyz).astype(np.float32))
            labels.append(label)
            split += [name] * len(label)
            ids += [f"{name}/{i:05d}" for i in range(len(label))]
        sizes = {p.shape[1] for p in points}
        if len(sizes) > 1:
            raise StageError(f"{self.params.path}: train and test files have different point counts {sorted(sizes)}")
        return PointSet(np.concatenate(points), np.concatenate(labels), split, ids, meta)
