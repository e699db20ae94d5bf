"""The report stage: summary tables from hand-written metrics files, and its figures."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from crosspoint import paths
from crosspoint.feature_files import FeatureSet, write_features
from crosspoint.reporting import figures as F
from crosspoint.reporting import rows as RW
from crosspoint.reporting import summary as R
from crosspoint.reporting import tables as T
from crosspoint.store import write_json


def svm_seed(pre: float, rnd: float) -> dict:
    def at(c: float, oa: float) -> dict:
        return {"c": c, "overall_accuracy": oa, "mean_class_accuracy": oa - 2.0}

    return {
        "pretrained": {"c_paper": at(0.01, pre), "c_val": {**at(0.1, pre + 1), "cv_accuracy": {"0.1": 90.0}},
                       "c_val_std": {**at(0.01, pre + 2), "cv_accuracy": {"0.01": 91.0}}},
        "random": {"c_paper": at(0.01, rnd), "c_val": {**at(1.0, rnd + 3), "cv_accuracy": {"1.0": 40.0}},
                   "c_val_std": {**at(1.0, rnd + 4), "cv_accuracy": {"1.0": 45.0}}},
    }


def svm_metrics(pre: float, rnd: float) -> dict:
    """Two seeds: pretrained at pre -/+ 1, random init at rnd -/+ 0.5 (so the means are pre, rnd)."""
    from crosspoint.evaluate.linear_svm import summarize

    per_seed = {"0": svm_seed(pre - 1, rnd - 0.5), "1": svm_seed(pre + 1, rnd + 0.5)}
    return {"seeds": [0, 1], "summary": summarize(per_seed), "per_seed": per_seed}


def fewshot_seed(pre: float, rnd: float) -> dict:
    return {"settings": {
        "5w10s": {"way": 5, "shot": 10, "pretrained": {"mean": pre, "std": 4.0, "runs": []},
                  "random": {"mean": rnd, "std": 6.25, "runs": []}},
        "10w10s": {"way": 10, "shot": 10, "skipped": "needs 10 classes; synth has 8"},
    }}


def fewshot_metrics() -> dict:
    from crosspoint.evaluate.fewshot import summarize

    per_seed = {"0": fewshot_seed(89.0, 35.0), "1": fewshot_seed(91.0, 36.0)}
    return {"dataset": "synth", "query_split": "test", "queries": 20, "runs": 10, "c": 1.0, "seeds": [0, 1],
            "summary": summarize(per_seed), "per_seed": per_seed}


FEWSHOT = fewshot_metrics()
PARTSEG = [{"epochs": 3, "points": 256, "pretrained": {"instance_miou": 70.25 + d, "class_miou": 66.0},
            "scratch": {"instance_miou": 60.0 - d, "class_miou": 61.5}} for d in (-0.5, 0.5)]


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write_json(paths.metrics("linear_svm_synth"), svm_metrics(85.0, 40.0))
    write_json(paths.metrics("linear_svm_modelnet40"), svm_metrics(88.5, 30.25))
    write_json(paths.metrics("linear_svm_capod"), {"skipped": "folder not found"})
    write_json(paths.metrics("fewshot_synth"), FEWSHOT)
    for seed, m in enumerate(PARTSEG):
        write_json(paths.partseg_metrics(seed), m)
    return tmp_path


PLAN = RW.Plan(["synth", "modelnet40", "capod"], ["synth"], ["5w10s", "10w10s"], "synth", [0, 1])


def by_key(rows: list[dict]) -> dict[tuple[str, str, str], dict]:
    return {(r["evaluation"], r["dataset"], r["metric"]): r for r in rows}


def test_svm_files_without_the_standardised_protocol_still_report(results: Path):
    m = svm_metrics(85.0, 40.0)
    for seed in m["per_seed"].values():
        for init in seed.values():
            del init["c_val_std"]
    del m["summary"]["c_val_std"]
    rows = RW.linear_svm_rows("synth", m)
    assert [r.metric for r in rows] == [f"{measure} (C={proto})" for proto in ("paper", "val")
                                        for measure in ("overall_accuracy", "mean_class_accuracy")]


def test_summary_tables(results: Path):
    rows = RW.build_rows(PLAN)
    T.write_tables(rows, paths.tables("summary.csv"), paths.tables("summary.md"))
    with open(paths.tables("summary.csv"), newline="") as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == RW.COLUMNS
    assert len(table) == 6 + 6 + 1 + 2 + 2  # svm synth, svm modelnet40 (3 protocols x 2), capod skipped, fewshot, partseg
    t = by_key(table)

    syn = t[("linear_svm", "synth", "overall_accuracy (C=paper)")]
    assert float(syn["gain"]) == pytest.approx(45.0) and syn["paper"] == ""
    assert float(syn["paper_reference"]) == 91.2 and "stands in for ModelNet40" in syn["note"]
    val = t[("linear_svm", "synth", "overall_accuracy (C=val)")]
    assert float(val["pretrained"]) == 86.0 and float(val["random_init"]) == 43.0
    assert float(val["gain"]) == pytest.approx(43.0) and val["paper"] == "" and val["paper_reference"] == ""
    assert "C=0.1 (pretrained), C=1 (random init)" in val["note"]

    mn = t[("linear_svm", "modelnet40", "overall_accuracy (C=paper)")]
    assert float(mn["paper"]) == 91.2 and mn["paper_reference"] == ""
    assert float(mn["gain"]) == pytest.approx(88.5 - 30.25)
    assert t[("linear_svm", "modelnet40", "mean_class_accuracy (C=paper)")]["paper"] == ""

    capod = t[("linear_svm", "capod", "overall_accuracy")]
    assert capod["pretrained"] == "" and capod["gain"] == "" and "skipped: folder not found" in capod["note"]

    fs = t[("fewshot", "synth", "accuracy 5w10s")]
    assert float(fs["pretrained"]) == 90.0 and float(fs["pretrained_std"]) == pytest.approx(2 ** 0.5, abs=0.01)
    assert float(fs["random_init"]) == 35.5 and float(fs["gain"]) == pytest.approx(54.5)
    assert fs["significant"] == "better" and float(fs["p_value"]) < 0.05 and fs["seeds"] == "2"
    assert float(fs["paper_reference"]) == 92.5 and "92.5 ± 3.0, random init 31.6" in fs["note"]
    assert "queries from the test split" in fs["note"]
    assert "skipped" in t[("fewshot", "synth", "accuracy 10w10s")]["note"]

    inst = t[("partseg", "synth", "instance_miou")]
    assert float(inst["gain"]) == pytest.approx(10.25) and float(inst["paper_reference"]) == 85.5
    cls = t[("partseg", "synth", "class_miou")]
    assert float(cls["gain"]) == pytest.approx(4.5) and cls["paper_reference"] == ""
    assert cls["pretrained_std"] == "0.00" and float(cls["p_value"]) == 0.0 and cls["significant"] == "better"

    md = Path(paths.tables("summary.md")).read_text()
    assert md.count("\n| ") == 2 + len(table)  # two tables (the paper's datasets, then the rest): header + rows
    paper_part, _, side_part = md.partition("## Pipeline datasets")
    assert "## The paper's datasets" in paper_part and "| linear_svm | modelnet40 |" in paper_part
    assert "| synth |" not in paper_part and "| modelnet40 |" not in side_part
    assert "| fewshot | synth | accuracy 5w10s | 90.0 ± 1.4 | 35.5 ± 0.7 | +54.5 |" in md
    assert "| linear_svm | modelnet40 | overall_accuracy (C=paper) | 88.5 ± 1.4 | 30.2 ± 0.7 | +58.2 |" in md
    assert "mean ± std over 2 pretraining seeds" in md


def test_gain_equals_difference_on_every_row(results: Path):
    for r in RW.build_rows(PLAN):
        if r.pretrained is not None:
            assert r.gain == pytest.approx(r.pretrained - r.random_init, abs=0.011)


def test_missing_metrics_file_is_a_stage_error(results: Path):
    from crosspoint.store import StageError

    with pytest.raises(StageError, match="linear_svm_scanobjectnn"):
        RW.build_rows(RW.Plan(["scanobjectnn"], [], [], None, [0]))


def test_report_stage_with_figures(results: Path):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 12)
    pre = (np.eye(4)[labels] * 5 + rng.normal(size=(48, 4))).astype(np.float32)
    fs = FeatureSet(pre, rng.normal(size=(48, 4)).astype(np.float32), labels, ["test"] * 48,
                    [str(i) for i in range(48)], ["a", "b", "c", "d"])
    write_features(paths.features("synth", 0), fs)
    Path(paths.plots("confusion_synth.csv")).parent.mkdir(parents=True, exist_ok=True)
    Path(paths.plots("confusion_synth.csv")).write_text("actual,predicted\na,a\na,b\nb,b\nc,c\nd,d\n")
    params = {"linear_svm": {"datasets": ["synth", "capod"]}, "fewshot": {"datasets": ["synth"], "settings": [[5, 10], [10, 10]]},
              "partseg": {}, "pretrain": {"seeds": [0, 1]}}
    rows = R.run(RW.Params(tsne_dataset="synth", tsne_max_points=40, perplexity=5.0), RW.plan_from_params(params))
    assert len(rows) == 6 + 1 + 2 + 2
    for name in ("tsne_synth.png", "confusion_synth.png"):
        assert Path(paths.figures(name)).stat().st_size > 5000
    assert json.loads(Path(paths.metrics("fewshot_synth")).read_text()) == FEWSHOT  # inputs untouched
    # the headline metrics file: one entry per reported (not skipped) summary row
    head = json.loads(Path(RW.HEADLINE).read_text())
    reported = [r for r in rows if r.pretrained is not None]
    flat = {f"{e}.{d}.{m}": v for e, ds in head.items() for d, ms in ds.items() for m, v in ms.items()}
    assert set(flat) == {r.key for r in reported}
    for r in reported:
        entry = flat[r.key]
        assert entry["pre"] == r.pretrained and entry["rand"] == r.random_init and entry["gain"] == r.gain
        assert entry["sig"] == {"better": 1, "worse": -1}.get(r.significant, 0)
    assert head["svm"]["synth"]["oa_val"]["pre_sd"] == pytest.approx(1.41, abs=0.01)
    assert entry["p"] == r.p_value and entry["p_holm"] == r.p_holm
    # the run's DVC metrics file: gain and corrected verdict of the primary rows only (capod is skipped)
    prim = json.loads(Path(RW.PRIMARY).read_text())
    assert prim == {"svm": {"synth": {"oa_val": {k: head["svm"]["synth"]["oa_val"][k] for k in ("gain", "sig")}}},
                    "fewshot": {"synth": {"5w10s": {k: head["fewshot"]["synth"]["5w10s"][k] for k in ("gain", "sig")}}},
                    "partseg": {"synth": {"instance_miou": {k: head["partseg"]["synth"]["instance_miou"][k]
                                                            for k in ("gain", "sig")}}}}
    assert (head["svm"]["synth"]["oa_val_std"]["pre"], head["svm"]["synth"]["oa_val_std"]["rand"]) == (87.0, 44.0)
    # training curves: placeholders without DVCLive files, real figures with them
    for name in ("pretrain_curves.png", "partseg_curves.png"):
        assert Path(paths.figures(name)).stat().st_size > 1000


def test_row_keys_are_short_and_unique(results: Path):
    rows = RW.build_rows(PLAN)
    keys = [r.key for r in rows if r.pretrained is not None]
    assert len(keys) == len(set(keys))
    assert "svm.synth.oa_val" in keys and "svm.modelnet40.mca_paper" in keys
    assert "fewshot.synth.5w10s" in keys and "partseg.synth.instance_miou" in keys


def test_training_curve_figures_from_dvclive_and_partseg_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    for variant in ("cls", "seg"):
        for seed in (0, 1):
            live = Path(paths.pretrain_live(variant, seed)) / "plots" / "metrics"
            (live / "train").mkdir(parents=True)
            (live / "val").mkdir(parents=True)
            (live / "train" / "loss.tsv").write_text("step\tloss\n1\t8.5\n2\t7.0\n")
            (live / "val" / "accuracy.tsv").write_text("step\taccuracy\n0\t0.5\n2\t0.8\n")
        Path(paths.partseg_curves(0)).parent.mkdir(parents=True, exist_ok=True)
    Path(paths.partseg_curves(0)).write_text(
        "epoch,pretrained_val_instance_miou,scratch_val_instance_miou\n1,30.0,28.0\n2,35.0,31.0\n")
    F.pretrain_curves_figure([0, 1], paths.figures("pretrain_curves.png"))
    F.partseg_curves_figure([0, 1], paths.figures("partseg_curves.png"))
    assert Path(paths.figures("pretrain_curves.png")).stat().st_size > 10000
    assert Path(paths.figures("partseg_curves.png")).stat().st_size > 10000


def balanced_svm_metrics(pre: float, rnd: float) -> dict:
    """As :func:`svm_metrics`, on a class-balanced test split: mean class accuracy = overall, every seed."""
    from crosspoint.evaluate.linear_svm import summarize

    per_seed = {"0": svm_seed(pre - 1, rnd - 0.5), "1": svm_seed(pre + 1, rnd + 0.5)}
    for seed in per_seed.values():
        for init in seed.values():
            for protocol in init.values():
                protocol["mean_class_accuracy"] = protocol["overall_accuracy"]
    return {"seeds": [0, 1], "summary": summarize(per_seed), "per_seed": per_seed}


def test_markdown_merges_rows_that_repeat_on_a_balanced_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    write_json(paths.metrics("linear_svm_synth"), balanced_svm_metrics(85.0, 40.0))  # balanced
    write_json(paths.metrics("linear_svm_capod"), svm_metrics(70.0, 69.0))  # not: mean class = overall - 2
    balanced_seg = [{**m, "pretrained": {"instance_miou": m["pretrained"]["instance_miou"],
                                         "class_miou": m["pretrained"]["instance_miou"]},
                     "scratch": {"instance_miou": m["scratch"]["instance_miou"],
                                 "class_miou": m["scratch"]["instance_miou"]}} for m in PARTSEG]
    for seed, m in enumerate(balanced_seg):
        write_json(paths.partseg_metrics(seed), m)
    rows = RW.build_rows(RW.Plan(["synth", "capod"], [], [], "synth", [0, 1]))
    T.write_tables(rows, paths.tables("summary.csv"), paths.tables("summary.md"))

    with open(paths.tables("summary.csv"), newline="") as fh:  # the CSV keeps every row
        table = list(csv.DictReader(fh))
    assert len(table) == len(rows) == 6 + 6 + 2
    assert sum(r["metric"].startswith("mean_class_accuracy") for r in table) == 6
    assert {r["metric"] for r in table if r["evaluation"] == "partseg"} == {"instance_miou", "class_miou"}

    md = Path(paths.tables("summary.md")).read_text()
    body = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| evaluation")]
    numbers = [tuple(line.split(" | ")[1:2] + line.split(" | ")[3:8]) for line in body]  # dataset and numbers
    assert len(numbers) == len(set(numbers)), "a row repeats another"
    assert len(body) == 3 + 6 + 1  # synth: one accuracy row per protocol; capod: both measures; partseg: one
    for proto in ("paper", "val", "val_std"):
        assert f"| linear_svm | synth | accuracy¹ (C={proto}) | " in md
        assert f"| linear_svm | capod | mean_class_accuracy (C={proto}) | " in md
    assert "| partseg | synth | mIoU¹ | 70.2 ± 0.7 | 60.0 ± 0.7 | +10.2 |" in md
    assert "mean_class_accuracy (C=paper)" not in md.split("| linear_svm | capod |")[0]
    footnote = next(line for line in md.splitlines() if line.startswith("¹ "))
    assert "linear_svm synth" in footnote and "partseg synth" in footnote and "capod" not in footnote
    assert "class-balanced" in footnote and "summary.csv" in footnote
    # the numbers of a merged row are the overall row's (and the mean-class row's: they agree)
    oa = by_key(table)[("linear_svm", "synth", "overall_accuracy (C=paper)")]
    assert f"| {float(oa['pretrained']):.1f} ± {float(oa['pretrained_std']):.1f} |" in md


def test_markdown_lists_the_significant_verdicts(results: Path):
    rows = RW.build_rows(PLAN)
    md = T.markdown(rows)
    significant, _, _ = md.partition("## Significant")[2].partition("\n## ")
    better = [r for r in T.merge_balanced(rows)[0] if r.significant == "better"]
    assert better and "▲ **better** than random init" in significant
    listed = [line for line in significant.splitlines() if line.startswith("- ")]
    assert len(listed) == len(better)
    assert "- fewshot synth, accuracy 5w10s: 90.0 ± 1.4 vs 35.5 ± 0.7, gain +54.5 (p (Holm) = " in significant
    assert "| ▲ **better** |" in md and "▼" not in significant  # no significant loss in the fixture
    # a significant loss is listed too
    worse = RW.Row("linear_svm", "synth", "overall_accuracy (C=val)", 50.0, 1.0, 60.0, 1.0, -10.0, p_value=0.001,
                   seeds=2)
    assert RW.apply_holm([worse]) == 1 and worse.significant == "worse" and worse.p_holm == 0.001
    md = T.markdown([worse])
    assert "| ▼ **worse** |" in md and "▼ **worse** than random init (1):" in md and "▲" not in md.split("## ")[-1]


def test_holm_matches_its_definition_and_a_worked_example():
    from crosspoint.metrics import holm

    # the worked example: m = 4, sorted p 0.01 0.02 0.03 0.04 -> 0.04, 0.06, 0.06 (max with the previous), 0.06
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.9]) == [1.0, 1.0] and holm([]) == [] and holm([0.2]) == [0.2]
    rng = np.random.default_rng(0)
    for _ in range(50):  # against the definition, brute force
        p = list(rng.uniform(0, 0.2, size=int(rng.integers(1, 8))))
        order = sorted(range(len(p)), key=lambda i: p[i])
        expected = {}
        for rank, i in enumerate(order):
            expected[i] = max(min(1.0, (len(p) - j) * p[order[j]]) for j in range(rank + 1))
        assert holm(p) == pytest.approx([expected[i] for i in range(len(p))])


def test_the_table_corrects_over_its_tests_and_keeps_the_uncorrected_p():
    """Three tests at p 0.01, 0.02, 0.2 give Holm 0.03, 0.04, 0.2: two pass. A fourth at 0.03 makes the second
    3 x 0.02 = 0.06: only the first passes, and the table still shows the uncorrected 0.02 beside it."""
    def row(metric, p, gain=1.0):
        return RW.Row("fewshot", "synth", metric, 60.0, 1.0, 50.0, 1.0, gain, p_value=p, seeds=3)

    rows = [row("accuracy a", 0.01), row("accuracy b", 0.02), row("accuracy c", 0.2)]
    assert RW.apply_holm(rows) == 3
    assert [r.p_holm for r in rows] == [0.03, 0.04, 0.2] and [r.significant for r in rows] == ["better", "better", "no"]
    rows = [row("accuracy a", 0.01), row("accuracy b", 0.02), row("accuracy c", 0.2), row("accuracy d", 0.03, -1.0)]
    RW.apply_holm(rows)
    assert [r.significant for r in rows] == ["better", "no", "no", "no"] and rows[1].p_value == 0.02
    md = T.markdown(rows)
    assert "Holm-Bonferroni over the 4 tests of this table" in md and "**Primary protocol: C=val**" in md
    assert "| +1.0 |  | 0.020 | 0.060 | no |" in md


def test_the_bootstrap_interval_is_paired_over_test_objects_and_exact():
    from crosspoint.metrics import bootstrap_gain_interval

    # 3 seeds, 200 test objects: the pretrained encoder right on 30 more (object, seed) pairs than random init
    diff = np.zeros(200, np.int64)
    diff[:40] = 1
    diff[40:50] = -1
    gain = 100 * diff.sum() / (200 * 3)
    low, high = bootstrap_gain_interval(diff, 3, seed=0)
    assert low < gain < high and (low, high) == bootstrap_gain_interval(diff, 3, seed=0)
    # a resampled sum is an integer: both ends are multiples of 100 / (n * seeds)
    for end in (low, high):
        assert end * 200 * 3 / 100 == pytest.approx(round(end * 200 * 3 / 100), abs=1e-9)
    # the normal approximation of the same interval: within a few hundredths of a point
    sd = 100 * diff.std() / 3 / np.sqrt(200)
    assert low == pytest.approx(gain - 1.96 * sd, abs=0.6) and high == pytest.approx(gain + 1.96 * sd, abs=0.6)
    # no difference on any object: a zero-width interval at zero; the table shows it beside the gain
    assert bootstrap_gain_interval(np.zeros(50, np.int64), 3, seed=1) == (0.0, 0.0)
    row = RW.Row("linear_svm", "synth", "overall_accuracy (C=val)", 60.0, 1.0, 55.0, 1.0, 5.0, gain_ci_low=1.25,
                 gain_ci_high=8.5, p_value=0.01, seeds=3)
    assert "| +5.0 | [+1.2, +8.5] | 0.010 |" in T.markdown([row])
