"""The paper preset, at the paper's tensor sizes, through ``dvc repro`` end to end on CPU.

``crosspoint preset paper`` in a temporary copy of the repository, with the four dataset paths set
to tiny copies in the public layouts (tests/paper_data.py) and only the budget cut: 1 pretraining
epoch, 1 part-seg epoch, one seed, small few-shot episodes, a small synthetic side table without
synthetic scans (CAPOD absent: its rows are marked skipped).
Everything the GPU run would compute with is the paper's: 2,048-point clouds, DGCNN k=15 and
1,024-d embedding, batch 20, ResNet-50 on 224 px images upsampled from the 137 px 3D-R2N2 renders
(24 views each, decoded, not rendered), 1,024 points for the linear SVM, part seg on 2,048 points
with k=40.
"""

from __future__ import annotations

import csv
import json
import resource
import time
from pathlib import Path

import h5py
import pytest
import torch
import yaml

from tests import paper_data
from tests.test_e2e import copy_checkout, run

pytestmark = pytest.mark.slow

PAPER_DATASETS = {"modelnet40", "scanobjectnn", "shapenetpart"}


def paper_copy(dest: Path, data: dict[str, Path]) -> Path:
    """A git repository holding this checkout's files with the paper preset applied and cut to CPU size."""
    copy_checkout(dest)
    run(["crosspoint", "preset", "paper"], dest)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    ds = params["datasets"]
    for name, path in data.items():
        ds[name]["path"] = str(path)
        ds[name]["required"] = True
    ds["capod"] |= {"path": str(dest / "no_capod"), "required": False}  # absent: its rows are marked skipped
    ds["synth"] |= {"classes": ["airplane", "chair", "lamp"], "objects_per_class": 6, "test_fraction": 0.5}
    params["render"]["shards"] = [0, 1]
    params["scan"]["datasets"] = {"capod": 1}  # the synthetic side table without its scans (5 stages fewer)
    for section in ("features", "linear_svm", "fewshot"):
        params[section]["datasets"].remove("synth_scan")
    params["pretrain"]["seeds"] = [0]
    params["pretrain"]["workers"] = 1
    params["pretrain"]["val_fraction"] = 0.05  # at least one object per category
    for variant in ("cls", "seg"):
        params["pretrain"][variant]["epochs"] = 1
    params["pretrain"]["cls"]["snapshots"] = [1]  # the preset's epochs 12-100 lie beyond this one
    params["fewshot"] |= {"settings": [[3, 2]], "queries": 2, "runs": 2}
    params["partseg"] |= {"epochs": 1, "examples": 1}
    params["report"] |= {"tsne_dataset": "modelnet40", "tsne_max_points": 100, "perplexity": 5.0}
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["crosspoint", "check-params"], dest)
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-q", "-m", "paper-shaped"], dest)
    return dest


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory) -> Path:
    data = paper_data.make_all(tmp_path_factory.mktemp("paper_data"))
    repo = paper_copy(tmp_path_factory.mktemp("paper"), data)
    start = time.monotonic()
    run(["dvc", "repro"], repo)
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    print(f"\npaper-shaped dvc repro: {time.monotonic() - start:.0f} s, peak RSS of one process {peak_gib:.2f} GiB")
    return repo


def test_pretraining_reads_the_paper_data_at_the_paper_sizes(paper_run):
    with h5py.File(paper_run / "data/views/shapenet.h5", "r") as h5:
        assert h5["images"].shape == (24, 24, 137, 137, 3)  # 24 objects x 24 decoded R2N2 views
        assert h5.attrs["camera"] == "shapenet_rendering"
    with h5py.File(paper_run / "data/points/shapenet.h5", "r") as h5:
        assert h5["points"].shape == (24, 2048, 3)
    for variant in ("cls", "seg"):
        ckpt = torch.load(paper_run / f"models/pretrain_{variant}/seed-0/best.pt", map_location="cpu",
                          weights_only=True)
        cfg, run_params = ckpt["model"], ckpt["params"][variant]
        assert (cfg["points"], cfg["k"], cfg["emb_dims"], cfg["image_model"]) == (2048, 15, 1024, "resnet50"), cfg
        assert (run_params["image_size"], run_params["batch_size"]) == (224, 20), run_params


def test_every_paper_table_row_is_produced(paper_run):
    with open(paper_run / "results/tables/summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    got = {(r["evaluation"], r["dataset"]) for r in rows}
    assert {("linear_svm", "modelnet40"), ("linear_svm", "scanobjectnn"), ("fewshot", "modelnet40"),
            ("fewshot", "scanobjectnn"), ("partseg", "shapenetpart")} <= got
    paper_rows = [r for r in rows if r["dataset"] in PAPER_DATASETS and r["paper"]]
    assert {r["dataset"] for r in paper_rows} == PAPER_DATASETS  # the paper's number beside each
    for r in rows:
        if r["dataset"] in PAPER_DATASETS:
            assert r["pretrained"] != "" and r["random_init"] != "", r
    with h5py.File(paper_run / "data/features/modelnet40/seed-0.h5", "r") as h5:  # the SVM's input
        assert (h5.attrs["points"], h5.attrs["k"], h5.attrs["subset"]) == (1024, 15, "first")
    svm = json.loads((paper_run / "results/metrics/linear_svm_modelnet40.json").read_text())
    assert (svm["num_train"], svm["num_test"], svm["feature_dim"]) == (32, 16, 2048)
    md = (paper_run / "results/tables/summary.md").read_text()
    paper_part, _, side_part = md.partition("## Pipeline datasets")
    paper_table = paper_part.split("## The paper's datasets", 1)[1]
    assert "| modelnet40 |" in paper_table and "| synth" not in paper_table and "| capod" not in paper_table
    assert "| synth |" in side_part and "| modelnet40 |" not in side_part  # the synthetic rows: a table of their own


def test_the_run_is_recorded_and_up_to_date(paper_run):
    assert "up to date" in run(["dvc", "status"], paper_run).stdout
    lock = yaml.safe_load((paper_run / "dvc.lock").read_text())
    assert "render@shapenet-0" in lock["stages"] and "partseg@0" in lock["stages"]
