"""The meshes a render or scan draws: the prepared mesh store of a dataset, the ``skipped`` reason of a
store made from an absent optional dataset, and why a mesh cannot be drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crosspoint import paths
from crosspoint.store import Mesh, MeshStore, StageError, get_meta


def open_mesh_store(dataset: str) -> MeshStore:
    """The prepared mesh store of ``dataset``, or a StageError saying how to make it."""
    path = Path(paths.prepared(dataset))
    if not path.exists():
        raise StageError(f"{path}: mesh store not found (run `crosspoint prepare --dataset {dataset}` or dvc repro)")
    return MeshStore(path)


def read_skipped(path: str | Path) -> str | None:
    """The ``skipped`` reason of a store made from an absent optional dataset, or None."""
    import h5py

    with h5py.File(path, "r") as h5:
        reason = get_meta(h5, "skipped")
    return str(reason) if reason else None


def mesh_problem(mesh: Mesh) -> str | None:
    """Why a mesh cannot be rendered (no faces, non-finite vertices, bad indices), or None."""
    if len(mesh.faces) == 0 or len(mesh.vertices) == 0:
        return "mesh has no faces"
    if not np.isfinite(mesh.vertices).all():
        return "mesh has non-finite vertex coordinates"
    if mesh.faces.min() < 0 or mesh.faces.max() >= len(mesh.vertices):
        return "mesh face indices out of range"
    return None
