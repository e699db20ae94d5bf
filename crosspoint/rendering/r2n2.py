"""Decoding the 3D-R2N2 renders of a ``shapenet_render`` dataset (the paper's images) instead of rendering.

The dataset's point store records where its renders are (attr ``stored_renders``: the
``ShapeNetRendering`` folder, the views each object is checked to have, ``alpha``, ``background``;
written by :meth:`crosspoint.sources.shapenet_render.reader.ShapeNetRenderSource.store_attrs`), so the render
stage reads them without the dataset readers. Views ``NN.png`` of object ``<synset>/<id>`` are in
``<renders>/<synset>/<id>/rendering/``, 137 x 137 RGBA, with an optional ``rendering_metadata.txt``
(azimuth, elevation, in-plane rotation, distance ratio, field of view per view).

Images are read as RGB in one of two ways (``alpha``): ``drop`` discards the alpha channel as the upstream
loader does (the pixels keep whatever colour the PNG stores under them); ``composite`` blends onto
``background``. Then resized to ``render.image_size`` (bilinear, PIL; none at 137).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SOURCE_IMAGE_SIZE = 137
R2N2_YFOV_DEG = 25.0  # the renders' field of view
METADATA_FILE = "rendering_metadata.txt"


@dataclass(frozen=True)
class StoredRenders:
    """Where a point store's renders are, and how to read them (its ``stored_renders`` attribute)."""

    renders: str
    views: int
    alpha: str = "drop"
    background: tuple[int, int, int] = (255, 255, 255)

    @classmethod
    def from_attr(cls, value: dict[str, Any]) -> StoredRenders:
        return cls(str(value["renders"]), int(value["views"]), str(value.get("alpha", "drop")),
                   tuple(int(c) for c in value.get("background", (255, 255, 255))))


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


def view_files(stored: StoredRenders, object_id: str, views: int) -> list[Path]:
    """``NN.png`` for views 00..views-1 of object ``<synset>/<id>``."""
    synset, model_id = object_id.split("/", 1)
    folder = Path(stored.renders) / synset / model_id / "rendering"
    return [folder / f"{v:02d}.png" for v in range(views)]


def object_views(stored: StoredRenders, object_id: str, views: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``views`` renders of ``object_id`` as uint8 [views, size, size, 3] and their camera
    metadata float32 [views, 5]; raises ValueError with the reason when one is absent or unreadable."""
    files = view_files(stored, object_id, views)
    absent = [f.name for f in files if not os.path.isfile(f)]
    if absent:
        raise ValueError(f"view(s) {', '.join(absent)} missing in {files[0].parent}")
    images = np.stack([read_view(f, stored.alpha, stored.background, size) for f in files])
    return images, read_metadata(files[0].parent, views)


def view_store_attrs(stored: StoredRenders) -> dict[str, Any]:
    """What a view store decoded from these renders says about its cameras (beside render's attrs)."""
    return {"yfov_deg": R2N2_YFOV_DEG, "camera": "shapenet_rendering", "alpha": stored.alpha,
            "source_image_size": SOURCE_IMAGE_SIZE, "poses_known": False}
