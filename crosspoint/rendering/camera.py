"""Camera geometry of the renders and scans: poses around the object, the pinhole intrinsics, and depth
back-projected to world points.

Conventions: world y is up (ModelNet/ShapeNet, as the point augmentations assume); camera poses
are camera-to-world 4x4 matrices in the OpenGL convention (the camera looks down its -z axis, +y
up in the image); objects are normalised to the unit sphere at the origin.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from crosspoint import exact

CameraMode = Literal["ring", "sphere", "r2n2"]


def look_at(eye: np.ndarray, target: np.ndarray | None = None, up: Sequence[float] = (0.0, 1.0, 0.0)) -> np.ndarray:
    """Camera-to-world pose of a camera at ``eye`` looking at ``target`` (OpenGL axes, y up)."""
    eye = np.asarray(eye, dtype=np.float64)
    target = np.zeros(3) if target is None else np.asarray(target, dtype=np.float64)
    back = eye - target
    back /= exact.norm(back)
    up_v = np.asarray(up, dtype=np.float64)
    if abs(float(exact.dot(back, up_v))) > 0.999:  # looking straight down or up: any horizontal "up"
        up_v = np.array([0.0, 0.0, -1.0]) if back[1] > 0 else np.array([0.0, 0.0, 1.0])
    right = np.cross(up_v, back)
    right /= exact.norm(right)
    true_up = np.cross(back, right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, true_up, back, eye
    return pose


def camera_poses(
    views: int,
    elevation_deg: Sequence[float],
    distance: float,
    mode: CameraMode,
    rng: np.random.Generator,
) -> np.ndarray:
    """``views`` camera-to-world poses [V, 4, 4] (float32) looking at the origin from ``distance``.

    ``ring``: azimuths evenly spaced from a random start, elevations stepping evenly from
    ``elevation_deg[0]`` to ``elevation_deg[1]`` (a fixed spiral, so the views cover the range).
    ``sphere``: independent random viewpoints, azimuth uniform, elevation uniform in area on the
    band between the two elevations.
    ``r2n2``: as 3D-R2N2 drew its ShapeNet renders (the CrossPoint paper's images): azimuth uniform,
    elevation uniform in degrees between the two elevations (theirs: 25 to 30).
    """
    lo, hi = np.deg2rad(float(elevation_deg[0])), np.deg2rad(float(elevation_deg[1]))
    if mode == "ring":
        azimuth = rng.uniform(0.0, 2 * np.pi) + 2 * np.pi * np.arange(views) / views
        elevation = np.linspace(lo, hi, views) if views > 1 else np.array([(lo + hi) / 2])
    elif mode == "sphere":
        azimuth = rng.uniform(0.0, 2 * np.pi, size=views)
        elevation = np.arcsin(rng.uniform(np.sin(lo), np.sin(hi), size=views))
    elif mode == "r2n2":
        azimuth = rng.uniform(0.0, 2 * np.pi, size=views)
        elevation = rng.uniform(lo, hi, size=views)
    else:
        raise ValueError(f"unknown camera mode {mode!r} (ring, sphere or r2n2)")
    eyes = [spherical_to_xyz(a, e, distance) for a, e in zip(azimuth, elevation, strict=True)]
    return np.stack([look_at(eye) for eye in eyes]).astype(np.float32)


def spherical_to_xyz(azimuth: float, elevation: float, radius: float) -> np.ndarray:
    """Point at ``radius`` with the given azimuth (about +y, from +z) and elevation (radians), y up."""
    return radius * np.array(
        [np.cos(elevation) * np.sin(azimuth), np.sin(elevation), np.cos(elevation) * np.cos(azimuth)]
    )


def intrinsics(image_size: int, yfov_deg: float) -> np.ndarray:
    """Pinhole matrix K (3x3) of a square image with the given vertical field of view."""
    f = 0.5 * image_size / np.tan(np.deg2rad(yfov_deg) / 2)
    c = image_size / 2
    return np.array([[f, 0.0, c], [0.0, f, c], [0.0, 0.0, 1.0]])


def backproject(depth: np.ndarray, pose: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World points [M, 3] of the pixels with depth > 0, and their pixel indices [M, 2] (row, col).

    ``depth`` is pyrender's linear depth (distance along the camera's -z axis, 0 = background).
    """
    rows, cols = np.nonzero(depth > 0)
    z = depth[rows, cols].astype(np.float64)
    x = (cols + 0.5 - K[0, 2]) * z / K[0, 0]
    y = -(rows + 0.5 - K[1, 2]) * z / K[1, 1]
    cam = np.stack([x, y, -z], axis=1)
    world = exact.rigid(cam, pose)
    return world, np.stack([rows, cols], axis=1)
