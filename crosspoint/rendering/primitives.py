"""The pyrender primitives a mesh is drawn with: flat-shaded per-face colours lit from both sides, and
an untextured indexed mesh for the depth and segmentation passes."""

from __future__ import annotations

from typing import Any

import numpy as np

from crosspoint import exact


def _face_normals(tris: np.ndarray) -> np.ndarray:
    n = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    norm = exact.norm(n)[:, None]
    return n / np.maximum(norm, 1e-12)


def colour_primitive(pyrender: Any, vertices: np.ndarray, faces: np.ndarray, face_colors: np.ndarray) -> Any:
    """A flat-shaded primitive with per-face colours, lit correctly from both sides.

    Each triangle is emitted twice (both windings, opposite normals) with back-face culling on, so
    the copy facing the camera is drawn with a normal facing the camera: meshes with inconsistent
    winding (common in real CAD/scan data) are shaded as well as clean ones.
    """
    tris = np.asarray(vertices, dtype=np.float32)[faces]  # [F, 3, 3]
    normals = _face_normals(tris).astype(np.float32)
    positions = np.concatenate([tris, tris[:, ::-1]]).reshape(-1, 3)
    normals = np.concatenate([normals, -normals])
    normals = np.repeat(normals, 3, axis=0)
    colours = np.asarray(face_colors, dtype=np.float32) / 255.0
    colours = np.repeat(np.concatenate([colours, colours]), 3, axis=0)
    colours = np.concatenate([colours, np.ones((len(colours), 1), np.float32)], axis=1)
    material = pyrender.MetallicRoughnessMaterial(
        baseColorFactor=[1.0, 1.0, 1.0, 1.0], metallicFactor=0.0, roughnessFactor=0.9, doubleSided=False
    )
    return pyrender.Primitive(positions=positions, normals=normals, color_0=colours, material=material)


def depth_primitive(pyrender: Any, vertices: np.ndarray, faces: np.ndarray) -> Any:
    """An indexed, untextured primitive for depth/segmentation passes (cheaper than colour)."""
    material = pyrender.MetallicRoughnessMaterial(doubleSided=True)
    return pyrender.Primitive(
        positions=np.asarray(vertices, dtype=np.float32),
        indices=np.asarray(faces, dtype=np.uint32),
        material=material,
    )
