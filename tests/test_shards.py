"""Sharded sample and features stages: S shards then a merge give exactly the unsharded result."""

from __future__ import annotations

import csv
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from crosspoint import cli, paths, shards
from crosspoint.feature_files import read_features
from crosspoint.store import (
    DatasetMeta,
    PointSet,
    StageError,
    read_point_store,
    set_meta,
    write_mesh_store,
    write_point_store,
    write_strings,
)
from tests.test_evaluate import write_cls_checkpoint
from tests.test_sample import META, _box_mesh


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_params(**sections) -> None:
    Path("params.yaml").write_text(yaml.safe_dump(sections))


def rejects_rows(path: str) -> list[tuple[str, str]]:
    with open(path, newline="") as fh:
        return [(r["path"], r["reason"]) for r in csv.DictReader(fh)]


def h5_attrs(path: str) -> dict:
    with h5py.File(path, "r") as h5:
        return dict(h5.attrs)


# ---------------------------------------------------------------------------------------------
# helpers


def test_shard_blocks_cover_every_object_once_in_order():
    for n in (0, 1, 5, 7, 50_000):
        for s in (1, 2, 3, 8):
            blocks = [shards.shard_block(n, i, s) for i in range(s)]
            assert blocks[0][0] == 0 and blocks[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:], strict=False))
            assert all(0 <= stop - start <= n // s + 1 for start, stop in blocks)
    assert shards.shards_problems([0, 1, 2]) == []
    assert shards.shards_problems([]) and shards.shards_problems([1]) and shards.shards_problems([0, 2])


def _toy_file(path: Path, rows: int, dim: int, start: int, shard: int, **attrs) -> None:
    with h5py.File(path, "w") as h5:
        h5.create_dataset("x", data=np.arange(rows * dim, dtype=np.float32).reshape(rows, dim) + 100 * start)
        write_strings(h5, "ids", [f"id{start + i}" for i in range(rows)])
        set_meta(h5, kind="toy", names=["a", "b"], shard=shard, shards=3, start=start, stop=start + rows, **attrs)


def test_concat_h5_copies_rows_in_blocks_and_allows_empty_shards(workdir: Path, monkeypatch):
    monkeypatch.setattr(shards, "COPY_BYTES", 8)  # one row per copy block (rows are 4 floats)
    _toy_file(workdir / "a.h5", 3, 4, 0, 0)
    with h5py.File(workdir / "b.h5", "w") as h5:  # an empty shard whose trailing shape is unknown ([0, 0])
        h5.create_dataset("x", data=np.zeros((0, 0), np.float32))
        write_strings(h5, "ids", [])
        set_meta(h5, kind="toy", names=["a", "b"], shard=1, shards=3, start=3, stop=3)
    _toy_file(workdir / "c.h5", 2, 4, 3, 2)
    n = shards.concat_h5([workdir / "a.h5", workdir / "b.h5", workdir / "c.h5"], workdir / "out.h5", attrs={"extra": 1})
    assert n == 5
    with h5py.File(workdir / "out.h5", "r") as h5:
        x = h5["x"][()]
        assert x.shape == (5, 4) and x.dtype == np.float32
        np.testing.assert_array_equal(x[:3], np.arange(12, dtype=np.float32).reshape(3, 4))
        np.testing.assert_array_equal(x[3:], np.arange(8, dtype=np.float32).reshape(2, 4) + 300)
        assert [s.decode() for s in h5["ids"][()]] == [f"id{i}" for i in range(5)]
        assert h5.attrs["kind"] == "toy" and h5.attrs["extra"] == 1 and h5.attrs["names"] == '["a", "b"]'
        assert not {"shard", "shards", "start", "stop"} & set(h5.attrs)
    tmp_dir = workdir / ".crosspoint-tmp"  # the workspace's temporaries folder (crosspoint.store), left empty
    assert not tmp_dir.exists() or not any(tmp_dir.iterdir())
    assert sorted(p.name for p in workdir.iterdir() if p != tmp_dir) == ["a.h5", "b.h5", "c.h5", "out.h5"]

    _toy_file(workdir / "d.h5", 2, 4, 3, 2, seed=7)  # made with other params
    with pytest.raises(StageError, match="seed"):
        shards.concat_h5([workdir / "a.h5", workdir / "d.h5"], workdir / "bad.h5")
    _toy_file(workdir / "e.h5", 2, 5, 3, 2)  # other trailing shape
    with pytest.raises(StageError, match="'x'"):
        shards.concat_h5([workdir / "a.h5", workdir / "e.h5"], workdir / "bad.h5")
    assert not (workdir / "bad.h5").exists()


# ---------------------------------------------------------------------------------------------
# sample + merge-points


def _flat(object_id: str, label: int) -> object:
    mesh = _box_mesh(object_id, label, "test")
    mesh.vertices = np.zeros_like(mesh.vertices)
    return mesh


def _meshes() -> list:
    """7 objects: blocks of 3 shards are [0, 2), [2, 4), [4, 7); the middle block is all rejected."""
    good = [_box_mesh(f"m{i}", i % 2, "train" if i % 3 else "test", offset=float(i)) for i in range(7)]
    good[2], good[3], good[5] = _flat("bad2", 0), _flat("bad3", 1), _flat("bad5", 0)
    return good


def _sample_all(dataset: str, n_shards: int, points: int = 64) -> list[int]:
    """Params with ``n_shards`` shards; run every shard then the merge; return the exit codes."""
    write_params(sample={"datasets": [dataset], "shards": list(range(n_shards)), "points": points, "seed": 5})
    codes = [cli.main(["sample", "--dataset", dataset, "--shard", str(s)]) for s in range(n_shards)]
    return [*codes, cli.main(["merge-points", "--dataset", dataset])]


def _merged_points(dataset: str) -> tuple[PointSet, list[tuple[str, str]], dict]:
    return (read_point_store(paths.points(dataset)), rejects_rows(paths.points_rejects(dataset)),
            h5_attrs(paths.points(dataset)))


def test_sample_three_shards_equal_one_shard(workdir: Path):
    write_mesh_store(paths.prepared("toy"), _meshes(), META)
    assert _sample_all("toy", 1) == [0, 0]
    one, one_rejects, one_attrs = _merged_points("toy")
    assert one.object_ids == ["m0", "m1", "m4", "m6"]
    assert [r[0] for r in one_rejects] == ["bad2", "bad3", "bad5"]

    assert _sample_all("toy", 3) == [0, 0, 0, 0]  # shard 1 (all rejected) is written, not failed
    shard1 = read_point_store(paths.points_shard("toy", 1))
    assert len(shard1) == 0 and [r[0] for r in rejects_rows(paths.points_shard_rejects("toy", 1))] == ["bad2", "bad3"]
    three, three_rejects, three_attrs = _merged_points("toy")
    np.testing.assert_array_equal(three.points, one.points)
    np.testing.assert_array_equal(three.part_labels, one.part_labels)
    np.testing.assert_array_equal(three.labels, one.labels)
    assert three.object_ids == one.object_ids and three.split == one.split
    assert three_rejects == one_rejects
    assert three_attrs == one_attrs and "shard" not in three_attrs and three_attrs["points_per_object"] == 64


def test_sample_point_store_two_shards_equal_one(workdir: Path):
    rng = np.random.default_rng(0)
    clouds = rng.normal(size=(5, 40, 3)).astype(np.float32)
    meta = DatasetMeta(source="pts", class_names=["a"])
    write_point_store(paths.prepared("pts"), PointSet(clouds, np.zeros(5, np.int64), ["train"] * 5,
                                                      [f"c{i}" for i in range(5)], meta))
    assert _sample_all("pts", 1, points=32) == [0, 0]
    one = read_point_store(paths.points("pts"))
    assert _sample_all("pts", 2, points=32) == [0, 0, 0]
    two = read_point_store(paths.points("pts"))
    np.testing.assert_array_equal(two.points, one.points)
    assert two.object_ids == one.object_ids == [f"c{i}" for i in range(5)]


def test_shard_out_of_range_is_a_one_line_error(workdir: Path, capsys):
    write_mesh_store(paths.prepared("toy"), _meshes(), META)
    write_params(sample={"datasets": ["toy"], "shards": [0, 1], "points": 16}, features={"shards": [0, 1]})
    assert cli.main(["sample", "--dataset", "toy", "--shard", "2"]) == 2
    assert cli.main(["features", "--dataset", "toy", "--shard", "-1", "--seed", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --shard 2 is not one of sample.shards [0, 1] (valid: 0..1)",
                   "error: --shard -1 is not one of features.shards [0, 1] (valid: 0..1)"]
    write_params(sample={"shards": [0, 2]})
    assert cli.main(["sample", "--dataset", "toy", "--shard", "0"]) == 2
    assert "shards must be [0, 1, ..., S-1]" in capsys.readouterr().err


def test_empty_blocks_and_skipped_store(workdir: Path):
    write_mesh_store(paths.prepared("two"), _meshes()[:2], META)
    assert _sample_all("two", 4) == [0] * 5  # blocks [0, 0), [0, 1), [1, 1), [1, 2)
    for s in (0, 2):
        empty = read_point_store(paths.points_shard("two", s))
        assert len(empty) == 0 and empty.points.shape == (0, 64, 3) and empty.meta.class_names == META.class_names
    assert read_point_store(paths.points("two")).object_ids == ["m0", "m1"]

    write_mesh_store(paths.prepared("capod"), [], META, skipped="folder ../shared/data/capod not found")
    assert _sample_all("capod", 2) == [0, 0, 0]
    assert h5_attrs(paths.points_shard("capod", 1))["skipped"] == "folder ../shared/data/capod not found"
    merged, rejects, attrs = _merged_points("capod")
    assert len(merged) == 0 and merged.points.shape == (0, 64, 3) and rejects == []
    assert attrs["skipped"] == "folder ../shared/data/capod not found"


def test_all_rejected_across_shards_fails_at_merge(workdir: Path, capsys):
    write_mesh_store(paths.prepared("bad"), [_flat(f"f{i}", 0) for i in range(3)], META)
    assert _sample_all("bad", 2) == [0, 0, 2]
    assert "sample: every input was rejected (3)" in capsys.readouterr().err
    assert [r[0] for r in rejects_rows(paths.points_rejects("bad"))] == ["f0", "f1", "f2"]
    assert not Path(paths.points("bad")).exists()


def test_merge_points_checks_shard_count_and_order(workdir: Path, capsys):
    write_mesh_store(paths.prepared("toy"), _meshes(), META)
    assert _sample_all("toy", 2) == [0, 0, 0]
    write_params(sample={"datasets": ["toy"], "shards": [0, 1], "points": 64, "seed": 6})
    assert cli.main(["sample", "--dataset", "toy", "--shard", "1"]) == 0  # only one shard redone
    assert cli.main(["merge-points", "--dataset", "toy"]) == 2
    assert "attribute(s) seed differ" in capsys.readouterr().err
    write_params(sample={"datasets": ["toy"], "shards": [0, 1, 2], "points": 64, "seed": 5})
    assert cli.main(["merge-points", "--dataset", "toy"]) == 2
    assert "shard-2.h5" in capsys.readouterr().err  # missing shard 2
    assert cli.main(["sample", "--dataset", "toy", "--shard", "2"]) == 0
    assert cli.main(["merge-points", "--dataset", "toy"]) == 2
    assert "is shard 0 of 2" in capsys.readouterr().err  # shards 0 and 1 are from the 2-shard run

    meshes = _meshes()
    meshes[0], meshes[1] = meshes[1], meshes[0]  # the store changed after sampling
    write_mesh_store(paths.prepared("toy"), meshes, META)
    write_params(sample={"datasets": ["toy"], "shards": [0, 1], "points": 64, "seed": 5})
    assert cli.main(["merge-points", "--dataset", "toy"]) == 2
    assert "not objects [0, 3)" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# features + merge-features (a real, tiny DGCNN checkpoint)


@pytest.fixture
def one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _features_all(dataset: str, n_shards: int) -> list[int]:
    write_params(features={"datasets": [dataset], "shards": list(range(n_shards)), "points": 24, "batch_size": 4,
                           "seed": 2, "device": "cpu"})
    codes = [cli.main(["features", "--dataset", dataset, "--shard", str(s), "--seed", "0"]) for s in range(n_shards)]
    return [*codes, cli.main(["merge-features", "--dataset", dataset, "--seed", "0"])]


def test_features_shards_equal_one_shard_bit_for_bit(workdir: Path, one_thread):
    from crosspoint import paths

    rng = np.random.default_rng(1)
    n = 10
    ps = PointSet(rng.normal(size=(n, 48, 3)).astype(np.float32), np.arange(n) % 3, ["train"] * 6 + ["test"] * 4,
                  [f"o{i}" for i in range(n)], DatasetMeta("test", ["a", "b", "c"]))
    write_point_store(paths.points("toy"), ps)
    write_cls_checkpoint(Path(paths.best_checkpoint("cls", 0)))

    assert _features_all("toy", 1) == [0, 0]
    one = read_features(paths.features("toy", 0))
    assert one.pretrained.shape == (n, 32) and one.object_ids == ps.object_ids
    for n_shards in (3, 12):  # 12 shards of 10 objects: two empty blocks
        assert _features_all("toy", n_shards) == [0] * (n_shards + 1)
        many = read_features(paths.features("toy", 0))
        np.testing.assert_array_equal(many.pretrained, one.pretrained)
        np.testing.assert_array_equal(many.random, one.random)
        np.testing.assert_array_equal(many.labels, one.labels)
        assert many.split == one.split and many.object_ids == one.object_ids and many.attrs == one.attrs
    assert read_features(paths.features_shard("toy", 0, 0)).pretrained.shape == (0, 0)  # block [0, 0)
    assert not np.allclose(one.pretrained, one.random)


def test_features_point_subset_uses_global_index():
    from crosspoint.models.encoders import point_subset

    pts = np.arange(6 * 30 * 3, dtype=np.float32).reshape(6, 30, 3)
    whole = point_subset(pts, 10, "random", 4)
    np.testing.assert_array_equal(np.concatenate([point_subset(pts[:2], 10, "random", 4),
                                                  point_subset(pts[2:], 10, "random", 4, offset=2)]), whole)
    assert not np.array_equal(point_subset(pts[2:], 10, "random", 4), whole[2:])


def test_features_skipped_store_with_shards(workdir: Path):
    empty = PointSet(np.zeros((0, 64, 3), np.float32), np.zeros(0, np.int64), [], [], DatasetMeta("mesh_dir", []))
    write_point_store(paths.points("capod"), empty, skipped="../shared/data/capod not found")
    assert _features_all("capod", 2) == [0, 0, 0]  # no checkpoint needed
    fs = read_features(paths.features("capod", 0))
    assert fs.skipped == "../shared/data/capod not found" and len(fs) == 0
