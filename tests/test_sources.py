"""The real-data sources on small files the tests write, and on the CAPOD meshes."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest
import trimesh
import yaml

from crosspoint.config import ParamsError
from crosspoint.sources.base import MeshItem, Reject
from crosspoint.sources.helpers import stratified_split
from crosspoint.sources.mesh_files import load_mesh_file
from crosspoint.sources.off import OffError, parse_off, read_off
from crosspoint.sources.registry import make_source, parse_dataset, parse_datasets
from crosspoint.store import StageError

TETRA_V = "0 0 0\n1 0 0\n0 1 0\n0 0 1\n"
TETRA_F = "3 0 1 2\n3 0 1 3\n3 0 2 3\n3 1 2 3\n"


def tetra_off(header: str = "OFF\n4 4 0\n") -> str:
    return header + TETRA_V + TETRA_F


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def items_and_rejects(source) -> tuple[list[MeshItem], list[Reject]]:
    out = list(source.items())
    return [i for i in out if isinstance(i, MeshItem)], [r for r in out if isinstance(r, Reject)]


# ---------------------------------------------------------------------------------------------
# OFF


def test_off_well_formed_and_malformed_headers_parse_alike():
    v1, f1 = parse_off(tetra_off())
    v2, f2 = parse_off(tetra_off("OFF4 4 0\n"))  # ModelNet's counts glued to the keyword
    assert v1.shape == (4, 3) and f1.shape == (4, 3)
    np.testing.assert_array_equal(v1, v2)
    np.testing.assert_array_equal(f1, f2)


def test_off_comments_blank_lines_crlf_and_polygons():
    text = "# a comment\r\nOFF\r\n\r\n# counts next\r\n5 2 0\r\n0 0 0\r\n1 0 0\r\n1 1 0 # corner\r\n0 1 0\r\n0 0 1\r\n\r\n" \
        "4 0 1 2 3 255 0 0\r\n3 0 1 4\r\n"
    v, f = parse_off(text)
    assert v.shape == (5, 3)
    # the quad becomes a fan of two triangles, plus the triangle
    assert f.tolist() == [[0, 1, 2], [0, 2, 3], [0, 1, 4]]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("OFF\n4 4 0\n" + TETRA_V + "3 0 1 2\n", "truncated"),
        ("OFF\nfour four 0\n", "garbled counts"),
        ("OFF\n4 1 0\n0 0 0\n1 0 zero\n0 1 0\n0 0 1\n3 0 1 2\n", "garbled vertex"),
        ("OFF\n4 1 0\n" + TETRA_V + "3 0 1 9\n", "out of range"),
        ("PLY\n4 1 0\n", "missing OFF header"),
    ],
)
def test_off_garbled_files_raise_with_reason(tmp_path, text, reason):
    f = tmp_path / "bad.off"
    f.write_text(text)
    with pytest.raises(OffError, match=reason):
        read_off(f)


# ---------------------------------------------------------------------------------------------
# mesh_dir


def broken_folder(root: Path) -> set[str]:
    """A class-folder tree with 4 good meshes and 6 broken files; returns the broken file names."""
    write(root / "cube" / "a_good.off", tetra_off("OFF4 4 0\n"))
    box = trimesh.creation.box()
    box.visual.face_colors = [200, 10, 10, 255]
    (root / "cube").mkdir(exist_ok=True)
    box.export(root / "cube" / "b_good.ply")
    write(root / "cube" / "c_empty.obj", "")
    write(root / "cube" / "d_text.obj", "this is a shopping list, not a mesh\n")
    tetra = trimesh.Trimesh(vertices=[[0, 0, 0], [2, 0, 0], [0, 2, 0], [0, 0, 2]], faces=[[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]])
    (root / "tetra").mkdir(exist_ok=True)
    tetra.export(root / "tetra" / "e_good.stl")
    tetra.export(root / "tetra" / "f_good.obj")
    write(root / "tetra" / "g_nan.off", "OFF\n4 4 0\nnan 0 0\n1 0 0\n0 1 0\n0 0 1\n" + TETRA_F)
    write(root / "tetra" / "h_flat.off", "OFF\n3 1 0\n0 0 0\n1 0 0\n2 0 0\n3 0 1 2\n")  # collinear: zero area
    os.symlink(root / "nowhere.obj", root / "tetra" / "i_dangling.obj")  # unreadable
    write(root / "tetra" / "j_garbage.ply", "ply?? not really\n\x00\x01\x02")
    return {"c_empty.obj", "d_text.obj", "g_nan.off", "h_flat.off", "i_dangling.obj", "j_garbage.ply"}


def test_mesh_dir_rejects_broken_files_and_keeps_good_ones(tmp_path):
    broken = broken_folder(tmp_path / "meshes")
    params = parse_dataset("mine", {"source": "mesh_dir", "path": str(tmp_path / "meshes"), "test_fraction": 0.5})
    source = make_source(params, "mine")
    assert source.ensure_available() is None
    items, rejects = items_and_rejects(source)
    assert {Path(r.path).name for r in rejects} == broken
    reasons = {Path(r.path).name: r.reason for r in rejects}
    assert "empty" in reasons["c_empty.obj"]
    assert "non-finite" in reasons["g_nan.off"]
    assert "zero surface area" in reasons["h_flat.off"]
    assert "cannot open" in reasons["i_dangling.obj"]
    assert sorted(i.object_id for i in items) == ["cube/a_good", "cube/b_good", "tetra/e_good", "tetra/f_good"]
    assert source.class_names == ["cube", "tetra"]
    by_id = {i.object_id: i for i in items}
    assert by_id["cube/b_good"].face_colors is not None and tuple(by_id["cube/b_good"].face_colors[0]) == (200, 10, 10)
    # no split folders: a stratified split over the files found (so a file that fails does not move
    # the others): half of each class's files in test
    assert all(i.split in ("train", "test") for i in items)
    for cls, n in (("cube", 4), ("tetra", 6)):
        assert Counter(e.split for e in source.entries() if e.class_name == cls) == {"train": n // 2, "test": n // 2}


def test_mesh_dir_keeps_split_folders_and_scenes_are_concatenated(tmp_path):
    root = tmp_path / "m"
    write(root / "a" / "train" / "x.off", tetra_off())
    write(root / "a" / "test" / "y.off", tetra_off())
    scene = trimesh.Scene([trimesh.creation.box(), trimesh.creation.icosphere(subdivisions=1)])
    (root / "b" / "train").mkdir(parents=True)
    scene.export(root / "b" / "train" / "z.glb")
    source = make_source(parse_dataset("m", {"source": "mesh_dir", "path": str(root)}))
    items, rejects = items_and_rejects(source)
    assert not rejects
    assert {i.object_id: i.split for i in items} == {"a/train/x": "train", "a/test/y": "test", "b/train/z": "train"}
    z = next(i for i in items if i.object_id == "b/train/z")
    assert len(z.faces) == 12 + 80  # box + icosphere
    v, f, _ = load_mesh_file(root / "b" / "train" / "z.glb")
    assert f.max() < len(v)


def test_mesh_dir_rejects_a_folder_named_like_a_mesh(tmp_path):
    root = tmp_path / "m"
    write(root / "a" / "good.off", tetra_off())
    (root / "a" / "x.obj" / "inside").mkdir(parents=True)  # a folder with a mesh extension
    (root / "a" / "train").mkdir()
    os.mkfifo(root / "a" / "train" / "pipe.ply")
    source = make_source(parse_dataset("m", {"source": "mesh_dir", "path": str(root)}))
    items, rejects = items_and_rejects(source)
    assert [i.object_id for i in items] == ["a/good"]
    assert {Path(r.path).name: r.reason for r in rejects} == {
        "x.obj": "not a regular file (a directory)", "pipe.ply": "not a regular file (a named pipe)"}
    assert [e.object_id for e in source.entries()] == ["a/good"]  # not part of the split either
    # only such names: the error says what was found
    (root / "a" / "good.off").unlink()
    with pytest.raises(StageError, match=r"no meshes found.*x\.obj: not a regular file \(a directory\)"):
        make_source(parse_dataset("m", {"source": "mesh_dir", "path": str(root)})).entries()


def test_cla_model_that_is_a_folder_is_rejected(tmp_path):
    root = tmp_path / "psb"
    write(root / "models" / "m1.off", tetra_off())
    (root / "models" / "m2.off").mkdir()
    write(root / "c.cla", "PSB 1\n1 2\n\nthing 0 2\n1\n2\n")
    source = make_source(parse_dataset("psb", {"source": "mesh_dir", "path": str(root), "test_fraction": 0.0}))
    items, rejects = items_and_rejects(source)
    assert [i.object_id for i in items] == ["m1"]
    assert [(Path(r.path).name, r.reason) for r in rejects] == [
        ("m2.off", "model 2 of class thing: not a regular file (a directory)")]


def test_modelnet_folder_rejects_a_folder_named_like_a_mesh(tmp_path):
    root = tmp_path / "ModelNet10"
    write(root / "chair" / "train" / "chair_0001.off", tetra_off())
    (root / "chair" / "test" / "chair_0002.off").mkdir(parents=True)
    source = make_source(parse_dataset("mn", {"source": "modelnet", "version": 10, "path": str(root)}))
    items, rejects = items_and_rejects(source)
    assert [i.object_id for i in items] == ["chair_0001"]
    assert [(Path(r.path).name, r.reason) for r in rejects] == [("chair_0002.off", "not a regular file (a directory)")]


def test_capod_cla_layout(capod_dir):
    params = parse_dataset("capod", {"source": "mesh_dir", "path": str(capod_dir), "test_fraction": 0.5, "seed": 0})
    source = make_source(params, "capod")
    assert source.ensure_available() is None
    entries = source.entries()
    assert len(entries) == 180
    assert len(source.class_names) == 15 and source.class_names[0] == "Human" and "Dolphin" in source.class_names
    per_class = Counter((e.class_name, e.split) for e in entries)
    assert all(per_class[(c, s)] == 6 for c in source.class_names for s in ("train", "test"))
    human = sorted((e.object_id for e in entries if e.class_name == "Human"), key=lambda s: int(s[1:]))
    assert human == [f"m{k}" for k in range(1, 13)]
    # deterministic: a second source gives the same split; another seed a different one
    again = make_source(params, "capod").entries()
    assert [(e.object_id, e.split) for e in again] == [(e.object_id, e.split) for e in entries]
    other = make_source(parse_dataset("capod", {"source": "mesh_dir", "path": str(capod_dir), "test_fraction": 0.5,
                                                "seed": 1}), "capod").entries()
    assert [e.split for e in other] != [e.split for e in entries]
    # the meshes themselves load (first class only, to stay quick)
    small = make_source(parse_dataset("c", {"source": "mesh_dir", "path": str(capod_dir), "max_per_class": 1}))
    items, rejects = items_and_rejects(small)
    assert not rejects and len(items) == 15
    assert items[0].class_name == "Human" and items[0].vertices.shape[1] == 3 and len(items[0].faces) > 100


def test_stratified_split_is_per_class_and_deterministic():
    classes = ["a"] * 10 + ["b"] * 3 + ["c"]
    ids = [f"o{i}" for i in range(14)]
    s1 = stratified_split(classes, ids, 0.2, seed=3)
    assert s1 == stratified_split(classes, ids, 0.2, seed=3)
    assert Counter(s for s, c in zip(s1, classes, strict=True) if c == "a")["test"] == 2
    assert Counter(s for s, c in zip(s1, classes, strict=True) if c == "b")["test"] == 1  # at least one
    assert s1[-1] == "train"  # a lone object stays in train


def test_missing_folder_required_and_optional(tmp_path):
    missing = str(tmp_path / "nope")
    source = make_source(parse_dataset("mine", {"source": "mesh_dir", "path": missing}), "mine")
    with pytest.raises(StageError, match=r"nope not found.*datasets\.mine\.path.*required: false"):
        source.ensure_available()
    optional = make_source(parse_dataset("mine", {"source": "mesh_dir", "path": missing, "required": False}), "mine")
    assert "not found" in optional.ensure_available()
    assert list(optional.items()) == []


def test_parse_datasets_errors_name_the_dataset():
    with pytest.raises(ParamsError, match=r"datasets\.foo\.source: unknown source 'nosuch'"):
        parse_datasets({"foo": {"source": "nosuch"}})
    with pytest.raises(ParamsError, match=r"datasets\.bar: unknown key\(s\) pth"):
        parse_datasets({"bar": {"source": "mesh_dir", "pth": "x"}})
    with pytest.raises(ParamsError, match=r"datasets\.baz: missing key 'source'"):
        parse_datasets({"baz": {"path": "x"}})
    with pytest.raises(ParamsError, match="sha256 must be 64"):
        parse_datasets({"mn": {"source": "modelnet", "sha256": "abc"}})



def test_modelnet_is_one_source_with_a_version():
    """``source: modelnet`` with ``version: 40`` (default) or ``10``: its archive and its download folder; the
    old source names say what replaces them."""
    from crosspoint import paths

    mn40 = parse_dataset("mn", {"source": "modelnet"})
    mn10 = parse_dataset("mn", {"source": "modelnet", "version": 10})
    assert (mn40.version, mn40.up_axis) == (40, "z")
    assert mn40.archive_url == "http://modelnet.cs.princeton.edu/ModelNet40.zip"
    assert mn10.archive_url == "http://3dvision.princeton.edu/projects/2014/3DShapeNets/ModelNet10.zip"
    assert (mn40.benchmark, mn10.benchmark) == ("modelnet40", "modelnet10")  # paths.download_dir(...) as before
    assert paths.download_dir(mn10.benchmark).endswith("downloads/modelnet10")
    assert make_source(mn10).name == "modelnet10" and make_source(mn10, "mine").name == "mine"
    with pytest.raises(ParamsError, match=r"datasets\.mn\.version: expected one of 40, 10, got 20"):
        parse_dataset("mn", {"source": "modelnet", "version": 20})
    for old, version in (("modelnet40", 40), ("modelnet10", 10)):
        with pytest.raises(ParamsError, match=rf"source '{old}' is replaced by source: modelnet with version: {version}"):
            parse_dataset("mn", {"source": old})


# ---------------------------------------------------------------------------------------------
# ShapeNetCore


def shapenet_tree(root: Path) -> None:
    for sid in ("02691156", "03001627"):
        for k in range(3):
            write(root / sid / f"model{k}" / "models" / "model_normalized.obj",
                  "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n")
    (root / "03001627" / "broken" / "models").mkdir(parents=True)  # no model file
    (root / "03001627" / "odd" / "models" / "model_normalized.obj").mkdir(parents=True)  # a folder


def test_shapenetcore_local_folder(tmp_path):
    shapenet_tree(tmp_path / "snc")
    params = parse_dataset("snc", {"source": "shapenetcore", "path": str(tmp_path / "snc"), "test_fraction": 0.34})
    source = make_source(params, "snc")
    items, rejects = items_and_rejects(source)
    assert source.class_names == ["airplane", "chair"]
    assert len(items) == 6 and items[0].object_id == "02691156/model0"
    assert [(Path(r.path).name, r.reason) for r in rejects] == [
        ("broken", "no models/model_normalized.obj in this model folder"),
        ("model_normalized.obj", "not a regular file (a directory)")]
    for cls in ("airplane", "chair"):
        assert Counter(i.split for i in items if i.class_name == cls) == {"train": 2, "test": 1}
    # a category subset by name and a split CSV
    csv = write(tmp_path / "all.csv", "id,synsetId,subSynsetId,modelId,split\n1,3001627,x,model0,test\n"
                                      "2,3001627,x,model1,val\n3,3001627,x,model2,train\n")
    subset = make_source(parse_dataset("snc", {"source": "shapenetcore", "path": str(tmp_path / "snc"),
                                               "categories": ["chair"], "split_csv": str(csv)}))
    items, _ = items_and_rejects(subset)
    assert subset.class_names == ["chair"]
    assert {i.object_id: i.split for i in items} == {
        "03001627/model0": "test", "03001627/model1": "train", "03001627/model2": "train"}


def test_shapenetcore_missing_folder_explains_the_licence(tmp_path):
    source = make_source(parse_dataset("snc", {"source": "shapenetcore", "path": str(tmp_path / "none")}), "snc")
    with pytest.raises(StageError, match=r"licence forbids automatic download.*datasets\.snc\.path"):
        source.ensure_available()
    with pytest.raises(ParamsError, match="unknown category 'spaceship'"):
        parse_dataset("snc", {"source": "shapenetcore", "path": "x", "categories": ["spaceship"]})


# ---------------------------------------------------------------------------------------------
# Point sources


def write_h5(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        for k, v in arrays.items():
            h5.create_dataset(k, data=v)


def test_scanobjectnn_h5(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "h5_files"
    write_h5(root / "main_split" / "training_objectdataset.h5",
             data=rng.normal(size=(6, 32, 3)).astype(np.float32) * 5 + 3, label=np.arange(6, dtype=np.int32))
    write_h5(root / "main_split" / "test_objectdataset.h5",
             data=rng.normal(size=(3, 32, 3)).astype(np.float32), label=np.array([[14], [0], [7]]))
    source = make_source(parse_dataset("sonn", {"source": "scanobjectnn", "path": str(root)}), "sonn")
    ps = source.load_points()
    assert ps.points.shape == (9, 32, 3) and ps.points.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ps.points, axis=2).max(axis=1), 1.0, rtol=1e-5)
    assert ps.labels.tolist() == [0, 1, 2, 3, 4, 5, 14, 0, 7]
    assert ps.split == ["train"] * 6 + ["test"] * 3
    assert ps.object_ids[6] == "test/00000"
    assert ps.meta.class_names[0] == "bag" and ps.meta.class_names[14] == "toilet" and len(ps.meta.class_names) == 15
    # another variant's files are absent: required -> error, optional -> skipped
    other = {"source": "scanobjectnn", "path": str(root), "variant": "obj_only"}
    with pytest.raises(StageError, match=r"main_split_nobg/training_objectdataset\.h5.*datasets\.sonn\.path"):
        make_source(parse_dataset("sonn", other), "sonn").ensure_available()
    skipped = make_source(parse_dataset("sonn", {**other, "required": False}), "sonn")
    assert "not found" in skipped.ensure_available()
    assert len(skipped.load_points()) == 0


def test_shapenetpart_h5(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "hdf5_data"

    def block(n: int, cats: list[int]) -> dict:
        ranges = {0: (0, 4), 4: (12, 16), 15: (47, 50)}  # Airplane, Chair, Table
        pid = np.stack([rng.integers(*ranges[c], size=16) for c in cats]).astype(np.uint8)
        return {"data": rng.normal(size=(n, 16, 3)).astype(np.float32), "label": np.array(cats, np.uint8)[:, None],
                "pid": pid}

    write_h5(root / "ply_data_train0.h5", **block(3, [0, 4, 15]))
    write_h5(root / "ply_data_val0.h5", **block(1, [4]))
    write_h5(root / "ply_data_test0.h5", **block(2, [15, 0]))
    ps = make_source(parse_dataset("snp", {"source": "shapenetpart", "path": str(root)})).load_points()
    assert len(ps) == 6 and ps.split == ["train"] * 4 + ["test"] * 2
    assert ps.labels.tolist() == [0, 4, 15, 4, 15, 0]
    assert len(ps.meta.part_names) == 50 and len(ps.meta.class_names) == 16
    assert ps.meta.class_parts["Airplane"] == [0, 1, 2, 3] and ps.meta.class_parts["Table"] == [47, 48, 49]
    assert ps.meta.part_names[12].startswith("Chair/")
    for i, cat in enumerate(ps.labels):
        assert set(ps.part_labels[i].tolist()) <= set(ps.meta.class_parts[ps.meta.class_names[cat]])
    np.testing.assert_allclose(np.linalg.norm(ps.points, axis=2).max(axis=1), 1.0, rtol=1e-5)
    no_val = make_source(parse_dataset("snp", {"source": "shapenetpart", "path": str(root), "use_val": False}))
    assert len(no_val.load_points()) == 5
    with pytest.raises(StageError, match="not found"):
        make_source(parse_dataset("snp", {"source": "shapenetpart", "path": str(tmp_path / "x")})).ensure_available()


@pytest.mark.parametrize("normalize", [True, False])
def test_point_sources_normalise_or_keep_the_files_coordinates(tmp_path, monkeypatch, normalize):
    from crosspoint import paths
    from crosspoint.points.merge import sample_dataset
    from crosspoint.points.sampling import Params as SampleParams
    from crosspoint.sources.prepare import prepare
    from crosspoint.store import get_meta, read_point_store

    rng = np.random.default_rng(2)
    sonn = tmp_path / "h5_files" / "main_split"
    raw = {s: (rng.normal(size=(3, 32, 3)) * 4 + 2).astype(np.float32) for s in ("training", "test")}
    for s in raw:
        write_h5(sonn / f"{s}_objectdataset.h5", data=raw[s], label=np.array([0, 5, 9]))
    snp = tmp_path / "hdf5_data"
    parts = {s: (raw[r][:2] * 0.5 - 1, np.zeros((2, 32), np.uint8)) for s, r in (("train", "training"), ("test", "test"))}
    for s, (data, pid) in parts.items():
        write_h5(snp / f"ply_data_{s}0.h5", data=data, label=np.array([[0], [0]], np.uint8), pid=pid)
    datasets = {"sonn": {"source": "scanobjectnn", "path": str(tmp_path / "h5_files"), "normalize": normalize},
                "snp": {"source": "shapenetpart", "path": str(snp), "normalize": normalize}}
    expected = {"sonn": np.concatenate([raw["training"], raw["test"]]),
                "snp": np.concatenate([parts["train"][0], parts["test"][0]])}
    for name, entry in datasets.items():
        ps = make_source(parse_dataset(name, entry), name).load_points()
        radii = np.linalg.norm(ps.points, axis=2).max(axis=1)
        if normalize:
            np.testing.assert_allclose(radii, 1.0, rtol=1e-5)
        else:
            np.testing.assert_array_equal(ps.points, expected[name])  # as in the files, bit for bit
    # through prepare and sample (resampled, never renormalised when raw)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"datasets": datasets}))
    for name in datasets:
        prepare(name, "params.yaml")
        with h5py.File(paths.prepared(name), "r") as h5:
            assert get_meta(h5, "coordinates") == (None if normalize else "raw")  # unmarked by default
        sample_dataset(name, SampleParams(datasets=[name], points=32))
        ps = read_point_store(paths.points(name))
        with h5py.File(paths.points(name), "r") as h5:
            assert get_meta(h5, "coordinates") == (None if normalize else "raw")
        radii = np.linalg.norm(ps.points, axis=2).max(axis=1)
        if normalize:
            np.testing.assert_allclose(radii, 1.0, rtol=1e-5)
        else:  # each cloud's own points, only reordered
            for got, want in zip(ps.points, expected[name], strict=True):
                np.testing.assert_array_equal(np.sort(got, axis=0), np.sort(want, axis=0))
        # point_stores: keep takes the first points as stored, and carries the mark on too
        sample_dataset(name, SampleParams(datasets=[name], points=16, point_stores="keep"))
        kept = read_point_store(paths.points(name))
        with h5py.File(paths.points(name), "r") as h5:
            assert get_meta(h5, "coordinates") == (None if normalize else "raw")
        if not normalize:
            np.testing.assert_array_equal(kept.points, expected[name][:, :16])


def test_point_source_normalize_must_be_a_bool():
    with pytest.raises(ParamsError, match="normalize"):
        parse_dataset("sonn", {"source": "scanobjectnn", "path": "x", "normalize": "no"})


def test_off_read_in_small_blocks_gives_the_same_arrays(tmp_path, monkeypatch):
    from crosspoint.sources import off

    rng = np.random.default_rng(3)
    v = rng.normal(size=(200, 3))
    lines = ["# made by a test", "OFF", f"{len(v)} 300 0"] + [f"{float(x)!r} {float(y)!r} {float(z)!r}" for x, y, z in v]
    for k in range(300):  # triangles, quads with colours, comments and blank lines mixed in
        idx = rng.integers(0, len(v), 3 + k % 2)
        lines.append(f"{len(idx)} " + " ".join(map(str, idx)) + (" 255 0 0" if k % 2 else "") + (" # c" if k % 7 == 0 else ""))
        if k % 11 == 0:
            lines.append("")
    text = "\r\n".join(lines) + "\r\n"
    f = tmp_path / "m.off"
    f.write_bytes(text.encode())
    whole_v, whole_f = parse_off(text)
    monkeypatch.setattr(off, "BLOCK_BYTES", 64)  # a few lines per block
    block_v, block_f = read_off(f)
    np.testing.assert_array_equal(whole_v, v)
    np.testing.assert_array_equal(block_v, whole_v)
    np.testing.assert_array_equal(block_f, whole_f)
    assert len(whole_f) == 150 + 2 * 150 and block_f.dtype == np.int32
