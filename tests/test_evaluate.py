"""Linear SVM and few-shot stages on tiny, hand-made features files."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from crosspoint import paths
from crosspoint.cli import main as cli_main
from crosspoint.evaluate import fewshot as F
from crosspoint.evaluate import linear_svm as L
from crosspoint.feature_files import FeatureSet, read_features, write_features
from crosspoint.store import StageError
from crosspoint.subsets import (
    grouped_stratified_folds,
    grouped_stratified_subset,
    scanned_object,
    stratified_holdout,
)

CLASSES = [f"class{i}" for i in range(8)]


def _cls_best(seed: int) -> Path:
    return Path(paths.best_checkpoint("cls", seed))


def tiny_features(n_train: int = 30, n_test: int = 25, dim: int = 16, seed: int = 0) -> FeatureSet:
    """8 classes; 'pretrained' = well separated clusters, 'random' = pure noise."""
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.repeat(np.arange(8), n_train), np.repeat(np.arange(8), n_test)])
    split = ["train"] * (8 * n_train) + ["test"] * (8 * n_test)
    centres = rng.normal(size=(8, dim)) * 4
    pretrained = (centres[labels] + rng.normal(size=(len(labels), dim))).astype(np.float32)
    random = rng.normal(size=(len(labels), dim)).astype(np.float32)
    ids = [f"obj{i:04d}" for i in range(len(labels))]
    return FeatureSet(pretrained, random, labels, split, ids, CLASSES)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_params(path: Path, **sections) -> Path:
    path.write_text(yaml.safe_dump(sections))
    return path


def test_features_file_roundtrip(workdir: Path):
    fs = tiny_features()
    write_features("f.h5", fs, points=1024)
    back = read_features("f.h5")
    np.testing.assert_array_equal(back.pretrained, fs.pretrained)
    np.testing.assert_array_equal(back.labels, fs.labels)
    assert back.split == fs.split and back.object_ids == fs.object_ids and back.class_names == CLASSES
    assert back.skipped is None and back.attrs["points"] == 1024


def test_stratified_holdout_keeps_classes_and_is_seeded():
    labels = np.array([0] * 10 + [1] * 5 + [2] * 1)
    fit, val = stratified_holdout(labels, 0.2, seed=0)
    assert sorted(np.concatenate([fit, val])) == list(range(16))
    assert (labels[val] == 0).sum() == 2 and (labels[val] == 1).sum() == 1 and (labels[val] == 2).sum() == 0
    assert set(labels[fit]) == {0, 1, 2}
    np.testing.assert_array_equal(val, stratified_holdout(labels, 0.2, seed=0)[1])


def test_linear_svm_stage_separable_vs_noise(workdir: Path):
    for seed in (0, 1):  # one features file per pretraining seed
        write_features(paths.features("toy", seed), tiny_features(seed=seed))
    params = write_params(workdir / "params.yaml", linear_svm={"datasets": ["toy"], "c_grid": [0.01, 1.0]},
                          pretrain={"seeds": [0, 1]})
    assert cli_main(["linear-svm", "--dataset", "toy", "--params", str(params)]) == 0
    m = json.loads(Path(paths.metrics("linear_svm_toy")).read_text())
    assert m["num_train"] == 240 and m["num_test"] == 200 and m["unit"] == "percent"
    assert m["seeds"] == [0, 1] and set(m["per_seed"]) == {"0", "1"} and m["numerics"]["threads"] >= 1
    for key in ("c_paper", "c_val", "c_val_std"):
        for one in m["per_seed"].values():
            assert one["pretrained"][key]["overall_accuracy"] > 95
            assert one["pretrained"][key]["mean_class_accuracy"] > 95
            assert one["random"][key]["overall_accuracy"] < 35  # chance is 12.5
        s = m["summary"][key]["overall_accuracy"]
        values = [one["pretrained"][key]["overall_accuracy"] for one in m["per_seed"].values()]
        assert s["pretrained"]["mean"] == pytest.approx(np.mean(values), abs=1e-3)
        assert s["pretrained"]["std"] == pytest.approx(np.std(values, ddof=1), abs=1e-3)
        assert s["gain"] > 50 and s["significant"] and s["verdict"] == "better"
        low, high = s["gain_ci95"]  # over the 200 test objects: around the gain, and well above zero
        assert 0 < low <= s["gain"] <= high < 100
    first = m["per_seed"]["0"]
    assert first["pretrained"]["c_paper"]["c"] == 0.01
    assert first["pretrained"]["c_val"]["c"] in (0.01, 1.0)
    assert set(first["pretrained"]["c_val"]["cv_accuracy"]) == {"0.01", "1.0"}
    assert set(first["pretrained"]["c_val_std"]["cv_accuracy"]) == {"0.01", "1.0"}
    with open(paths.plots("confusion_toy.csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 200 and set(rows[0]) == {"actual", "predicted"}
    assert {r["actual"] for r in rows} == set(CLASSES)
    assert sum(r["actual"] == r["predicted"] for r in rows) / 200 * 100 == pytest.approx(
        first["pretrained"]["c_paper"]["overall_accuracy"]  # the confusion plot: the first seed's
    )


def test_c_selection_sees_only_train_rows(monkeypatch: pytest.MonkeyPatch):
    fs = tiny_features()
    train = fs.split_mask("train")
    seen: list[tuple[np.ndarray, np.ndarray]] = []
    real = L.select_c

    def spy(x_train, y_train, *args, **kwargs):
        seen.append((x_train.copy(), y_train.copy()))
        return real(x_train, y_train, *args, **kwargs)

    monkeypatch.setattr(L, "select_c", spy)
    prm = L.Params(datasets=["toy"], c_grid=[0.001, 0.1, 10.0])
    m1, _ = L.evaluate_features(fs, prm)
    assert len(seen) == 4  # per init, raw and standardised, each with exactly the train rows
    for i, init in enumerate(("pretrained", "pretrained", "random", "random")):
        np.testing.assert_array_equal(seen[i][0], fs.features(init)[train])
        np.testing.assert_array_equal(seen[i][1], fs.labels[train])

    # scrambling the test split changes test scores but never the chosen C
    scrambled = tiny_features()
    test = scrambled.split_mask("test")
    scrambled.pretrained[test] = np.random.default_rng(9).normal(size=(test.sum(), 16))
    m2, _ = L.evaluate_features(scrambled, prm)
    for proto in ("c_val", "c_val_std"):
        assert m1["pretrained"][proto]["c"] == m2["pretrained"][proto]["c"]
        assert m1["pretrained"][proto]["cv_accuracy"] == m2["pretrained"][proto]["cv_accuracy"]
        assert m2["pretrained"][proto]["overall_accuracy"] < 40


def test_cross_validation_folds_keep_the_scans_of_an_object_together():
    from crosspoint.points.scans import scan_id

    labels = np.repeat(np.arange(3), 40)  # 3 classes x 10 objects x 4 scans
    ids = [scan_id(f"c{c}_{o:02d}", r, 4) for c in range(3) for o in range(10) for r in range(4)]
    groups = [scanned_object(i) for i in ids]
    assert groups[:5] == ["c0_00"] * 4 + ["c0_01"] and scanned_object("chair_0001") == "chair_0001"
    folds = grouped_stratified_folds(labels, groups, 5, seed=0)
    assert sorted(np.concatenate(folds).tolist()) == list(range(120))  # every row in exactly one fold
    for val in folds:
        assert [int((labels[val] == c).sum()) for c in range(3)] == [8, 8, 8]  # 2 objects of each class
        inside = {groups[i] for i in val}
        assert not inside & {groups[i] for i in np.setdiff1d(np.arange(120), val)}  # no object on both sides
    assert [f.tolist() for f in folds] == [f.tolist() for f in grouped_stratified_folds(labels, groups, 5, 0)]
    assert [f.tolist() for f in folds] != [f.tolist() for f in grouped_stratified_folds(labels, groups, 5, 1)]
    with pytest.raises(StageError, match="more than one class"):
        grouped_stratified_folds(np.array([0, 1]), ["a", "a"], 2, 0)


def test_c_selection_does_not_reward_memorising_an_objects_other_scans():
    # 4 near-copies of each object, classes NOT separable across objects: a row split would let a
    # large C look perfect (each validation row has its twins in fitting); grouped folds see chance.
    rng = np.random.default_rng(0)
    n_obj, dim = 40, 64
    obj = rng.normal(size=(n_obj, dim))
    x = np.repeat(obj, 4, axis=0) + 0.01 * rng.normal(size=(4 * n_obj, dim))
    y = np.repeat(np.arange(n_obj) % 2, 4)
    groups = [f"o{i}" for i in range(n_obj) for _ in range(4)]
    _, grouped = L.select_c(x, y, [100.0], 4, seed=0, groups=groups)
    _, rows = L.select_c(x, y, [100.0], 4, seed=0)
    assert rows[100.0] > 0.95 and grouped[100.0] < 0.75


def test_c_selection_is_the_same_on_one_thread_and_on_two(monkeypatch):
    # the fits run on numerics.threads() threads: scores and choice must not depend on it
    rng = np.random.default_rng(4)
    x = rng.normal(size=(90, 12))
    y = (x[:, 0] + 0.8 * rng.normal(size=90) > 0).astype(np.int64) + (x[:, 1] > 0.5)
    grid = [0.001, 0.01, 0.1, 1.0, 10.0]
    monkeypatch.setenv("CROSSPOINT_THREADS", "1")
    one = L.select_c(x, y, grid, 5, seed=0)
    monkeypatch.setenv("CROSSPOINT_THREADS", "2")
    two = L.select_c(x, y, grid, 5, seed=0)
    assert one == two
    assert len(set(one[1].values())) > 1  # the scores differ between Cs, so order mix-ups would show


def test_standardised_protocol_does_not_see_the_scale_of_a_dimension():
    # one informative dimension among noise, shrunk 1000x: the raw SVM at C=1 can no longer use it, the
    # standardised one (scaled by the fitting rows' std, in every fold and in the final fit) is unaffected
    rng = np.random.default_rng(5)
    x = rng.normal(size=(160, 8))
    y = (x[:, 0] > 0).astype(np.int64)
    shrunk = x.copy()
    shrunk[:, 0] *= 1e-3
    fit, test = np.arange(100), np.arange(100, 160)

    def both(z):
        best, scores = L.select_c(z[fit], y[fit], [0.01, 1.0], 4, seed=0, standardize=True)
        metrics, _ = L.evaluate_at(z[fit], y[fit], z[test], y[test], best, standardize=True)
        raw, _ = L.evaluate_at(z[fit], y[fit], z[test], y[test], 1.0)
        return scores, metrics["overall_accuracy"], raw["overall_accuracy"]

    (s1, std1, raw1), (s2, std2, raw2) = both(x), both(shrunk)
    assert s1 == pytest.approx(s2) and std1 == pytest.approx(std2) and std1 > 90
    assert raw1 > 90 and raw2 < 70  # the raw protocol lost the shrunk dimension


def test_bounded_subset_is_stratified_deterministic_and_keeps_scans_together():
    from crosspoint.points.scans import scan_id

    # 4 classes of 30, 20, 8 and 2 objects, 3 scans each: 180 rows
    sizes = [30, 20, 8, 2]
    ids = [scan_id(f"c{c}_{o:02d}", r, 3) for c, n in enumerate(sizes) for o in range(n) for r in range(3)]
    labels = np.array([int(i[1]) for i in ids])
    groups = [scanned_object(i) for i in ids]
    sub = grouped_stratified_subset(labels, groups, 60, seed=0)
    assert np.array_equal(sub, np.sort(sub)) and len(set(sub.tolist())) == len(sub) <= 60
    # each class keeps its share (60 * n_c / 60 objects' rows: 30, 20, 8, 2 -> 90, 60, 24, 6 of 180 rows ->
    # 30, 20, 8, 2 rows), in whole objects: 10, 6 or 7, 2 or 3, at least 1
    per_class = np.bincount(labels[sub], minlength=4).tolist()
    assert per_class[0] == 30 and 18 <= per_class[1] <= 21 and 6 <= per_class[2] <= 9 and per_class[3] == 3
    picked = {groups[i] for i in sub}
    assert all(sum(groups[i] == g for i in sub) == 3 for g in picked)  # every scan of a picked object
    assert np.array_equal(sub, grouped_stratified_subset(labels, groups, 60, seed=0))
    assert not np.array_equal(sub, grouped_stratified_subset(labels, groups, 60, seed=1))
    for bound in (0, 180, 1000):
        assert np.array_equal(grouped_stratified_subset(labels, groups, bound, seed=0), np.arange(180))
    # a tiny bound still keeps one object of every class
    assert set(labels[grouped_stratified_subset(labels, groups, 4, seed=0)].tolist()) == {0, 1, 2, 3}
    with pytest.raises(StageError, match="more than one class"):
        grouped_stratified_subset(np.array([0, 1, 1]), ["a", "a", "b"], 2, 0)


def test_select_c_with_a_bound_above_the_rows_is_the_unbounded_search():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(120, 10))
    y = (x[:, 0] + 0.7 * rng.normal(size=120) > 0).astype(np.int64) + (x[:, 1] > 0.6)
    groups = [f"o{i // 2}" for i in range(120)]
    y = np.repeat(y[::2], 2)  # two rows per object, one label
    grid = [0.001, 0.01, 0.1, 1.0, 10.0]
    unbounded = L.select_c(x, y, grid, 5, seed=0, groups=groups)
    assert len(set(unbounded[1].values())) > 1
    for bound in (120, 500):
        assert L.select_c(x, y, grid, 5, seed=0, groups=groups, max_rows=bound) == unbounded
    # a bound that bites searches exactly the subset's rows
    sub = grouped_stratified_subset(y, groups, 60, seed=0)
    bounded = L.select_c(x, y, grid, 5, seed=0, groups=groups, max_rows=60)
    assert bounded == L.select_c(x[sub], y[sub], grid, 5, seed=0, groups=[groups[i] for i in sub])
    assert bounded != unbounded


def test_bounded_c_search_is_recorded_and_leaves_the_paper_protocol_alone():
    fs = tiny_features()
    n_train = int(fs.split_mask("train").sum())
    prm = L.Params(datasets=["toy"], c_grid=[0.001, 0.1, 10.0])
    full, _ = L.evaluate_features(fs, prm)
    same, _ = L.evaluate_features(fs, dataclasses.replace(prm, c_search_rows=n_train))
    assert json.dumps(full) == json.dumps(same)  # byte for byte, key order included
    bounded, _ = L.evaluate_features(fs, dataclasses.replace(prm, c_search_rows=n_train // 2))
    for init in ("pretrained", "random"):
        assert bounded[init]["c_paper"] == full[init]["c_paper"]
        assert "cv_rows" not in full[init]["c_val"]
        assert 0 < bounded[init]["c_val"]["cv_rows"] <= n_train // 2
    assert L.Params(c_search_rows=-1).check()


def test_select_c_prefers_smaller_c_on_ties():
    fs = tiny_features()
    train = fs.split_mask("train")
    best, scores = L.select_c(fs.pretrained[train], fs.labels[train], [10.0, 1.0, 0.1], 5, seed=0)
    assert all(v == 1.0 for v in scores.values())  # separable: every C is perfect on val
    assert best == 0.1


def skipped_features(name: str) -> None:
    fs = FeatureSet(np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32), np.zeros(0, np.int64), [], [],
                    [], skipped="folder ../shared/data/capod not found")
    write_features(paths.features(name, 0), fs)


def test_skipped_dataset_passes_through(workdir: Path):
    skipped_features("capod")
    params = write_params(workdir / "params.yaml", linear_svm={"datasets": ["capod"]},
                          fewshot={"datasets": ["capod"]})
    assert cli_main(["linear-svm", "--params", str(params)]) == 0
    assert cli_main(["fewshot", "--params", str(params)]) == 0
    reason = {"skipped": "folder ../shared/data/capod not found"}
    assert json.loads(Path(paths.metrics("linear_svm_capod")).read_text()) == reason
    assert json.loads(Path(paths.metrics("fewshot_capod")).read_text()) == reason
    assert Path(paths.plots("confusion_capod.csv")).read_text().strip() == "actual,predicted"


def test_fewshot_stage_separable_vs_noise_and_infeasible_setting(workdir: Path):
    write_features(paths.features("toy", 0), tiny_features())
    params = write_params(workdir / "params.yaml", fewshot={"datasets": ["toy"], "settings": [[5, 10], [10, 10]],
                                                            "runs": 4})
    assert cli_main(["fewshot", "--params", str(params)]) == 0
    m = json.loads(Path(paths.metrics("fewshot_toy")).read_text())
    assert m["dataset"] == "toy" and m["seeds"] == [0]
    assert m["query_split"] == "test" and m["queries"] == 20
    one_seed = m["summary"]["5w10s"]
    assert one_seed["pretrained"]["std"] is None and one_seed["verdict"] == "no spread (one seed)"
    assert "skipped" in m["summary"]["10w10s"]
    s = m["per_seed"]["0"]["settings"]["5w10s"]
    assert one_seed["pretrained"]["mean"] == pytest.approx(s["pretrained"]["mean"], abs=1e-3)
    assert s["pretrained"]["mean"] > 95 and len(s["pretrained"]["runs"]) == 4
    assert s["random"]["mean"] < 45  # chance is 20
    assert s["pretrained"]["std"] == pytest.approx(np.std(s["pretrained"]["runs"]), abs=1e-3)
    skipped = m["per_seed"]["0"]["settings"]["10w10s"]
    assert "skipped" in skipped and "8" in skipped["skipped"]


def test_fewshot_is_seeded_and_upstream_mode_uses_train_queries():
    fs = tiny_features()
    prm = F.Params(datasets=["toy"], settings=[(5, 10)], runs=3, queries=15, query_split="train_upstream")
    a, b = F.evaluate(fs, prm, "toy"), F.evaluate(fs, prm, "toy")
    assert a == b
    support, query = F.pools(fs, "train_upstream")
    np.testing.assert_array_equal(support, query)
    assert fs.split_mask("train")[query].all()
    assert a["settings"]["5w10s"]["pretrained"]["mean"] > 95
    # test queries: the query pool is exactly the test split
    _, q_test = F.pools(fs, "test")
    assert fs.split_mask("test")[q_test].all() and len(q_test) == 200


def test_fewshot_logs_and_records_classes_too_small(workdir: Path, caplog: pytest.LogCaptureFixture):
    full = tiny_features()
    # class1 keeps 12 test objects (< 20 queries), class2 keeps 8 train objects (< 10 shots)
    keep = ~(((full.labels == 1) & full.split_mask("test")) & (np.cumsum(full.labels == 1) > 30 + 12))
    keep &= ~(((full.labels == 2) & full.split_mask("train")) & (np.cumsum(full.labels == 2) > 8))
    idx = np.flatnonzero(keep)
    fs = FeatureSet(full.pretrained[idx], full.random[idx], full.labels[idx], [full.split[i] for i in idx],
                    [full.object_ids[i] for i in idx], CLASSES)
    write_features(paths.features("toy", 0), fs)
    params = write_params(workdir / "params.yaml", fewshot={"datasets": ["toy"], "settings": [[5, 10], [8, 5]],
                                                            "runs": 2})
    with caplog.at_level("WARNING", logger="crosspoint.fewshot"):
        assert cli_main(["fewshot", "--params", str(params)]) == 0
    m = json.loads(Path(paths.metrics("fewshot_toy")).read_text())
    s = m["per_seed"]["0"]["settings"]
    assert s["5w10s"]["skipped_classes"] == [
        {"class": "class1", "support_pool": 30, "query_pool": 12},
        {"class": "class2", "support_pool": 8, "query_pool": 25},
    ]
    assert "skipped" not in s["5w10s"] and s["5w10s"]["pretrained"]["mean"] > 90
    # 5 shots: class2's 8 train objects suffice; 8-way cannot be filled by the 7 classes left
    assert s["8w5s"]["skipped_classes"] == [{"class": "class1", "support_pool": 30, "query_pool": 12}]
    assert "skipped" in s["8w5s"]
    assert m["summary"]["5w10s"]["skipped_classes"] == s["5w10s"]["skipped_classes"]
    assert m["summary"]["8w5s"]["skipped_classes"] == s["8w5s"]["skipped_classes"]
    logged = [r.getMessage() for r in caplog.records if "left out" in r.getMessage()]
    assert any("class class1" in t and "12 in the query pool for 20 queries" in t and "5w10s" in t for t in logged)
    assert any("class class2" in t and "8 objects in the support pool for 10 shots" in t for t in logged)
    # nothing left out: no key (the record of a dataset where every class fits is unchanged)
    full_run = F.evaluate(full, F.Params(datasets=["toy"], settings=[(5, 10)], runs=1), "toy")
    assert "skipped_classes" not in full_run["settings"]["5w10s"]


# ---------------------------------------------------------------------------------------------
# the features stage, with a real (tiny) DGCNN checkpoint


def write_cls_checkpoint(path: Path, emb_dims: int = 16, k: int = 6) -> None:
    import torch

    from crosspoint.models.registry import build_point_encoder

    torch.manual_seed(123)
    encoder = build_point_encoder("dgcnn", k=k, emb_dims=emb_dims)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"point_encoder": encoder.state_dict(), "point_head": None, "image_encoder": None,
                "image_head": None, "model": {"point_model": "dgcnn", "k": k, "emb_dims": emb_dims,
                                              "image_model": "resnet18"}, "epoch": 1, "val_accuracy": 0.0}, path)


def test_features_stage_with_real_encoder(workdir: Path):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _features_stage_checks()
    finally:
        torch.set_num_threads(threads)


def _features_stage_checks() -> None:
    from crosspoint.evaluate import extraction as FE
    from crosspoint.models import encoders
    from crosspoint.store import DatasetMeta, PointSet, write_point_store

    rng = np.random.default_rng(0)
    n = 10
    ps = PointSet(rng.normal(size=(n, 64, 3)).astype(np.float32), np.arange(n) % 2, ["train"] * 6 + ["test"] * 4,
                  [f"o{i}" for i in range(n)], DatasetMeta("test", ["a", "b"]))
    write_point_store(paths.points("toy"), ps)
    write_cls_checkpoint(_cls_best(5))
    prm = FE.Params(datasets=["toy"], points=32, batch_size=4)
    FE.extract("toy", prm, 5)
    fs = read_features(paths.features("toy", 5))
    assert fs.pretrained.shape == (n, 32) and fs.random.shape == (n, 32)  # DGCNN: 2 * emb_dims (max || avg)
    assert not np.allclose(fs.pretrained, fs.random)
    assert fs.split == ps.split and fs.object_ids == ps.object_ids and fs.class_names == ["a", "b"]
    assert fs.attrs["points"] == 32 and fs.attrs["k"] == 6 and fs.attrs["encoder"] == "dgcnn"
    assert fs.attrs["encoder_seed"] == 5
    import torch

    from crosspoint.models.encoders import random_point_encoder
    with torch.no_grad():  # the random-init encoder is the pretraining run's starting point (seed 5)
        start = random_point_encoder({"point_model": "dgcnn", "k": 6, "emb_dims": 16}, 5)
        sub = encoders.point_subset(ps.points, 32, "random", prm.seed)
        np.testing.assert_allclose(start(torch.from_numpy(sub)).numpy(), fs.random, rtol=1e-5, atol=1e-6)
    first = fs.pretrained.copy()
    FE.extract("toy", prm, 5)  # deterministic: same subset, same random init
    again = read_features(paths.features("toy", 5))
    np.testing.assert_allclose(again.pretrained, first, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(again.random, fs.random, rtol=1e-5, atol=1e-6)


def test_point_subset_is_seeded_and_distinct_points():
    from crosspoint.models.encoders import point_subset

    pts = np.arange(2 * 50 * 3, dtype=np.float32).reshape(2, 50, 3)
    a, b = point_subset(pts, 20, "random", 0), point_subset(pts, 20, "random", 0)
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a[0, :, 0])) == 20 and np.isin(a[0], pts[0]).all()
    np.testing.assert_array_equal(point_subset(pts, 20, "first", 0), pts[:, :20])


def test_features_stage_skipped_store(workdir: Path):
    from crosspoint.evaluate import extraction as FE
    from crosspoint.store import DatasetMeta, PointSet, write_point_store

    empty = PointSet(np.zeros((0, 64, 3), np.float32), np.zeros(0, np.int64), [], [], DatasetMeta("mesh_dir", []))
    write_point_store(paths.points("capod"), empty, skipped="../shared/data/capod not found")
    FE.extract("capod", FE.Params(), 0)  # no checkpoint needed for a skipped dataset
    fs = read_features(paths.features("capod", 0))
    assert fs.skipped == "../shared/data/capod not found" and len(fs) == 0


# ---------------------------------------------------------------------------------------------
# few-shot with its own features (fewshot.features: own)


def clustered_store(name: str, per_class: tuple[int, int] = (8, 6), classes: int = 4, points: int = 48) -> None:
    """A tiny point store: each class a differently stretched blob, so even a random DGCNN separates them."""
    from crosspoint.store import DatasetMeta, PointSet, write_point_store

    rng = np.random.default_rng(3)
    n_train, n_test = per_class
    labels = np.concatenate([np.repeat(np.arange(classes), n_train), np.repeat(np.arange(classes), n_test)])
    stretch = np.array([[1, 1, 1], [3, 0.3, 0.3], [0.3, 3, 0.3], [0.3, 0.3, 3]], np.float32)[labels % 4]
    pts = rng.normal(size=(len(labels), points, 3)).astype(np.float32) * stretch[:, None, :]
    split = ["train"] * (classes * n_train) + ["test"] * (classes * n_test)
    ps = PointSet(pts, labels, split, [f"o{i}" for i in range(len(labels))],
                  DatasetMeta("test", [f"c{i}" for i in range(classes)]))
    write_point_store(paths.points(name), ps)


def test_fewshot_own_features_extracts_with_its_points_and_k(workdir: Path):
    import torch

    from crosspoint.models import encoders
    from crosspoint.models.encoders import load_point_encoder
    from crosspoint.store import read_point_store

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        clustered_store("toy")
        write_cls_checkpoint(_cls_best(0), k=6)
        write_cls_checkpoint(_cls_best(1), k=6)
        fewshot = {"datasets": ["toy"], "settings": [[3, 4]], "runs": 2, "queries": 4, "features": "own",
                   "points": 24, "subset": "first", "k": 4, "batch_size": 8}
        params = write_params(workdir / "params.yaml", fewshot=fewshot, pretrain={"seeds": [0, 1]})
        # no features files exist: own mode reads only the points store and the checkpoints
        assert cli_main(["fewshot", "--params", str(params)]) == 0
        m = json.loads(Path(paths.metrics("fewshot_toy")).read_text())
        assert m["features"] == {"source": "own", "points": 24, "subset": "first", "k": 4}
        assert set(m["per_seed"]) == {"0", "1"} and "skipped" not in m["summary"]["3w4s"]
        # what it scored is frozen_features on the store with the section's settings
        prm = F.Params(**{**fewshot, "settings": [(3, 4)]})
        fs = F.own_features("toy", prm, 0)
        ps = read_point_store(paths.points("toy"))
        pre, rnd, cfg = encoders.frozen_features(ps.points, _cls_best(0), 0, points=24, subset="first",
                                           subset_seed=0, batch_size=8, k=4)
        np.testing.assert_array_equal(fs.pretrained, pre)
        np.testing.assert_array_equal(fs.random, rnd)
        assert cfg["k"] == 4 and fs.split == ps.split and fs.class_names == ps.meta.class_names
        # k changes the graph, not the weights: the checkpoint's own k gives other features
        same_k, _, cfg6 = encoders.frozen_features(ps.points, _cls_best(0), 0, points=24, subset="first",
                                             subset_seed=0, batch_size=8)
        assert cfg6["k"] == 6 and not np.allclose(same_k, pre)
        enc, start, _ = encoders.load_encoders(_cls_best(0), 0, k=4)
        ref, _ = load_point_encoder(_cls_best(0))
        assert enc.k == 4 and start.k == 4
        for key, value in ref.state_dict().items():
            torch.testing.assert_close(enc.state_dict()[key], value)
    finally:
        torch.set_num_threads(threads)


def test_fewshot_own_features_skipped_store_and_missing_checkpoint(workdir: Path):
    from crosspoint.store import DatasetMeta, PointSet, StageError, write_point_store

    empty = PointSet(np.zeros((0, 64, 3), np.float32), np.zeros(0, np.int64), [], [], DatasetMeta("scanobjectnn", []))
    write_point_store(paths.points("scanobjectnn"), empty, skipped="ScanObjectNN files not found")
    params = write_params(workdir / "params.yaml", fewshot={"datasets": ["scanobjectnn"], "features": "own"})
    assert cli_main(["fewshot", "--params", str(params)]) == 0  # no checkpoint needed for a skipped dataset
    assert json.loads(Path(paths.metrics("fewshot_scanobjectnn")).read_text()) == {
        "skipped": "ScanObjectNN files not found"}
    clustered_store("toy")
    with pytest.raises(StageError, match="pretrained encoder not found"):
        F.own_features("toy", F.Params(features="own", points=24), 0)
    with pytest.raises(StageError, match="fewshot.points=64 but .* only 48 points"):
        F.own_features("toy", F.Params(features="own", points=64), 0)
    with pytest.raises(StageError, match="fewshot.checkpoint not found"):
        F.own_features("toy", F.Params(features="own", points=24, checkpoint="nope.pt"), 0)
    assert F.Params(features="own", k=5).check() == []
    assert any("features" in p for p in F.Params(features="mine").check())
    assert any("k must" in p for p in F.Params(k=0).check())
