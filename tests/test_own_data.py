"""docs/own-data.md's worked path, end to end in a temporary copy of the repository on the tiny preset: a folder
of CAPOD meshes with their classes thrown away is added with ``crosspoint own-data``, pretrained on beside the
procedural set by ``dvc repro`` (selection by cross-modal retrieval: no labels), evaluated on CAPOD with its
labels against random init, exported with ``crosspoint export`` and used by ``crosspoint embed`` on new files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import pytest
import yaml

from tests.conftest import CAPOD
from tests.test_e2e import make_copy, run

pytestmark = pytest.mark.slow


def unlabelled_folder(dest: Path, per_class: int) -> list[Path]:
    """The first ``per_class`` CAPOD meshes of each class, renamed ``shape_NNN`` in nested folders: no class
    name or id is left for a label to come from."""
    files = []
    for class_dir in sorted(p for p in CAPOD.iterdir() if p.is_dir()):
        files += sorted(class_dir.glob("*.obj"))[:per_class]
    for i, src in enumerate(files):
        target = dest / f"batch{i % 3}" / f"shape_{i:03d}.obj"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, target)
    return files


@pytest.fixture(scope="module")
def walked(tmp_path_factory) -> Path:
    if not (CAPOD / "CAPOD.cla").exists():
        pytest.skip("CAPOD meshes not found")
    repo = make_copy(tmp_path_factory.mktemp("own"))
    meshes = tmp_path_factory.mktemp("my_meshes")
    unlabelled_folder(meshes, per_class=2)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["pretrain"]["seeds"] = [0]  # one run is enough to walk the path
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # the documented commands (docs/own-data.md), the repro limited to what the CAPOD table needs
    run(["crosspoint", "own-data", "mine", str(meshes)], repo)
    run(["dvc", "repro", "linear_svm@capod"], repo)
    run(["crosspoint", "export", "models/pretrain_cls/seed-0/best.pt", "-o", "encoder.pt"], repo)
    new = repo / "new_shapes"
    new.mkdir()
    shutil.copy(sorted((CAPOD / "class3").glob("*.obj"))[-1], new / "a.obj")
    shutil.copy(sorted((CAPOD / "class7").glob("*.obj"))[-1], new / "b.obj")
    (new / "broken.obj").write_text("v 0 0 0\n")
    run(["crosspoint", "embed", "new_shapes", "--checkpoint", "encoder.pt", "-o", "features.h5"], repo)
    return repo


def test_own_meshes_are_pretrained_on_beside_the_procedural_set(walked):
    lock = yaml.safe_load((walked / "dvc.lock").read_text())["stages"]
    assert {"prepare@mine", "sample@mine-0", "merge_points@mine", "render@mine-0", "merge_views@mine",
            "render@synth-0", "pretrain@cls-0", "linear_svm@capod"} <= set(lock)
    with h5py.File(walked / "data/points/mine.h5", "r") as h5:
        assert len(h5["labels"]) == 30 and set(h5["labels"][()]) == {-1} and not h5.attrs["labelled"]
    metrics = json.loads((walked / "results/pretrain_cls/seed-0/metrics.json").read_text())
    assert metrics["val"]["criterion"] == "retrieval_top1"  # no labels: the label-free criterion
    assert 0.0 <= metrics["val"]["best_retrieval_top1"] <= 1.0 and "accuracy" not in metrics["val"]
    svm = json.loads((walked / "results/metrics/linear_svm_capod.json").read_text())
    for protocol in ("c_paper", "c_val"):  # CAPOD with its labels: the pretrained encoder beside random init
        row = svm["summary"][protocol]["overall_accuracy"]
        assert 0.0 < row["pretrained"]["mean"] <= 100.0 and 0.0 < row["random"]["mean"] <= 100.0


def test_the_exported_encoder_embeds_new_files(walked):
    import crosspoint

    encoder = crosspoint.load_encoder(walked / "encoder.pt")
    assert not encoder.training
    with h5py.File(walked / "features.h5", "r") as h5:
        ids = [v.decode() for v in h5["object_ids"][()]]
        assert ids == ["a", "b"] and h5["features"].shape == (2, 2 * 64)  # the tiny preset's emb_dims, max ‖ avg
    rejects = (walked / "features_rejects.csv").read_text()
    assert "broken.obj" in rejects


def test_an_unlabelled_dataset_cannot_be_evaluated(walked):
    params = yaml.safe_load((walked / "params.yaml").read_text())
    params["linear_svm"]["datasets"].append("mine")
    (walked / "bad.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    proc = run(["crosspoint", "check-params", "--params", "bad.yaml"], walked, check=False)
    assert proc.returncode == 2 and "unlabelled mesh folder" in proc.stderr
