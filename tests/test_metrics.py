"""Metric code against hand-computed numbers and independent reference computations."""

from __future__ import annotations

import numpy as np
import pytest

from crosspoint import metrics as M


def test_accuracy_and_mean_class_accuracy_hand_case():
    y_true = np.array([0, 0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 0, 1])
    # 4 of 7 right; class recalls 3/4, 1/2, 0/1
    assert M.accuracy(y_true, y_pred) == pytest.approx(4 / 7)
    assert M.mean_class_accuracy(y_true, y_pred) == pytest.approx((0.75 + 0.5 + 0.0) / 3)
    assert M.per_class_accuracy(y_true, y_pred) == {0: 0.75, 1: 0.5, 2: 0.0}


def test_mean_class_accuracy_matches_sklearn_balanced_accuracy():
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 6, 200)
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, 6, 200))
    assert M.mean_class_accuracy(y_true, y_pred) == pytest.approx(balanced_accuracy_score(y_true, y_pred))


def test_accuracy_rejects_empty_and_mismatched():
    with pytest.raises(ValueError):
        M.accuracy(np.array([]), np.array([]))
    with pytest.raises(ValueError):
        M.accuracy(np.array([1, 2]), np.array([1]))


def test_confusion_matrix_rows_are_actual():
    y_true = np.array([0, 0, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 2, 0, 2])
    cm = M.confusion_matrix(y_true, y_pred, 4)
    expected = np.zeros((4, 4), int)
    expected[0, 0] = 1
    expected[0, 1] = 1
    expected[1, 1] = 1
    expected[2, 2] = 2
    expected[2, 0] = 1
    np.testing.assert_array_equal(cm, expected)
    from sklearn.metrics import confusion_matrix as sk_cm

    np.testing.assert_array_equal(cm, sk_cm(y_true, y_pred, labels=range(4)))


def test_part_iou_absent_rules():
    # category parts 3, 4, 5, 6
    truth = np.array([3, 3, 3, 4, 4, 4])
    pred = np.array([3, 3, 4, 4, 4, 6])
    ious = M.part_ious(pred, truth, [3, 4, 5, 6])
    # part 3: inter 2, union 3; part 4: inter 2 (idx 3, 4), union 4 (idx 2..5)
    # part 5: absent in both -> 1; part 6: predicted, absent in truth -> 0
    np.testing.assert_allclose(ious, [2 / 3, 2 / 4, 1.0, 0.0])
    assert M.shape_miou(pred, truth, [3, 4, 5, 6]) == pytest.approx((2 / 3 + 0.5 + 1 + 0) / 4)


def test_part_iou_present_in_truth_but_missed_is_zero():
    truth = np.array([0, 0, 1, 1])
    pred = np.array([0, 0, 0, 0])
    np.testing.assert_allclose(M.part_ious(pred, truth, [0, 1]), [0.5, 0.0])


def test_instance_and_class_miou_averaging():
    parts = {0: [0, 1], 1: [2, 3]}
    truths = [np.array([0, 0, 1, 1]), np.array([0, 0, 0, 0]), np.array([2, 2, 3, 3])]
    preds = [np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1]), np.array([2, 3, 3, 3])]
    cats = [0, 0, 1]
    # shape 0: [1, 1] -> 1; shape 1: part 0 2/4, part 1 0 -> 0.25; shape 2: part 2 1/2, part 3 2/3
    s2 = (0.5 + 2 / 3) / 2
    scores = M.segmentation_scores(preds, truths, cats, parts)
    np.testing.assert_allclose(scores.shape_mious, [1.0, 0.25, s2])
    assert scores.instance_miou == pytest.approx((1.0 + 0.25 + s2) / 3)
    assert scores.class_miou == pytest.approx(((1.0 + 0.25) / 2 + s2) / 2)
    assert scores.per_category == pytest.approx({0: 0.625, 1: s2})


