"""The unlabelled ``mesh_folder`` source: what it finds, what it rejects, the store it makes, and the
evaluation stages refusing that store with one line naming the dataset."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import trimesh
import yaml

from crosspoint import cli, paths
from crosspoint.feature_files import FeatureSet, write_features
from crosspoint.sources.mesh_folder.reader import scan_folder
from crosspoint.sources.prepare import prepare
from crosspoint.store import DatasetMeta, MeshStore, StageError, get_meta, read_strings


def mesh_tree(root: Path) -> None:
    """Nested meshes in three formats, a hidden file, a broken file, a folder named like a mesh and two
    files with one id."""
    shapes = {"chairs/m10.obj": trimesh.creation.box(), "chairs/m2.obj": trimesh.creation.icosphere(1),
              "misc/deep/cone.stl": trimesh.creation.cone(0.5, 1.0), "lamp.ply": trimesh.creation.cylinder(0.2, 1.0),
              "lamp.off": trimesh.creation.box(), ".hidden/x.obj": trimesh.creation.box()}
    for rel, mesh in shapes.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        mesh.export(root / rel)
    (root / "broken.obj").write_text("v 0 0 0\nthis is not a mesh\n")
    (root / "folder.obj").mkdir()
    (root / "notes.txt").write_text("not a mesh")


def test_scan_folder_order_ids_and_rejects(tmp_path):
    mesh_tree(tmp_path)
    entries, rejects = scan_folder(tmp_path)
    ids = [e.object_id for e in entries]
    assert ids == ["broken", "chairs/m2", "chairs/m10", "lamp", "misc/deep/cone"]  # natural order, hidden skipped
    assert all(e.split == "train" for e in entries)
    assert entries[3].path.name == "lamp.off"  # of two files with one id the first in sorted order is kept
    reasons = {Path(r.path).name: r.reason for r in rejects}
    assert reasons["folder.obj"].startswith("not a regular file") and "same object id" in reasons["lamp.ply"]


def test_prepare_writes_an_unlabelled_store(tmp_path, monkeypatch):
    mesh_tree(tmp_path / "meshes")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(
        {"datasets": {"mine": {"source": "mesh_folder", "path": "meshes", "max_objects": 4}}}))
    prepare("mine")
    store = MeshStore(paths.prepared("mine"))
    assert store.object_ids == ["chairs/m2", "chairs/m10", "lamp"]  # max_objects 4, then "broken" rejected
    assert store.labels.tolist() == [-1, -1, -1] and store.split == ["train"] * 3
    assert not store.meta.labelled and store.meta.class_names == []
    with h5py.File(paths.prepared("mine"), "r") as h5:
        assert get_meta(h5, "labelled") is False
    rejects = Path(paths.prepared_rejects("mine")).read_text()
    assert "broken.obj" in rejects and "folder.obj" in rejects and "lamp.ply" in rejects


def test_labelled_stores_carry_no_labelled_attribute(tmp_path):
    """Only unlabelled stores are marked: every labelled store keeps the bytes it had."""
    assert "labelled" not in DatasetMeta("synthetic", ["a"]).attrs()
    assert DatasetMeta("mesh_folder", [], labelled=False).attrs()["labelled"] is False


def test_a_missing_optional_folder_gives_a_skipped_unlabelled_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(
        {"datasets": {"mine": {"source": "mesh_folder", "path": "absent", "required": False}}}))
    prepare("mine")
    with h5py.File(paths.prepared("mine"), "r") as h5:
        assert "absent" in get_meta(h5, "skipped") and get_meta(h5, "labelled") is False
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(
        {"datasets": {"mine": {"source": "mesh_folder", "path": "absent"}}}))
    with pytest.raises(StageError, match="mesh folder absent not found"):
        prepare("mine")


def _unlabelled_features(seed: int) -> None:
    feats = np.ones((3, 4), np.float32)
    fs = FeatureSet(feats, feats, np.full(3, -1), ["train"] * 3, ["a", "b", "c"], [])
    write_features(paths.features("mine", seed), fs, labelled=False)


def test_evaluations_refuse_an_unlabelled_dataset_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _unlabelled_features(0)
    params = {"pretrain": {"seeds": [0]}, "linear_svm": {"datasets": ["mine"]}, "fewshot": {"datasets": ["mine"]}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in ("linear-svm", "fewshot"):
        assert cli.main([stage, "--dataset", "mine"]) == 2
        err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
        assert len(err) == 1 and "dataset 'mine' has no labels" in err[0], err
    assert not os.path.exists(paths.metrics("linear_svm_mine")) and not os.path.exists(paths.metrics("fewshot_mine"))
    with h5py.File(paths.features("mine", 0), "r") as h5:
        assert read_strings(h5, "object_ids") == ["a", "b", "c"]
