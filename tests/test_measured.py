"""The measured figures the docs quote (``crosspoint measured``) match the bench JSON that measured them,
and a changed source or a hand-edited block is caught."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from crosspoint.store import StageError
from crosspoint.tools import measured

REPO = Path(__file__).resolve().parents[1]


def test_the_committed_docs_quote_their_sources():
    assert measured.drift(REPO) == []


def test_every_block_is_in_its_doc_once():
    for name, block in measured.BLOCKS.items():
        text = (REPO / block.doc).read_text()
        assert text.count(f"<!-- measured:{name} ") == 1 and text.count(f"<!-- /measured:{name} -->") == 1


@pytest.fixture
def copy(tmp_path):
    for block in measured.BLOCKS.values():
        for rel in (block.doc, block.source):
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            if (REPO / rel).is_dir():
                shutil.copytree(REPO / rel, tmp_path / rel, dirs_exist_ok=True, ignore=shutil.ignore_patterns("logs"))
            else:
                shutil.copy(REPO / rel, tmp_path / rel)
    return tmp_path


def test_a_new_measurement_is_drift_until_written(copy):
    record = json.loads((copy / measured.COMMANDS_JSON).read_text())
    record["runs"]["repro"]["wall_s"] = 1234.4
    record["runs"]["tests"].update(passed=500, failed=2)
    (copy / measured.COMMANDS_JSON).write_text(json.dumps(record))
    problems = measured.drift(copy)
    assert sorted(problems) == ["README.md: block 'commands' differs from results/bench/commands.json",
                                "tests/README.md: block 'suite' differs from results/bench/commands.json"]
    assert sorted(p.as_posix() for p in measured.write(copy)) == sorted(
        (copy / d).as_posix() for d in ("README.md", "tests/README.md"))
    assert measured.drift(copy) == []
    readme = " ".join((copy / "README.md").read_text().split())
    assert "**20 min 34 s**" in readme and "500 passed, 2 failed" in readme


def test_a_rerun_benchmark_changes_its_row(copy):
    pre = json.loads((copy / measured.PRETRAIN_JSON).read_text())
    pre["presets"]["paper"]["stage"]["objects_per_s"] = 0.5
    (copy / measured.PRETRAIN_JSON).write_text(json.dumps(pre))
    assert measured.drift(copy) == ["bench/README.md: block 'bench-table' differs from results/bench"]
    measured.write(copy)
    assert "| 0.5 objects/s, " in (copy / "bench/README.md").read_text()


def test_a_hand_edited_figure_is_drift(copy):
    doc = copy / "bench/README.md"
    text = doc.read_text()
    start = text.index("<!-- measured:gpu-targets ")
    end = text.index("<!-- /measured:gpu-targets -->")
    doc.write_text(text[:start] + text[start:end].replace("objects/s in bf16", "objects/s (bf16)") + text[end:])
    assert measured.drift(copy) == ["bench/README.md: block 'gpu-targets' differs from results/bench/pretrain.json"]


def test_a_missing_block_or_source_is_named(copy):
    (copy / "tests/README.md").write_text("no block here\n")
    (copy / measured.PRETRAIN_JSON).unlink()
    problems = measured.drift(copy)
    assert "tests/README.md: no <!-- measured:suite ... --> block" in problems
    assert any(p.startswith("results/bench/pretrain.json not found") for p in problems)


def test_durations_read_as_minutes_and_seconds():
    assert [measured.duration(s) for s in (59.4, 60, 1267.5, 1268.4)] == ["59 s", "1 min 0 s", "21 min 8 s",
                                                                           "21 min 8 s"]
    with pytest.raises(StageError):
        measured._load(Path("/nonexistent.json"))
