"""Registry of dataset sources: parsing a ``datasets:`` entry and building its source.

Each source is a package ``crosspoint/sources/<name>/`` (the name ``params.yaml`` gives as ``source:``)
whose ``__init__`` exports a frozen dataclass ``Params`` (with a ``source`` field naming the source) and
a source class (:class:`~crosspoint.sources.base.MeshSource` or :class:`~crosspoint.sources.base.PointSource`).
A source package imports the shared modules of ``crosspoint/sources/`` and nothing of another source, so
that each ``prepare`` instance depends on the code of its own source only (see ``crosspoint/pipeline.py``);
the packages are imported only when a dataset uses them, by name (not written out here as module names,
which :mod:`crosspoint.code_deps` would follow into every source).

Optional protocol a source may implement (the real-data sources here all do):

- ``ensure_available() -> str | None``: fetch or locate the data; return ``None`` when it is there,
  a reason string when the data is absent and the dataset is optional (``required: false``), and
  raise :class:`~crosspoint.store.StageError` when it is absent and required.
- ``class_names: list[str]``: the dataset's classes in their canonical order (label ids), known
  after ``ensure_available()``. Without it, prepare sorts the class names it sees.
- ``rejects: list[Reject]`` (point sources): inputs ``load_points()`` left out, and why; prepare
  copies them into the dataset's rejects table.
- the images of a point source that comes with them (``shapenet_render``) are not read at prepare:
  the render stage decodes them (:func:`crosspoint.sources.shapenet_render.reader.object_views`).

Mesh sources may have an ``up_axis`` param (``y`` or ``z``): prepare turns z-up meshes y-up (see
:func:`crosspoint.sources.helpers.to_y_up`) before normalising, so every store is y-up.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from crosspoint.config import ParamsError, parse_section

# source name (its package: crosspoint.sources.<name>) -> its source class
SOURCES: dict[str, str] = {
    "synthetic": "SyntheticSource",
    "modelnet": "ModelNetSource",
    "mesh_dir": "MeshDirSource",
    "mesh_folder": "MeshFolderSource",
    "shapenetcore": "ShapeNetCoreSource",
    "scanobjectnn": "ScanObjectNNSource",
    "shapenetpart": "ShapeNetPartSource",
    "modelnet40_h5": "ModelNet40H5Source",
    "shapenet_render": "ShapeNetRenderSource",
}
# source names no longer in use -> what replaces them
RENAMED = {
    "modelnet40": "source: modelnet with version: 40",
    "modelnet10": "source: modelnet with version: 10",
}


def source_module(source: str):
    """The package of a source name (imported)."""
    return importlib.import_module(f"crosspoint.sources.{source}")


def parse_dataset(name: str, raw: Any) -> Any:
    """Validate one ``datasets.<name>`` entry into its source's ``Params``."""
    where = f"datasets.{name}"
    if not isinstance(raw, dict):
        raise ParamsError(f"params {where}: expected a mapping with a 'source' key, got {raw!r}")
    source = raw.get("source")
    if source is None:
        raise ParamsError(f"params {where}: missing key 'source' (one of {', '.join(SOURCES)})")
    if source in RENAMED:
        raise ParamsError(f"params {where}.source: source {source!r} is replaced by {RENAMED[source]}")
    if source not in SOURCES:
        raise ParamsError(f"params {where}.source: unknown source {source!r}; known sources: {', '.join(SOURCES)}")
    return parse_section(source_module(source).Params, raw, where)


def parse_datasets(raw: Any) -> dict[str, Any]:
    """Validate the whole ``datasets`` section: dataset name -> its source's ``Params``."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ParamsError(f"params datasets: expected a mapping of dataset names, got {type(raw).__name__}")
    return {str(name): parse_dataset(str(name), entry) for name, entry in raw.items()}


def make_source(params: Any, name: str | None = None):
    """Build the source for a parsed dataset entry; ``name`` (the dataset's name) is used in messages."""
    cls = getattr(source_module(params.source), SOURCES[params.source])
    if name is not None and "name" in inspect.signature(cls).parameters:
        return cls(params, name=name)
    return cls(params)


def ensure_available(source: Any) -> str | None:
    """Run the source's availability check, if it has one (see the module docstring)."""
    check = getattr(source, "ensure_available", None)
    return check() if callable(check) else None
