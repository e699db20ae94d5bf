"""Rendering helpers, the render stage (2 shards) and merge-views, on tiny images."""

from __future__ import annotations

import csv
import ctypes.util
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import trimesh
from PIL import Image

from crosspoint import cli, paths
from crosspoint.config import ParamsError, parse_section
from crosspoint.rendering.camera import backproject, camera_poses, look_at
from crosspoint.rendering.renderer import Renderer
from crosspoint.rendering.views import Params
from crosspoint.store import (
    DatasetMeta,
    Mesh,
    PointSet,
    file_md5,
    read_strings,
    set_meta,
    write_mesh_store,
    write_point_store,
)

SIZE = 48


def to_mesh(tm: trimesh.Trimesh, object_id: str = "obj", label: int = 0, split: str = "train", seed: int = 0) -> Mesh:
    """A store Mesh from a trimesh, centred and scaled to the unit sphere, random face colours."""
    v = np.asarray(tm.vertices, dtype=np.float64)
    v = v - (v.min(axis=0) + v.max(axis=0)) / 2
    v = v / np.linalg.norm(v, axis=1).max()
    rng = np.random.default_rng(seed)
    colours = rng.integers(30, 230, size=(len(tm.faces), 3)).astype(np.uint8)
    return Mesh(object_id, label, split, v.astype(np.float32), np.asarray(tm.faces, np.int32),
                np.full(len(tm.faces), -1, np.int16), colours)


@pytest.fixture(scope="module")
def renderer():
    r = Renderer(SIZE)
    yield r
    r.close()


def test_camera_poses_look_at_origin_with_y_up():
    rng = np.random.default_rng(0)
    for mode in ("ring", "sphere"):
        poses = camera_poses(5, (10.0, 40.0), 2.5, mode, rng).astype(np.float64)
        assert poses.shape == (5, 4, 4)
        for pose in poses:
            eye = pose[:3, 3]
            assert np.isclose(np.linalg.norm(eye), 2.5)
            forward = -pose[:3, 2]  # OpenGL camera looks down -z
            assert np.allclose(forward, -eye / np.linalg.norm(eye), atol=1e-6)
            assert abs(pose[1, 0]) < 1e-6  # image x axis is horizontal
            assert pose[1, 1] > 0  # image up points up in the world
            elevation = np.degrees(np.arcsin(eye[1] / 2.5))
            assert 10.0 - 1e-4 <= elevation <= 40.0 + 1e-4
    ring = camera_poses(4, (0.0, 0.0), 2.0, "ring", np.random.default_rng(1))
    az = np.arctan2(ring[:, 0, 3], ring[:, 2, 3])
    steps = np.mod(np.diff(az), 2 * np.pi)
    assert np.allclose(steps, np.pi / 2, atol=1e-5)
    straight_down = look_at(np.array([0.0, 3.0, 0.0]))
    assert np.isfinite(straight_down).all() and np.allclose(-straight_down[:3, 2], [0, -1, 0])


def test_primitive_renders_visible_and_views_differ(renderer):
    box = to_mesh(trimesh.creation.box(extents=(1.0, 0.5, 0.25)))
    poses = camera_poses(4, (0.0, 40.0), 2.8, "ring", np.random.default_rng(0))
    images, masks = renderer.render_color(box, poses, with_mask=True)
    assert images.shape == (4, SIZE, SIZE, 3) and images.dtype == np.uint8
    fraction = masks.mean(axis=(1, 2))
    assert np.all((fraction > 0.02) & (fraction < 0.8)), fraction
    # background is white (but for antialiased edges), the object is not
    assert np.mean(np.all(images[~masks] == 255, axis=-1)) > 0.95
    assert images[masks].mean() < 240
    diffs = [np.abs(images[a].astype(int) - images[b].astype(int)).mean() for a in range(4) for b in range(a)]
    assert min(diffs) > 2.0


def test_capod_mesh_renders_visible(renderer, capod_dir: Path):
    tm = trimesh.load(capod_dir / "class1" / "m1.obj", force="mesh", process=False)
    mesh = to_mesh(tm)
    poses = camera_poses(3, (0.0, 30.0), 2.8, "sphere", np.random.default_rng(0))
    images, masks = renderer.render_color(mesh, poses, with_mask=True)
    fraction = masks.mean(axis=(1, 2))
    assert np.all((fraction > 0.005) & (fraction < 0.8)), fraction
    assert images[masks].std() > 1.0  # shaded, not a flat silhouette


def test_depth_backprojects_onto_the_surface(renderer):
    sphere = to_mesh(trimesh.creation.icosphere(subdivisions=4))
    pose = camera_poses(1, (25.0, 25.0), 2.8, "ring", np.random.default_rng(3))[0].astype(np.float64)
    depth = renderer.render_depth(sphere, pose)
    assert depth.shape == (SIZE, SIZE) and depth.dtype == np.float32
    points, pix = backproject(depth, pose, renderer.K)
    assert len(points) > 0.3 * SIZE * SIZE
    radius = np.linalg.norm(points, axis=1)
    assert np.all(np.abs(radius - 1.0) < 0.01), (radius.min(), radius.max())
    # only the hemisphere facing the camera is seen
    assert np.all(points @ pose[:3, 3] > 0)
    assert pix.shape == (len(points), 2)


def test_params_validate_shards_and_framing():
    with pytest.raises(ParamsError, match="shards"):
        parse_section(Params, {"shards": [0, 2]}, "render")
    with pytest.raises(ParamsError, match="distance"):
        parse_section(Params, {"distance": 1.2, "yfov_deg": 45}, "render")
    assert parse_section(Params, {"shards": [0, 1, 2]}, "render").shards == [0, 1, 2]


