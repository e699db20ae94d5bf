"""Part segmentation: strict encoder loading, the loss, a few fine-tune steps, the whole stage on tiny data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from crosspoint import paths
from crosspoint.evaluate import partseg as P
from crosspoint.evaluate import segmentation as SG
from crosspoint.models.dgcnn import SEG_HEAD_PREFIXES, PartSegModel
from crosspoint.models.registry import build_point_encoder
from crosspoint.store import DatasetMeta, PointSet, StageError, write_point_store

EMB, K = 32, 8
META = DatasetMeta(
    source="test", class_names=["cup", "fan"], part_names=["cup_top", "cup_bottom", "fan_left", "fan_right"],
    class_parts={"cup": [0, 1], "fan": [2, 3]},
)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, and the shared test machine is busy."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _seg_best(seed: int) -> Path:
    return Path(paths.best_checkpoint("seg", seed))


def tiny_parts(n: int = 32, points: int = 96, seed: int = 0) -> PointSet:
    """Random clouds; cups split into parts by the sign of y, fans by the sign of x."""
    rng = np.random.default_rng(seed)
    pts = rng.normal(size=(n, points, 3)).astype(np.float32)
    pts /= np.linalg.norm(pts, axis=-1, keepdims=True).max(axis=1, keepdims=True)
    labels = np.arange(n) % 2
    parts = np.where(labels[:, None] == 0, np.where(pts[..., 1] > 0, 0, 1), np.where(pts[..., 0] > 0, 2, 3))
    split = ["train" if i < n * 3 // 4 else "test" for i in range(n)]
    return PointSet(pts, labels, split, [f"s{i}" for i in range(n)], META, parts.astype(np.int16))


def tiny_model(seed: int = 0) -> PartSegModel:
    torch.manual_seed(seed)
    return PartSegModel(2, 4, k=K, emb_dims=EMB, dropout=0.5)


def test_strict_load_accepts_a_real_encoder_state():
    encoder = build_point_encoder("dgcnn_seg", k=15, emb_dims=EMB)
    model = tiny_model()
    head = SG.load_encoder_strict(model, encoder.state_dict(), SEG_HEAD_PREFIXES)
    assert head and all(k.startswith(SEG_HEAD_PREFIXES) for k in head)
    for key, value in encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[key], value)


def test_strict_load_fails_on_unexpected_missing_or_misshaped_keys():
    state = build_point_encoder("dgcnn_seg", k=K, emb_dims=EMB).state_dict()
    extra = {**state, "classifier.weight": torch.zeros(3)}
    with pytest.raises(StageError, match="unexpected.*classifier.weight"):
        SG.load_encoder_strict(tiny_model(), extra, SEG_HEAD_PREFIXES)
    missing = dict(state)
    dropped = next(iter(missing))
    del missing[dropped]
    with pytest.raises(StageError, match="missing"):
        SG.load_encoder_strict(tiny_model(), missing, SEG_HEAD_PREFIXES)
    # the classification layout (different keys) is refused too
    with pytest.raises(StageError):
        SG.load_encoder_strict(tiny_model(), build_point_encoder("dgcnn", k=K, emb_dims=EMB).state_dict(),
                              SEG_HEAD_PREFIXES)
    wide = build_point_encoder("dgcnn_seg", k=K, emb_dims=2 * EMB).state_dict()  # same keys, other shapes
    with pytest.raises(StageError, match="cannot load"):
        SG.load_encoder_strict(tiny_model(), wide, SEG_HEAD_PREFIXES)
    with pytest.raises(StageError, match="neither in the encoder"):
        SG.load_encoder_strict(tiny_model(), state, ("label_mlp.",))


def test_smoothed_cross_entropy_matches_hand_formula():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    target = torch.tensor([0, 2])
    eps = 0.2
    logp = torch.log_softmax(logits, -1)
    soft = torch.tensor([[0.8, 0.1, 0.1], [0.1, 0.1, 0.8]])
    assert SG.smoothed_cross_entropy(logits, target, eps).item() == pytest.approx(-(soft * logp).sum(1).mean().item())
    assert SG.smoothed_cross_entropy(logits, target, 0.0).item() == pytest.approx(
        torch.nn.functional.cross_entropy(logits, target).item()
    )
    # ignored points (label -1) do not count
    assert SG.smoothed_cross_entropy(
        torch.cat([logits, torch.zeros(1, 3)]), torch.tensor([0, 2, -1]), eps
    ).item() == pytest.approx(SG.smoothed_cross_entropy(logits, target, eps).item())


def test_a_few_fine_tune_epochs_lower_the_loss():
    ps = tiny_parts()
    data = SG.seg_data(ps, np.ones(len(ps), bool))
    prm = SG.Params(epochs=5, batch_size=8, points=64, k=K, lr=0.05, val_fraction=0.0)
    mask = SG.part_mask(2, 4, {0: [0, 1], 1: [2, 3]})
    res = P.fine_tune(tiny_model(), data, None, 2, mask, {0: [0, 1], 1: [2, 3]}, prm, torch.device("cpu"), "t")
    losses = [r["train_loss"] for r in res.curve]
    assert len(losses) == 5 and losses[-1] < losses[0]
    pred = SG.predict(res.model, data, 2, mask, 8, torch.device("cpu"))
    # predictions always lie among the shape's own category's parts
    assert np.isin(pred[data.categories == 0], [0, 1]).all() and np.isin(pred[data.categories == 1], [2, 3]).all()


def write_seg_checkpoint(path: str, seed: int = 0) -> None:
    torch.manual_seed(seed)
    encoder = build_point_encoder("dgcnn_seg", k=K, emb_dims=EMB)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"point_encoder": encoder.state_dict(), "point_head": None, "image_encoder": None,
                "image_head": None, "model": {"point_model": "dgcnn_seg", "k": K, "emb_dims": EMB,
                                              "image_model": "resnet18"}, "epoch": 1, "val_accuracy": 0.0}, path)


def test_partseg_stage_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    write_point_store(paths.points("toy"), tiny_parts(n=24, points=96))
    write_seg_checkpoint(str(_seg_best(1)))
    prm = SG.Params(dataset="toy", epochs=2, batch_size=6, points=48, k=K, val_fraction=0.2, examples=2)
    m = P.run(prm, seed=1)
    saved = json.loads(Path(paths.partseg_metrics(1)).read_text())
    assert saved == json.loads(json.dumps(m))
    assert saved["seed"] == 1 and "numerics" in saved
    assert not any("seconds" in str(k) for run in P.RUNS for k in saved[run])  # no wall-clock in the record
    assert saved["num_test"] == 6 and saved["num_val"] == 4 and saved["num_train"] == 14
    for run in P.RUNS:
        assert 0 <= saved[run]["instance_miou"] <= 100 and 0 <= saved[run]["class_miou"] <= 100
        assert set(saved[run]["per_category_miou"]) == {"cup", "fan"}
        assert 1 <= saved[run]["epoch"] <= 2
    with open(paths.partseg_curves(1), newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and "pretrained_train_loss" in rows[0] and "scratch_val_instance_miou" in rows[0]
    assert Path(paths.partseg_examples(1)).stat().st_size > 1000


def test_partseg_stage_skipped_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    empty = PointSet(np.zeros((0, 96, 3), np.float32), np.zeros(0, np.int64), [], [], META,
                     np.zeros((0, 96), np.int16))
    write_point_store(paths.points("toy"), empty, skipped="no such folder")
    assert P.run(SG.Params(dataset="toy")) == {"skipped": "no such folder"}
    assert json.loads(Path(paths.partseg_metrics(0)).read_text()) == {"skipped": "no such folder"}
    assert Path(paths.partseg_examples(0)).exists()


class FixedLogits(torch.nn.Module):
    """Stands in for the part-seg model: the same logits for every shape, and it records its inputs."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = torch.nn.Parameter(logits.clone())
        self.seen: list[np.ndarray] = []

    def forward(self, pts: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        self.seen.append(pts.detach().numpy().copy())
        return self.logits.expand(len(pts), -1, -1)


def test_argmax_category_or_all_parts():
    # one cup of 4 points: truth [0, 0, 1, 1]; point 3's top logit is a fan part (2)
    data = SG.SegData(np.zeros((1, 4, 3), np.float32), np.array([[0, 0, 1, 1]]), np.array([0]))
    logits = torch.tensor([[[5.0, 0, 0, 0], [5.0, 0, 0, 0], [0, 5.0, 0, 0], [0, 1.0, 5.0, 0]]])
    mask = SG.part_mask(2, 4, {0: [0, 1], 1: [2, 3]})
    cpu = torch.device("cpu")
    restricted = SG.predict(FixedLogits(logits), data, 2, mask, 4, cpu)
    everything = SG.predict(FixedLogits(logits), data, 2, None, 4, cpu)
    assert restricted.tolist() == [[0, 0, 1, 1]] and everything.tolist() == [[0, 0, 1, 2]]
    parts = {0: [0, 1], 1: [2, 3]}
    assert SG.scores(restricted, data, parts).instance_miou == 1.0
    # upstream's calculate_shape_IoU: part 0 IoU 1, part 1 IoU 1/2 (the fan-labelled point is a miss)
    assert SG.scores(everything, data, parts).instance_miou == pytest.approx(0.75)
    assert SG.Params(argmax="all").check() == [] and "argmax" in " ".join(SG.Params(argmax="none").check())


def test_stage_argmax_all_runs_and_differs_only_at_prediction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    write_point_store(paths.points("toy"), tiny_parts(n=16, points=48))
    write_seg_checkpoint(str(_seg_best(0)))
    base = dict(dataset="toy", epochs=1, batch_size=6, points=32, k=K, val_fraction=0.0, examples=1)
    cat = P.run(SG.Params(**base, argmax="category"))
    every = P.run(SG.Params(**base, argmax="all"))
    for run in P.RUNS:  # same training; a shape's mIoU can only drop when foreign parts may be predicted
        assert every[run]["epoch"] == cat[run]["epoch"]
        assert every[run]["instance_miou"] <= cat[run]["instance_miou"] + 1e-9


def test_no_augment_feeds_each_shape_as_stored_in_a_shuffled_order():
    # augment false with points == stored points: every batch holds each shape's points, permuted
    # (upstream's ShapeNetPart trainval loader: the first num_points, shuffled; no scaling)
    ps = tiny_parts(n=4, points=16)
    data = SG.seg_data(ps, np.ones(4, bool))
    model = FixedLogits(torch.zeros(1, 16, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    prm = SG.Params(batch_size=4, points=16, k=4, augment=False)
    SG.train_epoch(model, data, 2, opt, prm, np.random.default_rng(0), torch.device("cpu"))
    (batch,) = model.seen
    stored = {tuple(map(tuple, np.sort(p.round(6), axis=0))) for p in data.points}
    assert {tuple(map(tuple, np.sort(b.round(6), axis=0))) for b in batch} == stored
    assert not any(np.array_equal(b, p) for b in batch for p in data.points)  # shuffled, not as stored


@pytest.mark.parametrize("stops", [[1], [2, 3]], ids=["in-pretrained", "twice-then-in-scratch"])
def test_stopped_and_resumed_stage_writes_the_uninterrupted_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  stops: list[int]):
    """Stopped after N epochs (what a kill after an epoch's save leaves), then run again: every output,
    the saved state included, has the bytes of an uninterrupted run. 3 epochs per run: [1] stops inside the
    pretrained run; [2, 3] stops inside it, then after its last epoch and two of the scratch run."""
    prm = SG.Params(dataset="toy", epochs=3, batch_size=6, points=48, k=K, val_fraction=0.2, examples=1)
    outputs = [paths.partseg_metrics(1), paths.partseg_curves(1), paths.partseg_examples(1), paths.partseg_state(1)]
    digests = {}
    for name in ("straight", "resumed"):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        write_point_store(paths.points("toy"), tiny_parts(n=24, points=96))
        write_seg_checkpoint(str(_seg_best(1)))
        if name == "resumed":
            for n in stops:
                assert P.run(prm, seed=1, stop_after=n).get("stopped") in P.RUNS
                assert not Path(paths.partseg_metrics(1)).exists()
        P.run(prm, seed=1)
        digests[name] = {o: Path(o).read_bytes() for o in outputs}
    assert digests["resumed"] == digests["straight"]


def test_state_of_other_params_is_not_resumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog):
    monkeypatch.chdir(tmp_path)
    write_point_store(paths.points("toy"), tiny_parts(n=24, points=96))
    write_seg_checkpoint(str(_seg_best(1)))
    P.run(SG.Params(dataset="toy", epochs=2, batch_size=6, points=48, k=K, examples=1), seed=1, stop_after=1)
    caplog.set_level("INFO")
    P.run(SG.Params(dataset="toy", epochs=2, batch_size=6, points=48, k=K, examples=1, lr=0.05), seed=1)
    assert any("made with other params" in r.getMessage() for r in caplog.records)
