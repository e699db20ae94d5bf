"""``crosspoint prepare`` end to end in a temporary folder, outputs read back."""

from __future__ import annotations

import csv
import io
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest
import trimesh
import yaml

from crosspoint import paths
from crosspoint.cli import main as cli
from crosspoint.sources.base import MeshItem, MeshSource, Reject
from crosspoint.sources.prepare import collect_meshes
from crosspoint.store import MeshStore, Rejects, get_meta, read_point_store, store_kind

TETRA_F = "3 0 1 2\n3 0 1 3\n3 0 2 3\n3 1 2 3\n"


def off_tetra(scale: float, shift: tuple[float, float, float]) -> str:
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float) * scale + np.array(shift)
    return "OFF\n4 4 0\n" + "".join(f"{x} {y} {z}\n" for x, y, z in v) + TETRA_F


def write_params(datasets: dict) -> None:
    Path("params.yaml").write_text(yaml.safe_dump({"datasets": datasets}))


def read_rejects(name: str) -> list[dict]:
    with open(paths.prepared_rejects(name), newline="") as fh:
        return list(csv.DictReader(fh))


def make_folder(root: Path) -> None:
    """3 classes of tetrahedra and boxes at odd scales and offsets, plus two broken files."""
    for k in range(4):
        (root / "box").mkdir(parents=True, exist_ok=True)
        box = trimesh.creation.box(extents=(1 + k, 2, 3))
        box.apply_translation((10 * k, -5, 3))
        box.export(root / "box" / f"box{k}.ply")
        (root / "tetra" / f"t{k}.off").parent.mkdir(parents=True, exist_ok=True)
        (root / "tetra" / f"t{k}.off").write_text(off_tetra(100.0 * (k + 1), (k, 2 * k, -50)))
    (root / "z_other" / "train").mkdir(parents=True)
    (root / "z_other" / "test").mkdir(parents=True)
    (root / "z_other" / "train" / "a.off").write_text(off_tetra(0.01, (0, 0, 0)))
    (root / "z_other" / "test" / "b.off").write_text(off_tetra(3, (1, 1, 1)))
    (root / "tetra" / "broken.off").write_text("OFF\n4 4 0\n0 0 0\n")
    (root / "box" / "nan.off").write_text("OFF\n4 4 0\n0 nan 0\n1 0 0\n0 1 0\n0 0 1\n" + TETRA_F)


