"""``crosspoint export`` and ``crosspoint.load_encoder``: the exported-encoder file on a tiny DGCNN checkpoint."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import crosspoint
from crosspoint import cli
from crosspoint.checkpoints import save_checkpoint
from crosspoint.models.encoders import load_point_encoder
from crosspoint.models.export import FORMAT, VERSION, read_encoder_file
from crosspoint.store import StageError
from crosspoint.tools.export import export


def tiny_checkpoint(path: Path, seed: int = 7) -> Path:
    """A pretraining checkpoint with the keys the pretrain stage writes (``_checkpoint``), of a tiny DGCNN
    (k 4, emb_dims 32) whose batch-norm running statistics are not the identity."""
    from crosspoint import config, numerics
    from crosspoint.models.encoders import model_config
    from crosspoint.training.params import Params, Variant
    from crosspoint.training.pretrain import CrossPointModel

    torch.manual_seed(seed)
    v = Variant(point_model="dgcnn", k=4, emb_dims=32, points=64, batch_size=4, epochs=3)
    model = CrossPointModel(v, with_images=False)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    save_checkpoint(path, {
        "point_encoder": model.point_encoder.state_dict(), "point_head": model.point_head.state_dict(),
        "image_encoder": None, "image_head": None, "model": model_config(v, False), "epoch": 3,
        "val_accuracy": 0.5, "variant": "cls", "seed": seed, "params": config.to_dict(Params(cls=v)),
        "numerics": numerics.record(), "precision": "fp32",
    })
    return path


def write_params(path: Path, sample_points: int = 128, feature_points: int = 64, batch_size: int = 4,
                 **extra) -> Path:
    """A params file with the sample and features sections embed reads (and ``extra`` sections)."""
    sections = {"sample": {"points": sample_points, "seed": 3},
                "features": {"points": feature_points, "subset": "random", "seed": 5, "batch_size": batch_size,
                             "device": "cpu"}}
    for name, value in extra.items():
        sections[name] = {**sections.get(name, {}), **value}
    path.write_text(yaml.safe_dump(sections))
    return path


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def clouds(n: int = 5, points: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(n, points, 3)).astype(np.float32))


def test_export_round_trip(workdir: Path):
    ckpt = tiny_checkpoint(workdir / "best.pt")
    record = export(ckpt, "enc.pt", write_params(workdir / "params.yaml"))
    raw = torch.load("enc.pt", weights_only=True)
    assert raw["format"] == FORMAT and raw["version"] == VERSION
    assert raw["model"] == {"point_model": "dgcnn", "k": 4, "emb_dims": 32, "image_model": None, "points": 64}
    assert raw["preprocessing"]["sample"] == {"points": 128, "seed": 3}
    assert raw["preprocessing"]["features"] == {"points": 64, "subset": "random", "seed": 5, "batch_size": 4,
                                                 "shards": 1}
    assert "normalize_cloud" in raw["preprocessing"]["normalisation"]
    prov = raw["provenance"]
    source = torch.load(ckpt, weights_only=True)
    assert json.loads(prov["params"]) == source["params"] and prov["epoch"] == 3
    assert prov["checkpoint"] == str(ckpt) and prov["checkpoint_md5"] == hashlib.md5(ckpt.read_bytes()).hexdigest()
    assert "git_commit" in prov and (prov["git_commit"] is None or len(prov["git_commit"]) == 40)
    assert set(raw["state_dict"]) == set(source["point_encoder"])

    ref, _ = load_point_encoder(ckpt)
    for path in ("enc.pt", ckpt):  # the exported file and the checkpoint itself
        enc = crosspoint.load_encoder(path)
        assert not enc.training
        with torch.no_grad():
            assert torch.equal(enc(clouds()), ref(clouds()))
    assert read_encoder_file("enc.pt").kind == "exported" and read_encoder_file(ckpt).kind == "checkpoint"
    first = Path("enc.pt").read_bytes()
    export(ckpt, "enc.pt", "params.yaml")  # the same checkpoint and params: the same bytes
    assert Path("enc.pt").read_bytes() == first and record["provenance"]["epoch"] == 3


def test_files_that_are_not_encoders(workdir: Path):
    Path("garbage.pt").write_bytes(b"\x00\x01not a torch file" * 10)
    with pytest.raises(StageError, match="not a crosspoint checkpoint or exported encoder"):
        crosspoint.load_encoder("garbage.pt")
    torch.save({"weights": torch.zeros(2)}, "other.pt")
    with pytest.raises(StageError, match="neither a pretraining checkpoint"):
        load_point_encoder("other.pt")
    with pytest.raises(StageError, match="not found"):
        crosspoint.load_encoder("missing.pt")
    ckpt = tiny_checkpoint(workdir / "best.pt")
    write_params(workdir / "params.yaml")
    export(ckpt, "enc.pt")
    with pytest.raises(StageError, match="already an exported encoder"):
        export("enc.pt", "again.pt")
    bad = torch.load("enc.pt", weights_only=True) | {"version": 99}
    torch.save(bad, "future.pt")
    with pytest.raises(StageError, match="version 99"):
        crosspoint.load_encoder("future.pt")


def test_export_cli_and_torchscript(workdir: Path):
    ckpt = tiny_checkpoint(workdir / "best.pt")
    write_params(workdir / "params.yaml")
    assert cli.main(["export", str(ckpt), "-o", "out/enc.pt"]) == 0
    assert torch.load("out/enc.pt", weights_only=True)["format"] == FORMAT
    encoder = crosspoint.load_encoder("out/enc.pt")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.script(encoder)
        scriptable = True
    except Exception:  # what TorchScript raises varies; export turns it into a StageError
        scriptable = False
    rc = cli.main(["export", str(ckpt), "-o", "ts/enc.pt", "--torchscript", "ts/enc.ts"])
    if not scriptable:  # the encoders run NumPy/OpenBLAS in autograd Functions: nothing written
        assert rc == 2 and not Path("ts").exists()
        with pytest.raises(StageError, match="TorchScript cannot compile the dgcnn encoder"):
            export(ckpt, "ts/enc.pt", torchscript="ts/enc.ts")
        return
    assert rc == 0
    scripted = torch.jit.load("ts/enc.ts")
    with torch.no_grad():
        assert torch.equal(scripted(clouds()), encoder(clouds()))
