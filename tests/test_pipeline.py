"""One DAG, two engines: dvc.yaml and the Snakemake rules are generated from crosspoint/pipeline.py
and must agree with it and with each other."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from crosspoint import pipeline

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    return env


def test_committed_files_match_the_stage_list(monkeypatch):
    monkeypatch.chdir(REPO)
    assert pipeline.drift() == []


def test_drift_is_detected(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "workflow/rules").mkdir(parents=True)
    (tmp_path / "workflow/Snakefile").write_text("")
    for path, text in pipeline.expected_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    problems = pipeline.drift()
    assert all("Snakefile does not include" in p for p in problems) and len(problems) == len(pipeline.STAGES)
    Path("workflow/rules/sample.smk").write_text("rule sample:\n    shell: 'true'\n")
    assert any("sample.smk differs" in p for p in pipeline.drift())


def dvc_stages() -> dict[str, dict]:
    """DVC's own reading of dvc.yaml with the repository's params.yaml: command -> deps/outs."""
    from dvc.repo import Repo

    repo = Repo(str(REPO))
    stages = {}
    for stage in repo.index.stages:
        deps = {os.path.relpath(d.fs_path, REPO) for d in stage.deps if not hasattr(d, "params")}
        outs = {os.path.relpath(o.fs_path, REPO) for o in stage.outs}
        stages[stage.cmd] = {"name": stage.addressing, "deps": deps, "outs": outs}
    return stages


def snakemake_jobs() -> dict[str, dict]:
    """Snakemake's dry run of every job (forced): command -> inputs/outputs."""
    proc = subprocess.run(
        [str(BIN / "snakemake"), "-n", "-F", "-p", "--cores", "1"],
        cwd=REPO, env=_env(), capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = {}
    blocks = re.split(r"\n(?=(?:local)?rule \w+:)", proc.stdout)
    for block in blocks:
        m = re.match(r"(?:local)?rule (\w+):", block)
        if not m or m.group(1) == "all":
            continue
        fields = dict(re.findall(r"^    (input|output): (.*)$", block, flags=re.M))
        cmd_lines = re.findall(r"^\s*(?:Shell command: )?(crosspoint .*)$", block, flags=re.M)
        assert cmd_lines, block
        cmd = cmd_lines[0].split(" > ")[0]
        jobs[cmd] = {
            "rule": m.group(1),
            "deps": {p.strip() for p in fields.get("input", "").split(",") if p.strip()},
            "outs": {p.strip() for p in fields.get("output", "").split(",") if p.strip()},
        }
    return jobs


def test_both_engines_have_the_same_stages_commands_inputs_and_outputs():
    import yaml

    from crosspoint.sources.registry import SOURCES

    dvc = dvc_stages()
    smk = snakemake_jobs()
    assert set(dvc) == set(smk), f"only in DVC: {set(dvc) - set(smk)}; only in Snakemake: {set(smk) - set(dvc)}"
    for cmd, d in dvc.items():
        s = smk[cmd]
        assert s["outs"] == d["outs"], (cmd, s["outs"] ^ d["outs"])
        # DVC depends on the folder of the render shards where Snakemake lists each shard.
        # (likewise for the features of every seed, expanded over pretrain.seeds)
        smk_deps = {str(Path(p).parent) if "/shard-" in p or p.startswith("results/metrics/")
                    or re.fullmatch(r"data/features/[^/]+/seed-\d+\.h5", p) else p for p in s["deps"]}
        # ... and a folder dep covers the files inside it (and must cover at least one)
        folders = {f for f in d["deps"] if not Path(f).suffix}
        inside = {p for p in smk_deps if any(p == f or p.startswith(f + "/") for f in folders)}
        assert smk_deps - inside == d["deps"] - folders, (cmd, (smk_deps - inside) ^ (d["deps"] - folders))
        for f in folders:
            assert any(p == f or p.startswith(f + "/") for p in smk_deps), (cmd, f)
            if f.startswith("crosspoint/"):
                continue  # a source's code folder: checked below
            # ... and Snakemake lists every file of that kind the DAG writes there (every seed's best.pt, every
            # shard), not one of them
            def kind(path: str) -> str:
                return re.sub(r"\d+", "N", Path(path).name)

            listed = {p for p in s["deps"] if p.startswith(f + "/")}
            kinds = {kind(p) for p in listed}
            written = {o for job in smk.values() for o in job["outs"] if o.startswith(f + "/") and kind(o) in kinds}
            assert listed == written, (cmd, f, listed ^ written)
    # prepare: per instance, the code of its dataset's source alone (DVC its folder, Snakemake its files)
    datasets = yaml.safe_load((REPO / "params.yaml").read_text())["datasets"]
    code = pipeline.source_code(next(st for st in pipeline.STAGES if st.name == "prepare"))
    assert datasets and set(code) == set(SOURCES)

    def in_a_package(path: str) -> bool:  # crosspoint/sources/<source> or a file in it
        return path.startswith(pipeline.SOURCES_DIR + "/") and path.split("/")[2] in SOURCES

    for name, entry in datasets.items():
        cmd = f"crosspoint prepare --dataset {name}"
        in_packages = [d for d in dvc[cmd]["deps"] if in_a_package(d)]
        assert in_packages == [f"{pipeline.SOURCES_DIR}/{entry['source']}"], (name, in_packages)
        inputs = {p for p in smk[cmd]["deps"] if in_a_package(p)}
        assert inputs == set(code[entry["source"]]), (name, inputs)


def test_snakemake_lint_passes():
    proc = subprocess.run([str(BIN / "snakemake"), "--lint"], cwd=REPO, env=_env(), capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_every_stage_declares_a_params_section_that_exists():
    import yaml

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for stage in pipeline.STAGES:
        for key in stage.params:
            head = key.split(".")[0]
            assert head in params, (stage.name, key)


@pytest.mark.parametrize("stage", pipeline.STAGES, ids=lambda s: s.name)
def test_stage_outputs_are_under_data_models_or_results(stage):
    for out in [*stage.outs, *stage.metrics, *stage.plots, *stage.committed]:
        assert out.split("/")[0] in {"data", "models", "results"}, out


def test_pretrain_declares_exactly_the_keys_it_reads():
    import dataclasses

    from crosspoint.training.params import Params

    fields = {f.name for f in dataclasses.fields(Params)}
    # seeds is the list of instances: each run gets its own seed on the command line
    assert set(pipeline.PRETRAIN_SHARED) == fields - {"cls", "seg", "seeds"}


def test_an_edit_makes_stale_exactly_the_stages_the_table_says(tmp_path):
    """In a copy of the repository, one module of every group of docs/pipeline.md's table is edited at once;
    `dvc status` must then report each edited file as a changed dependency of exactly the stages the table
    lists for its group (every instance of them), and of no other stage (whether or not dvc.lock is current:
    an edited file is a changed dependency of every stage that has it)."""
    import json
    import shutil

    import yaml

    from crosspoint.sources.registry import SOURCES

    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout
    for rel in filter(None, files.split("\0")):
        if (REPO / rel).is_file() and not rel.startswith(("data/", "models/", "results/")):
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, tmp_path / rel)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)  # DVC wants a repository

    def changed() -> dict[str, set[str]]:
        """Stage instance (``prepare@synth``) -> the code files and folders dvc status reports as changed deps."""
        proc = subprocess.run(["dvc", "status", "--json"], cwd=tmp_path, env=_env(), capture_output=True,
                              text=True, check=True)
        out: dict[str, set[str]] = {}
        for stage, entries in json.loads(proc.stdout or "{}").items():
            for entry in entries:
                deps = entry.get("changed deps", {}) if isinstance(entry, dict) else {}
                out.setdefault(stage.split(":")[-1], set()).update(d for d in deps if d.startswith("crosspoint/"))
        return out

    deps = {st.name: set(pipeline.all_deps(st)) for st in pipeline.STAGES}
    edited = {}
    for group, members in pipeline.code_groups().items():
        edited[group] = next((m for m in members if any(m in d for d in deps.values())), members[0])
        with open(tmp_path / edited[group], "a") as fh:
            fh.write("# an edit\n")
    after = changed()
    # a source's package (crosspoint/sources/<source>/): the prepare instances of the datasets of that source
    datasets = yaml.safe_load((REPO / "params.yaml").read_text())["datasets"]
    source_groups = {f"{pipeline.SOURCES_DIR}/{s}/": s for s in SOURCES}
    assert set(source_groups) <= set(edited)
    for group, module in edited.items():
        stale = {inst for inst, files in after.items() if any(module == f or module.startswith(f + "/") for f in files)}
        if group in source_groups:
            expected = {f"prepare@{name}" for name, e in datasets.items() if e["source"] == source_groups[group]}
            assert stale == expected, (group, module, stale ^ expected)
        else:
            expected = {name for name, d in deps.items() if module in d}
            assert {inst.split("@")[0] for inst in stale} == expected, (group, module, stale, expected)
    # with the default datasets (synth: synthetic, capod: mesh_dir): ModelNet's reader reruns nothing
    assert datasets["synth"]["source"] == "synthetic" and datasets["capod"]["source"] == "mesh_dir"
    assert not {inst for inst, files in after.items() if f"{pipeline.SOURCES_DIR}/modelnet" in files}
    assert {inst for inst, files in after.items() if f"{pipeline.SOURCES_DIR}/synthetic" in files} == {"prepare@synth"}
