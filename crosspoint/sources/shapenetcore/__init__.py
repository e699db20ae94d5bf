"""``shapenetcore``: a local ShapeNetCore v2 folder of meshes. The code is in :mod:`.reader`."""

from crosspoint.sources.shapenetcore.reader import Params, ShapeNetCoreSource

__all__ = ["ShapeNetCoreSource", "Params"]
