"""``shapenetpart``: the ShapeNetPart HDF5 files (``hdf5_data``), read from a local copy.

Files ``ply_data_{train,val,test}<k>.h5`` hold ``data`` float [N, 2048, 3], ``label`` [N, 1] (the
category, 16 in the standard order) and ``pid`` [N, 2048] (the part, 50 global ids; each category
owns a contiguous range). The usual protocol trains on train + val, so ``val`` files join the train
split unless ``use_val`` is false. The files carry no part names, so parts are named
``<Category>/part<k>`` by their index within the category. Clouds are normalised to the unit sphere
unless ``normalize`` is false (upstream reads them as stored).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from crosspoint.sources.base import PointSource, data_missing
from crosspoint.sources.h5_points import read_h5_points
from crosspoint.sources.helpers import natural_key, normalize_unit_sphere
from crosspoint.store import DatasetMeta, PointSet, StageError

log = logging.getLogger("crosspoint.sources.prepare")

# Categories in label order, with the number of parts of each (global part ids are consecutive).
CATEGORY_PARTS: list[tuple[str, int]] = [
    ("Airplane", 4), ("Bag", 2), ("Cap", 2), ("Car", 4), ("Chair", 4), ("Earphone", 3), ("Guitar", 3),
    ("Knife", 2), ("Lamp", 4), ("Laptop", 2), ("Motorbike", 6), ("Mug", 2), ("Pistol", 3), ("Rocket", 3),
    ("Skateboard", 3), ("Table", 3),
]
CLASS_NAMES = [c for c, _ in CATEGORY_PARTS]


def part_vocabulary() -> tuple[list[str], dict[str, list[int]]]:
    """Global part names (50) and category -> its global part ids."""
    names: list[str] = []
    class_parts: dict[str, list[int]] = {}
    for cat, n in CATEGORY_PARTS:
        class_parts[cat] = list(range(len(names), len(names) + n))
        names += [f"{cat}/part{k}" for k in range(n)]
    return names, class_parts


PART_NAMES, CLASS_PARTS = part_vocabulary()
HELP = (
    "get shapenet_part_seg_hdf5_data (hdf5_data/ply_data_*.h5, from the PointNet authors' release), "
    "unpack it and set datasets.{name}.path to the folder holding the .h5 files"
)


@dataclass(frozen=True)
class Params:
    source: Literal["shapenetpart"]
    path: str  # the folder holding ply_data_*.h5
    use_val: bool = True  # val files join the train split (train + val protocol); false: left out
    normalize: bool = True  # each cloud to the unit sphere; false: the files' coordinates (upstream)
    required: bool = True  # false: missing files give an empty, skipped dataset


class ShapeNetPartSource(PointSource):
    """ShapeNetPart point clouds with per-point part labels."""

    def __init__(self, params: Params, name: str = "shapenetpart"):
        self.params = params
        self.name = name
        self.class_names = list(CLASS_NAMES)
        self.normalized = params.normalize

    def files(self) -> list[tuple[str, Path]]:
        """(split, file) pairs in a stable order."""
        root = Path(self.params.path)
        if not root.is_dir():
            return []
        out = []
        groups = [("train", "train"), ("val", "train"), ("test", "test")]
        for prefix, split in groups:
            if prefix == "val" and not self.params.use_val:
                continue
            for f in sorted(root.glob(f"ply_data_{prefix}*.h5"), key=lambda p: natural_key(p.name)):
                out.append((split, f))
        return out

    def ensure_available(self) -> str | None:
        found = {split for split, _ in self.files()}
        if {"train", "test"} <= found:
            return None
        reason = f"ShapeNetPart files ply_data_train*.h5 and ply_data_test*.h5 not found in {self.params.path}"
        return data_missing(self.name, self.params.required, reason, HELP.format(name=self.name))

    def load_points(self) -> PointSet:
        meta = DatasetMeta(
            source="shapenetpart", class_names=list(CLASS_NAMES), part_names=list(PART_NAMES),
            class_parts={k: list(v) for k, v in CLASS_PARTS.items()},
        )
        if self.ensure_available() is not None:
            return PointSet(
                np.zeros((0, 2048, 3), np.float32), np.zeros(0, np.int64), [], [], meta,
                part_labels=np.zeros((0, 2048), np.int16),
            )
        points, labels, parts, split, ids = [], [], [], [], []
        for name, f in self.files():
            d = read_h5_points(f, ("data", "label", "pid"))
            data = np.asarray(d["data"])
            label = np.asarray(d["label"]).reshape(-1).astype(np.int64)
            pid = np.asarray(d["pid"]).astype(np.int64)
            if data.ndim != 3 or data.shape[2] < 3 or len(label) != len(data) or pid.shape != data.shape[:2]:
                raise StageError(
                    f"{f}: expected data [N, P, 3], label [N] and pid [N, P], got {data.shape}, {label.shape}, {pid.shape}"
                )
            if label.size and (label.min() < 0 or label.max() >= len(CLASS_NAMES)):
                raise StageError(f"{f}: category labels outside 0..{len(CLASS_NAMES) - 1}; is this a ShapeNetPart file?")
            if pid.size and (pid.min() < 0 or pid.max() >= len(PART_NAMES)):
                raise StageError(f"{f}: part ids outside 0..{len(PART_NAMES) - 1}; is this a ShapeNetPart file?")
            xyz = data[:, :, :3]
            points.append((normalize_unit_sphere(xyz) if self.normalized else xyz).astype(np.float32))
            labels.append(label)
            parts.append(pid.astype(np.int16))
            split += [name] * len(label)
            ids += [f"{f.stem}/{i:05d}" for i in range(len(label))]
        sizes = {p.shape[1] for p in points}
        if len(sizes) > 1:
            raise StageError(f"{self.params.path}: files have different point counts {sorted(sizes)}")
        return PointSet(
            np.concatenate(points), np.concatenate(labels), split, ids, meta, part_labels=np.concatenate(parts),
        )
