"""``shapenetpart``: the ShapeNetPart HDF5 files (``hdf5_data``), read from a local copy. The code is in :mod:`.reader`."""

from crosspoint.sources.shapenetpart.reader import Params, ShapeNetPartSource

__all__ = ["ShapeNetPartSource", "Params"]
