"""The pretraining stage on tiny stores the tests build (30 objects of 3 classes, 128 points,
32 px views): learning, exact resume, seeding, the validation split, the loss ablations, the CLI."""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from crosspoint import paths
from crosspoint.checkpoints import load_checkpoint
from crosspoint.models.encoders import load_point_encoder, random_point_encoder
from crosspoint.store import (
    DatasetMeta,
    PointSet,
    StageError,
    file_md5,
    read_point_store,
    read_strings,
    set_meta,
    write_point_store,
    write_strings,
)
from crosspoint.training.augment import make_generator
from crosspoint.training.data import PretrainData, carve_validation, load_training_set
from crosspoint.training.optim import PortableAdam
from crosspoint.training.params import Params, Variant
from crosspoint.training.pretrain import CrossPointModel, run, train_step
from crosspoint.training.validation import retrieval_ranks

CLASSES = ["ball", "box", "disc"]
N_TRAIN, N_TEST = 8, 2  # per class


def _cloud(label: int, n: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=(n, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    if label == 1:  # cube surface
        v /= np.abs(v).max(axis=1, keepdims=True)
    elif label == 2:  # flat disc
        v[:, 1] *= 0.05
    v *= rng.uniform(0.8, 1.0)
    return (v / np.linalg.norm(v, axis=1).max()).astype(np.float32)


def build_stores(root: Path, n_points: int = 128, size: int = 32, views: int = 2) -> None:
    """Point store ``paths.points("synth")`` and view store ``paths.views("synth")`` under ``root``."""
    rng = np.random.default_rng(0)
    labels, split, ids, clouds = [], [], [], []
    for c in range(len(CLASSES)):
        for i in range(N_TRAIN + N_TEST):
            labels.append(c)
            split.append("train" if i < N_TRAIN else "test")
            ids.append(f"{CLASSES[c]}_{i:02d}")
            clouds.append(_cloud(c, n_points, rng))
    meta = DatasetMeta(source="synthetic", class_names=CLASSES)
    ps = PointSet(points=np.stack(clouds), labels=np.array(labels), split=split, object_ids=ids, meta=meta)
    write_point_store(root / paths.points("synth"), ps)
    # Views in a different row order than the point store (rows are matched by object_id).
    order = rng.permutation(len(ids))
    images = np.zeros((len(ids), views, size, size, 3), np.uint8)
    for row, i in enumerate(order):
        base = np.zeros(3)
        base[labels[i]] = 200
        images[row] = np.clip(base + rng.normal(0, 30, size=(views, size, size, 3)), 0, 255).astype(np.uint8)
    vpath = root / paths.views("synth")
    vpath.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(vpath, "w") as h5:
        h5.create_dataset("images", data=images, chunks=(1, views, size, size, 3))
        h5.create_dataset("poses", data=np.tile(np.eye(4, dtype=np.float32), (len(ids), views, 1, 1)))
        h5.create_dataset("labels", data=np.array(labels)[order])
        write_strings(h5, "split", [split[i] for i in order])
        write_strings(h5, "object_ids", [ids[i] for i in order])
        set_meta(h5, kind="views", image_size=size, yfov_deg=45.0, views=views, class_names=CLASSES)


TINY = Variant(point_model="dgcnn", k=8, emb_dims=64, points=96, image_model="resnet18", image_size=0,
               epochs=2, batch_size=6, snapshots=[1, 2])
PRM = Params(datasets=["synth"], seeds=[3], cls=TINY, seg=replace(TINY, point_model="dgcnn_seg"),
             val_fraction=0.25, workers=0, val_batch_size=32)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread (the runs set it from params.threads): fast on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stores")
    build_stores(root)
    return root


def _workdir(stores: Path, where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    shutil.copytree(stores / "data", where / "data")
    return where


@pytest.fixture(scope="module")
def straight(stores, tmp_path_factory) -> dict:
    """An uninterrupted 2-epoch run: its last.pt."""
    work = _workdir(stores, tmp_path_factory.mktemp("straight"))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        run(PRM, "cls", progress=False)
        last = load_checkpoint(Path(paths.pretrain_dir("cls", 3)) / "last.pt")
        return last | {"snapshots": load_checkpoint(paths.snapshots("cls", 3))}


def _assert_same_weights(a: dict, b: dict) -> None:
    for part in ("point_encoder", "point_head", "image_encoder", "image_head"):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), f"{part}.{key} differs"


class _RecordingViews:
    """Stands in for the HDF5 ``images`` dataset: records what each read asks for."""

    def __init__(self, images: h5py.Dataset):
        self.images = images
        self.keys: list = []

    def __getitem__(self, key):
        self.keys.append(key)
        return self.images[key]


def test_views_are_streamed_one_object_view_per_item(stores):
    """The view store is opened lazily (not by the constructor, not carried to a worker) and each
    item reads one (object, view) selection, never the whole dataset."""
    import pickle

    vpath = stores / paths.views("synth")
    points = np.zeros((4, 16, 3), np.float32)
    data = PretrainData(points, [vpath], np.array([5, 0, 7, 2]), np.zeros(4, np.int64), 8, seed=1)
    assert data._h5 is None and data.n_views == 2
    _, image = data[(1, 3)]
    assert data._h5 is not None
    assert pickle.loads(pickle.dumps(data))._h5 is None  # a spawned worker opens its own handle
    with h5py.File(vpath, "r") as h5:
        recorder = _RecordingViews(h5["images"])
        data._h5 = [{"images": recorder}]
        _, again = data[(1, 3)]
        assert torch.equal(again, image)
        assert len(recorder.keys) == 1 and all(isinstance(k, int) for k in recorder.keys[0])
        assert recorder.keys[0][0] == 2  # the object's row in the view store
        view = recorder.keys[0][1]
        assert torch.equal(image, torch.from_numpy(h5["images"][2, view]))
    data._h5 = None


def test_validation_split_is_stratified(stores, monkeypatch):
    labels = np.repeat(np.arange(4), [10, 8, 4, 1])
    mask = carve_validation(labels, 0.25, seed=0)
    assert [int(mask[labels == c].sum()) for c in range(4)] == [2, 2, 1, 0]
    assert np.array_equal(mask, carve_validation(labels, 0.25, seed=0))
    assert not np.array_equal(mask, carve_validation(labels, 0.25, seed=1))

    monkeypatch.chdir(stores)
    data = load_training_set(PRM, TINY, with_images=True, seed=3)
    assert len(data.val_labels) == 6 and np.bincount(data.val_labels).tolist() == [2, 2, 2]
    test_ids = {f"{c}_{i:02d}" for c in CLASSES for i in range(N_TRAIN, N_TRAIN + N_TEST)}
    assert not test_ids & set(data.val_ids)
    # the pretraining objects are the other training objects: no test, no validation object
    assert len(data.train_points) == len(CLASSES) * N_TRAIN - 6
    # no validation split: every training object is pretrained on (best.pt is then the last epoch)
    none = load_training_set(dataclasses.replace(PRM, val_fraction=0.0), TINY, with_images=True, seed=3)
    assert len(none.val_labels) == 0 and len(none.train_points) == len(CLASSES) * N_TRAIN


def test_validation_fit_objects_bounded_by_val_max_fit(stores, monkeypatch):
    monkeypatch.chdir(stores)
    full = load_training_set(PRM, TINY, with_images=True, seed=3)
    n_fit = len(full.fit_labels)
    assert n_fit == len(full.train_points)  # unbounded: every pretraining object
    for bound in (n_fit, n_fit + 10):  # a bound at or above the count changes nothing
        same = load_training_set(dataclasses.replace(PRM, val_max_fit=bound), TINY, with_images=True, seed=3)
        assert np.array_equal(same.fit_points, full.fit_points) and np.array_equal(same.fit_labels, full.fit_labels)
    small = load_training_set(dataclasses.replace(PRM, val_max_fit=6), TINY, with_images=True, seed=3)
    assert np.bincount(small.fit_labels).tolist() == [2, 2, 2]  # stratified
    again = load_training_set(dataclasses.replace(PRM, val_max_fit=6), TINY, with_images=True, seed=3)
    assert np.array_equal(small.fit_points, again.fit_points)  # seeded
    # the bound only touches the validation classifier: pretraining and validation objects unchanged
    assert np.array_equal(small.train_points, full.train_points) and small.val_ids == full.val_ids
    assert dataclasses.replace(PRM, val_max_fit=-1).check()


def test_a_few_steps_lower_the_loss(stores, monkeypatch):
    monkeypatch.chdir(stores)
    data = load_training_set(PRM, TINY, with_images=True, seed=3)
    ds = PretrainData(data.train_points, data.views_paths, data.view_rows, data.view_stores, TINY.points, seed=0)
    items = [ds[(1, i)] for i in range(12)]
    clouds = torch.stack([c for c, _ in items])
    images = torch.stack([im for _, im in items])
    torch.manual_seed(0)
    model = CrossPointModel(TINY, with_images=True)
    opt = PortableAdam(model.parameters(), lr=1e-3, weight_decay=1e-6)
    losses = []
    for _ in range(6):  # the same batch and the same augmentations each step
        total, imid, cmid = train_step(model, opt, clouds, images, PRM, 0, make_generator(0))
        assert total.item() == pytest.approx(imid.item() + cmid.item(), rel=1e-5)
        losses.append(total.item())
    assert losses[-1] < losses[0] - 0.5, losses


def test_straight_run_history(straight):
    hist = straight["history"]
    assert [row["epoch"] for row in hist] == [0, 1, 2]
    assert 0.0 <= hist[0]["val/accuracy"] <= 1.0  # random-init baseline at epoch 0
    assert all(np.isfinite(row["train/loss"]) and 0.0 <= row["val/accuracy"] <= 1.0 for row in hist[1:])
    assert hist[1]["train/lr"] == pytest.approx(1e-3) and hist[2]["train/lr"] == pytest.approx(5e-4)
    assert straight["epoch"] == 2 and straight["scheduler"]["last_epoch"] == 2
    assert straight["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine to 0


def test_kill_and_resume_gives_identical_weights(stores, straight, tmp_path, monkeypatch):
    monkeypatch.chdir(_workdir(stores, tmp_path / "resumed"))
    first = run(PRM, "cls", stop_after=1, progress=False)  # "killed" after epoch 1's checkpoint
    assert first["last_epoch"] == 1
    # resuming with DataLoader workers: per-object randomness does not depend on them
    second = run(replace(PRM, workers=2), "cls", progress=False)
    assert second["epochs_run"] == 1 and second["last_epoch"] == 2
    resumed = load_checkpoint(Path(paths.pretrain_dir("cls", 3)) / "last.pt")
    _assert_same_weights(straight, resumed)
    assert [r["epoch"] for r in resumed["history"]] == [0, 1, 2]
    assert resumed["history"][2]["train/loss"] == straight["history"][2]["train/loss"]
    # the snapshot kept before the kill survives the resume; both equal the uninterrupted run's
    snaps, want = load_checkpoint(paths.snapshots("cls", 3)), straight["snapshots"]
    assert list(snaps["encoders"]) == list(want["encoders"]) == ["1", "2"]
    assert snaps["steps_per_epoch"] == want["steps_per_epoch"] > 0
    for epoch in ("1", "2"):
        assert snaps["encoders"][epoch]["steps"] == int(epoch) * want["steps_per_epoch"]
        for key, value in want["encoders"][epoch]["point_encoder"].items():
            assert torch.equal(snaps["encoders"][epoch]["point_encoder"][key], value), (epoch, key)
    for key, value in resumed["point_encoder"].items():  # the last snapshot is the last epoch's encoder
        assert torch.equal(snaps["encoders"]["2"]["point_encoder"][key], value.cpu())
    assert not torch.equal(snaps["encoders"]["1"]["point_encoder"]["embed.linear.weight"],
                           snaps["encoders"]["2"]["point_encoder"]["embed.linear.weight"])


def test_other_seed_differs(stores, straight, tmp_path, monkeypatch):
    # (the same seed giving the same weights is test_kill_and_resume_gives_identical_weights: its first epoch
    # is a separate run from scratch, and the resumed run ends on the uninterrupted run's bits)
    monkeypatch.chdir(_workdir(stores, tmp_path / "again"))
    run(PRM, "cls", 4, stop_after=1, progress=False)  # another seed: its own run, in its own folder
    other = load_checkpoint(Path(paths.pretrain_dir("cls", 4)) / "last.pt")
    assert other["seed"] == 4 and straight["seed"] == 3
    assert not torch.equal(other["point_head"]["0.weight"], straight["point_head"]["0.weight"])


@pytest.mark.parametrize("w_imid, w_cmid", [(1.0, 0.0), (0.0, 1.0)])
def test_loss_ablations_run(stores, tmp_path, monkeypatch, w_imid, w_cmid):
    monkeypatch.chdir(_workdir(stores, tmp_path / "ablation"))
    prm = replace(PRM, w_imid=w_imid, w_cmid=w_cmid, cls=replace(TINY, epochs=1))
    run(prm, "cls", progress=False)
    ckpt = load_checkpoint(Path(paths.pretrain_dir("cls", 3)) / "last.pt")
    row = ckpt["history"][1]
    assert np.isfinite(row["train/loss"])
    if w_cmid == 0:  # IMID only: no image branch at all
        assert ckpt["image_encoder"] is None and ckpt["model"]["image_model"] is None
        assert row["train/loss"] == pytest.approx(row["train/imid"]) and row["train/cmid"] == 0.0
    else:
        assert ckpt["image_encoder"] is not None
        assert row["train/loss"] == pytest.approx(row["train/cmid"])


def test_cli_end_to_end_and_strict_loading(stores, tmp_path, monkeypatch):
    from crosspoint.cli import main

    work = _workdir(stores, tmp_path / "cli")
    monkeypatch.chdir(work)
    variant = {"point_model": "dgcnn_seg", "k": 8, "emb_dims": 64, "points": 96, "image_model": "resnet18",
               "epochs": 1, "batch_size": 6}
    section = {"datasets": ["synth"], "seeds": [1, 2], "seg": variant, "val_fraction": 0.25, "workers": 0}
    import yaml

    (work / "params.yaml").write_text(yaml.safe_dump({"pretrain": section}))
    assert main(["pretrain", "--variant", "seg", "--seed", "2"]) == 0
    out = work / paths.pretrain_dir("seg", 2)
    assert (out / "best.pt").exists() and (out / "last.pt").exists()
    live = work / paths.pretrain_live("seg", 2)
    metrics = json.loads((live / "metrics.json").read_text())
    assert 0.0 <= metrics["val"]["accuracy"] <= 1.0
    assert "random_init_accuracy" in metrics["val"] and "loss" in metrics["train"]
    assert metrics["seed"] == 2 and metrics["numerics"]["threads"] >= 1
    assert not any("per_s" in key for key in metrics["train"])  # no wall-clock in the record
    assert (live / "plots" / "metrics" / "train" / "loss.tsv").exists()

    encoder, model_cfg = load_point_encoder(out / "best.pt")
    assert model_cfg["point_model"] == "dgcnn_seg" and not encoder.training
    pts = torch.from_numpy(load_training_set(PRM, TINY, with_images=False, seed=3).val_points[:4])
    with torch.no_grad():
        feats = encoder(pts)
        rand = random_point_encoder(model_cfg, seed=0)(pts)
    assert feats.shape == (4, encoder.out_dim) and torch.isfinite(feats).all()
    assert torch.equal(rand, random_point_encoder(model_cfg, seed=0)(pts))
    assert not torch.equal(rand, feats)

    ckpt = torch.load(out / "best.pt", weights_only=True)
    ckpt["point_encoder"]["extra.weight"] = torch.zeros(1)
    torch.save(ckpt, tmp_path / "bad.pt")
    with pytest.raises(RuntimeError, match="unexpected"):
        load_point_encoder(tmp_path / "bad.pt")

    (work / "params.yaml").write_text(yaml.safe_dump({"pretrain": {**section, "lr": -1}}))
    assert main(["pretrain", "--variant", "seg"]) == 2  # a bad value is a one-line params error


# ---------------------------------------------------------------------------------------------
# Several datasets, unlabelled data, label-free model selection


def _unlabelled_copy(stores: Path, root: Path, name: str = "mine") -> None:
    """``name``: the synth stores' training objects with their labels thrown away (a mesh_folder's stores)."""
    ps = read_point_store(stores / paths.points("synth"))
    train = ps.subset(ps.split_mask("train"))
    meta = DatasetMeta(source="mesh_folder", class_names=[], labelled=False)
    ids = [f"u{i}" for i in range(len(train))]
    write_point_store(root / paths.points(name), PointSet(train.points, np.full(len(train), -1), ["train"] * len(train),
                                                          ids, meta))
    with h5py.File(stores / paths.views("synth"), "r") as src:
        row = {oid: r for r, oid in enumerate(read_strings(src, "object_ids"))}
        rows = [row[oid] for oid in train.object_ids]
        images = src["images"][()][rows]
    (root / paths.views(name)).parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(root / paths.views(name), "w") as h5:
        h5.create_dataset("images", data=images)
        h5.create_dataset("labels", data=np.full(len(ids), -1))
        write_strings(h5, "object_ids", ids)
        set_meta(h5, kind="views", labelled=False, points_md5=file_md5(root / paths.points(name)))


def test_retrieval_ranks_count_keys_closer_than_the_own_one():
    keys = np.eye(4)
    assert retrieval_ranks(keys * 3.0, keys).tolist() == [0, 0, 0, 0]  # cosine: the scale does not matter
    queries = np.array([[1, 0, 0, 0], [1, 0.1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    assert retrieval_ranks(queries, keys).tolist() == [0, 1, 0, 0]  # query 1 finds key 0 first


def test_unlabelled_data_selects_by_retrieval(stores, tmp_path, monkeypatch):
    work = tmp_path / "unlabelled"
    _unlabelled_copy(stores, work)
    monkeypatch.chdir(work)
    prm = replace(PRM, datasets=["mine"], cls=replace(TINY, epochs=1))
    data = load_training_set(prm, TINY, with_images=True, seed=3)
    assert not data.labelled and data.selection == "retrieval" and len(data.retrieval_points) == len(data.val_ids) > 0
    run(prm, "cls", progress=False)
    ckpt = load_checkpoint(Path(paths.pretrain_dir("cls", 3)) / "last.pt")
    assert all("val/accuracy" not in row for row in ckpt["history"])
    assert all(0.0 <= row["val/retrieval_top1"] <= row["val/retrieval_top5"] <= 1.0 for row in ckpt["history"])
    metrics = json.loads((Path(paths.pretrain_live("cls", 3)) / "metrics.json").read_text())
    assert metrics["val"]["criterion"] == "retrieval_top1" and "best_retrieval_top1" in metrics["val"]
    assert (Path(paths.pretrain_live("cls", 3)) / "plots/metrics/val/retrieval_top1.tsv").exists()
    with pytest.raises(StageError, match="no labels"):  # accuracy asked for on unlabelled data
        load_training_set(replace(prm, selection="accuracy"), TINY, with_images=True, seed=3)
    with pytest.raises(StageError, match="no images"):  # no label-free criterion without images
        load_training_set(replace(prm, w_cmid=0.0), TINY, with_images=False, seed=3)


def test_one_class_labelled_validation_is_an_error(stores, tmp_path, monkeypatch):
    work = tmp_path / "one_class"
    _workdir(stores, work)
    ps = read_point_store(work / paths.points("synth"))
    write_point_store(work / paths.points("synth"), replace(ps, labels=np.zeros_like(ps.labels)))
    monkeypatch.chdir(work)
    with pytest.raises(StageError, match="1 class"):
        load_training_set(PRM, TINY, with_images=True, seed=3)
    # asking for the label-free criterion instead runs, and logs no accuracy
    prm = replace(PRM, selection="retrieval", cls=replace(TINY, epochs=1))
    assert load_training_set(prm, TINY, with_images=True, seed=3).selection == "retrieval"
    run(prm, "cls", progress=False)
    history = load_checkpoint(Path(paths.pretrain_dir("cls", 3)) / "last.pt")["history"]
    assert all("val/accuracy" not in row and "val/retrieval_top1" in row for row in history)


def test_several_datasets_in_every_epoch(stores, tmp_path, monkeypatch):
    work = _workdir(stores, tmp_path / "two")
    _unlabelled_copy(stores, work)
    monkeypatch.chdir(work)
    one = load_training_set(PRM, TINY, with_images=True, seed=3)
    both = load_training_set(replace(PRM, datasets=["synth", "mine"]), TINY, with_images=True, seed=3)
    n_synth = len(CLASSES) * N_TRAIN
    assert len(both.train_points) + len(both.val_ids) == 2 * n_synth
    assert both.selection == "retrieval" and not both.labelled  # auto: one dataset has no labels
    assert set(both.view_stores.tolist()) == {0, 1} and both.views_paths == [paths.views("synth"), paths.views("mine")]
    assert one.fingerprint != both.fingerprint
    ds = PretrainData(both.train_points, both.views_paths, both.view_rows, both.view_stores, TINY.points, seed=0)
    for i in (0, len(ds) - 1):  # an object of each store reads its own view store's row
        _, image = ds[(1, i)]
        with h5py.File(both.views_paths[both.view_stores[i]], "r") as h5:
            assert any(torch.equal(image, torch.from_numpy(h5["images"][both.view_rows[i], v])) for v in range(2))


def test_a_point_store_changed_after_merge_views_is_refused(stores, tmp_path, monkeypatch):
    work = _workdir(stores, tmp_path / "stale")
    with h5py.File(work / paths.views("synth"), "a") as h5:
        set_meta(h5, points_md5="0" * 32)
    monkeypatch.chdir(work)
    with pytest.raises(StageError, match="merge-views --dataset synth"):
        load_training_set(PRM, TINY, with_images=True, seed=3)
