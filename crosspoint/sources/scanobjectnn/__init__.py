"""``scanobjectnn``: the ScanObjectNN HDF5 files (real scans), read from a local copy. The code is in :mod:`.reader`."""

from crosspoint.sources.scanobjectnn.reader import Params, ScanObjectNNSource

__all__ = ["ScanObjectNNSource", "Params"]
