"""Headless rendering helpers shared by the render and scan stages (and anyone else who renders).

pyrender draws through OpenGL; without a display it needs an offscreen platform, chosen by the
``PYOPENGL_PLATFORM`` environment variable before OpenGL is first imported:

* ``egl`` (default): hardware or Mesa EGL. On Debian/Ubuntu install ``libegl1 libegl-mesa0
  libgl1-mesa-dri`` (Mesa's llvmpipe renders on the CPU when there is no GPU).
* ``osmesa``: the pure-software fallback when EGL is unavailable. Install ``libosmesa6`` and set
  ``render.backend: osmesa`` in params.yaml.

An already-set ``PYOPENGL_PLATFORM`` wins over the params value (the user asked for it explicitly).
numpy 2 removed ``np.infty``, which pyrender 0.1.45 still uses, so it is restored before import.

Conventions: world y is up (ModelNet/ShapeNet, as the point augmentations assume); camera poses
are camera-to-world 4x4 matrices in the OpenGL convention (the camera looks down its -z axis, +y
up in the image); objects are normalised to the unit sphere at the origin.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from crosspoint import exact, paths
from crosspoint.store import Mesh, MeshStore, StageError, get_meta

log = logging.getLogger("crosspoint.rendering")

Backend = Literal["egl", "osmesa"]
CameraMode = Literal["ring", "sphere", "r2n2"]

def _one_line(err: BaseException, limit: int = 200) -> str:
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def install_hint(platform: str) -> str:
    """What to install for ``platform`` (one line, Debian package names)."""
    if platform == "osmesa":
        return "install OSMesa (Debian: apt-get install libosmesa6) or use the egl backend"
    return (
        "install EGL (Debian: apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri), "
        "or set render.backend: osmesa (and PYOPENGL_PLATFORM unset) with libosmesa6 installed"
    )

_pyrender: Any = None


def setup_backend(backend: Backend = "egl") -> str:
    """Choose the OpenGL platform (unless PYOPENGL_PLATFORM is already set); return the one in use."""
    os.environ.setdefault("PYOPENGL_PLATFORM", backend)
    return os.environ["PYOPENGL_PLATFORM"]


def import_pyrender(backend: Backend = "egl") -> Any:
    """Import pyrender lazily with the numpy-2 shim; a missing GL library becomes a StageError."""
    global _pyrender
    if _pyrender is not None:
        return _pyrender
    if "OpenGL.platform" in sys.modules and "PYOPENGL_PLATFORM" not in os.environ:
        raise StageError(
            "PyOpenGL was imported before the rendering backend was chosen; "
            f"set PYOPENGL_PLATFORM={backend} in the environment"
        )
    platform = setup_backend(backend)
    if not hasattr(np, "infty"):
        np.infty = np.inf  # type: ignore[attr-defined]  # removed in numpy 2, used by pyrender
    try:
        import pyrender
    except Exception as err:  # noqa: BLE001 - any GL loading failure means the same fix
        raise StageError(
            f"cannot load OpenGL for PYOPENGL_PLATFORM={platform} ({_one_line(err)}); "
            + install_hint(platform)
        ) from err
    _pyrender = pyrender
    return pyrender


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


# ---------------------------------------------------------------------------------------------
# Cameras


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


# ---------------------------------------------------------------------------------------------
# Meshes


def _face_normals(tris: np.ndarray) -> np.ndarray:
    n = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    norm = exact.norm(n)[:, None]
    return n / np.maximum(norm, 1e-12)


def mesh_problem(mesh: Mesh) -> str | None:
    """Why a mesh cannot be rendered (no faces, non-finite vertices, bad indices), or None."""
    if len(mesh.faces) == 0 or len(mesh.vertices) == 0:
        return "mesh has no faces"
    if not np.isfinite(mesh.vertices).all():
        return "mesh has non-finite vertex coordinates"
    if mesh.faces.min() < 0 or mesh.faces.max() >= len(mesh.vertices):
        return "mesh face indices out of range"
    return None


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


# ---------------------------------------------------------------------------------------------
# Renderer


class Renderer:
    """One offscreen renderer and scene, reused for every object (create once, ``close()`` at the end).

    Lighting: a directional light that moves with the camera (so the visible side is lit) plus
    ambient light; meshes are drawn with their face colours on a plain background.
    """

    def __init__(
        self,
        image_size: int,
        yfov_deg: float = 45.0,
        light_intensity: float = 3.0,
        ambient: float = 0.35,
        background: Sequence[int] = (255, 255, 255),
        backend: Backend = "egl",
    ):
        self.pyrender = import_pyrender(backend)
        pr = self.pyrender
        self.image_size = int(image_size)
        self.yfov_deg = float(yfov_deg)
        self.K = intrinsics(self.image_size, self.yfov_deg)
        bg = np.asarray(list(background) + [255], dtype=np.float64) / 255.0
        self.scene = pr.Scene(bg_color=bg, ambient_light=np.full(3, float(ambient)))
        self.camera_node = self.scene.add(
            pr.PerspectiveCamera(yfov=np.deg2rad(self.yfov_deg), znear=0.05, zfar=100.0, aspectRatio=1.0)
        )
        self.light_node = self.scene.add(pr.DirectionalLight(color=np.ones(3), intensity=float(light_intensity)))
        try:
            self.renderer = pr.OffscreenRenderer(self.image_size, self.image_size)
        except Exception as err:  # noqa: BLE001 - EGL/OSMesa context failures have many types
            raise StageError(
                f"cannot create an offscreen OpenGL context with PYOPENGL_PLATFORM="
                f"{os.environ.get('PYOPENGL_PLATFORM')} ({_one_line(err)}); "
                + install_hint(os.environ.get("PYOPENGL_PLATFORM", backend))
            ) from err

    # -- scene management ---------------------------------------------------------------------

    def _set_camera(self, pose: np.ndarray) -> None:
        self.scene.set_pose(self.camera_node, pose)
        self.scene.set_pose(self.light_node, pose)

    def gl_renderer(self) -> str:
        """The OpenGL renderer string (e.g. ``llvmpipe`` for Mesa on the CPU)."""
        from OpenGL import GL

        self.renderer._platform.make_current()  # noqa: SLF001
        try:
            return GL.glGetString(GL.GL_RENDERER).decode()
        finally:
            self.renderer._platform.make_uncurrent()  # noqa: SLF001

    # -- rendering ----------------------------------------------------------------------------

    def render_color(
        self, mesh: Mesh, poses: np.ndarray, with_mask: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """RGB images uint8 [V, H, W, 3] of ``mesh`` from each pose (and foreground masks [V, H, W])."""
        pr = self.pyrender
        node = self.scene.add(
            pr.Mesh([colour_primitive(pr, mesh.vertices, mesh.faces, mesh.face_colors)])
        )
        n = self.image_size
        images = np.empty((len(poses), n, n, 3), dtype=np.uint8)
        masks = np.empty((len(poses), n, n), dtype=bool)
        try:
            for v, pose in enumerate(poses):
                self._set_camera(pose)
                color, depth = self.renderer.render(self.scene)
                images[v] = color[..., :3]
                masks[v] = depth > 0
        finally:
            self.scene.remove_node(node)
        return (images, masks) if with_mask else images

    def render_depth(self, mesh: Mesh, pose: np.ndarray) -> np.ndarray:
        """Linear depth float32 [H, W] of ``mesh`` seen from ``pose`` (0 where nothing was hit)."""
        depth, _ = self.render_depth_seg([(mesh.vertices, mesh.faces, np.eye(4))], pose)
        return depth

    def render_depth_seg(
        self, parts: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], pose: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Depth [H, W] and segment index int16 [H, W] (-1 = background) of several meshes.

        ``parts`` holds ``(vertices, faces, model_pose)``; segment ``i`` is ``parts[i]``.
        """
        pr = self.pyrender
        nodes = []
        seg_map = {}
        try:
            for i, (verts, faces, model_pose) in enumerate(parts):
                node = self.scene.add(pr.Mesh([depth_primitive(pr, verts, faces)]), pose=model_pose)
                nodes.append(node)
                seg_map[node] = _index_colour(i)
            self._set_camera(pose)
            seg, depth = self.renderer.render(self.scene, flags=pr.RenderFlags.SEG, seg_node_map=seg_map)
        finally:
            for node in nodes:
                self.scene.remove_node(node)
        code = seg[..., 0].astype(np.int32) + 256 * seg[..., 1].astype(np.int32)
        index = (code - 1).astype(np.int16)
        index[depth <= 0] = -1
        return depth.astype(np.float32), index

    def close(self) -> None:
        """Free this renderer's OpenGL context (safe to call twice).

        pyrender's own ``delete()`` (also run by its ``__del__``) terminates the EGL display, which
        every context of the process shares, and so breaks any other live renderer; with EGL only
        this context is destroyed here (the display goes with the process).
        """
        offscreen = getattr(self, "renderer", None)
        if offscreen is None:
            return
        self.renderer = None
        platform = offscreen._platform  # noqa: SLF001
        if getattr(platform, "_egl_context", None) is None:
            offscreen.delete()
            return
        from OpenGL.EGL import EGL_NO_CONTEXT, EGL_NO_SURFACE, eglDestroyContext, eglMakeCurrent

        platform.make_current()
        offscreen._renderer.delete()  # noqa: SLF001
        display = platform._egl_display  # noqa: SLF001
        eglMakeCurrent(display, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT)
        eglDestroyContext(display, platform._egl_context)  # noqa: SLF001
        # OffscreenRenderer.__del__ would call delete() -> eglTerminate: leave it nothing to do
        platform._egl_context = None  # noqa: SLF001
        platform._egl_display = None  # noqa: SLF001

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _index_colour(i: int) -> np.ndarray:
    """Segment colour for index ``i`` (1-based code in red + 256 * green; 0 is the background)."""
    code = i + 1
    return np.array([code % 256, code // 256, 0], dtype=np.float64)
