"""``modelnet``: the Princeton ModelNet40 or ModelNet10 archive (``version: 40`` or ``10``), with the
official split.

The archive is downloaded (resumable, verified) into ``paths.download_dir("modelnet<version>")``, shared
by every dataset of the same version, and extracted there; ``path`` points at a local copy instead
(the extracted folder or the archive). Meshes are read from ``<class>/{train,test}/*.off``; the
object id is the file name (``airplane_0001``). The Princeton OFF files are z-up, while every other
store here is y-up, so ``up_axis`` defaults to ``z``: prepare turns the meshes y-up (+z becomes +y,
+y becomes -z; :func:`crosspoint.sources.helpers.to_y_up`) before normalising them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from crosspoint import paths
from crosspoint.sources import download
from crosspoint.sources.base import MeshItem, MeshSource, Reject, data_missing
from crosspoint.sources.mesh_files import (
    MAX_FACES,
    Entry,
    check_max_faces,
    limit_per_class,
    load_entries,
    scan_class_folders,
)
from crosspoint.store import StageError

log = logging.getLogger("crosspoint.sources.prepare")

OFFICIAL_URLS = {
    40: "http://modelnet.cs.princeton.edu/ModelNet40.zip",
    10: "http://3dvision.princeton.edu/projects/2014/3DShapeNets/ModelNet10.zip",
}


@dataclass(frozen=True)
class Params:
    source: Literal["modelnet"]
    version: Literal[40, 10] = 40  # ModelNet40 or ModelNet10 (its archive, classes and download folder)
    url: str | None = None  # None: the official Princeton archive of this version
    sha256: str | None = None  # pin the archive's digest (printed and saved in SHA256SUMS after a first download)
    size: int | None = None  # expected archive size in bytes
    path: str | None = None  # a local extracted folder or archive instead of downloading
    max_per_class: int | None = None  # at most this many objects per class and split (quick runs)
    required: bool = True  # false: an unavailable dataset gives an empty, skipped store
    up_axis: Literal["y", "z"] = "z"  # Princeton's OFF files are z-up: turned y-up at prepare (+z -> +y)
    heading: Literal["canonical", "random"] = "canonical"  # random: each mesh turned about up by a seeded angle
    max_faces: int | None = MAX_FACES  # meshes with more faces are rejected, from the OFF header

    def check(self) -> list[str]:
        problems = check_max_faces(self.max_faces)
        if self.sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", self.sha256):
            problems.append("sha256 must be 64 hexadecimal digits")
        if self.size is not None and self.size <= 0:
            problems.append(f"size must be positive, got {self.size}")
        if self.max_per_class is not None and self.max_per_class < 1:
            problems.append(f"max_per_class must be at least 1, got {self.max_per_class}")
        return problems

    @property
    def archive_url(self) -> str:
        return self.url or OFFICIAL_URLS[self.version]

    @property
    def benchmark(self) -> str:
        """``modelnet40`` or ``modelnet10``: the download folder's name, and the name in messages."""
        return f"modelnet{self.version}"


def find_modelnet_root(folder: Path, max_depth: int = 3) -> Path | None:
    """The folder whose subfolders are classes holding ``train``/``test`` folders (searched breadth-first)."""
    level = [folder]
    for _ in range(max_depth + 1):
        nxt = []
        for d in level:
            subdirs = sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX")))
            if any((s / "train").is_dir() or (s / "test").is_dir() for s in subdirs):
                return d
            nxt.extend(subdirs)
        level = nxt
    return None


class ModelNetSource(MeshSource):
    """ModelNet40 or ModelNet10 meshes from the official archive."""

    def __init__(self, params: Params, name: str | None = None):
        self.params = params
        self.name = name or params.benchmark
        self.class_names: list[str] | None = None
        self._root: Path | None = None
        self._skip: str | None = None
        self._rejects: list[Reject] = []

    def ensure_available(self) -> str | None:
        if self._root is not None or self._skip is not None:
            return self._skip
        try:
            tree = self._local_tree() if self.params.path else self._downloaded_tree()
        except download.DownloadError as err:
            if self.params.required:
                raise
            self._skip = f"{self.params.benchmark} unavailable: {err}"
            log.warning("%s: %s; skipping (required: false)", self.name, self._skip)
            return self._skip
        if tree is None:  # optional and absent
            return self._skip
        root = find_modelnet_root(tree)
        if root is None:
            raise StageError(
                f"{tree}: no ModelNet layout (<class>/train/*.off) found inside; check datasets.{self.name}"
                f".{'path' if self.params.path else 'url'}"
            )
        self._root = root
        self.class_names = sorted(
            p.name for p in root.iterdir() if p.is_dir() and ((p / "train").is_dir() or (p / "test").is_dir())
        )
        return None

    def _local_tree(self) -> Path | None:
        path = Path(self.params.path)
        if not path.exists():
            self._skip = data_missing(
                self.name, self.params.required, f"{self.params.benchmark} not found at {path} (cwd {Path.cwd()})",
                f"set datasets.{self.name}.path to the extracted folder or the archive, or remove path to "
                f"download {self.params.archive_url}",
            )
            return None
        if path.is_dir():
            return path
        if not download.is_archive(path):
            raise StageError(f"{path}: neither a folder nor a zip/tar archive; fix datasets.{self.name}.path")
        return download.extract(path, Path(paths.download_dir(self.params.benchmark)) / f"{_stem(path.name)}-local")

    def _downloaded_tree(self) -> Path:
        folder = Path(paths.download_dir(self.params.benchmark))
        url = self.params.archive_url
        archive = folder / download.filename_from_url(url)
        extracted = folder / _stem(archive.name)
        if extracted.is_dir():
            return extracted
        download.download(
            url, archive, sha256=self.params.sha256, size=self.params.size,
            pin_hint=f"datasets.{self.name}.sha256",
        )
        return download.extract(archive, extracted)

    def entries(self) -> list[Entry]:
        if self.ensure_available() is not None or self._root is None:
            return []
        found, self._rejects = scan_class_folders(self._root, (".off",))
        entries = [e for e in found if e.split is not None]
        for e in entries:
            e.object_id = e.path.stem  # ModelNet's file names are unique: airplane_0001, ...
        if not entries:
            raise StageError(f"{self._root}: no <class>/{{train,test}}/*.off files found")
        return limit_per_class(entries, self.params.max_per_class)

    def items(self) -> Iterator[MeshItem | Reject]:
        entries = self.entries()
        yield from self._rejects
        yield from load_entries(entries, self.params.max_faces)


def _stem(filename: str) -> str:
    for suffix in (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tbz2", ".txz", ".zip", ".tar"):
        if filename.lower().endswith(suffix):
            return filename[: -len(suffix)]
    return filename
