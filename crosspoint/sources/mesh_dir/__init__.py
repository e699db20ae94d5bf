"""``mesh_dir``: any local folder of labelled meshes (class folders or a Princeton Shape Benchmark
``.cla`` file). The code is in :mod:`.reader`."""

from crosspoint.sources.mesh_dir.reader import MeshDirSource, Params

__all__ = ["MeshDirSource", "Params"]