def test_prepare_mesh_dir_end_to_end(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_folder(tmp_path / "meshes")
    write_params({"shapes": {"source": "mesh_dir", "path": "meshes", "test_fraction": 0.25, "seed": 3}})
    assert cli(["prepare", "--dataset", "shapes", "--params", "params.yaml"]) == 0

    store = MeshStore(paths.prepared("shapes"))
    assert store.meta.class_names == ["box", "tetra", "z_other"]
    assert len(store) == 10
    assert [store.meta.class_names[label] for label in store.labels] == ["box"] * 4 + ["tetra"] * 4 + ["z_other"] * 2
    assert store.object_ids[:4] == ["box/box0", "box/box1", "box/box2", "box/box3"]
    for i in range(len(store)):
        m = store[i]
        radius = np.linalg.norm(m.vertices, axis=1)
        assert radius.max() == pytest.approx(1.0, abs=1e-6)
        centre = (m.vertices.min(axis=0) + m.vertices.max(axis=0)) / 2
        np.testing.assert_allclose(centre, 0.0, atol=1e-6)
        assert m.face_colors.shape == (len(m.faces), 3) and m.face_colors.dtype == np.uint8
        assert (m.face_parts == -1).all()
    # official split folders kept, the others split per class: 1 of 4 in test
    assert dict(zip(store.object_ids, store.split, strict=True))["z_other/train/a"] == "train"
    assert dict(zip(store.object_ids, store.split, strict=True))["z_other/test/b"] == "test"
    labels = np.array(store.labels)
    assert Counter(s for s, lab in zip(store.split, labels, strict=True) if lab == 0)["test"] == 1
    rejects = read_rejects("shapes")
    assert {Path(r["path"]).name for r in rejects} == {"broken.off", "nan.off"}
    assert any("truncated" in r["reason"] for r in rejects)
    with h5py.File(paths.prepared("shapes")) as h5:
        assert "skipped" not in h5.attrs and get_meta(h5, "source") == "mesh_dir"

    # deterministic: a second run writes the same store
    first = (store.vertices.copy(), list(store.split))
    assert cli(["prepare", "--dataset", "shapes", "--params", "params.yaml"]) == 0
    again = MeshStore(paths.prepared("shapes"))
    np.testing.assert_array_equal(again.vertices, first[0])
    assert again.split == first[1]


def test_all_rejected_fails_with_a_clear_message(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad" / "cls").mkdir(parents=True)
    (tmp_path / "bad" / "cls" / "a.off").write_text("OFF\n")
    (tmp_path / "bad" / "cls" / "b.obj").write_text("")
    write_params({"bad": {"source": "mesh_dir", "path": "bad"}})
    assert cli(["prepare", "--dataset", "bad", "--params", "params.yaml"]) == 2
    err = capsys.readouterr().err
    assert "every input was rejected (2)" in err and paths.prepared_rejects("bad") in err
    assert len(read_rejects("bad")) == 2
    assert not Path(paths.prepared("bad")).exists()


def test_optional_missing_folder_gives_empty_skipped_store(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_params({
        "opt": {"source": "mesh_dir", "path": "../nowhere", "required": False},
        "req": {"source": "mesh_dir", "path": "../nowhere"},
        "pts": {"source": "scanobjectnn", "path": "nowhere", "required": False},
    })
    assert cli(["prepare", "--dataset", "opt", "--params", "params.yaml"]) == 0
    store = MeshStore(paths.prepared("opt"))
    assert len(store) == 0 and store.vertices.shape == (0, 3)
    with h5py.File(paths.prepared("opt")) as h5:
        assert "not found" in get_meta(h5, "skipped")
    assert read_rejects("opt") == []

    assert cli(["prepare", "--dataset", "pts", "--params", "params.yaml"]) == 0
    assert store_kind(paths.prepared("pts")) == "points"
    assert len(read_point_store(paths.prepared("pts"))) == 0
    with h5py.File(paths.prepared("pts")) as h5:
        assert "not found" in get_meta(h5, "skipped")

    assert cli(["prepare", "--dataset", "req", "--params", "params.yaml"]) == 2
    err = capsys.readouterr().err
    assert "nowhere not found" in err and "required: false" in err
    assert cli(["prepare", "--dataset", "typo", "--params", "params.yaml"]) == 2
    assert "no dataset 'typo' (declared: opt, pts, req)" in capsys.readouterr().err


def test_prepare_point_source(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    for split, n in (("training", 4), ("test", 2)):
        (tmp_path / "sonn").mkdir(exist_ok=True)
        with h5py.File(tmp_path / "sonn" / f"{split}_objectdataset.h5", "w") as h5:
            h5["data"] = rng.normal(size=(n, 64, 3)).astype(np.float32) * 7
            h5["label"] = np.arange(n)
    write_params({"sonn": {"source": "scanobjectnn", "path": "sonn"}})
    assert cli(["prepare", "--dataset", "sonn", "--params", "params.yaml"]) == 0
    ps = read_point_store(paths.prepared("sonn"))
    assert ps.points.shape == (6, 64, 3) and ps.split.count("test") == 2
    np.testing.assert_allclose(np.linalg.norm(ps.points, axis=2).max(axis=1), 1.0, rtol=1e-5)
    assert ps.meta.class_names[:3] == ["bag", "bin", "box"]


def test_prepare_modelnet_from_local_archive(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for cls in ("chair", "desk"):
            for split, k in (("train", 1), ("train", 2), ("test", 3)):
                zf.writestr(f"ModelNet10/{cls}/{split}/{cls}_{k:04d}.off", off_tetra(k, (k, 0, 0)))
    (tmp_path / "ModelNet10.zip").write_bytes(buf.getvalue())
    write_params({"mn10": {"source": "modelnet", "version": 10, "path": "ModelNet10.zip"}})
    assert cli(["prepare", "--dataset", "mn10", "--params", "params.yaml"]) == 0
    store = MeshStore(paths.prepared("mn10"))
    assert store.meta.class_names == ["chair", "desk"] and len(store) == 6
    assert store.split == ["train", "train", "test"] * 2
    assert store.object_ids[:3] == ["chair_0001", "chair_0002", "chair_0003"]


class PartsSource(MeshSource):
    """A tiny in-memory source with per-object part vocabularies and colours."""

    class_names = ["table", "chair"]

    def items(self) -> Iterator[MeshItem | Reject]:
        v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [9, 9, 9]], dtype=float)  # last unused
        f = np.array([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]])
        yield MeshItem("c2", "chair", None, v, f, np.array([0, 0, 1, 2]), ["seat", "back", "leg"])
        yield MeshItem("c1", "chair", "train", v, f, np.array([1, 1, 0, -1]), ["leg", "arm"],
                       face_colors=np.full((4, 3), 0.5))
        yield MeshItem("t1", "table", None, v * 3, f, np.array([0, 1, 1, 1]), ["top", "leg"])
        yield Reject("somewhere", "could not read")
        yield MeshItem("t1", "table", None, v, f)


class _Params:
    source = "test"
    test_fraction = 0.5
    seed = 0


def test_part_names_become_global_ids():
    rejects = Rejects("test")
    meshes, meta = collect_meshes(PartsSource(), _Params(), rejects)
    assert [m.object_id for m in meshes] == ["t1", "c1", "c2"]  # class order, then object id
    assert [m.label for m in meshes] == [0, 1, 1]
    assert meta.part_names == ["table/top", "table/leg", "chair/leg", "chair/arm", "chair/seat", "chair/back"]
    assert meta.class_parts == {"table": [0, 1], "chair": [2, 3, 4, 5]}
    assert meshes[0].face_parts.tolist() == [0, 1, 1, 1]
    assert meshes[1].face_parts.tolist() == [3, 3, 2, -1]
    assert meshes[2].face_parts.tolist() == [4, 4, 5, 2]
    assert len(meshes[0].vertices) == 4  # the unreferenced vertex is dropped before normalising
    assert np.linalg.norm(meshes[0].vertices, axis=1).max() == pytest.approx(1.0)
    assert meshes[1].face_colors.tolist() == [[128, 128, 128]] * 4  # float colours in [0, 1] scaled
    assert meshes[0].face_colors.tolist() == [[170, 170, 170]] * 4  # grey when absent
    assert meshes[1].split == "train" and {m.split for m in meshes} <= {"train", "test"}
    assert rejects.rows == [("somewhere", "could not read"), ("t1", "duplicate object id 't1'")]


def test_prepare_capod(capod_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_params({"capod": {"source": "mesh_dir", "path": str(capod_dir), "test_fraction": 0.5, "seed": 0,
                            "required": False}})
    assert cli(["prepare", "--dataset", "capod", "--params", "params.yaml"]) == 0
    store = MeshStore(paths.prepared("capod"))
    assert len(store) == 180 and store.meta.class_names[0] == "Human" and len(store.meta.class_names) == 15
    assert Counter(store.split) == {"train": 90, "test": 90}
    radii = [np.linalg.norm(store[i].vertices, axis=1).max() for i in range(len(store))]
    np.testing.assert_allclose(radii, 1.0, atol=1e-5)
    assert read_rejects("capod") == []


# ---------------------------------------------------------------------------------------------
# max_faces and headers that lie


def strip(n_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """A zigzag strip of ``n_faces`` non-degenerate triangles."""
    i = np.arange(n_faces + 2, dtype=float)
    vertices = np.stack([i, i % 2, 0.1 * i], axis=1)
    faces = np.stack([np.arange(n_faces), np.arange(n_faces) + 1, np.arange(n_faces) + 2], axis=1)
    return vertices, faces


def strip_off(n_faces: int, declared: int | None = None) -> str:
    v, f = strip(n_faces)
    declared = n_faces if declared is None else declared
    return (f"OFF\n{len(v)} {declared} 0\n" + "".join(f"{x} {y} {z}\n" for x, y, z in v)
            + "".join(f"3 {a} {b} {c}\n" for a, b, c in f))


def test_max_faces_rejects_larger_meshes_and_lying_headers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "meshes"
    (root / "strip").mkdir(parents=True)
    (root / "strip" / "fits.off").write_text(strip_off(100))
    (root / "strip" / "over.off").write_text(strip_off(101))
    # a header announcing a billion faces is refused from the header alone
    (root / "strip" / "huge.off").write_text("OFF\n3 1000000000 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
    (root / "strip" / "fewer.off").write_text(strip_off(50, declared=40))  # the body has 10 more faces
    (root / "strip" / "more.off").write_text(strip_off(50, declared=60))  # the body ends early
    trimesh.Trimesh(*strip(100), process=False).export(root / "strip" / "fits_ply.ply")
    trimesh.Trimesh(*strip(101), process=False).export(root / "strip" / "over.ply")
    lying = trimesh.Trimesh(*strip(60), process=False).export(file_type="ply")
    (root / "strip" / "lying.ply").write_bytes(lying.replace(b"element face 60\n", b"element face 59\n"))
    trimesh.Trimesh(*strip(101), process=False).export(root / "strip" / "over.stl")
    stl = trimesh.Trimesh(*strip(30), process=False).export(file_type="stl")
    (root / "strip" / "lying.stl").write_bytes(stl[:80] + (20).to_bytes(4, "little") + stl[84:])
    trimesh.Trimesh(*strip(101), process=False).export(root / "strip" / "over.obj")
    write_params({"strips": {"source": "mesh_dir", "path": "meshes", "test_fraction": 0.0, "max_faces": 100}})
    assert cli(["prepare", "--dataset", "strips", "--params", "params.yaml"]) == 0

    store = MeshStore(paths.prepared("strips"))
    assert sorted(store.object_ids) == ["strip/fits", "strip/fits_ply"]  # the others were rejected
    assert all(len(store[i].faces) == 100 for i in range(len(store)))
    reasons = {Path(r["path"]).name: r["reason"] for r in read_rejects("strips")}
    assert reasons["over.off"] == "header declares 101 faces, more than max_faces = 100"
    assert reasons["huge.off"] == "header declares 1000000000 faces, more than max_faces = 100"
    assert "header declares 52 vertices and 40 faces, the file has more data lines" in reasons["fewer.off"]
    assert "truncated" in reasons["more.off"] and "60 faces" in reasons["more.off"]
    assert reasons["over.ply"] == "header declares 101 faces, more than max_faces = 100"
    assert "header declares 62 vertex, 59 face" in reasons["lying.ply"] and "a header that lies" in reasons["lying.ply"]
    assert reasons["over.stl"] == "header declares 101 faces, more than max_faces = 100"
    assert "binary STL header declares 20 triangles" in reasons["lying.stl"]
    assert reasons["over.obj"] == "101 triangles, more than max_faces = 100"
    assert len(reasons) == 9


def test_max_faces_null_and_invalid(tmp_path):
    from crosspoint.config import ParamsError
    from crosspoint.sources.registry import parse_dataset

    assert parse_dataset("m", {"source": "mesh_dir", "path": "x"}).max_faces == 5_000_000
    assert parse_dataset("m", {"source": "mesh_dir", "path": "x", "max_faces": None}).max_faces is None
    with pytest.raises(ParamsError, match="max_faces must be at least 1"):
        parse_dataset("m", {"source": "modelnet", "max_faces": 0})


# ---------------------------------------------------------------------------------------------
# heading: random


def test_random_heading_turns_each_mesh_about_up_by_its_own_angle(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_folder(tmp_path / "meshes")
    base = {"source": "mesh_dir", "path": "meshes", "test_fraction": 0.25, "seed": 3}
    write_params({"posed": base, "turned": base | {"heading": "random"},
                  "fewer": base | {"heading": "random", "max_per_class": 2}})
    for name in ("posed", "turned", "fewer"):
        assert cli(["prepare", "--dataset", name, "--params", "params.yaml"]) == 0
    posed, turned, fewer = (MeshStore(paths.prepared(n)) for n in ("posed", "turned", "fewer"))
    assert turned.object_ids == posed.object_ids and turned.split == posed.split
    angles = set()
    for i in range(len(posed)):
        a, b = posed[i].vertices.astype(np.float64), turned[i].vertices.astype(np.float64)
        # a turn about y keeps heights and distances from the axis; the bounding-box centring in x and z
        # moves, so compare the shapes after centring the vertices on their mean
        np.testing.assert_allclose(b[:, 1] - b[:, 1].mean(), (a[:, 1] - a[:, 1].mean()) * (np.ptp(b[:, 1]) / np.ptp(a[:, 1])),
                                   atol=1e-5)
        ca, cb = a - a.mean(axis=0), b - b.mean(axis=0)
        ca *= np.linalg.norm(cb) / np.linalg.norm(ca)
        angle = np.arctan2(ca[:, 2] @ cb[:, 0] - ca[:, 0] @ cb[:, 2], ca[:, 0] @ cb[:, 0] + ca[:, 2] @ cb[:, 2])
        c, s = np.cos(angle), np.sin(angle)
        turned_back = np.stack([c * ca[:, 0] + s * ca[:, 2], ca[:, 1], -s * ca[:, 0] + c * ca[:, 2]], axis=1)
        np.testing.assert_allclose(turned_back, cb, atol=1e-5)
        angles.add(round(float(angle) % (2 * np.pi), 3))
    assert len(angles) == len(posed)  # every object its own angle
    # an object's angle depends on it alone: the same bytes in a store that holds fewer objects
    for i, oid in enumerate(fewer.object_ids):
        np.testing.assert_array_equal(fewer[i].vertices, turned[turned.object_ids.index(oid)].vertices)
