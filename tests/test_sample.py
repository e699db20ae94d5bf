"""Surface sampling and the ``sample`` stage."""

from __future__ import annotations

import csv

import h5py
import numpy as np
import pytest

from crosspoint import cli, paths
from crosspoint.points.sampling import normalize_cloud, sample_surface
from crosspoint.sources import synthetic as S
from crosspoint.store import (
    DatasetMeta,
    Mesh,
    PointSet,
    read_point_store,
    write_mesh_store,
    write_point_store,
)


def _mesh(vertices, faces, parts, object_id="m", label=0, split="train") -> Mesh:
    faces = np.asarray(faces, dtype=np.int32)
    return Mesh(
        object_id=object_id,
        label=label,
        split=split,
        vertices=np.asarray(vertices, dtype=np.float32),
        faces=faces,
        face_parts=np.asarray(parts, dtype=np.int16),
        face_colors=np.zeros((len(faces), 3), dtype=np.uint8),
    )


def _synthetic_mesh(class_name: str, index: int) -> Mesh:
    it = S.generate_object(class_name, index, seed=0)
    return _mesh(it.vertices, it.faces, it.face_parts, object_id=it.object_id)


def _point_triangle_distance(points: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Distance from each point [n, 3] to each triangle [F, 3, 3] -> [n, F]."""
    p = points[:, None, :].astype(np.float64)
    a, b, c = (tri[None, :, k].astype(np.float64) for k in range(3))
    ab, ac = b - a, c - a
    normal = np.cross(ab, ac)
    area2 = np.linalg.norm(normal, axis=-1, keepdims=True)
    normal = normal / np.where(area2 > 0, area2, 1)
    plane = np.einsum("nfk,nfk->nf", p - a, normal * np.ones_like(p - a))
    proj = p - plane[..., None] * normal
    # barycentric coordinates of the projection
    d00, d01, d11 = (ab * ab).sum(-1), (ab * ac).sum(-1), (ac * ac).sum(-1)
    w = proj - a
    d20, d21 = (w * ab).sum(-1), (w * ac).sum(-1)
    den = d00 * d11 - d01 * d01
    den = np.where(den > 0, den, np.inf)
    v = (d11 * d20 - d01 * d21) / den
    u = (d00 * d21 - d01 * d20) / den
    inside = (v >= 0) & (u >= 0) & (u + v <= 1) & (area2[..., 0] > 0)

    def seg(p0, p1):
        d = p1 - p0
        t = np.clip(((p - p0) * d).sum(-1) / np.maximum((d * d).sum(-1), 1e-300), 0, 1)
        return np.linalg.norm(p - (p0 + t[..., None] * d), axis=-1)

    edges = np.minimum(np.minimum(seg(a, b), seg(b, c)), seg(c, a))
    return np.where(inside, np.abs(plane), edges)


@pytest.mark.parametrize("class_name,index", [("mug", 0), ("chair", 1), ("guitar", 2)])
def test_points_lie_on_the_surface_and_carry_the_part_of_their_face(class_name, index):
    mesh = _synthetic_mesh(class_name, index)
    pts, labels = sample_surface(mesh, 300, np.random.default_rng(0))
    assert pts.shape == (300, 3) and pts.dtype == np.float32
    assert labels.shape == (300,) and labels.dtype == np.int16
    scale = np.linalg.norm(mesh.vertices - mesh.vertices.mean(0), axis=1).max()
    dist = _point_triangle_distance(pts, mesh.vertices[mesh.faces])
    nearest = dist.min(axis=1)
    assert nearest.max() < 1e-4 * scale
    # the nearest face has the point's part (ties allowed where parts touch)
    for part in np.unique(labels):
        own = dist[labels == part][:, mesh.face_parts == part].min(axis=1)
        assert np.all(own <= nearest[labels == part] + 1e-6 * scale)
    assert len(np.unique(labels)) >= 2


def test_area_weighting():
    # part 0: a unit square in z=0; part 1: a 1 x 3 rectangle in z=1 -> areas 1 : 3
    v = [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 3, 1], [0, 3, 1]]
    f = [[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]]
    pts, labels = sample_surface(_mesh(v, f, [0, 0, 1, 1]), 40000, np.random.default_rng(1))
    share = np.mean(labels == 0)
    assert abs(share - 0.25) < 0.01
    np.testing.assert_array_equal(labels == 0, pts[:, 2] == 0)
    # uniform inside: the square's points average at its centre, fill it evenly
    sq = pts[labels == 0]
    np.testing.assert_allclose(sq[:, :2].mean(0), [0.5, 0.5], atol=0.01)
    hist, _, _ = np.histogram2d(sq[:, 0], sq[:, 1], bins=4, range=[[0, 1], [0, 1]])
    assert hist.min() > 0.8 * hist.mean()


def test_sampling_is_deterministic_and_skips_degenerate_faces():
    v = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [2, 2, 2]]
    f = [[0, 1, 2], [3, 3, 3], [0, 0, 1]]  # one real triangle, two zero-area faces
    mesh = _mesh(v, f, [0, 1, 2])
    a = sample_surface(mesh, 500, np.random.default_rng(5))
    b = sample_surface(mesh, 500, np.random.default_rng(5))
    np.testing.assert_array_equal(a[0], b[0])
    assert np.all(a[1] == 0)
    with pytest.raises(ValueError, match="zero total surface area"):
        sample_surface(_mesh(v, [[3, 3, 3]], [0]), 10, np.random.default_rng(0))


def test_normalize_cloud():
    p = np.random.default_rng(0).normal(size=(100, 3)) * 5 + 3
    q = normalize_cloud(p)
    np.testing.assert_allclose(q.mean(0), 0, atol=1e-6)
    assert np.isclose(np.linalg.norm(q, axis=1).max(), 1.0)


# ---------------------------------------------------------------------------------------------
# The stage, run through the CLI in a temporary working directory

META = DatasetMeta(source="test", class_names=["a", "b"], part_names=["a/x", "a/y", "b/z"],
                   class_parts={"a": [0, 1], "b": [2]})


def _box_mesh(object_id: str, label: int, split: str, offset: float = 0.0) -> Mesh:
    v = np.array([[x, y, z] for x in (0, 1) for y in (0, 2) for z in (0, 1)], dtype=np.float32) + offset
    f = [[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
         [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]]
    parts = [0] * 6 + [1] * 6 if label == 0 else [2] * 12
    return _mesh(v, f, parts, object_id=object_id, label=label, split=split)


def _run(tmp_path, monkeypatch, dataset: str, points: int = 128) -> int:
    """The pipeline's sample shard (one shard here) then merge-points; the first non-zero exit code."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(
        f"sample:\n  datasets: [{dataset}]\n  shards: [0]\n  points: {points}\n  seed: 3\n"
    )
    rc = cli.main(["sample", "--params", "params.yaml", "--dataset", dataset, "--shard", "0"])
    return rc or cli.main(["merge-points", "--params", "params.yaml", "--dataset", dataset])


