"""Tiny copies of the paper's four datasets, in exactly the layouts of the public files, for the
paper-shaped run (tests/test_paper_run.py):

- ``ShapeNet/<synset>/<id>.ply`` (binary PLY, 2,048 points) and
  ``ShapeNetRendering/<synset>/<id>/rendering/NN.png`` (24 views, 137 x 137 RGBA, with
  ``rendering_metadata.txt``): the CrossPoint authors' pretraining data;
- ``modelnet40_ply_hdf5_2048/ply_data_{train,test}0.h5`` (``data`` float32 [N, 2048, 3], ``label``
  uint8 [N, 1]) with ``shape_names.txt`` and ``{train,test}_files.txt``: PointNet's release;
- ``ScanObjectNN/h5_files/main_split/{training,test}_objectdataset.h5`` (OBJ_BG: ``data``, ``label``);
- ``shapenetpart/hdf5_data/ply_data_{train,val,test}0.h5`` (``data``, ``label`` [N, 1], ``pid``
  [N, 2048]) from PointNet's part-segmentation release.

The clouds are class-shaped blobs (a different stretch per class, plus noise), so the encoders have
something to separate; the renders are flat drawings of a class-coloured ellipse turned per view.
Everything comes from one seeded generator: the same call writes the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from PIL import Image, ImageDraw

POINTS = 2048
SHAPENET = {"02691156": "airplane", "03001627": "chair"}  # two of the 13 3D-R2N2 categories
MODELNET_NAMES = ["airplane", "bathtub", "bed", "bench", "bookshelf", "bottle", "bowl", "car", "chair", "cone",
                  "cup", "curtain", "desk", "door", "dresser", "flower_pot", "glass_box", "guitar", "keyboard",
                  "lamp", "laptop", "mantel", "monitor", "night_stand", "person", "piano", "plant", "radio",
                  "range_hood", "sink", "sofa", "stairs", "stool", "table", "tent", "toilet", "tv_stand", "vase",
                  "wardrobe", "xbox"]
# ShapeNetPart categories used (label id -> its global part ids, as in the release)
PART_CATEGORIES = {0: (0, 4), 4: (12, 16), 15: (47, 50)}  # Airplane, Chair, Table


def blob(rng: np.random.Generator, label: int, n: int = POINTS) -> np.ndarray:
    """A cloud whose shape depends on ``label``: a stretched, slightly bent Gaussian blob."""
    stretch = np.array([1.0 + (label % 3), 1.0 + (label // 3) % 3, 0.5 + (label % 2)])
    pts = rng.normal(size=(n, 3)) * stretch * 0.3
    pts[:, 1] += 0.2 * np.sin(3.0 * pts[:, 0] + label)
    return pts.astype(np.float32)


def write_h5(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        for key, value in arrays.items():
            h5.create_dataset(key, data=value)


def write_binary_ply(path: Path, pts: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ("ply\nformat binary_little_endian 1.0\n"
              f"element vertex {len(pts)}\nproperty float x\nproperty float y\nproperty float z\nend_header\n")
    path.write_bytes(header.encode() + pts.astype("<f4").tobytes())


def write_render(path: Path, label: int, view: int, size: int = 137) -> None:
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    colour = (200, 60, 40, 255) if label == 0 else (40, 90, 200, 255)
    w = 30 + 25 * abs(np.cos(np.pi * view / 12))
    draw.ellipse((size / 2 - w, 40, size / 2 + w, 100 + 10 * label), fill=colour)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def make_shapenet(root: Path, per_class: int, rng: np.random.Generator) -> None:
    for label, synset in enumerate(SHAPENET):
        for j in range(per_class):
            model = f"{synset[-3:]}{j:04d}"
            write_binary_ply(root / "ShapeNet" / synset / f"{model}.ply", blob(rng, 3 * label))
            folder = root / "ShapeNetRendering" / synset / model / "rendering"
            for v in range(24):
                write_render(folder / f"{v:02d}.png", label, v)
            lines = [f"{rng.uniform(0, 360):.4f} {rng.uniform(25, 30):.4f} 0 {rng.uniform(0.65, 0.9):.4f} 25\n"
                     for _ in range(24)]
            (folder / "rendering_metadata.txt").write_text("".join(lines))


def make_modelnet40(root: Path, classes: int, train: int, test: int, rng: np.random.Generator) -> None:
    labels = {"train": np.repeat(np.arange(classes), train), "test": np.repeat(np.arange(classes), test)}
    for split, lab in labels.items():
        data = np.stack([blob(rng, int(c)) for c in lab])
        write_h5(root / f"ply_data_{split}0.h5", data=data, label=lab.astype(np.uint8)[:, None])
    (root / "shape_names.txt").write_text("\n".join(MODELNET_NAMES) + "\n")
    prefix = "data/modelnet40_ply_hdf5_2048"
    (root / "train_files.txt").write_text(f"{prefix}/ply_data_train0.h5\n")
    (root / "test_files.txt").write_text(f"{prefix}/ply_data_test0.h5\n")


def make_scanobjectnn(root: Path, classes: int, train: int, test: int, rng: np.random.Generator) -> None:
    for name, n in (("training_objectdataset.h5", train), ("test_objectdataset.h5", test)):
        lab = np.repeat(np.arange(classes), n)
        data = np.stack([blob(rng, int(c)) + rng.normal(0, 0.05, (POINTS, 3)).astype(np.float32) for c in lab])
        write_h5(root / "main_split" / name, data=data, label=lab.astype(np.int64))


def make_shapenetpart(root: Path, per_split: dict[str, int], rng: np.random.Generator) -> None:
    for split, n in per_split.items():
        cats = [c for c in PART_CATEGORIES for _ in range(n)]
        data, pid = [], []
        for c in cats:
            pts = blob(rng, c)
            lo, hi = PART_CATEGORIES[c]
            bins = np.quantile(pts[:, 1], np.linspace(0, 1, hi - lo + 1)[1:-1])
            data.append(pts)
            pid.append(lo + np.searchsorted(bins, pts[:, 1]))  # parts are horizontal slabs
        write_h5(root / f"ply_data_{split}0.h5", data=np.stack(data), label=np.array(cats, np.uint8)[:, None],
                 pid=np.stack(pid).astype(np.uint8))


def make_all(root: Path, seed: int = 0) -> dict[str, Path]:
    """Write the four datasets under ``root``; returns the path each ``datasets.<name>.path`` takes."""
    rng = np.random.default_rng(seed)
    make_shapenet(root / "shapenet", per_class=12, rng=rng)
    make_modelnet40(root / "modelnet40_ply_hdf5_2048", classes=4, train=8, test=4, rng=rng)
    make_scanobjectnn(root / "ScanObjectNN" / "h5_files", classes=3, train=8, test=4, rng=rng)
    make_shapenetpart(root / "shapenetpart" / "hdf5_data", {"train": 4, "val": 1, "test": 2}, rng=rng)
    return {"shapenet": root / "shapenet", "modelnet40": root / "modelnet40_ply_hdf5_2048",
            "scanobjectnn": root / "ScanObjectNN" / "h5_files", "shapenetpart": root / "shapenetpart" / "hdf5_data"}
