"""``mesh_folder``: any folder tree of meshes, without labels, for pretraining on your own shapes. The code is in :mod:`.reader`."""

from crosspoint.sources.mesh_folder.reader import MeshFolderSource, Params

__all__ = ["MeshFolderSource", "Params"]
