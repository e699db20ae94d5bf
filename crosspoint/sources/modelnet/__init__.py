"""``modelnet``: the Princeton ModelNet40 or ModelNet10 archive (``version: 40`` or ``10``). The code is in :mod:`.reader`."""

from crosspoint.sources.modelnet.reader import ModelNetSource, Params

__all__ = ["ModelNetSource", "Params"]
