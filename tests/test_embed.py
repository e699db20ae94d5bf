"""``crosspoint embed``: the features stage's rows, bit for bit, for a point store, a mesh folder run
through the DAG (prepare -> sample -> merge-points -> features) and point-cloud files; rejects."""

from __future__ import annotations

import csv
from pathlib import Path

import h5py
import numpy as np
import pytest
import trimesh

from crosspoint import cli, config, paths
from crosspoint.evaluate.extraction import Params as FeaturesParams
from crosspoint.evaluate.extraction import extract, extract_shard
from crosspoint.points.merge import merge_points
from crosspoint.points.sampling import Params as SampleParams
from crosspoint.points.sampling import sample_shard
from crosspoint.sources.prepare import prepare
from crosspoint.store import DatasetMeta, PointSet, StageError, read_strings, write_point_store
from crosspoint.tools.embed import embed
from crosspoint.tools.export import export
from tests.test_export import tiny_checkpoint, write_params


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def read_out(path: str | Path) -> tuple[np.ndarray, list[str], list[str]]:
    with h5py.File(path, "r") as h5:
        return h5["features"][()], read_strings(h5, "object_ids"), read_strings(h5, "paths")


def dag_rows(name: str, ckpt: Path, params: Path = Path("params.yaml")) -> tuple[np.ndarray, list[str]]:
    """prepare -> sample -> merge-points -> features (shard 0) of dataset ``name``, in this process."""
    smp = config.section("sample", SampleParams, path=params)
    if not Path(paths.prepared(name)).exists():
        prepare(name, params)
    sample_shard(name, smp, 0)
    merge_points(name, smp)
    feats = config.section("features", FeaturesParams, path=params)
    extract_shard(name, feats, 0, 0)
    with h5py.File(paths.features_shard(name, 0, 0), "r") as h5:
        return h5["pretrained"][()], read_strings(h5, "object_ids")


def mesh_folder(root: Path) -> list[str]:
    """Five meshes in four formats below ``root`` and a garbage .obj among them; their ids in store order."""
    shapes = {"m2.obj": trimesh.creation.box((1, 2, 3)), "m10.off": trimesh.creation.icosphere(1),
              "sub/a1.ply": trimesh.creation.cylinder(0.5, 2, sections=12),
              "sub/a3.stl": trimesh.creation.cone(1, 2, sections=10),
              "sub/a20.obj": trimesh.creation.capsule(1, 0.5, count=(6, 6))}
    for name, mesh in shapes.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        mesh.apply_transform(trimesh.transformations.rotation_matrix(0.3, (1, 1, 0)))
        mesh.export(root / name)
    (root / "m5.obj").write_bytes(b"\x00\xffgarbage\x10" * 20)  # rejected by prepare and by embed alike
    return ["m2", "m10", "sub/a1", "sub/a3", "sub/a20"]


def test_folder_equals_the_mesh_folder_dag_and_one_file_its_row(workdir: Path):
    ids = mesh_folder(workdir / "meshes")
    ckpt = tiny_checkpoint(workdir / "best.pt")
    write_params(workdir / "params.yaml", datasets={"own": {"source": "mesh_folder", "path": "meshes"}},
                 sample={"datasets": ["own"]}, features={"datasets": ["own"], "checkpoint": str(ckpt)})
    rows, dag_ids = dag_rows("own", ckpt)
    assert dag_ids == ids and rows.shape == (5, 64) and len(np.unique(rows, axis=0)) == 5

    feats = embed(["meshes"], ckpt, "out/own.h5", params="params.yaml", device="cpu", npy=True)
    got, got_ids, got_paths = read_out("out/own.h5")
    assert np.array_equal(got, rows) and got.dtype == np.float32 and got_ids == ids
    assert np.array_equal(np.load("out/own.npy"), rows) and np.array_equal(feats, rows)
    assert got_paths[1] == str(Path("meshes") / "m10.off")
    with open("out/own_rejects.csv", newline="") as fh:
        assert [r["path"] for r in csv.DictReader(fh)] == [str(Path("meshes") / "m5.obj")]

    embed(["meshes/sub/a3.stl"], ckpt, "one.h5", params="params.yaml", device="cpu", start_index=3)
    one, one_ids, _ = read_out("one.h5")
    assert one_ids == ["a3"] and np.array_equal(one[0], rows[3])
    embed(["meshes/sub/a3.stl"], ckpt, "zero.h5", params="params.yaml", device="cpu")  # other seeds: other row
    assert not np.allclose(read_out("zero.h5")[0][0], rows[3])
    # the same row from an exported file, with the preprocessing stored in it (no params file read)
    export(ckpt, "enc.pt", "params.yaml")
    Path("params.yaml").unlink()
    assert cli.main(["embed", "meshes/sub/a3.stl", "--checkpoint", "enc.pt", "-o", "two.h5", "--device", "cpu",
                     "--start-index", "3"]) == 0
    assert np.array_equal(read_out("two.h5")[0][0], rows[3])
    write_params(workdir / "other.yaml", feature_points=32)  # given, --params replaces the stored preprocessing
    embed(["meshes/sub/a3.stl"], "enc.pt", "three.h5", device="cpu", start_index=3, params="other.yaml")
    with h5py.File("three.h5", "r") as h5:
        assert h5.attrs["checkpoint_kind"] == "exported" and '"points": 32' in h5.attrs["preprocessing"]


