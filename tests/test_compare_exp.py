"""`crosspoint compare --exp` on a partial experiment: rows of stages the experiment did not rerun are marked.

Three levels: :func:`crosspoint.tools.ablation.stage_status` on hand-written dvc.lock dicts; the same on the
dvc.lock files DVC itself writes for a tiny pipeline and a `dvc exp run` with a target (a few seconds);
and :func:`crosspoint.tools.ablation.compare_experiments` on a git repository holding a baseline commit and an
experiment ref (``refs/exps/...``, the way DVC stores experiments) built by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from crosspoint import paths
from crosspoint.store import write_json
from crosspoint.tools import ablation_grid as G
from crosspoint.tools import comparison as C
from crosspoint.tools import exp_status as S
from tests.test_report import svm_metrics


def out(path: str, md5: str) -> dict:
    return {"path": path, "hash": "md5", "md5": md5, "size": 1}


def stage(deps: list[dict], outs: list[dict], params: dict | None = None) -> dict:
    entry = {"cmd": "x", "deps": deps, "outs": outs}
    if params:
        entry["params"] = {"params.yaml": params}
    return entry


CKPT = "results/pretrain_cls/seed-0/best.pt"
CODE = out("crosspoint/evaluate/linear_svm.py", "c0")


def lock(ckpt: str, feat_synth: str, feat_capod: str, svm_synth: str, svm_capod: str, epochs: int = 10) -> dict:
    """pretrain -> features@{synth,capod} (files in data/features/<d>/) -> linear_svm@{synth,capod} (dep: the folder)."""
    return {"schema": "2.0", "stages": {
        "pretrain@0": stage([out("data/points/synth.h5", "p0")], [out(CKPT, ckpt)], {"pretrain.cls.epochs": epochs}),
        "features@synth": stage([out(CKPT, ckpt)], [out("data/features/synth/seed-0.h5", feat_synth)]),
        "features@capod": stage([out(CKPT, "ck0")], [out("data/features/capod/seed-0.h5", feat_capod)]),
        "linear_svm@synth": stage([CODE, out("data/features/synth", feat_synth + ".dir")],
                              [out(paths.metrics("linear_svm_synth"), svm_synth)], {"linear_svm.c_paper": 0.01}),
        "linear_svm@capod": stage([CODE, out("data/features/capod", feat_capod + ".dir")],
                              [out(paths.metrics("linear_svm_capod"), svm_capod)], {"linear_svm.c_paper": 0.01}),
    }}


BASE_LOCK = lock("ck0", "fa0", "fb0", "sa0", "sb0")
# `dvc exp run -S pretrain.cls.epochs=30 linear_svm@synth`: pretrain, features@synth and linear_svm@synth rerun; the
# capod stages keep HEAD's entries although the checkpoint they read changed
EXP_LOCK = lock("ck1", "fa1", "fb0", "sa1", "sb0", epochs=30)
EXP_LOCK["stages"]["features@capod"] = BASE_LOCK["stages"]["features@capod"]
EXP_PARAMS = {"pretrain": {"cls": {"epochs": 30}}, "linear_svm": {"c_paper": 0.01}}


def test_stage_status_from_two_locks():
    status = S.stage_status(BASE_LOCK, EXP_LOCK, EXP_PARAMS)
    assert status == {"pretrain@0": "rerun", "features@synth": "rerun", "linear_svm@synth": "rerun",
                      "features@capod": "stale", "linear_svm@capod": "stale"}  # capod: downstream of the new checkpoint
    # an experiment that changes only what the capod stages do not read leaves them merely not rerun
    only_synth = json.loads(json.dumps(BASE_LOCK))
    only_synth["stages"]["linear_svm@synth"]["params"]["params.yaml"]["linear_svm.c_paper"] = 0.1
    only_synth["stages"]["linear_svm@synth"]["outs"][0]["md5"] = "sa2"
    params = {"pretrain": {"cls": {"epochs": 10}}, "linear_svm": {"c_paper": 0.1}}
    status = S.stage_status(BASE_LOCK, only_synth, params)
    assert status["linear_svm@synth"] == "rerun" and status["features@synth"] == "not rerun"
    # ... except for a params value they record (c_paper is read by linear_svm@capod too)
    assert status["linear_svm@capod"] == "stale"
    params["linear_svm"]["c_paper"] = 0.01  # (as if only @synth's entry had moved: capod is untouched)
    assert S.stage_status(BASE_LOCK, only_synth, params)["linear_svm@capod"] == "not rerun"
    # params as PyYAML reads them back from dvc.lock (DVC writes 1e-06, YAML 1.1 reads a string) still match
    quirk = json.loads(json.dumps(BASE_LOCK))
    quirk["stages"]["linear_svm@capod"]["params"]["params.yaml"] = {"linear_svm.c_paper": "1e-02"}
    assert S.stage_status(quirk, quirk, params)["linear_svm@capod"] == "not rerun"
    # a source file that changed between the commits makes the stages reading it stale
    status = S.stage_status(BASE_LOCK, BASE_LOCK, {"pretrain": {"cls": {"epochs": 10}}, "linear_svm": {"c_paper": 0.01}},
                            source_changed=lambda path: path == CODE["path"])
    assert status["linear_svm@capod"] == "stale" and status["features@capod"] == "not rerun"


def test_file_status_of_a_row_read_from_several_files():
    status = {"partseg@0": "rerun", "partseg@1": "not rerun", "linear_svm@synth": "stale"}
    exp = {"stages": {f"partseg@{s}": {"outs": [{"path": paths.partseg_metrics(s)}]} for s in (0, 1)}}
    exp["stages"]["linear_svm@synth"] = {"outs": [{"path": paths.metrics("linear_svm_synth")}]}
    assert S.file_status(status, exp, [paths.partseg_metrics(0)]) == "rerun"
    assert S.file_status(status, exp, [paths.partseg_metrics(0), paths.partseg_metrics(1)]) == "partly rerun"
    assert S.file_status(status, exp, [paths.partseg_metrics(1)]) == "not rerun"
    assert S.file_status(status, exp, [paths.metrics("linear_svm_synth")]) == "stale"
    assert S.file_status(status, exp, ["results/metrics/elsewhere.json"]) == ""  # no stage writes it
    assert S.row_files("partseg.synth.instance_miou", [0, 1]) == [paths.partseg_metrics(0), paths.partseg_metrics(1)]
    assert S.row_files("svm.capod_scan.oa_val", [0]) == [paths.metrics("linear_svm_capod_scan")]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def git_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in (("GIT_AUTHOR_NAME", "t"), ("GIT_AUTHOR_EMAIL", "t@localhost"), ("GIT_COMMITTER_NAME", "t"),
                       ("GIT_COMMITTER_EMAIL", "t@localhost"), ("DVC_NO_ANALYTICS", "1")):
        monkeypatch.setenv(key, value)


@pytest.mark.skipif(shutil.which("dvc") is None, reason="dvc not on PATH")
def test_stage_status_on_the_locks_dvc_writes_for_a_targeted_experiment(tmp_path: Path, git_env: None):
    """a (param x) -> b (target) ; a -> d (not a target: stale) ; c (param y, independent: not rerun)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    subprocess.run(["dvc", "init", "-q"], cwd=repo, check=True)
    (repo / "params.yaml").write_text("x: 1\ny: 1\n")
    copy = "import shutil,sys; shutil.copy(sys.argv[1], sys.argv[2])"
    dvc_yaml = {"stages": {
        "a": {"cmd": "python3 -c \"import yaml; open('a.txt','w').write(str(yaml.safe_load(open('params.yaml'))['x']))\"",
              "params": ["x"], "outs": ["a.txt"]},
        "b": {"cmd": f'python3 -c "{copy}" a.txt b.json', "deps": ["a.txt"], "outs": [{"b.json": {"cache": False}}]},
        "d": {"cmd": f'python3 -c "{copy}" a.txt d.json', "deps": ["a.txt"], "outs": [{"d.json": {"cache": False}}]},
        "c": {"cmd": "python3 -c \"open('c.json','w').write('1')\"", "params": ["y"],
              "outs": [{"c.json": {"cache": False}}]},
    }}
    (repo / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))
    (repo / ".gitignore").write_text("/a.txt\n")
    subprocess.run(["dvc", "repro", "-q"], cwd=repo, check=True, capture_output=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    subprocess.run(["dvc", "exp", "run", "-q", "-n", "more-x", "-S", "x=2", "b"], cwd=repo, check=True,
                   capture_output=True)
    head = git(repo, "rev-parse", "HEAD")
    ref = git(repo, "for-each-ref", "--format=%(objectname)", f"refs/exps/{head[:2]}/{head[2:]}/more-x")
    assert ref
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        base_lock, exp_lock = S.lock_at(head), S.lock_at(ref)
        exp_params = yaml.safe_load(git(repo, "show", f"{ref}:params.yaml"))
        status = S.stage_status(base_lock, exp_lock, exp_params, S.git_changed(head, ref))
    finally:
        os.chdir(cwd)
    assert status == {"a": "rerun", "b": "rerun", "c": "not rerun", "d": "stale"}
    assert S.file_status(status, exp_lock, ["d.json"]) == "stale" and S.file_status(status, exp_lock, ["c.json"]) == (
        "not rerun")


def commit_record(repo: Path, svm: dict[str, dict], lock_doc: dict, params: dict, message: str) -> str:
    for d, m in svm.items():
        write_json(repo / paths.metrics(f"linear_svm_{d}"), m)
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock_doc, sort_keys=False))
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def _params(epochs: int, full: bool = False) -> dict:
    """Two seeds, linear SVM on synth and capod; ``full``: the repository's params so changed (the grid
    validates every section), else only the sections `compare --exp` reads (no few-shot, no part-seg)."""
    params = {"pretrain": {"seeds": [0, 1], "cls": {"epochs": epochs}},
              "linear_svm": {"datasets": ["synth", "capod"], "c_paper": 0.01}}
    if full:
        params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
        params["pretrain"]["seeds"] = [0, 1]
        params["pretrain"]["cls"]["epochs"] = epochs
        params["linear_svm"].update(datasets=["synth", "capod"], c_paper=0.01)
    return params