def _rejects(dataset: str) -> list[dict[str, str]]:
    with open(paths.points_rejects(dataset)) as fh:
        return list(csv.DictReader(fh))


def test_stage_samples_good_meshes_and_rejects_broken_ones(tmp_path, monkeypatch):
    nan = _box_mesh("nan_0", 0, "train")
    nan.vertices = nan.vertices.copy()
    nan.vertices[2] = np.nan
    flat = _box_mesh("flat_0", 1, "test")
    flat.vertices = np.zeros_like(flat.vertices)
    empty = _mesh(np.zeros((3, 3)), np.zeros((0, 3)), np.zeros(0), object_id="empty_0")
    meshes = [_box_mesh("a_0", 0, "train"), nan, flat, empty, _box_mesh("b_0", 1, "test", offset=5.0)]
    monkeypatch.chdir(tmp_path)
    write_mesh_store(paths.prepared("toy"), meshes, META)
    assert _run(tmp_path, monkeypatch, "toy") == 0

    ps = read_point_store(paths.points("toy"))
    assert ps.object_ids == ["a_0", "b_0"] and ps.split == ["train", "test"]
    assert ps.labels.tolist() == [0, 1]
    assert ps.points.shape == (2, 128, 3) and ps.points.dtype == np.float32
    np.testing.assert_allclose(ps.points.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ps.points, axis=2).max(axis=1), 1, atol=1e-5)
    assert set(np.unique(ps.part_labels[0])) == {0, 1} and set(np.unique(ps.part_labels[1])) == {2}
    assert ps.meta.class_parts == META.class_parts
    reasons = {r["path"]: r["reason"] for r in _rejects("toy")}
    assert set(reasons) == {"nan_0", "flat_0", "empty_0"}
    assert "non-finite" in reasons["nan_0"] and "zero" in reasons["flat_0"] and "no faces" in reasons["empty_0"]

    first = ps.points.copy()
    assert _run(tmp_path, monkeypatch, "toy") == 0
    np.testing.assert_array_equal(read_point_store(paths.points("toy")).points, first)


