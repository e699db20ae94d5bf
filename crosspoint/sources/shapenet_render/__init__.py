"""``shapenet_render``: ShapeNet point clouds (.ply) with the 3D-R2N2 renders, read from a local copy. The code is in :mod:`.reader`."""

from crosspoint.sources.shapenet_render.reader import Params, ShapeNetRenderSource

__all__ = ["ShapeNetRenderSource", "Params"]
