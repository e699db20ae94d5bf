"""Partial cluttered scans (ScanObjectNN OBJ_BG stand-in) on a tiny mesh store."""

from __future__ import annotations

import csv
import dataclasses

import h5py
import numpy as np
import pytest
import trimesh

from crosspoint import cli, paths
from crosspoint.config import ParamsError, parse_section
from crosspoint.points.scans import CLUTTER, FLOOR, OBJECT, Params, Scanner
from crosspoint.store import DatasetMeta, Mesh, read_point_store, set_meta, write_mesh_store

POINTS = 256
SMALL = Params(image_size=64, points=POINTS, min_object_points=50)


def to_mesh(tm: trimesh.Trimesh, object_id: str, label: int, split: str = "train") -> Mesh:
    v = np.asarray(tm.vertices, dtype=np.float64)
    v = v - (v.min(axis=0) + v.max(axis=0)) / 2
    v = v / np.linalg.norm(v, axis=1).max()
    return Mesh(object_id, label, split, v.astype(np.float32), np.asarray(tm.faces, np.int32),
                np.full(len(tm.faces), -1, np.int16), np.full((len(tm.faces), 3), 128, np.uint8))


def toy_meshes() -> list[Mesh]:
    shapes = [
        (trimesh.creation.icosphere(subdivisions=3), 0),
        (trimesh.creation.box(extents=(1.0, 0.7, 0.5)), 1),
        (trimesh.creation.cylinder(radius=0.4, height=1.0, sections=24), 2),
        (trimesh.creation.box(extents=(0.4, 1.0, 0.4)), 1),
        (trimesh.creation.cone(radius=0.5, height=1.0, sections=24), 2),
    ]
    return [to_mesh(s, f"obj{i}", label, "test" if i == 3 else "train") for i, (s, label) in enumerate(shapes)]


@pytest.fixture(scope="module")
def scanner():
    with Scanner(SMALL, toy_meshes()) as s:
        yield s


def test_scan_is_partial_seen_from_the_camera(scanner):
    # the sphere (object 0): its scanned points lie on the hemisphere facing the camera
    scan = scanner.scan(0, np.random.default_rng(0))
    obj = scan.points[scan.source == OBJECT]
    assert len(obj) > 200
    eye = scan.camera[:3, 3]
    toward_camera = obj @ (eye / np.linalg.norm(eye))
    assert np.mean(toward_camera > -0.05) > 0.98
    assert np.mean(toward_camera > 0.3) > 0.5
    # noisy: not exactly on the unit sphere, but close
    radius = np.linalg.norm(obj, axis=1)
    assert 0.001 < np.std(radius) < 0.05


def test_scan_has_floor_and_clutter_inside_the_crop(scanner):
    p = SMALL
    counts = np.zeros(3, int)
    for i in range(5):
        scan = scanner.scan(i, np.random.default_rng(i))
        counts += np.bincount(scan.source, minlength=3)
        target = scanner.meshes[i].vertices
        lo, hi = target.min(axis=0) - p.crop_margin, target.max(axis=0) + p.crop_margin
        assert np.all((scan.points >= lo) & (scan.points <= hi))
        floor = scan.points[scan.source == FLOOR]
        if len(floor):  # the floor is flat at the object's lowest point (up to the sensor noise)
            assert np.abs(floor[:, 1] - target[:, 1].min()).max() < 6 * (p.depth_noise + p.lateral_noise)
    assert counts[OBJECT] > 0 and counts[FLOOR] > 0 and counts[CLUTTER] > 0

    plain = dataclasses.replace(SMALL, floor=False, neighbours=0)
    with Scanner(plain, scanner.meshes) as bare:
        scan = bare.scan(1, np.random.default_rng(1))
    assert np.all(scan.source == OBJECT)


def test_finish_resamples_caps_background_and_normalises(scanner):
    scan = scanner.scan(2, np.random.default_rng(5))
    pts, source = scanner.finish(scan, np.random.default_rng(5))
    assert pts.shape == (POINTS, 3) and pts.dtype == np.float32
    assert np.isclose(np.linalg.norm(pts, axis=1).max(), 1.0, atol=1e-5)
    assert np.mean(source != OBJECT) <= SMALL.max_background + 1e-9


def test_random_heading_turns_the_scan_about_the_up_axis_only(scanner):
    canonical = dataclasses.replace(SMALL, heading="canonical")
    scan = scanner.scan(1, np.random.default_rng(3))
    with Scanner(canonical, scanner.meshes) as fixed:
        base, _ = fixed.finish(scan, np.random.default_rng(7))
    turned, _ = scanner.finish(scan, np.random.default_rng(7))
    assert not np.allclose(base, turned, atol=1e-3)
    # same points (same resampling draws) up to a rigid motion and the unit-sphere rescale: pairwise
    # distances scale by one factor s, and heights (y, the turning axis) by the same s
    d_base = np.linalg.norm(base[:50, None] - base[None, :50], axis=2)
    d_turned = np.linalg.norm(turned[:50, None] - turned[None, :50], axis=2)
    off = ~np.eye(50, dtype=bool)
    s = d_turned[off] / d_base[off]
    assert np.allclose(s, s.mean(), rtol=1e-4)
    assert np.allclose(turned[:, 1], s.mean() * base[:, 1], atol=1e-4)
    assert np.isclose(np.linalg.norm(turned, axis=1).max(), 1.0, atol=1e-5)


