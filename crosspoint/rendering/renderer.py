"""The offscreen renderer: one pyrender scene and OpenGL context, reused for every object (colour images
with masks, depth, per-part segmentation). The platform: :mod:`crosspoint.rendering.backend`; camera
conventions: :mod:`crosspoint.rendering.camera`."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from crosspoint.rendering.backend import Backend, _one_line, import_pyrender, install_hint
from crosspoint.rendering.camera import intrinsics
from crosspoint.rendering.primitives import colour_primitive, depth_primitive
from crosspoint.store import Mesh, StageError


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
