"""The ablation grid's pieces: params overrides, the comparison against the baseline over seeds and the
table it renders (the grid itself runs end to end in tests/test_e2e.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosspoint import config
from crosspoint.config import ParamsError
from crosspoint.reporting.rows import Row
from crosspoint.store import StageError
from crosspoint.tools import ablation as A
from crosspoint.tools import ablation_grid as G
from crosspoint.tools import comparison as C

REPO = Path(__file__).resolve().parents[1]


def test_default_grid_is_the_papers_and_valid():
    params = config.load_params(REPO / "params.yaml")
    prm = config.section("ablation", G.Params, params=params)
    assert set(prm.variants) == {"both", "imid_only", "cmid_only", "pointnet", "pointnet_imid_only",
                                 "pointnet_cmid_only"}
    assert prm.variants["both"] == {} and prm.baseline == "both"
    for name, overrides in prm.variants.items():
        v = G.variant_params(params, overrides)  # every override names an existing key and validates
        assert (v["pretrain"]["w_cmid"] == 0) == name.endswith("imid_only")
        assert (v["pretrain"]["w_imid"] == 0) == name.endswith("cmid_only")
        assert (v["pretrain"]["cls"]["point_model"] == "pointnet") == name.startswith("pointnet")
    assert params["pretrain"]["w_cmid"] == 1.0  # the base is not modified


def test_overrides_of_missing_keys_and_bad_grids_are_rejected():
    params = config.load_params(REPO / "params.yaml")
    with pytest.raises(StageError, match="pretrain.w_xyz"):
        G.variant_params(params, {"pretrain.w_xyz": 0.0})
    with pytest.raises(ParamsError, match="baseline"):
        config.parse_section(G.Params, {"variants": {"a": {}}, "baseline": "both"}, "ablation")
    with pytest.raises(ParamsError, match="no overrides"):
        config.parse_section(G.Params, {"variants": {"both": {"pretrain.w_imid": 0.0}}}, "ablation")
    with pytest.raises(ParamsError, match="targets"):
        config.parse_section(G.Params, {"variants": {"both": {}}, "targets": ["render"]}, "ablation")


def test_dvc_set_args_and_snakemake_targets():
    assert G._set_args({"pretrain.w_cmid": 0.0, "pretrain.cls.point_model": "pointnet"}) == [
        "-S", "pretrain.w_cmid=0.0", "-S", 'pretrain.cls.point_model="pointnet"']
    params = {"linear_svm": {"datasets": ["a"]}, "fewshot": {"datasets": ["b"]}, "pretrain": {"seeds": [0, 1]}}
    assert A.snakemake_targets(["linear_svm", "fewshot", "partseg", "report"], params) == [
        "results/metrics/linear_svm_a.json", "results/metrics/fewshot_b.json", "results/metrics/partseg/seed-0.json",
        "results/metrics/partseg/seed-1.json", "results/tables/summary.csv"]


def _row(values: tuple[float, ...], rnd: float = 50.0) -> Row:
    mean = sum(values) / len(values)
    return Row("linear_svm", "synth", "overall_accuracy (C=val)", pretrained=mean, pretrained_std=1.0,
               random_init=rnd, random_init_std=0.5, pretrained_values=values)


def test_comparison_against_the_baseline_over_seeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    rows = {"both": {"svm.synth.oa_val": _row((90.0, 91.0, 92.0))},
            "imid_only": {"svm.synth.oa_val": _row((80.0, 81.0, 82.0))},  # clearly worse
            "cmid_only": {"svm.synth.oa_val": _row((89.5, 91.5, 92.0))}}  # within the spread
    table = C.compare_cells(rows, "both")
    cells = table["svm.synth.oa_val"]
    assert cells["both"].verdict == "" and cells["both"].p_value is None
    assert cells["imid_only"].verdict == "worse" and cells["imid_only"].p_value < 0.05
    assert cells["cmid_only"].verdict == "" and cells["cmid_only"].p_value > 0.05
    assert cells["random init"].mean == 50.0
    text = C.markdown(table, ["both", "imid_only", "cmid_only"], "both",
                      {"both": {}, "imid_only": {"pretrain.w_cmid": 0.0}, "cmid_only": {"pretrain.w_imid": 0.0}}, 3)
    line = next(s for s in text.splitlines() if s.startswith("| svm.synth.oa_val"))
    # two tests in the table: Holm doubles the smaller p (and takes the larger as it is, at least that)
    imid, cmid = cells["imid_only"], cells["cmid_only"]
    assert imid.p_holm == round(min(1.0, 2 * imid.p_value), 4) and cmid.p_holm == round(max(cmid.p_value, imid.p_holm), 4)
    assert "over the 2 tests of this table" in text
    assert line.split(" | ")[1:] == ["91.0 ± 1.0", f"81.0 ± 1.0 **worse** ({imid.p_holm:.3f}; {imid.p_value:.3f})",
                                     "91.0 ± 1.0", "50.0 ± 0.5 |"]
    assert "`pretrain.w_cmid=0.0`" in text
    monkeypatch.chdir(tmp_path)
    C.figure(table, ["both", "imid_only", "cmid_only"], tmp_path / "ablation.png")
    assert (tmp_path / "ablation.png").stat().st_size > 5000


def test_variant_directory_links_the_data_and_resolves_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    params = config.load_params(REPO / "params.yaml")
    monkeypatch.chdir(tmp_path)
    for sub in G.SHARED_DATA:
        (tmp_path / "data" / sub).mkdir(parents=True)
    work = A.prepare_variant_dir("imid_only", {"pretrain.w_cmid": 0.0}, params)
    assert work == Path("ablation/imid_only")
    for sub in G.SHARED_DATA:
        assert (work / "data" / sub).is_symlink() and (work / "data" / sub).resolve() == tmp_path / "data" / sub
    written = config.load_params(work / "params.yaml")
    assert written["pretrain"]["w_cmid"] == 0.0
    assert Path(written["datasets"]["capod"]["path"]).is_absolute()
    A.prepare_variant_dir("imid_only", {"pretrain.w_cmid": 0.0}, params)  # again: idempotent


def test_changed_params_lists_dotted_keys():
    base = {"pretrain": {"w_cmid": 1.0, "cls": {"points": 256, "k": 16}}, "fewshot": {"runs": 10}}
    other = {"pretrain": {"w_cmid": 0.0, "cls": {"points": 256, "k": 20}}, "fewshot": {"runs": 10}}
    assert C.changed_params(base, other) == {"pretrain.cls.k": 20, "pretrain.w_cmid": 0.0}
    assert C.changed_params(base, base) == {}