def test_params_check():
    with pytest.raises(ParamsError, match="max_background"):
        parse_section(Params, {"max_background": 1.5}, "scan")
    with pytest.raises(ParamsError, match="scans per object"):
        parse_section(Params, {"datasets": {"synth": 0}}, "scan")
    with pytest.raises(ParamsError, match="heading"):
        parse_section(Params, {"heading": "north"}, "scan")
    with pytest.raises(ParamsError, match="unknown key"):
        parse_section(Params, {"nieghbours": 2}, "scan")


def _write_params(root, dataset: str, seed: int = 0, scans: int = 1) -> None:
    (root / "params.yaml").write_text(
        f"scan:\n  datasets: {{{dataset}: {scans}}}\n  points: {POINTS}\n  image_size: 64\n"
        f"  min_object_points: 50\n  seed: {seed}\n"
    )


def test_scan_stage_shapes_labels_and_determinism(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    meshes = toy_meshes()
    broken = to_mesh(trimesh.creation.box(), "broken", 0)
    broken.vertices = np.full_like(broken.vertices, np.nan)
    write_mesh_store(paths.prepared("toy"), [*meshes[:2], broken, *meshes[2:]], DatasetMeta("synthetic", ["ball", "box", "round"], ["p"], {"ball": [0]}))
    _write_params(tmp_path, "toy")
    assert cli.main(["scan"]) == 0
    ps = read_point_store(paths.points("toy_scan"))
    assert ps.points.shape == (5, POINTS, 3)
    with open(paths.points_rejects("toy_scan")) as fh:
        assert [row["path"] for row in csv.DictReader(fh)] == ["broken"]
    assert ps.labels.tolist() == [m.label for m in meshes]
    assert ps.split == [m.split for m in meshes]
    assert ps.object_ids == [m.object_id for m in meshes]
    assert ps.meta.class_names == ["ball", "box", "round"] and ps.part_labels is None
    assert np.allclose(np.linalg.norm(ps.points, axis=2).max(axis=1), 1.0, atol=1e-5)
    with h5py.File(paths.points("toy_scan"), "r") as h5:
        assert h5.attrs["variant"] == "obj_bg" and h5.attrs["source_dataset"] == "toy"

    assert cli.main(["scan"]) == 0
    assert np.array_equal(read_point_store(paths.points("toy_scan")).points, ps.points)
    _write_params(tmp_path, "toy", seed=1)
    assert cli.main(["scan"]) == 0
    assert not np.allclose(read_point_store(paths.points("toy_scan")).points, ps.points)


def test_several_scans_per_object_keep_the_object_split(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    meshes = toy_meshes()
    write_mesh_store(paths.prepared("toy"), meshes, DatasetMeta("synthetic", ["ball", "box", "round"]))
    _write_params(tmp_path, "toy", scans=3)
    assert cli.main(["scan", "--dataset", "toy"]) == 0
    ps = read_point_store(paths.points("toy_scan"))
    assert ps.points.shape == (15, POINTS, 3)
    assert ps.object_ids == [f"{m.object_id}#{r}" for m in meshes for r in range(3)]
    assert ps.split == [m.split for m in meshes for _ in range(3)]
    assert ps.labels.tolist() == [m.label for m in meshes for _ in range(3)]
    # independent viewpoints: the three scans of an object differ
    assert not np.allclose(ps.points[0], ps.points[1]) and not np.allclose(ps.points[1], ps.points[2])
    with h5py.File(paths.points("toy_scan"), "r") as h5:
        assert h5.attrs["scans_per_object"] == 3 and h5.attrs["heading"] == "random"
    # a dataset that is not in scan.datasets is a clear error
    assert cli.main(["scan", "--dataset", "other"]) != 0


def test_scan_passes_an_empty_skipped_store_through(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_mesh_store(paths.prepared("gone"), [], DatasetMeta("mesh_dir", ["a"]))
    with h5py.File(paths.prepared("gone"), "a") as h5:
        set_meta(h5, skipped="dataset directory not found")
    _write_params(tmp_path, "gone")
    assert cli.main(["scan"]) == 0
    ps = read_point_store(paths.points("gone_scan"))
    assert ps.points.shape == (0, POINTS, 3)
    with h5py.File(paths.points("gone_scan"), "r") as h5:
        assert h5.attrs["skipped"] == "dataset directory not found"