def test_stage_fails_when_every_object_is_bad(tmp_path, monkeypatch, capsys):
    flat = _box_mesh("flat_0", 0, "train")
    flat.vertices = np.zeros_like(flat.vertices)
    monkeypatch.chdir(tmp_path)
    write_mesh_store(paths.prepared("bad"), [flat], META)
    assert _run(tmp_path, monkeypatch, "bad") == 2
    assert "every input was rejected" in capsys.readouterr().err
    assert len(_rejects("bad")) == 1


def test_skipped_empty_store_passes_through(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_mesh_store(paths.prepared("capod"), [], META)
    with h5py.File(paths.prepared("capod"), "a") as h5:
        h5.attrs["skipped"] = "folder ../shared/data/capod not found"
    assert _run(tmp_path, monkeypatch, "capod") == 0
    ps = read_point_store(paths.points("capod"))
    assert len(ps) == 0 and ps.points.shape == (0, 128, 3)
    with h5py.File(paths.points("capod"), "r") as h5:
        assert h5.attrs["skipped"] == "folder ../shared/data/capod not found"
    assert _rejects("capod") == []


def test_empty_store_without_skip_mark_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_mesh_store(paths.prepared("none"), [], META)
    assert _run(tmp_path, monkeypatch, "none") == 2


def test_point_store_is_resampled(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    n = 100
    clouds = rng.normal(size=(3, n, 3)).astype(np.float32)
    clouds[2, 7] = np.inf
    # part label = point index, so each output point can be traced back to its source point
    meta = DatasetMeta(source="pts", class_names=["a"], part_names=[f"p{i}" for i in range(n)],
                       class_parts={"a": list(range(n))})
    ps = PointSet(points=clouds, labels=np.zeros(3, dtype=np.int64), split=["train", "test", "test"],
                  object_ids=["c0", "c1", "c2"], meta=meta,
                  part_labels=np.tile(np.arange(n, dtype=np.int16), (3, 1)))
    monkeypatch.chdir(tmp_path)
    write_point_store(paths.prepared("pts"), ps)

    for points in (64, 150):
        assert _run(tmp_path, monkeypatch, "pts", points=points) == 0
        out = read_point_store(paths.points("pts"))
        assert out.object_ids == ["c0", "c1"] and out.points.shape == (2, points, 3)
        for k in range(2):
            idx = out.part_labels[k].astype(int)
            if points <= n:
                assert len(np.unique(idx)) == points  # without replacement
            else:
                assert len(np.unique(idx)) == n  # every source point kept, topped up with repeats
            np.testing.assert_allclose(out.points[k], normalize_cloud(clouds[k][idx]), atol=1e-6)
        assert [r["path"] for r in _rejects("pts")] == ["c2"]


def test_bad_params_are_reported(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("sample:\n  points: 0\n")
    assert cli.main(["sample", "--params", "params.yaml", "--dataset", "x", "--shard", "0"]) == 2
    assert "points must be at least 1" in capsys.readouterr().err
