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

Prepare writes two files with the same objects in the same order (class, then id):

- the point store ``paths.prepared(name)``: the clouds, points in file order, each normalised to
  the unit sphere like every point store; labels are the categories; the split is "train" for all
  objects unless ``test_fraction`` > 0 (pretraining reads the train split only);
- the view store :func:`views_path` ``(name)`` = ``data/prepared/<name>_views.h5``, in the layout
  ``crosspoint merge-views`` writes for ``data/views/views.h5`` (:mod:`crosspoint.store`): images
  uint8 [N, views, image_size, image_size, 3], chunked one object per chunk. The 3D-R2N2 renders
  carry no camera poses in our convention, so ``poses`` is NaN (attr ``poses_known`` false); the
  raw per-view metadata (azimuth, elevation, in-plane rotation, distance ratio, field of view) is
  kept in ``camera_metadata`` float32 [N, views, 5] (NaN where the file is absent or garbled).

Images are read as RGB in one of two ways (``alpha``):

- ``drop`` (default): the alpha channel is discarded, as the upstream loader does
  (``PIL.Image.convert("RGB")``): the pixels keep whatever colour the PNG stores under them;
- ``composite``: alpha-blended onto ``background`` (what a renderer with that background gives).

then resized to ``image_size`` (bilinear, PIL; no resampling when the size already matches, so the
default 137 keeps the renders as they are; pretraining can upsample to 224 as upstream does, with
``pretrain.<variant>.image_size``). Truncated PNGs are rejected (upstream loads them partially).
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from crosspoint import paths
from crosspoint.progress import progress
from crosspoint.sources import natural_key, normalize_unit_sphere, stratified_split
from crosspoint.sources.base import PointSource, Reject, data_missing
from crosspoint.sources.ply import PlyError, read_ply_points
from crosspoint.sources.shapenetcore import SYNSETS
from crosspoint.store import DatasetMeta, PointSet, StageError, atomic_path, set_meta, write_strings

log = logging.getLogger("crosspoint.prepare")

# The 13 categories 3D-R2N2 rendered, in synset order (their label ids).
R2N2_SYNSETS = [
    "02691156", "02828884", "02933112", "02958343", "03001627", "03211117", "03636649",
    "03691459", "04090263", "04256520", "04379243", "04401088", "04530566",
]
R2N2_NAMES = {sid: SYNSETS[sid] for sid in R2N2_SYNSETS}
NAME_TO_R2N2 = {name: sid for sid, name in R2N2_NAMES.items()}
MAX_VIEWS = 24
SOURCE_IMAGE_SIZE = 137
R2N2_YFOV_DEG = 25.0  # the renders' field of view
METADATA_FILE = "rendering_metadata.txt"
HELP = (
    "get the CrossPoint authors' shapenet.tar.gz and shapenet_render.tar.gz (data/download_data.sh "
    "upstream), unpack them and set datasets.{name}.path to the folder holding ShapeNet/ and "
    "ShapeNetRendering/"
)


def views_path(dataset: str) -> str:
    """The view store prepare writes beside the point store of a ``shapenet_render`` dataset."""
    return str(Path(paths.prepared(dataset)).with_name(f"{dataset}_views.h5"))


@dataclass(frozen=True)
class Params:
    source: Literal["shapenet_render"]
    path: str  # the folder holding ShapeNet/ and ShapeNetRendering/ (upstream's data/)
    points_dir: str = "ShapeNet"  # below path: <synset>/<id>.ply
    renders_dir: str = "ShapeNetRendering"  # below path: <synset>/<id>/rendering/NN.png
    categories: list[str] | None = None  # a subset of the 13, by name ("chair") or synset id; None: all
    points: int = 2048  # points each PLY must hold (others are rejected)
    views: int = 24  # views kept per object: NN.png for NN = 00 .. views-1
    image_size: int = 137  # stored image side (the renders are 137 x 137; other sizes resample)
    alpha: Literal["drop", "composite"] = "drop"  # drop: as upstream; composite: onto background
    background: tuple[int, int, int] = (255, 255, 255)  # RGB, for alpha: composite
    compression: int = 1  # gzip level of the image chunks (0 = none)
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
        if not 8 <= self.image_size <= 2048:
            problems.append(f"image_size must be in [8, 2048], got {self.image_size}")
        if any(not 0 <= c <= 255 for c in self.background):
            problems.append("background must be three integers in [0, 255]")
        if not 0 <= self.compression <= 9:
            problems.append("compression must be a gzip level in [0, 9]")
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


