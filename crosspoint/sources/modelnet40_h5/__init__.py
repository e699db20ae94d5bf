"""``modelnet40_h5``: PointNet's ModelNet40 HDF5 clouds (``modelnet40_ply_hdf5_2048``), read from a local
copy. The code is in :mod:`.reader`."""

from crosspoint.sources.modelnet40_h5.reader import ModelNet40H5Source, Params

__all__ = ["ModelNet40H5Source", "Params"]