def _labels(per_class: list[int]) -> np.ndarray:
    return np.concatenate([np.full(n, c) for c, n in enumerate(per_class)])


def test_episode_sampler_counts_and_disjoint_pools():
    labels = np.tile(_labels([30] * 8), 2)
    train = np.arange(240)
    test = np.arange(240, 480)
    rng = np.random.default_rng(0)
    for _ in range(20):
        ep = M.sample_episode(labels, train, test, way=5, shot=10, queries=20, rng=rng)
        assert len(np.unique(ep.classes)) == 5
        assert len(ep.support) == 50 and len(ep.query) == 100
        assert len(np.unique(ep.support)) == 50 and len(np.unique(ep.query)) == 100
        assert np.isin(ep.support, train).all() and np.isin(ep.query, test).all()
        for c in ep.classes:
            assert (labels[ep.support] == c).sum() == 10
            assert (labels[ep.query] == c).sum() == 20
        assert set(labels[ep.support]) == set(ep.classes) == set(labels[ep.query])


def test_episode_sampler_same_pool_never_reuses_support_as_query():
    # 30 objects per class in one pool: shot 10 + 20 queries uses every object of a class
    labels = _labels([30] * 6)
    pool = np.arange(len(labels))
    rng = np.random.default_rng(1)
    for _ in range(30):
        ep = M.sample_episode(labels, pool, pool, way=6, shot=10, queries=20, rng=rng)
        assert not np.intersect1d(ep.support, ep.query).size
        assert len(ep.query) == 120


def test_episode_sampler_is_seeded():
    labels = _labels([25] * 10)
    pool = np.arange(len(labels))
    a = M.sample_episode(labels, pool, pool, 5, 5, 10, np.random.default_rng(7))
    b = M.sample_episode(labels, pool, pool, 5, 5, 10, np.random.default_rng(7))
    c = M.sample_episode(labels, pool, pool, 5, 5, 10, np.random.default_rng(8))
    np.testing.assert_array_equal(a.support, b.support)
    np.testing.assert_array_equal(a.query, b.query)
    assert not np.array_equal(a.support, c.support)


def test_episode_sampler_skips_small_classes_and_fails_when_too_few():
    labels = _labels([30, 30, 30, 5])  # class 3 cannot give 10 support objects
    pool = np.arange(len(labels))
    assert list(M.eligible_classes(labels, pool, pool, shot=10, queries=20)) == [0, 1, 2]
    assert list(M.eligible_classes(labels, pool, pool, shot=10, queries=21)) == []
    with pytest.raises(ValueError, match="only 3"):
        M.sample_episode(labels, pool, pool, 4, 10, 20, np.random.default_rng(0))


def test_the_p_value_is_welchs_two_sided_one():
    """Against the formulas, on samples where Student's t, a one-sided test and Welch's two-sided one differ:
    t = (ma - mb) / sqrt(va/na + vb/nb), Welch-Satterthwaite degrees of freedom, p = 2 P(T > |t|)."""
    from scipy import stats

    from crosspoint.metrics import compare_over_seeds

    a, b = [91.0, 92.5, 90.0], [85.0, 70.0, 78.0, 88.0, 60.0]
    ma, mb = sum(a) / 3, sum(b) / 5
    va = sum((x - ma) ** 2 for x in a) / 2
    vb = sum((x - mb) ** 2 for x in b) / 4
    se2 = va / 3 + vb / 5
    t = (ma - mb) / se2 ** 0.5
    df = se2 ** 2 / ((va / 3) ** 2 / 2 + (vb / 5) ** 2 / 4)
    welch = 2 * stats.t.sf(abs(t), df)
    got = compare_over_seeds(a, b)["p_value"]
    assert got == pytest.approx(welch, rel=1e-9)
    student = stats.ttest_ind(a, b, equal_var=True).pvalue
    assert abs(student - welch) > 0.005 and abs(welch / 2 - welch) > 0.005  # the alternatives would not pass