def read_view(path: Path, alpha: str, background: tuple[int, int, int], size: int) -> np.ndarray:
    """One render as uint8 [size, size, 3] (see the module docstring); raises ValueError with the reason."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if alpha == "composite":
                rgba = img.convert("RGBA")
                base = Image.new("RGBA", rgba.size, (*background, 255))
                rgb = Image.alpha_composite(base, rgba).convert("RGB")
            else:
                rgb = img.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"unreadable image {path.name} ({type(err).__name__}: {str(err)[:80]})") from err
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


def read_metadata(folder: Path, views: int) -> np.ndarray:
    """float32 [views, 5] from ``rendering_metadata.txt`` (one line per view: azimuth, elevation,
    in-plane rotation, distance ratio, field of view); NaN rows where it is absent or garbled."""
    out = np.full((views, 5), np.nan, dtype=np.float32)
    try:
        lines = [ln.split() for ln in (folder / METADATA_FILE).read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return out
    for v, tokens in enumerate(lines[:views]):
        try:
            values = [float(t) for t in tokens[:5]]
        except ValueError:
            continue
        if len(values) == 5:
            out[v] = values
    return out


class ViewsWriter:
    """Appends objects to a view store in the layout of :class:`crosspoint.render.ViewStoreWriter`
    (kept here so that the prepare stage depends on ``crosspoint/sources`` only), plus the
    ``camera_metadata`` dataset."""

    def __init__(self, h5: h5py.File, views: int, image_size: int, compression: int):
        self.h5 = h5
        shape = (views, image_size, image_size, 3)
        opts: dict[str, Any] = {"compression": "gzip", "compression_opts": compression} if compression else {}
        self.images = h5.create_dataset(
            "images", shape=(0, *shape), maxshape=(None, *shape), dtype=np.uint8, chunks=(1, *shape), **opts
        )
        self.poses = h5.create_dataset("poses", shape=(0, views, 4, 4), maxshape=(None, views, 4, 4), dtype=np.float32)
        self.camera = h5.create_dataset("camera_metadata", shape=(0, views, 5), maxshape=(None, views, 5),
                                        dtype=np.float32)
        self.labels: list[int] = []
        self.split: list[str] = []
        self.object_ids: list[str] = []

    def append(self, images: np.ndarray, camera: np.ndarray, label: int, split: str, object_id: str) -> None:
        n = len(self.labels)
        for ds in (self.images, self.poses, self.camera):
            ds.resize(n + 1, axis=0)
        self.images[n] = images
        self.poses[n] = np.nan
        self.camera[n] = camera
        self.labels.append(int(label))
        self.split.append(split)
        self.object_ids.append(object_id)

    def finish(self, meta: DatasetMeta, **attrs: Any) -> None:
        self.h5.create_dataset("labels", data=np.asarray(self.labels, dtype=np.int64))
        write_strings(self.h5, "split", self.split)
        write_strings(self.h5, "object_ids", self.object_ids)
        set_meta(self.h5, kind="views", **meta.attrs(), **attrs)


class ShapeNetRenderSource(PointSource):
    """ShapeNet point clouds and their 3D-R2N2 renders, paired by (synset, id)."""

    def __init__(self, params: Params, name: str = "shapenet_render"):
        self.params = params
        self.name = name
        self.class_names = [R2N2_NAMES[s] for s in params.synsets()]
        self.views_dest = views_path(name)
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

    def view_attrs(self) -> dict[str, Any]:
        p = self.params
        return {
            "dataset": self.name, "image_size": p.image_size, "yfov_deg": R2N2_YFOV_DEG, "views": p.views,
            "camera": "shapenet_rendering", "background": list(p.background), "alpha": p.alpha,
            "source_image_size": SOURCE_IMAGE_SIZE, "poses_known": False,
        }

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
        """The clouds alone (views are checked to exist, not decoded; no view store is written)."""
        return self._load(None)

    def load_points_with_views(self) -> PointSet:
        """The clouds, and the view store of the same objects written to ``views_dest``."""
        return self._load(Path(self.views_dest))

    def write_skipped_views(self, reason: str) -> None:
        p = self.params
        with atomic_path(self.views_dest) as tmp, h5py.File(tmp, "w") as h5:
            ViewsWriter(h5, p.views, p.image_size, p.compression).finish(self.meta(), **self.view_attrs(), skipped=reason)

    def _load(self, views_dest: Path | None) -> PointSet:
        p = self.params
        if self.ensure_available() is not None:
            return PointSet(np.zeros((0, p.points, 3), np.float32), np.zeros(0, np.int64), [], [], self.meta())
        pairs = self.pairs()
        self.rejects = list(self._scan_rejects)
        label_of = {s: i for i, s in enumerate(p.synsets())}
        points = np.empty((len(pairs), p.points, 3), dtype=np.float32)
        kept: list[Pair] = []
        with contextlib.ExitStack() as stack:
            writer = None
            if views_dest is not None:
                tmp = stack.enter_context(atomic_path(views_dest))
                writer = ViewsWriter(stack.enter_context(h5py.File(tmp, "w")), p.views, p.image_size, p.compression)
            for pair in progress(pairs, desc=f"prepare {self.name}", unit="obj", total=len(pairs)):
                files = self._view_files(pair)
                if files is None:
                    continue
                cloud = self._cloud(pair)
                if cloud is None:
                    continue
                if writer is not None:
                    images = self._images(pair, files)
                    if images is None:
                        continue
                    writer.append(images, read_metadata(pair.renders, p.views), label_of[pair.synset], pair.split,
                                  pair.object_id)
                points[len(kept)] = cloud
                kept.append(pair)
            if writer is not None:
                writer.finish(self.meta(), **self.view_attrs())
        if views_dest is not None:
            log.info("prepare %s: views of %d objects -> %s", self.name, len(kept), views_dest)
        return PointSet(
            points=points[: len(kept)],
            labels=np.array([label_of[x.synset] for x in kept], dtype=np.int64),
            split=[x.split for x in kept],
            object_ids=[x.object_id for x in kept],
            meta=self.meta(),
        )

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
        return normalize_unit_sphere(cloud).astype(np.float32)

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

    def _images(self, pair: Pair, files: list[Path]) -> np.ndarray | None:
        p = self.params
        try:
            return np.stack([read_view(f, p.alpha, p.background, p.image_size) for f in files])
        except ValueError as err:
            self.rejects.append(Reject(str(pair.renders), str(err)))
            return None
