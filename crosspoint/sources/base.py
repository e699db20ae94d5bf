"""The interface every mesh or point source implements.

A *mesh source* yields :class:`MeshItem` (or :class:`Reject` for an input it could not use) from
``items()``; the prepare stage normalises the meshes, maps part names to global part ids and writes
the mesh store. A *point source* (ScanObjectNN or ShapeNetPart HDF5 files) returns a ready
:class:`crosspoint.store.PointSet` from ``load_points()``.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from crosspoint.store import StageError

log = logging.getLogger("crosspoint.sources")


def data_missing(name: str, required: bool, reason: str, how_to_fix: str, warn: bool = True) -> str:
    """A dataset's files are absent: raise a StageError saying ``how_to_fix`` when the dataset is
    ``required``; otherwise log (once, ``warn``) that it is skipped and return ``reason``."""
    if required:
        raise StageError(f"{reason}; {how_to_fix} (or set datasets.{name}.required: false to skip it)")
    if warn:
        log.warning("%s: %s; skipping (required: false)", name, reason)
    return reason


@dataclass
class MeshItem:
    """One raw object as a source found it (not yet normalised)."""

    object_id: str
    class_name: str
    split: str | None  # "train", "test", or None when the source has no split (prepare makes one)
    vertices: np.ndarray  # float [V, 3]
    faces: np.ndarray  # int [F, 3]
    face_parts: np.ndarray | None = None  # int [F], index into part_names
    part_names: list[str] | None = None  # the object's part vocabulary, e.g. ["seat", "back", "leg"]
    face_colors: np.ndarray | None = None  # uint8 [F, 3]
    path: str = ""  # where it came from, for the rejects table


@dataclass
class Reject:
    """An input the source skipped, and why."""

    path: str
    reason: str


class MeshSource(ABC):
    """Base class of mesh sources. ``kind`` tells prepare which method to call."""

    kind = "meshes"

    @abstractmethod
    def items(self) -> Iterator[MeshItem | Reject]:
        """Every object of the source, or a Reject for each input that cannot be used."""


class PointSource(ABC):
    """Base class of sources that provide point clouds directly (no meshes to render)."""

    kind = "points"
    # False: the clouds keep the files' coordinates; prepare marks the store (``coordinates: raw``) and
    # the sample stage then resamples without renormalising
    normalized = True

    @abstractmethod
    def load_points(self):
        """The whole dataset as a :class:`crosspoint.store.PointSet`, normalised to the unit sphere
        (unless ``normalized`` is False)."""
