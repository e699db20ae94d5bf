"""``crosspoint import-weights``: upstream state dicts (keys built here from a description of the
authors' layout) map strictly and completely onto our checkpoint, which the stages then load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from crosspoint import cli, paths
from crosspoint.feature_files import read_features
from crosspoint.models.encoders import load_point_encoder
from crosspoint.store import DatasetMeta, PointSet, StageError, write_point_store
from crosspoint.tools.import_weights import import_weights

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
EMB = 16  # small emb_dims keeps the test fast; the importer reads it from the shapes


class Upstream:
    """A state dict in upstream's naming: 1x1 conv blocks ``name.0`` (conv) + ``name.1`` (BN), the BN
    also registered under an alias, as upstream's modules do."""

    def __init__(self, seed: int) -> None:
        self.g = torch.Generator().manual_seed(seed)
        self.sd: dict[str, torch.Tensor] = {}

    def tensor(self, name: str, *shape: int) -> None:
        self.sd[name] = torch.randn(shape, generator=self.g)

    def bn(self, name: str, c: int, alias: str | None = None) -> None:
        for s in BN:
            t = (torch.tensor(3) if s == "num_batches_tracked"
                 else torch.rand(c, generator=self.g) + 0.5 if s == "running_var" else torch.randn(c, generator=self.g))
            self.sd[f"{name}.{s}"] = t
            if alias:
                self.sd[f"{alias}.{s}"] = t  # the same tensor, as in a real state_dict

    def conv(self, name: str, cin: int, cout: int, dims: int, alias: str | None = None) -> None:
        self.tensor(f"{name}.0.weight", cout, cin, *(1,) * dims)
        self.bn(f"{name}.1", cout, alias)

    def head(self, name: str, cin: int, hidden: int, bias: bool) -> None:
        self.tensor(f"{name}.0.weight", hidden, cin)
        self.bn(f"{name}.1", hidden)
        self.tensor(f"{name}.3.weight", 256, hidden)
        if bias:
            self.tensor(f"{name}.0.bias", hidden)
            self.tensor(f"{name}.3.bias", 256)


def upstream_dgcnn(seed: int = 0) -> dict[str, torch.Tensor]:
    """``DGCNN``: EdgeConvs 6->64, 128->64, 128->128, 256->256 (Conv2d), 512->EMB (Conv1d), inv_head."""
    u = Upstream(seed)
    for i, (cin, cout) in enumerate(((6, 64), (128, 64), (128, 128), (256, 256))):
        u.conv(f"conv{i + 1}", cin, cout, 2, alias=f"bn{i + 1}")
    u.conv("conv5", 512, EMB, 1, alias="bn5")
    u.head("inv_head", 2 * EMB, EMB, bias=True)
    return u.sd


def upstream_dgcnn_seg(seed: int = 0) -> dict[str, torch.Tensor]:
    """``DGCNN_partseg`` (pretraining): transform net, five EdgeConv layers, conv6, the head's BNs, inv_head."""
    u = Upstream(seed)
    t = "transform_net"
    u.conv(f"{t}.conv1", 6, 64, 2, alias=f"{t}.bn1")
    u.conv(f"{t}.conv2", 64, 128, 2, alias=f"{t}.bn2")
    u.conv(f"{t}.conv3", 128, 1024, 1)  # its bn3 attribute is rebound to the 512 BN below
    u.tensor(f"{t}.linear1.weight", 512, 1024)
    u.bn(f"{t}.bn3", 512)
    u.tensor(f"{t}.linear2.weight", 256, 512)
    u.bn(f"{t}.bn4", 256)
    u.tensor(f"{t}.transform.weight", 9, 256)
    u.tensor(f"{t}.transform.bias", 9)
    for i, (cin, cout) in enumerate(((6, 64), (64, 64), (128, 64), (64, 64), (128, 64))):
        u.conv(f"conv{i + 1}", cin, cout, 2, alias=f"bn{i + 1}")
    u.conv("conv6", 192, EMB, 1, alias="bn6")
    for i, c in ((7, 64), (8, 256), (9, 256), (10, 128)):
        u.bn(f"bn{i}", c)
    u.head("inv_head", EMB, EMB, bias=True)
    return u.sd


