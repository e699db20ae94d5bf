"""Presets are valid overlays of params.yaml, and apply / --set-args behave."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from crosspoint.config import ParamsError
from crosspoint.tools import presets
from crosspoint.tools.params_check import validate_all

REPO = Path(__file__).resolve().parents[1]


def test_default_params_are_valid():
    validate_all(yaml.safe_load((REPO / "params.yaml").read_text()))


@pytest.mark.parametrize("name", ["paper", "tiny", "demo"])
def test_each_preset_applies_and_validates(name, tmp_path, monkeypatch):
    shutil.copytree(REPO / "presets", tmp_path / "presets")
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    before = (tmp_path / "params.yaml").read_text()
    presets.apply(name, "params.yaml")
    after_text = (tmp_path / "params.yaml").read_text()
    after = yaml.safe_load(after_text)
    validate_all(after)
    for key, value in presets.flatten(presets.load_overlay(name)).items():
        node = after
        for part in key.split("."):
            node = node[part]
        assert node == value, key
    # comments survive the rewrite
    assert before.splitlines()[0] == after_text.splitlines()[0]


def test_paper_preset_has_the_paper_settings(monkeypatch):
    monkeypatch.chdir(REPO)
    paper = presets.load_overlay("paper")
    cls = paper["pretrain"]["cls"]
    assert (cls["points"], cls["k"], cls["batch_size"], cls["epochs"], cls["image_model"], cls["image_size"]) == (
        2048, 15, 20, 100, "resnet50", 224)
    assert paper["pretrain"]["lr"] == 0.001 and paper["pretrain"]["weight_decay"] == 1e-6
    assert paper["features"]["points"] == 1024
    assert (paper["partseg"]["epochs"], paper["partseg"]["k"], paper["partseg"]["lr"]) == (300, 40, 0.1)
    # upstream's evaluation protocol (train_partseg.py, eval_fewshot.py, datasets/*.py)
    assert (paper["partseg"]["augment"], paper["partseg"]["argmax"]) == (False, "all")
    fs = paper["fewshot"]
    assert (fs["features"], fs["points"], fs["subset"], fs["k"], fs["query_split"]) == (
        "own", 2048, "first", 5, "train_upstream")
    assert "scanobjectnn" in fs["datasets"]
    assert not paper["datasets"]["scanobjectnn"]["normalize"] and not paper["datasets"]["shapenetpart"]["normalize"]


def test_default_params_keep_the_recorded_protocol():
    """The switches default to the committed record's behaviour; upstream's values are in the paper preset."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    assert (params["partseg"]["augment"], params["partseg"]["argmax"]) == (True, "category")
    assert (params["fewshot"]["features"], params["fewshot"]["query_split"]) == ("shared", "test")


def test_set_args_are_compact_and_round_trip(monkeypatch):
    monkeypatch.chdir(REPO)
    args = presets.set_args(presets.load_overlay("tiny")).split()
    pairs = [a for a in args if a != "-S"]
    assert len(pairs) * 2 == len(args)
    parsed = dict(p.split("=", 1) for p in pairs)
    assert json.loads(parsed["fewshot.settings"]) == [[5, 5]]
    assert parsed["pretrain.cls.epochs"] == "1"


def test_unknown_preset_is_a_clear_error(monkeypatch):
    monkeypatch.chdir(REPO)
    with pytest.raises(ParamsError, match="unknown preset 'nope'; available: demo, paper, r2n2, tiny"):
        presets.load_overlay("nope")
