"""The paper's data sources on tiny folders the tests write in the real layouts: PointNet's
ModelNet40 HDF5 files (``modelnet40_h5``), the ShapeNet clouds with the 3D-R2N2 renders
(``shapenet_render``), the PLY reader, and the z-up to y-up turn of mesh sources (``up_axis``)."""

from __future__ import annotations

import csv
import io
import shutil
import struct
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import trimesh
import yaml
from PIL import Image

from crosspoint import paths
from crosspoint.cli import main as cli
from crosspoint.config import ParamsError
from crosspoint.sources.helpers import normalize_unit_sphere, to_y_up
from crosspoint.sources.ply import PlyError, parse_ply_points, read_ply_points
from crosspoint.sources.registry import make_source, parse_dataset
from crosspoint.sources.shapenet_render.reader import R2N2_NAMES, R2N2_SYNSETS
from crosspoint.store import MeshStore, StageError, get_meta, read_point_store, read_strings
from crosspoint.tools.params_check import validate_all


def write_params(datasets: dict) -> None:
    Path("params.yaml").write_text(yaml.safe_dump({"datasets": datasets}))


def read_rejects(name: str) -> list[dict]:
    with open(paths.prepared_rejects(name), newline="") as fh:
        return list(csv.DictReader(fh))


def write_h5(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        for k, v in arrays.items():
            h5.create_dataset(k, data=v)


# ---------------------------------------------------------------------------------------------
# modelnet40_h5

NAMES = ["airplane", "bathtub", "bed", "bench", "bookshelf"]


def clouds(rng: np.random.Generator, n: int, p: int = 16) -> np.ndarray:
    """Clouds already near the unit sphere (like the release) but off-centre, so normalising moves them."""
    return (rng.normal(size=(n, p, 3)) * 0.4 + 0.05).astype(np.float32)


def make_modelnet_h5(root: Path, with_lists: bool = True) -> dict[str, np.ndarray]:
    """Two train files and one test file in the release layout; returns the raw arrays by file stem."""
    rng = np.random.default_rng(0)
    files = {
        "ply_data_train0": (clouds(rng, 3), np.array([[0], [4], [2]], np.uint8)),
        "ply_data_train1": (clouds(rng, 2), np.array([[1], [1]], np.uint8)),
        "ply_data_test0": (clouds(rng, 2), np.array([[3], [0]], np.uint8)),
    }
    for stem, (data, label) in files.items():
        write_h5(root / f"{stem}.h5", data=data, label=label)
    (root / "shape_names.txt").write_text("\n".join(NAMES) + "\n")
    if with_lists:
        prefix = "data/modelnet40_ply_hdf5_2048"
        (root / "train_files.txt").write_text(f"{prefix}/ply_data_train0.h5\n{prefix}/ply_data_train1.h5\n")
        (root / "test_files.txt").write_text(f"{prefix}/ply_data_test0.h5\n")
    return {stem: data for stem, (data, _) in files.items()}


def mn_source(root: Path, **extra):
    return make_source(parse_dataset("mn", {"source": "modelnet40_h5", "path": str(root), **extra}), "mn")


def test_modelnet40_h5_split_labels_names_and_point_order(tmp_path):
    root = tmp_path / "modelnet40_ply_hdf5_2048"
    raw = make_modelnet_h5(root)
    source = mn_source(root)
    assert source.ensure_available() is None and source.class_names == NAMES
    ps = source.load_points()
    assert ps.points.shape == (7, 16, 3) and ps.points.dtype == np.float32
    assert ps.split == ["train"] * 5 + ["test"] * 2
    assert ps.labels.tolist() == [0, 4, 2, 1, 1, 3, 0]
    assert ps.meta.class_names == NAMES and ps.meta.source == "modelnet40_h5"
    assert ps.object_ids == ["ply_data_train0/00000", "ply_data_train0/00001", "ply_data_train0/00002",
                             "ply_data_train1/00000", "ply_data_train1/00001",
                             "ply_data_test0/00000", "ply_data_test0/00001"]
    # file order, row order and point order kept: each cloud is its raw cloud, normalised point by point
    expect = np.concatenate([raw["ply_data_train0"], raw["ply_data_train1"], raw["ply_data_test0"]])
    np.testing.assert_allclose(ps.points, normalize_unit_sphere(expect), rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(ps.points, axis=2).max(axis=1), 1.0, rtol=1e-6)
    assert source.rejects == []


def test_modelnet40_h5_follows_the_lists_and_globs_without_them(tmp_path):
    root = tmp_path / "a"
    make_modelnet_h5(root)
    (root / "train_files.txt").write_text("ply_data_train1.h5\r\nply_data_train0.h5\r\n")  # list order wins
    assert mn_source(root).load_points().object_ids[:3] == [
        "ply_data_train1/00000", "ply_data_train1/00001", "ply_data_train0/00000"]
    bare = tmp_path / "b"
    make_modelnet_h5(bare, with_lists=False)
    shutil.copy(bare / "ply_data_train1.h5", bare / "ply_data_train10.h5")
    ids = mn_source(bare).load_points().object_ids
    assert [i.split("/")[0] for i in ids] == ["ply_data_train0"] * 3 + ["ply_data_train1"] * 2 + [
        "ply_data_train10"] * 2 + ["ply_data_test0"] * 2  # natural order: train10 after train1


def test_modelnet40_h5_bad_input_is_rejected_never_a_crash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "mn"
    make_modelnet_h5(root)
    rng = np.random.default_rng(5)
    nan = clouds(rng, 3)
    nan[1, 4, 2] = np.nan
    flat = clouds(rng, 1)
    flat[0] = 0.25  # every point in one place
    write_h5(root / "ply_data_train2.h5", data=nan, label=np.array([[0], [1], [9]], np.uint8))  # 9: no such class
    write_h5(root / "ply_data_train3.h5", data=clouds(rng, 2))  # no label
    write_h5(root / "ply_data_train4.h5", data=clouds(rng, 2, p=8), label=np.zeros((2, 1), np.uint8))
    write_h5(root / "ply_data_train5.h5", data=flat, label=np.zeros((1, 1), np.uint8))
    (root / "ply_data_test1.h5").write_bytes(b"not an hdf5 file")
    listed = [f"ply_data_train{k}.h5" for k in (0, 1, 2, 3, 4, 5, 6)]  # 6 is absent
    (root / "train_files.txt").write_text("\n".join(listed) + "\n")
    (root / "test_files.txt").write_text("ply_data_test0.h5\nply_data_test1.h5\n")
    write_params({"mn": {"source": "modelnet40_h5", "path": "mn"}})
    assert cli(["prepare", "--dataset", "mn", "--params", "params.yaml"]) == 0
    ps = read_point_store(paths.prepared("mn"))
    assert len(ps) == 7 + 1  # the good files, and row 0 of train2
    assert "ply_data_train2/00000" in ps.object_ids and np.all(np.isfinite(ps.points))
    reasons = {Path(r["path"]).name: r["reason"] for r in read_rejects("mn")}
    assert set(reasons) == {"ply_data_train6.h5", "ply_data_train2.h5:1", "ply_data_train2.h5:2",
                            "ply_data_train3.h5", "ply_data_train4.h5", "ply_data_train5.h5:0", "ply_data_test1.h5"}
    assert "listed in train_files.txt but not found" in reasons["ply_data_train6.h5"]
    assert "NaN" in reasons["ply_data_train2.h5:1"]
    assert "label 9 outside 0..4" in reasons["ply_data_train2.h5:2"]
    assert "no dataset(s) label" in reasons["ply_data_train3.h5"]
    assert "8 points per cloud, the first file has 16" in reasons["ply_data_train4.h5"]
    assert "all points coincide" in reasons["ply_data_train5.h5:0"]
    assert "not a readable HDF5 file" in reasons["ply_data_test1.h5"]


def test_modelnet40_h5_absent_required_or_optional(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StageError, match=r"modelnet40_ply_hdf5_2048.*datasets\.mn\.path.*required: false"):
        mn_source(tmp_path / "nowhere").ensure_available()
    root = tmp_path / "half"
    make_modelnet_h5(root)
    (root / "shape_names.txt").unlink()
    with pytest.raises(StageError, match="shape_names.txt not found"):
        mn_source(root).ensure_available()
    write_params({"mn": {"source": "modelnet40_h5", "path": "nowhere", "required": False}})
    assert cli(["prepare", "--dataset", "mn", "--params", "params.yaml"]) == 0
    with h5py.File(paths.prepared("mn"), "r") as h5:
        assert get_meta(h5, "kind") == "points" and "not found" in get_meta(h5, "skipped")
        assert len(h5["labels"]) == 0


# ---------------------------------------------------------------------------------------------
# PLY reader


def ply_header(encoding: str, n: int, extra: str = "", props: str = "") -> bytes:
    return (f"ply\nformat {encoding} 1.0\ncomment made by a test\n{extra}element vertex {n}\n"
            f"property float x\nproperty float y\nproperty float z\n{props}end_header\n").encode()


def test_ply_ascii_binary_and_elements_before_the_vertices():
    pts = np.array([[0.5, -1.0, 2.0], [3.0, 4.0, -5.5], [0.0, 0.25, 1.0]])
    ascii_body = "".join(f"{x} {y} {z} 7\n" for x, y, z in pts)
    text = ply_header("ascii", 3, extra="element camera 2\nproperty list uchar int ids\n",
                      props="property uchar red\n") + b"3 1 2 3\n0\n" + ascii_body.encode()
    np.testing.assert_array_equal(parse_ply_points(text.replace(b"\n", b"\r\n")), pts)
    for encoding, order in (("binary_little_endian", "<"), ("binary_big_endian", ">")):
        before = struct.pack(order + "Bi", 1, 42) + struct.pack(order + "Biii", 3, 1, 2, 3)
        body = b"".join(struct.pack(order + "fffd", *p, 9.0) for p in pts)
        data = ply_header(encoding, 3, extra="element camera 2\nproperty list uchar int ids\n",
                          props="property double w\n") + before + body
        np.testing.assert_array_equal(parse_ply_points(data), pts.astype(np.float32))


def test_ply_from_trimesh_keeps_the_point_order(tmp_path):
    pts = np.random.default_rng(3).normal(size=(50, 3))
    trimesh.PointCloud(pts).export(tmp_path / "a.ply")
    np.testing.assert_allclose(read_ply_points(tmp_path / "a.ply"), pts, rtol=1e-6)


@pytest.mark.parametrize("data, reason", [
    (b"", "empty file"),
    (b"OFF\n3 1 0\n", "missing 'ply' magic"),
    (b"ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\n", "no end_header"),
    (b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\nend_header\n0 0\n",
     "no z property"),
    (b"ply\nformat ascii 1.0\nelement face 1\nproperty list uchar int v\nend_header\n3 0 1 2\n", "no vertex"),
    (ply_header("ascii", 3) + b"0 0 0\n1 1 1\n", "truncated: 3 vertices announced"),
    (ply_header("ascii", 1) + b"0 zero 0\n", "garbled vertex line"),
    (ply_header("binary_little_endian", 4) + b"\x00" * 20, "truncated: 4 vertices announced"),
    (b"ply\nformat utf8 1.0\nend_header\n", "unknown format"),
])
def test_ply_garbled_files_raise_with_reason(tmp_path, data, reason):
    (tmp_path / "x.ply").write_bytes(data)
    with pytest.raises(PlyError, match=reason):
        read_ply_points(tmp_path / "x.ply")


# ---------------------------------------------------------------------------------------------
# shapenet_render

AIRPLANE, CHAIR = "02691156", "03001627"
TRANSPARENT_RGB = (10, 20, 30)  # what the PNG stores under its transparent pixels
OPAQUE_RGB = (200, 100, 50)


def render_png(path: Path, view: int, size: int = 137) -> None:
    """RGBA: a top band (rows 0..9) opaque in a colour coding the view, the left half of the rest
    transparent (over TRANSPARENT_RGB), the right half opaque OPAQUE_RGB, one half-transparent pixel."""
    img = np.zeros((size, size, 4), np.uint8)
    img[:, :, :3] = TRANSPARENT_RGB
    img[:, size // 2:, :3] = OPAQUE_RGB
    img[:, size // 2:, 3] = 255
    img[:10, :, :3] = (view * 10, 255 - view * 10, 7)
    img[:10, :, 3] = 255
    img[60, 10] = (100, 100, 100, 128)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img, "RGBA").save(path)


def cloud(rng: np.random.Generator, n: int = 32) -> np.ndarray:
    return rng.normal(size=(n, 3)) * (1.0, 2.0, 0.5) + (3.0, 0.0, -1.0)


def write_ascii_ply(path: Path, pts: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ply_header("ascii", len(pts)).decode() + "".join(f"{float(x)!r} {float(y)!r} {float(z)!r}\n" for x, y, z in pts))


def write_binary_ply(path: Path, pts: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ply_header("binary_little_endian", len(pts)) + pts.astype("<f4").tobytes())


def make_shapenet(root: Path, views: int = 24) -> dict[str, np.ndarray]:
    """Good objects 02691156/a1, a2 and 03001627/c1, and one broken of each kind; returns the raw clouds."""
    rng = np.random.default_rng(7)
    raw = {}
    for sid, mid, writer in ((AIRPLANE, "a2", write_ascii_ply), (AIRPLANE, "a1", write_binary_ply),
                             (CHAIR, "c1", write_ascii_ply)):
        raw[f"{sid}/{mid}"] = pts = cloud(rng)
        writer(root / "ShapeNet" / sid / f"{mid}.ply", pts)
        for v in range(views):
            render_png(root / "ShapeNetRendering" / sid / mid / "rendering" / f"{v:02d}.png", v)
    meta = "".join(f"{15 * v} 27.5 0 0.8 25\n" for v in range(views))
    (root / "ShapeNetRendering" / AIRPLANE / "a1" / "rendering" / "rendering_metadata.txt").write_text(meta)
    write_ascii_ply(root / "ShapeNet" / CHAIR / "c2_points_only.ply", cloud(rng))
    for v in range(views):
        render_png(root / "ShapeNetRendering" / CHAIR / "c3_renders_only" / "rendering" / f"{v:02d}.png", v)
        render_png(root / "ShapeNetRendering" / CHAIR / "c4_view_missing" / "rendering" / f"{v:02d}.png", v)
        render_png(root / "ShapeNetRendering" / CHAIR / "c5_few_points" / "rendering" / f"{v:02d}.png", v)
        render_png(root / "ShapeNetRendering" / CHAIR / "c6_bad_png" / "rendering" / f"{v:02d}.png", v)
    write_ascii_ply(root / "ShapeNet" / CHAIR / "c4_view_missing.ply", cloud(rng))
    (root / "ShapeNetRendering" / CHAIR / "c4_view_missing" / "rendering" / f"{min(5, views - 1):02d}.png").unlink()
    write_ascii_ply(root / "ShapeNet" / CHAIR / "c5_few_points.ply", cloud(rng, 31))
    write_ascii_ply(root / "ShapeNet" / CHAIR / "c6_bad_png.ply", cloud(rng))
    bad = root / "ShapeNetRendering" / CHAIR / "c6_bad_png" / "rendering" / f"{min(3, views - 1):02d}.png"
    bad.write_bytes(bad.read_bytes()[:60])  # truncated
    (root / "ShapeNet" / "99999999").mkdir()
    write_ascii_ply(root / "ShapeNet" / "99999999" / "x.ply", cloud(rng))
    return raw


def sn_entry(root: Path, **extra) -> dict:
    return {"source": "shapenet_render", "path": str(root), "points": 32, **extra}


def write_render_params(datasets: dict, **render) -> None:
    """params.yaml with the datasets and a render section decoding dataset ``sn``."""
    section = {"shards": [0], **render}
    Path("params.yaml").write_text(yaml.safe_dump({"datasets": datasets, "render": section}))


def decode(**render) -> tuple[dict, list[dict]]:
    """Run sample (the point store merge-views pins), render (one shard per entry of ``shards``) and
    merge-views through the CLI; return the merged view store's arrays and attrs, and the render rejects."""
    from crosspoint.points.merge import sample_dataset
    from crosspoint.points.sampling import Params as SampleParams

    sample_dataset("sn", SampleParams(datasets=["sn"], points=32, point_stores="keep"))
    shards = render.get("shards", [0])
    for shard in shards:
        assert cli(["render", "--dataset", "sn", "--shard", str(shard), "--params", "params.yaml"]) == 0
    assert cli(["merge-views", "--dataset", "sn", "--params", "params.yaml"]) == 0
    with h5py.File(paths.views("sn"), "r") as h5:
        out = {key: h5[key][()] for key in ("images", "poses", "camera_metadata", "labels")}
        out |= {"ids": read_strings(h5, "object_ids"), "split": read_strings(h5, "split"), "attrs": dict(h5.attrs),
                "compression": h5["images"].compression, "chunks": h5["images"].chunks}
    rejects = []
    for shard in shards:
        with open(paths.render_rejects("sn", shard), newline="") as fh:
            rejects += list(csv.DictReader(fh))
    return out, rejects


def test_shapenet_render_pairs_clouds_with_renders_and_rejects(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raw = make_shapenet(tmp_path / "data")
    write_render_params({"sn": sn_entry(tmp_path / "data")}, views=24, image_size=137, shards=[0, 1])
    assert cli(["prepare", "--dataset", "sn", "--params", "params.yaml"]) == 0
    ps = read_point_store(paths.prepared("sn"))
    # c6's PNG is truncated: prepare only checks that the files exist, the render stage decodes them
    ids = [f"{AIRPLANE}/a1", f"{AIRPLANE}/a2", f"{CHAIR}/c1", f"{CHAIR}/c6_bad_png"]
    assert ps.object_ids == ids and ps.labels.tolist() == [0, 0, 4, 4] and ps.split == ["train"] * 4
    assert ps.meta.class_names == [R2N2_NAMES[s] for s in R2N2_SYNSETS] and len(ps.meta.class_names) == 13
    assert ps.meta.class_names[:5] == ["airplane", "bench", "cabinet", "car", "chair"]
    for i, oid in enumerate(ids[:3]):  # points in file order, normalised
        np.testing.assert_allclose(ps.points[i], normalize_unit_sphere(raw[oid]), atol=1e-6)
    reasons = {r["path"].split("/data/", 1)[1]: r["reason"] for r in read_rejects("sn")}
    assert reasons == {
        "ShapeNet/99999999": "synset folder 99999999 is not one of the 13 3D-R2N2 categories",
        f"ShapeNet/{CHAIR}/c2_points_only.ply":
            f"no renders ShapeNetRendering/{CHAIR}/c2_points_only/ for this point cloud",
        f"ShapeNetRendering/{CHAIR}/c3_renders_only":
            f"no point cloud ShapeNet/{CHAIR}/c3_renders_only.ply for these renders",
        f"ShapeNetRendering/{CHAIR}/c4_view_missing/rendering": "view(s) 05.png missing (24 views wanted)",
        f"ShapeNet/{CHAIR}/c5_few_points.ply": "31 points, expected 32 (datasets.sn.points)",
    }

    views, rejects = decode(views=24, image_size=137, shards=[0, 1])
    assert views["ids"] == ids[:3] and views["labels"].tolist() == [0, 0, 4] and views["split"] == ["train"] * 3
    assert [r["path"] for r in rejects] == [f"{CHAIR}/c6_bad_png"]
    assert rejects[0]["reason"].startswith("unreadable image 03.png (")
    attrs = views["attrs"]
    assert attrs["kind"] == "views" and attrs["views"] == 24 and attrs["image_size"] == 137
    assert attrs["camera"] == "shapenet_rendering" and attrs["yfov_deg"] == 25.0 and not attrs["poses_known"]
    assert list(get_meta_dict(attrs, "class_names")) == ps.meta.class_names
    images = views["images"]
    assert images.shape == (3, 24, 137, 137, 3) and images.dtype == np.uint8
    assert views["chunks"] == (1, 1, 137, 137, 3) and views["compression"] == "gzip"  # one view per chunk
    assert views["poses"].shape == (3, 24, 4, 4) and np.isnan(views["poses"]).all()
    # views in order 00..23; alpha dropped: the colour under the transparent pixels is kept
    assert images[0, :, 0, 0].tolist() == [[v * 10, 255 - v * 10, 7] for v in range(24)]
    assert (images[:, :, 20:, :68] == TRANSPARENT_RGB).all(axis=-1).mean() > 0.99
    assert (images[:, :, 20:, 69:] == OPAQUE_RGB).all()
    assert images[0, 0, 60, 10].tolist() == [100, 100, 100]
    np.testing.assert_allclose(views["camera_metadata"][0, :, 0], 15.0 * np.arange(24))  # a1 has the metadata
    assert np.isnan(views["camera_metadata"][1]).all()  # a2 has none


def get_meta_dict(attrs: dict, key: str):
    import json

    return json.loads(attrs[key]) if isinstance(attrs[key], str) else attrs[key]


def test_shapenet_render_composite_resize_and_fewer_views(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_shapenet(tmp_path / "data", views=4)
    entry = sn_entry(tmp_path / "data", views=4, alpha="composite", background=[0, 0, 255], categories=["airplane"])
    write_render_params({"sn": entry}, views=3, image_size=64, compression=0)
    assert cli(["prepare", "--dataset", "sn", "--params", "params.yaml"]) == 0
    views, rejects = decode(views=3, image_size=64, compression=0)
    assert views["ids"] == [f"{AIRPLANE}/a1", f"{AIRPLANE}/a2"] and views["labels"].tolist() == [0, 0] and not rejects
    assert views["compression"] is None and views["attrs"]["alpha"] == "composite"
    images = views["images"]
    assert images.shape == (2, 3, 64, 64, 3)
    assert (images[:, :, 10:, :28] == (0, 0, 255)).all(axis=-1).mean() > 0.99  # transparent: the background
    assert (images[:, :, 10:, 36:] == OPAQUE_RGB).all()
    np.testing.assert_allclose(images[:, :, 0, 30, 0], [[0, 10, 20]] * 2, atol=2)  # the band, resampled
    # more views than each object is checked to have: a clear error, up front and in the stage
    write_render_params({"sn": entry}, views=5, image_size=64)
    with pytest.raises(ParamsError, match=r"render.views: 5 exceeds datasets.sn.views \(4\)"):
        full = default_params()
        full["datasets"]["sn"] = entry
        full["render"] |= {"views": 5, "image_size": 64}
        full["sample"]["datasets"].append("sn")
        full["pretrain"]["datasets"] = ["sn"]
        validate_all(full)
    assert cli(["render", "--dataset", "sn", "--shard", "0", "--params", "params.yaml"]) != 0
    # a prepared point store without images (modelnet40_h5, say: no stored_renders) cannot be rendered
    from crosspoint.store import write_point_store

    write_point_store(paths.prepared("sn"), read_point_store(paths.prepared("sn")))
    with pytest.raises(StageError, match="has no images"):
        from crosspoint.rendering.views import Params as RenderParams
        from crosspoint.rendering.views import render_shard

        render_shard(RenderParams(views=3, image_size=64, shards=[0]), "sn", 0)


def default_params() -> dict:
    return yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())


def test_shapenet_render_pairs_with_pretraining(tmp_path, monkeypatch):
    """Through render, merge-views, sample and merge-points, pretraining finds every training
    object's views; sample's ``point_stores: keep`` keeps the clouds as stored."""
    from crosspoint.points.merge import sample_dataset
    from crosspoint.points.sampling import Params as SampleParams
    from crosspoint.training.data import load_training_set
    from crosspoint.training.params import Params as PretrainParams
    from crosspoint.training.params import Variant

    monkeypatch.chdir(tmp_path)
    raw = make_shapenet(tmp_path / "data", views=2)
    write_render_params({"sn": sn_entry(tmp_path / "data", views=2, normalize=False)}, views=2, image_size=16)
    assert cli(["prepare", "--dataset", "sn", "--params", "params.yaml"]) == 0
    views, rejects = decode(views=2, image_size=16)
    sample_dataset("sn", SampleParams(datasets=["sn"], points=32, point_stores="keep"))
    kept = read_point_store(paths.points("sn"))
    assert kept.object_ids[0] == f"{AIRPLANE}/a1"
    np.testing.assert_array_equal(kept.points[0], raw[f"{AIRPLANE}/a1"].astype(np.float32))  # raw, file order
    data = load_training_set(PretrainParams(datasets=["sn"], val_fraction=0.3), Variant(points=16), True, 0)
    ids = views["ids"]
    assert ids == [f"{AIRPLANE}/a1", f"{AIRPLANE}/a2", f"{CHAIR}/c1"]  # c6's bad PNG: rejected by render
    assert data.skipped is None and len(data.train_points) + len(data.val_ids) == 3  # the object without views left out
    fit_rows = [r for r, oid in enumerate(ids) if oid not in data.val_ids]
    assert data.view_rows is not None and sorted(data.view_rows.tolist()) == fit_rows
    # resample (the default) draws a random subset; a raw store (normalize: false) is not renormalised
    sample_dataset("sn", SampleParams(datasets=["sn"], points=16))
    again = read_point_store(paths.points("sn"))
    assert again.points.shape == (4, 16, 3)
    original = {tuple(p) for p in raw[f"{AIRPLANE}/a1"].astype(np.float32).tolist()}
    assert {tuple(p) for p in again.points[0].tolist()} <= original


def test_shapenet_render_absent_required_or_optional(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StageError, match=r"ShapeNetRendering.*datasets\.sn\.path.*required: false"):
        make_source(parse_dataset("sn", sn_entry(tmp_path / "none")), "sn").ensure_available()
    write_render_params({"sn": sn_entry(tmp_path / "none", required=False, views=2)}, views=2, image_size=16)
    assert cli(["prepare", "--dataset", "sn", "--params", "params.yaml"]) == 0
    with h5py.File(paths.prepared("sn"), "r") as h5:
        assert get_meta(h5, "kind") == "points" and "not found" in get_meta(h5, "skipped")
        assert len(h5["labels"]) == 0
    views, rejects = decode(views=2, image_size=16)  # an empty view store carrying the mark
    assert views["images"].shape == (0, 2, 16, 16, 3) and "not found" in views["attrs"]["skipped"] and not rejects
    with pytest.raises(Exception, match="unknown category 'plane'"):
        parse_dataset("sn", sn_entry(tmp_path, categories=["plane"]))
    empty = tmp_path / "empty"
    (empty / "ShapeNet").mkdir(parents=True)
    (empty / "ShapeNetRendering").mkdir()
    with pytest.raises(StageError, match="no object has both"):
        make_source(parse_dataset("sn", sn_entry(empty)), "sn").ensure_available()


def test_r2n2_cameras_random_azimuth_elevation_band():
    from crosspoint.rendering.camera import camera_poses

    poses = camera_poses(24, (25.0, 30.0), 4.7, "r2n2", np.random.default_rng(3))
    eyes = poses[:, :3, 3].astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(eyes, axis=1), 4.7, rtol=1e-5)
    elevation = np.degrees(np.arcsin(eyes[:, 1] / 4.7))
    assert (elevation >= 25.0 - 1e-3).all() and (elevation <= 30.0 + 1e-3).all() and np.ptp(elevation) > 2.0
    azimuth = np.degrees(np.arctan2(eyes[:, 0], eyes[:, 2])) % 360
    assert np.ptp(azimuth) > 180 and len(np.unique(np.round(azimuth, 3))) == 24  # random, not a ring
    forward = -poses[:, :3, 2]  # OpenGL cameras look down -z: every view at the origin
    np.testing.assert_allclose(forward, -eyes / 4.7, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# up_axis

TETRA_F = "3 0 2 1\n3 0 1 3\n3 1 2 3\n3 0 3 2\n"


def pyramid_off() -> str:
    """A tall thin z-up spike standing on the xy plane, offset upward along z: base triangle
    (0.4 wide in x, 0.2 deep in y) at z = 5, apex at z = 8."""
    v = [(-0.2, -0.1, 5.0), (0.2, -0.1, 5.0), (0.0, 0.1, 5.0), (0.0, 0.0, 8.0)]
    return "OFF\n4 4 0\n" + "".join(f"{x} {y} {z}\n" for x, y, z in v) + TETRA_F


def signed_volume(v: np.ndarray, f: np.ndarray) -> float:
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6)


def test_to_y_up_is_a_proper_rotation():
    v = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    assert to_y_up(v, "y") is v
    np.testing.assert_array_equal(to_y_up(v, "z"), [[1, 0, 0], [0, 0, -1], [0, 1, 0]])
    assert np.linalg.det(to_y_up(v, "z")) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="up_axis"):
        to_y_up(v, "x")


def test_modelnet_meshes_come_out_y_up(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for split in ("train", "test"):
            zf.writestr(f"ModelNet10/spike/{split}/spike_{split}.off", pyramid_off())
    (tmp_path / "ModelNet10.zip").write_bytes(buf.getvalue())
    (tmp_path / "folder" / "spike").mkdir(parents=True)
    (tmp_path / "folder" / "spike" / "s.off").write_text(pyramid_off())
    write_params({
        "mn10": {"source": "modelnet", "version": 10, "path": "ModelNet10.zip"},  # up_axis defaults to z
        "asis": {"source": "mesh_dir", "path": "folder"},  # y: left as it is
        "turned": {"source": "mesh_dir", "path": "folder", "up_axis": "z"},
    })
    for name in ("mn10", "asis", "turned"):
        assert cli(["prepare", "--dataset", name, "--params", "params.yaml"]) == 0
    raw_v = np.array([[-0.2, -0.1, 5.0], [0.2, -0.1, 5.0], [0.0, 0.1, 5.0], [0.0, 0.0, 8.0]])
    raw_f = np.array([[0, 2, 1], [0, 1, 3], [1, 2, 3], [0, 3, 2]])
    for name in ("mn10", "turned"):
        m = MeshStore(paths.prepared(name))[0]
        v = np.asarray(m.vertices, dtype=np.float64)
        extent = np.ptp(v, axis=0)
        assert np.argmax(extent) == 1 and extent[1] / extent[0] == pytest.approx(3 / 0.4, rel=1e-5)
        assert extent[2] / extent[0] == pytest.approx(0.2 / 0.4, rel=1e-5)  # old y depth is now along z
        assert np.argmax(v[:, 1]) == 3 and v[3, 1] > 0  # the apex (old +z) points up, +y
        assert v[2, 2] == v[:, 2].min()  # the vertex at old +y is now at -z
        assert np.sign(signed_volume(v, np.asarray(m.faces))) == np.sign(signed_volume(raw_v, raw_f))
    v = np.asarray(MeshStore(paths.prepared("asis"))[0].vertices)
    assert np.argmax(np.ptp(v, axis=0)) == 2 and np.argmax(v[:, 2]) == 3  # y-up source: untouched