def make_partial_exp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full: bool) -> tuple[Path, str]:
    """A git repo (the working directory) whose HEAD is a baseline record, and an experiment on top of it,
    ``longer`` (also as the grid variant ``ablate-longer``), that recomputed linear_svm@synth only."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    monkeypatch.chdir(repo)
    capod = svm_metrics(70.0, 40.0)
    head = commit_record(repo, {"synth": svm_metrics(80.0, 40.0), "capod": capod}, BASE_LOCK, _params(10, full),
                         "baseline")
    # the experiment's commit (what `dvc exp run ... linear_svm@synth` stores): synth recomputed, capod HEAD's
    exp = commit_record(repo, {"synth": svm_metrics(98.0, 40.0), "capod": capod}, EXP_LOCK, _params(30, full), "exp")
    for name in ("longer", "ablate-longer"):
        git(repo, "update-ref", f"refs/exps/{head[:2]}/{head[2:]}/{name}", exp)
    git(repo, "reset", "-q", "--hard", head)
    return repo, head


def test_compare_exp_marks_the_rows_of_stages_the_experiment_did_not_rerun(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, git_env: None):
    repo, head = make_partial_exp(tmp_path, monkeypatch, full=False)
    base_params, exp_params = _params(10), _params(30)
    text = C.compare_experiments(["longer"], base_params)
    lines = {line.split(" | ")[0][2:]: line for line in text.splitlines() if line.startswith("| svm.")}
    assert set(lines) == {f"svm.{d}.{m}_{p}" for d in ("synth", "capod") for m in ("oa", "mca") for p in ("paper", "val", "val_std")}
    for key, line in lines.items():
        if key.startswith("svm.capod."):
            assert "*not rerun (HEAD's value; stale)*" in line and "**" not in line.replace("*not", ""), line
        else:
            assert "not rerun" not in line and "**better**" in line, line  # recomputed and tested against HEAD
    assert "*not rerun (HEAD's value)*: the experiment did not recompute" in text
    assert (f"*longer* recomputed `{paths.metrics('linear_svm_synth')}`; `dvc metrics diff HEAD longer --targets "
            f"{paths.metrics('linear_svm_synth')}`") in text
    # an experiment that recomputed everything gets no marks and no legend
    full = json.loads(json.dumps(EXP_LOCK))
    full["stages"]["features@capod"]["outs"][0]["md5"] = "fb1"
    full["stages"]["features@capod"]["deps"][0]["md5"] = "ck1"
    full["stages"]["linear_svm@capod"]["deps"][1]["md5"] = "fb1.dir"
    full["stages"]["linear_svm@capod"]["outs"][0]["md5"] = "sb1"
    exp = commit_record(repo, {"synth": svm_metrics(98.0, 40.0), "capod": svm_metrics(71.0, 40.0)}, full, exp_params, "full")
    git(repo, "update-ref", f"refs/exps/{head[:2]}/{head[2:]}/longer-all", exp)
    git(repo, "reset", "-q", "--hard", head)
    text = C.compare_experiments(["longer-all"], base_params)
    assert "not rerun" not in text and "recomputed" not in text


def test_an_experiment_adding_a_dataset_shows_its_rows_on_one_side(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, git_env: None):
    """An experiment that evaluates a dataset HEAD does not (and changes pretraining): the new rows are shown,
    marked as the experiment's alone and untested, beside the tested rows of the datasets both have."""
    repo, head = make_partial_exp(tmp_path, monkeypatch, full=False)
    exp_params = _params(30)
    exp_params["linear_svm"]["datasets"].append("extra")
    full = json.loads(json.dumps(EXP_LOCK))
    full["stages"]["linear_svm@extra"] = stage([out(paths.features("extra", 0), "fe")],
                                               [out(paths.metrics("linear_svm_extra"), "se")])
    svm = {"synth": svm_metrics(98.0, 40.0), "capod": svm_metrics(71.0, 40.0), "extra": svm_metrics(60.0, 30.0)}
    exp = commit_record(repo, svm, full, exp_params, "extra")
    git(repo, "update-ref", f"refs/exps/{head[:2]}/{head[2:]}/more-data", exp)
    git(repo, "reset", "-q", "--hard", head)
    text = C.compare_experiments(["more-data"], _params(10))
    extra = [line for line in text.splitlines() if line.startswith("| svm.extra.")]
    assert len(extra) == 6 and all("*only here (no baseline row)*" in line and "**" not in line for line in extra)
    assert all(line.split(" | ")[1] == "–" for line in extra)  # the baseline's cell is empty
    assert "*only here*: the baseline has no such row" in text


def test_the_grid_table_marks_them_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, git_env: None):
    make_partial_exp(tmp_path, monkeypatch, full=True)
    prm = G.Params(variants={"both": {}, "longer": {"pretrain.cls.epochs": 30}}, targets=["linear_svm"])
    table = C.compare(prm, _params(10, full=True))
    assert table["svm.capod.oa_val"]["longer"].status == "stale" and table["svm.synth.oa_val"]["longer"].status == ""
    assert table["svm.synth.oa_val"]["longer"].verdict == "better"
    md = Path(paths.tables("ablation.md")).read_text()
    assert "| svm.capod.oa_val | 71.0 ± 1.4 | 71.0 ± 1.4 *not rerun (HEAD's value; stale)* |" in md
    with open(paths.tables("ablation.csv")) as fh:
        verdicts = {tuple(r[:2]): r[6] for r in (line.rstrip("\n").split(",") for line in fh)}
    assert verdicts[("svm.capod.oa_val", "longer")] == "stale" and verdicts[("svm.synth.oa_val", "longer")] == "better"
