"""``shapenet_render``: the CrossPoint paper's pretraining data, ShapeNet point clouds paired with
the 3D-R2N2 renders, read from a local copy in the upstream layout.

``path`` is the folder holding (the ``data/`` folder of the upstream repository, unpacked from its
``shapenet.tar.gz`` and ``shapenet_render.tar.gz``)::

    ShapeNet/<synset>/<id>.ply                          2,048-point clouds
    ShapeNetRendering/<synset>/<id>/rendering/NN.png    24 views 00..23, 137 x 137 RGBA
    ShapeNetRendering/<synset>/<id>/rendering/rendering_metadata.txt   (optional, camera per view)

over the 13 3D-R2N2 categories (:data:`R2N2_SYNSETS`, named as in ShapeNetCore). A cloud and a set
of renders are one object when their ``(synset, id)`` agree; the object id is ``<synset>/<id>``.
An object missing either half, a view, a readable PLY (or ``points`` points in it) or a readable
PNG is rejected with the reason, as is a synset folder outside the 13 categories.

Prepare writes the point store ``paths.prepared(name)``: the clouds, points in file order, each
normalised to the unit sphere like every point store (``normalize: false`` keeps them as stored);
labels are the categories; the split is "train" for all objects unless ``test_fraction`` > 0
(pretraining reads the train split only). It checks that each object's ``views`` PNG files exist
but does not decode them.

The images are read by the render stage, which for a ``shapenet_render`` dataset decodes these PNGs
instead of rendering (:mod:`crosspoint.rendering.r2n2`, told where they are by the point store's
``stored_renders`` attribute, :meth:`ShapeNetRenderSource.store_attrs`; no re-render), one shard of objects per job, into the
view store layout every render shard has (:mod:`crosspoint.rendering.views`): ``render.views`` views
00..views-1 at ``render.image_size``. The 3D-R2N2 renders carry no camera poses in our convention,
so ``poses`` is NaN (attr ``poses_known`` false); the raw per-view metadata (azimuth, elevation,
in-plane rotation, distance ratio, field of view) is kept in ``camera_metadata`` float32
[N, views, 5] (NaN where the file is absent or garbled).

Images are read as RGB in one of two ways (``alpha``):

- ``drop`` (default): the alpha channel is discarded, as the upstream loader does
  (``PIL.Image.convert("RGB")``): the pixels keep whatever colour the PNG stores under them;
- ``composite``: alpha-blended onto ``background`` (what a renderer with that background gives).

then resized to ``render.image_size`` (bilinear, PIL; no resampling at 137, the renders' own size;
pretraining upsamples to ``pretrain.<variant>.image_size`` = 224 as upstream does). Truncated PNGs
are rejected by the render stage (upstream loads them partially).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from crosspoint.progress import progress
from crosspoint.sources.base import PointSource, Reject, data_missing
from crosspoint.sources.helpers import natural_key, normalize_unit_sphere, stratified_split
from crosspoint.sources.ply import PlyError, read_ply_points
from crosspoint.sources.synsets import SYNSETS
from crosspoint.store import DatasetMeta, PointSet, StageError

log = logging.getLogger("crosspoint.sources.prepare")

# The 13 categories 3D-R2N2 rendered, in synset order (their label ids).
R2N2_SYNSETS = [
    "02691156", "02828884", "02933112", "02958343", "03001627", "03211117", "03636649",
    "03691459", "04090263", "04256520", "04379243", "04401088", "04530566",
]
R2N2_NAMES = {sid: SYNSETS[sid] for sid in R2N2_SYNSETS}
NAME_TO_R2N2 = {name: sid for sid, name in R2N2_NAMES.items()}
MAX_VIEWS = 24
HELP = (
    "get the CrossPoint authors' shapenet.tar.gz and shapenet_render.tar.gz (data/download_data.sh "
    "upstream), unpack them and set datasets.{name}.path to the folder holding ShapeNet/ and "
    "ShapeNetRendering/"
)


@dataclass(frozen=True)
class Params:
    source: Literal["shapenet_render"]
    path: str  # the folder holding ShapeNet/ and ShapeNetRendering/ (upstream's data/)
    points_dir: str = "ShapeNet"  # below path: <synset>/<id>.ply
    renders_dir: str = "ShapeNetRendering"  # below path: <synset>/<id>/rendering/NN.png
    categories: list[str] | None = None  # a subset of the 13, by name ("chair") or synset id; None: all
    points: int = 2048  # points each PLY must hold (others are rejected)
    views: int = 24  # views every object must have (NN.png, NN = 00 .. views-1); render.views <= this are read
    alpha: Literal["drop", "composite"] = "drop"  # drop: as upstream; composite: onto background
    background: tuple[int, int, int] = (255, 255, 255)  # RGB, for alpha: composite
    normalize: bool = True  # each cloud to the unit sphere (false: the coordinates as stored)
    max_per_class: int | None = None  # at most this many objects per category (first by id; quick runs)
    test_fraction: float = 0.0  # 0: every object is "train" (pretraining uses them all)
    seed: int = 0  # of the stratified split when test_fraction > 0
    required: bool = True  # false: missing folders give empty, skipped stores

    def check(self) -> list[str]:
        problems = []
        for c in self.categories or []:
            if c not in R2N2_NAMES and c not in NAME_TO_R2N2:
                problems.append(f"unknown category {c!r}; the 13 3D-R2N2 categories are {', '.join(NAME_TO_R2N2)}")
        if self.points < 1:
            problems.append(f"points must be at least 1, got {self.points}")
        if not 1 <= self.views <= MAX_VIEWS:
            problems.append(f"views must be in [1, {MAX_VIEWS}], got {self.views}")
        if any(not 0 <= c <= 255 for c in self.background):
            problems.append("background must be three integers in [0, 255]")
        if self.max_per_class is not None and self.max_per_class < 1:
            problems.append(f"max_per_class must be at least 1, got {self.max_per_class}")
        if not 0.0 <= self.test_fraction < 1.0:
            problems.append(f"test_fraction must be in [0, 1), got {self.test_fraction}")
        return problems

    def synsets(self) -> list[str]:
        if self.categories is None:
            return list(R2N2_SYNSETS)
        wanted = {c if c in R2N2_NAMES else NAME_TO_R2N2[c] for c in self.categories}
        return [s for s in R2N2_SYNSETS if s in wanted]


@dataclass
class Pair:
    """One object found in both trees, before loading."""

    synset: str
    model_id: str
    ply: Path
    renders: Path  # the rendering/ folder
    split: str = "train"

    @property
    def object_id(self) -> str:
        return f"{self.synset}/{self.model_id}"


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("__MACOSX")


def _subdirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted((d for d in folder.iterdir() if d.is_dir() and not _is_hidden(d.name)), key=lambda d: d.name)


def find_pairs(points_root: Path, renders_root: Path, synsets: list[str]) -> tuple[list[Pair], list[Reject]]:
    """Objects present in both trees (in synset order, then natural id order), and rejects for the
    halves without their partner and for synset folders outside the 13 categories."""
    pairs: list[Pair] = []
    rejects: list[Reject] = []
    folders = {d.name for d in _subdirs(points_root)} | {d.name for d in _subdirs(renders_root)}
    for name in sorted(folders - set(R2N2_SYNSETS)):
        where = points_root / name if (points_root / name).is_dir() else renders_root / name
        rejects.append(Reject(str(where), f"synset folder {name} is not one of the 13 3D-R2N2 categories"))
    for sid in synsets:
        clouds = {}
        if (points_root / sid).is_dir():
            for f in (points_root / sid).iterdir():
                if f.suffix.lower() == ".ply" and not _is_hidden(f.name):
                    clouds[f.stem] = f
        renders = {d.name: d for d in _subdirs(renders_root / sid)}
        for model_id in sorted(set(clouds) | set(renders), key=natural_key):
            ply, rdir = clouds.get(model_id), renders.get(model_id)
            if ply is None:
                rejects.append(Reject(str(rdir), f"no point cloud {points_root.name}/{sid}/{model_id}.ply for these renders"))
            elif rdir is None:
                rejects.append(Reject(str(ply), f"no renders {renders_root.name}/{sid}/{model_id}/ for this point cloud"))
            else:
                pairs.append(Pair(sid, model_id, ply, rdir / "rendering"))
    return pairs, rejects


class ShapeNetRenderSource(PointSource):
    """ShapeNet point clouds and their 3D-R2N2 renders, paired by (synset, id)."""

    def __init__(self, params: Params, name: str = "shapenet_render"):
        self.params = params
        self.normalized = params.normalize
        self.name = name
        self.class_names = [R2N2_NAMES[s] for s in params.synsets()]
        self.rejects: list[Reject] = []
        self._pairs: list[Pair] | None = None
        self._scan_rejects: list[Reject] = []
        self._skip: str | None = None

    @property
    def points_root(self) -> Path:
        return Path(self.params.path) / self.params.points_dir

    @property
    def renders_root(self) -> Path:
        return Path(self.params.path) / self.params.renders_dir

    def meta(self) -> DatasetMeta:
        return DatasetMeta(source="shapenet_render", class_names=list(self.class_names))

    def ensure_available(self) -> str | None:
        if self._pairs is not None:
            return None
        if self._skip is not None:
            return self._skip
        absent = [str(d) for d in (self.points_root, self.renders_root) if not d.is_dir()]
        if absent:
            self._skip = data_missing(
                self.name, self.params.required, f"{' and '.join(absent)} not found (cwd {Path.cwd()})",
                HELP.format(name=self.name),
            )
            return self._skip
        self.pairs()
        return None

    def pairs(self) -> list[Pair]:
        """The paired objects (with their split), before loading."""
        if self._pairs is not None:
            return self._pairs
        p = self.params
        pairs, self._scan_rejects = find_pairs(self.points_root, self.renders_root, p.synsets())
        if p.max_per_class is not None:
            counts: dict[str, int] = {}
            kept = []
            for pair in pairs:
                if counts.get(pair.synset, 0) < p.max_per_class:
                    counts[pair.synset] = counts.get(pair.synset, 0) + 1
                    kept.append(pair)
            pairs = kept
        if not pairs:
            odd = "".join(f"; {r.path}: {r.reason}" for r in self._scan_rejects[:3])
            raise StageError(
                f"{p.path}: no object has both {p.points_dir}/<synset>/<id>.ply and "
                f"{p.renders_dir}/<synset>/<id>/rendering/ for the categories {', '.join(p.synsets())}{odd}"
            )
        splits = stratified_split([x.synset for x in pairs], [x.model_id for x in pairs], p.test_fraction, p.seed)
        for pair, split in zip(pairs, splits, strict=True):
            pair.split = split
        self._pairs = pairs
        return pairs

    def load_points(self) -> PointSet:
        """The clouds (the views are checked to exist, not decoded: the render stage reads them)."""
        p = self.params
        if self.ensure_available() is not None:
            return PointSet(np.zeros((0, p.points, 3), np.float32), np.zeros(0, np.int64), [], [], self.meta())
        pairs = self.pairs()
        self.rejects = list(self._scan_rejects)
        label_of = {s: i for i, s in enumerate(p.synsets())}
        points = np.empty((len(pairs), p.points, 3), dtype=np.float32)
        kept: list[Pair] = []
        for pair in progress(pairs, desc=f"prepare {self.name}", unit="obj", total=len(pairs)):
            if self._view_files(pair) is None:
                continue
            cloud = self._cloud(pair)
            if cloud is None:
                continue
            points[len(kept)] = cloud
            kept.append(pair)
        return PointSet(
            points=points[: len(kept)],
            labels=np.array([label_of[x.synset] for x in kept], dtype=np.int64),
            split=[x.split for x in kept],
            object_ids=[x.object_id for x in kept],
            meta=self.meta(),
        )

    def store_attrs(self) -> dict[str, Any]:
        """What the point store records for the render stage, which decodes the renders (``stored_renders``)."""
        renders = Path(self.params.path) / self.params.renders_dir
        return {"stored_renders": {"renders": str(renders), "views": self.params.views, "alpha": self.params.alpha,
                                   "background": list(self.params.background)}}

    def _cloud(self, pair: Pair) -> np.ndarray | None:
        """The normalised cloud, or None (and a reject)."""
        try:
            cloud = read_ply_points(pair.ply)
        except PlyError as err:
            self.rejects.append(Reject(str(pair.ply), f"unreadable PLY ({err})"))
            return None
        except OSError as err:
            self.rejects.append(Reject(str(pair.ply), f"cannot open: {err.strerror or err}"))
            return None
        if len(cloud) != self.params.points:
            self.rejects.append(Reject(str(pair.ply), f"{len(cloud)} points, expected {self.params.points} "
                                                      f"(datasets.{self.name}.points)"))
            return None
        if not np.all(np.isfinite(cloud)):
            self.rejects.append(Reject(str(pair.ply), "non-finite (NaN or infinite) point coordinates"))
            return None
        if not np.ptp(cloud, axis=0).max() > 0:
            self.rejects.append(Reject(str(pair.ply), "degenerate cloud (all points coincide)"))
            return None
        return (normalize_unit_sphere(cloud) if self.params.normalize else cloud).astype(np.float32)

    def _view_files(self, pair: Pair) -> list[Path] | None:
        """``NN.png`` for the kept views, or None (and a reject) when some are absent."""
        if not pair.renders.is_dir():
            self.rejects.append(Reject(str(pair.renders), "no rendering/ folder in the renders of this object"))
            return None
        files = [pair.renders / f"{v:02d}.png" for v in range(self.params.views)]
        absent = [f.name for f in files if not os.path.isfile(f)]
        if absent:
            self.rejects.append(Reject(str(pair.renders), f"view(s) {', '.join(absent)} missing "
                                                          f"({self.params.views} views wanted)"))
            return None
        return files