def test_store_equals_the_features_stage_with_two_shards(workdir: Path):
    rng = np.random.default_rng(1)
    n = 11
    ps = PointSet(rng.normal(size=(n, 96, 3)).astype(np.float32), np.arange(n) % 2, ["train"] * n,
                  [f"o{i}" for i in range(n)], DatasetMeta("test", ["a", "b"]))
    write_point_store(paths.points("toy"), ps)
    ckpt = tiny_checkpoint(workdir / "best.pt")
    write_params(workdir / "params.yaml", batch_size=3, features={"shards": [0, 1]})
    prm = FeaturesParams(datasets=["toy"], shards=[0, 1], points=64, subset="random", seed=5, batch_size=3,
                         device="cpu", checkpoint=str(ckpt))
    extract("toy", prm, 0)
    with h5py.File(paths.features("toy", 0), "r") as h5:
        rows = h5["pretrained"][()]
    assert cli.main(["embed", "--store", paths.points("toy"), "--checkpoint", str(ckpt), "-o", "toy.h5",
                     "--device", "cpu"]) == 0
    got, ids, got_paths = read_out("toy.h5")
    assert np.array_equal(got, rows) and ids == ps.object_ids and got_paths[2] == f"{paths.points('toy')}:2"
    with h5py.File("toy.h5", "r") as h5:
        assert h5.attrs["checkpoint_kind"] == "checkpoint" and '"batch_size": 3' in h5.attrs["preprocessing"]


def write_ply_cloud(path: Path, pts: np.ndarray) -> None:
    header = (f"ply\nformat ascii 1.0\nelement vertex {len(pts)}\n"
              "property float x\nproperty float y\nproperty float z\nend_header\n")
    path.write_text(header + "".join(f"{x:.9g} {y:.9g} {z:.9g}\n" for x, y, z in pts))


def test_point_cloud_files_equal_a_resampled_point_store(workdir: Path):
    rng = np.random.default_rng(2)
    clouds = (rng.normal(size=(3, 150, 3)) * [1, 2, 0.5] + 3).astype(np.float32)
    Path("c").mkdir()
    with open("c/c0.xyz", "w") as fh:  # comma separated, an extra column, a comment
        fh.write("# x,y,z,intensity\n" + "".join(f"{x:.9g},{y:.9g},{z:.9g},7\n" for x, y, z in clouds[0]))
    np.save("c/c1.npy", np.concatenate([clouds[1], np.ones((150, 2), np.float32)], axis=1).astype(np.float64))
    write_ply_cloud(Path("c/c2.ply"), clouds[2])
    ps = PointSet(clouds, np.zeros(3, np.int64), ["train"] * 3, ["c0", "c1", "c2"], DatasetMeta("test", ["a"]))
    write_point_store(paths.prepared("pc"), ps)  # as a point source's prepare writes it
    ckpt = tiny_checkpoint(workdir / "best.pt")
    write_params(workdir / "params.yaml", features={"checkpoint": str(ckpt)})
    rows, _ = dag_rows("pc", ckpt)
    embed(["c"], ckpt, "pc.h5", device="cpu")
    got, ids, _ = read_out("pc.h5")
    assert ids == ["c0", "c1", "c2"] and np.array_equal(got, rows)
    embed(["c/c2.ply", "c/c0.xyz"], ckpt, "pair.h5", device="cpu", start_index=2)  # files in the order given
    pair, _, _ = read_out("pair.h5")
    assert np.array_equal(pair[0], rows[2]) and not np.array_equal(pair[1], rows[0])


def test_broken_inputs_go_to_the_rejects_table(workdir: Path):
    ckpt = tiny_checkpoint(workdir / "best.pt")
    write_params(workdir / "params.yaml")
    Path("in/x.ply").mkdir(parents=True)  # a directory with a mesh name
    trimesh.creation.box().export("in/good.obj")
    Path("in/bad.obj").write_bytes(b"\x00\x01\x02 not a mesh \xff" * 30)
    Path("in/empty.npy").write_bytes(b"")
    Path("in/short.xyz").write_text("1 2\n3 4\n")
    embed(["in", "missing.off", "notes.md"], ckpt, "out.h5", device="cpu", npy=True)
    feats, ids, _ = read_out("out.h5")
    assert ids == ["good"] and feats.shape == (1, 64) and np.array_equal(np.load("out.npy"), feats)
    with open("out_rejects.csv", newline="") as fh:
        reasons = {Path(r["path"]).name: r["reason"] for r in csv.DictReader(fh)}
    assert set(reasons) == {"x.ply", "bad.obj", "empty.npy", "short.xyz", "missing.off", "notes.md"}
    assert "directory" in reasons["x.ply"] and "empty file" in reasons["empty.npy"]
    assert "not found" in reasons["missing.off"] and "fewer than 3 columns" in reasons["short.xyz"]

    with pytest.raises(StageError, match="every input was rejected"):
        embed(["in/bad.obj", "in/empty.npy"], ckpt, "out.h5", device="cpu", npy=True)
    assert not Path("out.h5").exists() and not Path("out.npy").exists()  # no stale or half-written output
    assert cli.main(["embed", "in/x.ply", "--checkpoint", str(ckpt), "-o", "none.h5"]) == 2
    assert not Path("none.h5").exists() and Path("none_rejects.csv").exists()
    assert cli.main(["embed", "in", "--store", "s.h5", "--checkpoint", str(ckpt), "-o", "y.h5"]) == 2