def upstream_resnet18(seed: int = 0) -> dict[str, torch.Tensor]:
    """``ResNet(resnet18())``: torchvision names under ``resnet.`` (no fc), inv_head without biases."""
    u = Upstream(seed)
    u.tensor("resnet.conv1.weight", 64, 3, 7, 7)
    u.bn("resnet.bn1", 64)
    cin = 64
    for i, width in enumerate((64, 128, 256, 512)):
        for j in range(2):
            p = f"resnet.layer{i + 1}.{j}"
            u.tensor(f"{p}.conv1.weight", width, cin, 3, 3)
            u.bn(f"{p}.bn1", width)
            u.tensor(f"{p}.conv2.weight", width, width, 3, 3)
            u.bn(f"{p}.bn2", width)
            if i > 0 and j == 0:
                u.tensor(f"{p}.downsample.0.weight", width, cin, 1, 1)
                u.bn(f"{p}.downsample.1", width)
            cin = width
    u.head("inv_head", 512, 512, bias=False)
    return u.sd


def _save(sd: dict, path: Path, prefix: str = "", wrap: str | None = None) -> Path:
    sd = {f"{prefix}{k}": v for k, v in sd.items()}
    torch.save({wrap: sd, "epoch": 3} if wrap else sd, path)
    return path


def _numel(sd: dict) -> int:
    return sum(t.numel() for t in sd.values())


def test_dgcnn_import_places_every_tensor_and_loads(tmp_path: Path):
    up = upstream_dgcnn()
    src = _save(up, tmp_path / "dgcnn.pth", prefix="module.")  # DataParallel names
    ckpt = import_weights(src, tmp_path / "ours.pt", "upstream-dgcnn", k=6)
    aliases = [k for k in up if k.startswith(("bn1.", "bn2.", "bn3.", "bn4.", "bn5."))]
    assert _numel(ckpt["point_encoder"]) + _numel(ckpt["point_head"]) == _numel(up) - _numel(
        {k: up[k] for k in aliases})
    enc = ckpt["point_encoder"]
    torch.testing.assert_close(enc["edges.1.layers.0.linear.weight"], up["conv2.0.weight"][:, :, 0, 0])
    torch.testing.assert_close(enc["embed.linear.weight"], up["conv5.0.weight"][:, :, 0])
    torch.testing.assert_close(enc["edges.3.layers.0.bn.running_var"], up["conv4.1.running_var"])
    torch.testing.assert_close(ckpt["point_head"]["3.bias"], up["inv_head.3.bias"])

    encoder, cfg = load_point_encoder(tmp_path / "ours.pt")
    assert cfg == {"point_model": "dgcnn", "k": 6, "emb_dims": EMB, "image_model": None, "points": 2048}
    pts = torch.randn(2, 32, 3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        feats = encoder(pts)
    assert feats.shape == (2, 2 * EMB) and torch.isfinite(feats).all()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda sd: sd.pop("conv3.1.running_var"), r"missing conv3\.1\.running_var"),
        (lambda sd: sd.pop("inv_head.0.bias"), r"missing inv_head\.0\.bias"),
        (lambda sd: sd.__setitem__("linear1.weight", torch.zeros(512, 2 * EMB)), r"left over linear1\.weight"),
        (lambda sd: sd.__setitem__("conv2.0.weight", torch.zeros(64, 130, 1, 1)),
         r"conv2\.0\.weight: shape \[64, 130, 1, 1\], expected \[64, 128, 1, 1\]"),
        (lambda sd: sd.__setitem__("conv5.0.weight", torch.zeros(EMB, 512)), r"conv5\.0\.weight: shape"),
        (lambda sd: sd.__setitem__("bn1.weight", sd["bn1.weight"] + 1), r"bn1\.weight differs from conv1\.1\.weight"),
    ],
)
def test_dgcnn_import_is_strict(tmp_path: Path, edit, message):
    sd = upstream_dgcnn()
    edit(sd)
    with pytest.raises(StageError, match=message):
        import_weights(_save(sd, tmp_path / "bad.pth"), tmp_path / "ours.pt", "upstream-dgcnn")
    assert not (tmp_path / "ours.pt").exists()


def test_seg_import_loads_into_the_part_seg_model(tmp_path: Path):
    from crosspoint.evaluate.segmentation import load_encoder_strict
    from crosspoint.models.dgcnn import SEG_HEAD_PREFIXES, PartSegModel

    up = upstream_dgcnn_seg()
    src = _save(up, tmp_path / "seg.pth", prefix="module.", wrap="model_state_dict")
    ckpt = import_weights(src, tmp_path / "seg.pt", "upstream-dgcnn-seg", k=6)
    enc = ckpt["point_encoder"]
    torch.testing.assert_close(enc["transform.fc.0.bn.running_mean"], up["transform_net.bn3.running_mean"])
    torch.testing.assert_close(enc["transform.embed.bn.weight"], up["transform_net.conv3.1.weight"])
    torch.testing.assert_close(enc["edges.1.layers.1.linear.weight"], up["conv4.0.weight"][:, :, 0, 0])
    torch.testing.assert_close(enc["transform.out.bias"], up["transform_net.transform.bias"])

    encoder, cfg = load_point_encoder(tmp_path / "seg.pt")
    assert cfg["point_model"] == "dgcnn_seg" and cfg["emb_dims"] == EMB and ckpt["variant"] == "seg"
    model = PartSegModel(3, 6, k=6, emb_dims=EMB)
    assert load_encoder_strict(model, encoder.state_dict(), tuple(SEG_HEAD_PREFIXES))
    with torch.no_grad():
        out = model.eval()(torch.randn(2, 24, 3), torch.eye(3)[:2])
    assert out.shape == (2, 24, 6)

    up["conv7.0.weight"] = torch.zeros(64, 16, 1)  # a fine-tuned model: its head has no place here
    with pytest.raises(StageError, match=r"left over bn10\.bias.* under bn10, bn7, bn8, bn9, conv7\)"):
        import_weights(_save(up, tmp_path / "tuned.pth"), tmp_path / "x.pt", "upstream-dgcnn-seg")