def _write_params(root: Path) -> None:
    (root / "params.yaml").write_text(
        "render:\n"
        "  shards: [0, 1]\n"
        "  views: 3\n"
        f"  image_size: {SIZE // 2}\n"
        "  contact_sheet_objects: 4\n"
    )


def test_render_stage_two_shards_merge_and_rejects(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shapes = [
        trimesh.creation.box(extents=(1.0, 0.6, 0.4)),
        trimesh.creation.icosphere(subdivisions=2),
        trimesh.creation.cylinder(radius=0.3, height=1.0, sections=16),
        trimesh.creation.box(extents=(0.3, 1.0, 0.3)),
        trimesh.creation.cone(radius=0.5, height=1.0, sections=16),
        trimesh.creation.capsule(height=0.8, radius=0.2, count=[8, 8]),
    ]
    meshes = [to_mesh(s, f"obj{i}", label=i % 3, split="test" if i == 2 else "train", seed=i)
              for i, s in enumerate(shapes)]
    broken = to_mesh(trimesh.creation.box(), "broken_nan", label=1)
    broken.vertices = broken.vertices.copy()
    broken.vertices[0] = np.nan
    flat = to_mesh(trimesh.creation.box(), "broken_point", label=2)
    flat.vertices = np.zeros_like(flat.vertices)  # every triangle degenerate: renders empty
    meshes.insert(2, broken)
    meshes.insert(6, flat)
    ids = [m.object_id for m in meshes]
    write_mesh_store(paths.prepared("toy"), meshes, DatasetMeta("synthetic", ["box", "round", "long"]))
    _write_points(paths.points("toy"))
    _write_params(tmp_path)

    assert cli.main(["render", "--dataset", "toy", "--shard", "0"]) == 0
    assert cli.main(["render", "--dataset", "toy", "--shard", "1"]) == 0
    assert cli.main(["render", "--dataset", "toy", "--shard", "2"]) == 2  # not one of render.shards
    assert cli.main(["merge-views", "--dataset", "toy"]) == 0

    rejected = []
    for s in (0, 1):
        with open(paths.render_rejects("toy", s)) as fh:
            rejected += [row["path"] for row in csv.DictReader(fh)]
    assert sorted(rejected) == ["broken_nan", "broken_point"]

    kept = [i for i in ids if not i.startswith("broken")]
    with h5py.File(paths.views("toy"), "r") as h5:
        assert read_strings(h5, "object_ids") == kept
        assert h5.attrs["points_md5"] == file_md5(paths.points("toy"))  # the point store pretraining will match
        assert h5["images"].shape == (len(kept), 3, SIZE // 2, SIZE // 2, 3)
        assert h5["images"].chunks == (1, 1, SIZE // 2, SIZE // 2, 3)  # one view per chunk
        assert h5["poses"].shape == (len(kept), 3, 4, 4)
        assert h5["labels"][()].tolist() == [m.label for m in meshes if m.object_id in kept]
        assert read_strings(h5, "split")[2] == "test"  # obj2
        assert h5.attrs["kind"] == "views" and int(h5.attrs["views"]) == 3
        images = h5["images"][()]
    assert all((img < 250).any() for img in images.reshape(-1, SIZE // 2, SIZE // 2, 3))
    sheet = Image.open(paths.contact_sheet("toy"))
    assert sheet.format == "PNG" and sheet.size[0] > 3 * 64 and sheet.size[1] >= 4 * 64

    # rendering is deterministic: shard 0 again gives the same bytes of images
    with h5py.File(paths.render_shard("toy", 0), "r") as h5:
        first = h5["images"][()]
    assert cli.main(["render", "--dataset", "toy", "--shard", "0"]) == 0
    with h5py.File(paths.render_shard("toy", 0), "r") as h5:
        assert np.array_equal(h5["images"][()], first)


def test_render_passes_an_empty_skipped_store_through(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_mesh_store(paths.prepared("gone"), [], DatasetMeta("mesh_dir", ["a"]))
    with h5py.File(paths.prepared("gone"), "a") as h5:
        set_meta(h5, skipped="dataset directory not found")
    _write_points(paths.points("gone"))
    _write_params(tmp_path)
    assert cli.main(["render", "--dataset", "gone", "--shard", "0"]) == 0
    assert cli.main(["render", "--dataset", "gone", "--shard", "1"]) == 0
    assert cli.main(["merge-views", "--dataset", "gone"]) == 0
    with h5py.File(paths.views("gone"), "r") as h5:
        assert h5["images"].shape[0] == 0
        assert h5.attrs["skipped"] == "dataset directory not found"
    assert Image.open(paths.contact_sheet("gone")).size[0] > 0


def _write_points(dest: str) -> None:
    """A point store for merge-views to pin (its content does not matter to rendering)."""
    ps = PointSet(np.zeros((1, 4, 3), np.float32), np.zeros(1, np.int64), ["train"], ["x"], DatasetMeta("synthetic", ["a"]))
    write_point_store(dest, ps)


@pytest.mark.skipif(ctypes.util.find_library("OSMesa") is not None, reason="OSMesa is installed here")
def test_missing_gl_library_is_a_one_line_error(tmp_path, repo_root):
    """Without libOSMesa, the osmesa backend fails with one line saying what to install."""
    meshes = [to_mesh(trimesh.creation.box(), "a")]
    write_mesh_store(tmp_path / paths.prepared("toy"), meshes, DatasetMeta("synthetic", ["box"]))
    _write_params(tmp_path)
    env = {**os.environ, "PYOPENGL_PLATFORM": "osmesa"}
    proc = subprocess.run([sys.executable, "-m", "crosspoint", "render", "--dataset", "toy", "--shard", "1"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "libosmesa6" in lines[0]
