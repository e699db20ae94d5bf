"""The procedural synthetic mesh source."""

from __future__ import annotations

import numpy as np
import pytest

from crosspoint import config
from crosspoint.sources import synthetic as S


def _area(item) -> np.ndarray:
    v = item.vertices.astype(np.float64)
    a, b, c = (v[item.faces[:, k]] for k in range(3))
    return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


def test_at_least_twelve_classes_with_fixed_part_vocabularies():
    assert len(S.CLASSES) >= 12
    assert set(S.CLASS_PARTS) == set(S.OPTIONAL_PARTS) == set(S.CLASSES)
    for c, parts in S.CLASS_PARTS.items():
        assert len(set(parts)) == len(parts) >= 2, c
        assert set(S.OPTIONAL_PARTS[c]) < set(parts), c  # at least one mandatory part
    # legs are shared between several classes, so "has legs" does not give the class away
    assert sum("leg" in p for p in S.CLASS_PARTS.values()) >= 4


def test_deterministic_for_a_seed():
    for c in ("chair", "airplane", "vase"):
        a, b = S.generate_object(c, 3, seed=7), S.generate_object(c, 3, seed=7)
        for field in ("vertices", "faces", "face_parts", "face_colors"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        other = S.generate_object(c, 3, seed=8)
        assert a.vertices.shape != other.vertices.shape or not np.allclose(a.vertices, other.vertices)


def test_objects_do_not_depend_on_the_set_size_or_class_selection():
    small = S.SyntheticSource(S.Params(classes=["table", "mug"], objects_per_class=4, seed=3))
    large = S.SyntheticSource(S.Params(classes=["mug"], objects_per_class=9, seed=3))
    mug_small = {it.object_id: it for it in small.items() if it.class_name == "mug"}
    mug_large = {it.object_id: it for it in large.items()}
    for oid, it in mug_small.items():
        np.testing.assert_array_equal(it.vertices, mug_large[oid].vertices)


def test_split_is_the_last_fraction_of_each_class():
    src = S.SyntheticSource(S.Params(classes=["bottle", "guitar"], objects_per_class=10, test_fraction=0.3))
    items = list(src.items())
    assert len(items) == len(src) == 20
    for c in ("bottle", "guitar"):
        splits = [it.split for it in items if it.class_name == c]
        assert splits == ["train"] * 7 + ["test"] * 3
    assert items[0].object_id == "bottle_0000" and items[-1].object_id == "guitar_0009"


@pytest.mark.parametrize("class_name", S.CLASSES)
def test_every_class_has_its_parts_and_valid_meshes(class_name):
    parts = S.CLASS_PARTS[class_name]
    mandatory = [i for i, p in enumerate(parts) if p not in S.OPTIONAL_PARTS[class_name]]
    seen: set[int] = set()
    for i in range(6):
        it = S.generate_object(class_name, i, seed=0)
        assert it.class_name == class_name and it.part_names == parts
        assert it.vertices.dtype == np.float32 and it.vertices.shape[1] == 3
        assert np.all(np.isfinite(it.vertices))
        assert it.faces.min() >= 0 and it.faces.max() < len(it.vertices)
        assert it.face_parts.shape == (len(it.faces),)
        assert it.face_parts.min() >= 0 and it.face_parts.max() < len(parts)
        assert it.face_colors.shape == (len(it.faces), 3) and it.face_colors.dtype == np.uint8
        area = _area(it)
        assert area.sum() > 0
        for p in mandatory:  # every mandatory part is there, with real surface
            assert area[it.face_parts == p].sum() > 1e-4 * area.sum(), (it.object_id, parts[p])
        seen |= set(np.unique(it.face_parts).tolist())
    assert len(seen) >= len(mandatory)


@pytest.mark.parametrize("class_name", S.CLASSES)
def test_intra_class_variation(class_name):
    def proportions(i: int) -> np.ndarray:
        v = S.generate_object(class_name, i, seed=0).vertices
        ext = np.ptp(v, axis=0)
        return ext / ext.max()

    props = np.array([proportions(i) for i in range(4)])
    assert np.ptp(props, axis=0).max() > 0.03


def test_deformation_amplitude_zero_keeps_the_shape_of_the_parts():
    flat = S.generate_object("bookshelf", 0, seed=0, deform=0.0)
    bent = S.generate_object("bookshelf", 0, seed=0, deform=0.3)
    np.testing.assert_array_equal(flat.faces, bent.faces)
    assert not np.allclose(flat.vertices, bent.vertices)
    # a bookshelf is made of axis-aligned boxes: without deformation every face normal is along an axis
    def axis_aligned_share(it) -> float:
        v = it.vertices.astype(np.float64)
        n = np.cross(v[it.faces[:, 1]] - v[it.faces[:, 0]], v[it.faces[:, 2]] - v[it.faces[:, 0]])
        n /= np.linalg.norm(n, axis=1, keepdims=True)
        return float(np.mean(np.abs(n).max(axis=1) > 1 - 1e-6))

    assert axis_aligned_share(flat) == 1.0
    assert axis_aligned_share(bent) < 0.9


def test_default_size_supports_20_shot_evaluation():
    p = S.Params()
    assert p.classes == S.CLASSES
    n_test = round(p.test_fraction * p.objects_per_class)
    assert n_test >= 20 and p.objects_per_class - n_test >= 20
    assert 800 <= len(S.SyntheticSource(p)) <= 1000


def test_params_validation():
    with pytest.raises(config.ParamsError, match="unknown teapot"):
        config.parse_section(S.Params, {"source": "synthetic", "classes": ["chair", "teapot"]}, "datasets.synth")
    with pytest.raises(config.ParamsError, match="test_fraction"):
        config.parse_section(S.Params, {"test_fraction": 1.5}, "datasets.synth")
    p = config.parse_section(S.Params, {"source": "synthetic", "objects_per_class": 5, "required": False}, "d")
    assert p.objects_per_class == 5


def test_params_yaml_entry_is_valid(repo_root):
    raw = config.load_params(repo_root / "params.yaml")["datasets"]["synth"]
    p = config.parse_section(S.Params, raw, "datasets.synth")
    assert p.source == "synthetic" and p.classes == S.CLASSES