def test_resnet_import_and_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    _save(upstream_dgcnn(), tmp_path / "dgcnn.pth")
    _save(upstream_resnet18(), tmp_path / "img.pth", prefix="module.")
    assert cli.main(["import-weights", "dgcnn.pth", "both.pt", "--format", "upstream-dgcnn",
                     "--image", "img.pth", "--k", "6"]) == 0
    ckpt = torch.load(tmp_path / "both.pt", weights_only=True)
    assert ckpt["model"]["image_model"] == "resnet18" and ckpt["imported"]["format"] == "upstream-dgcnn"
    assert ckpt["image_encoder"]["stages.1.0.shortcut.0.weight"].shape == (128, 64, 1, 1)
    assert cli.main(["import-weights", "img.pth", "img.pt", "--format", "upstream-resnet"]) == 0
    with pytest.raises(StageError, match="holds no point encoder"):
        load_point_encoder(tmp_path / "img.pt")
    assert cli.main(["import-weights", "img.pth", "x.pt", "--format", "upstream-dgcnn"]) == 2  # wrong format
    assert not (tmp_path / "x.pt").exists()


def test_features_stage_uses_the_checkpoint_param(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    ps = PointSet(rng.normal(size=(6, 32, 3)).astype(np.float32), np.arange(6) % 2, ["train"] * 4 + ["test"] * 2,
                  [f"o{i}" for i in range(6)], DatasetMeta("toy", ["a", "b"]))
    write_point_store(paths.points("toy"), ps)
    import_weights(_save(upstream_dgcnn(), tmp_path / "dgcnn.pth"), "weights/authors.pt", "upstream-dgcnn", k=6)
    section = {"datasets": ["toy"], "shards": [0], "points": 24, "batch_size": 4, "device": "cpu"}

    Path("params.yaml").write_text(yaml.safe_dump({"features": {**section, "checkpoint": "weights/missing.pt"}}))
    assert cli.main(["features", "--dataset", "toy", "--shard", "0", "--seed", "0"]) == 2
    Path("params.yaml").write_text(yaml.safe_dump({"features": {**section, "checkpoint": "weights/authors.pt"}}))
    assert cli.main(["features", "--dataset", "toy", "--shard", "0", "--seed", "0"]) == 0  # no pretrain best.pt
    fs = read_features(paths.features_shard("toy", 0, 0))
    assert fs.pretrained.shape == (6, 2 * EMB) and fs.attrs["checkpoint"] == "weights/authors.pt"


def test_partseg_stage_uses_the_checkpoint_param(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from crosspoint.evaluate import partseg as P
    from tests.test_partseg import tiny_parts

    monkeypatch.chdir(tmp_path)
    write_point_store(paths.points("toy"), tiny_parts(n=12, points=48))
    prm = P.Params(dataset="toy", epochs=1, batch_size=6, points=32, k=6, val_fraction=0.0, examples=1,
                   checkpoint="weights/missing.pt")
    with pytest.raises(StageError, match="partseg.checkpoint not found"):
        P.run(prm)
    import_weights(_save(upstream_dgcnn(), tmp_path / "cls.pth"), "weights/cls.pt", "upstream-dgcnn", k=6)
    with pytest.raises(StageError, match="needs dgcnn_seg"):
        P.run(P.Params(**{**prm.__dict__, "checkpoint": "weights/cls.pt"}))
    import_weights(_save(upstream_dgcnn_seg(), tmp_path / "seg.pth"), "weights/seg.pt", "upstream-dgcnn-seg", k=6)
    m = P.run(P.Params(**{**prm.__dict__, "checkpoint": "weights/seg.pt"}))  # no pretrain best.pt needed
    assert 0 <= m["pretrained"]["instance_miou"] <= 100
