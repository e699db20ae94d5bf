"""``pretrain.precision``: fp32 is plain float32, bf16 is autocast (on the CPU too), other values
are refused, and the choice is recorded in checkpoints and metrics."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from crosspoint import config
from crosspoint.models.encoders import model_config
from crosspoint.training.augment import make_generator
from crosspoint.training.params import Params, Variant
from crosspoint.training.precision import autocast
from crosspoint.training.pretrain import CrossPointModel, _checkpoint, _summary, train_step

torch.set_num_threads(2)

CPU = torch.device("cpu")


def test_fp32_runs_without_autocast_and_bf16_autocasts():
    layer = nn.Linear(4, 3)
    x = torch.randn(2, 4)
    with autocast(CPU, "fp32"):
        assert not torch.is_autocast_enabled("cpu")
        assert layer(x).dtype == torch.float32
    with autocast(CPU, "bf16"):
        assert layer(x).dtype == torch.bfloat16


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="fp16"):
        autocast(CPU, "fp16")
    with pytest.raises(config.ParamsError, match="precision"):
        config.parse_section(Params, {"precision": "fp16"}, "pretrain")
    assert config.parse_section(Params, {"precision": "bf16"}, "pretrain").precision == "bf16"
    assert Params().precision == "fp32"


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_train_step_at_each_precision(precision):
    v = Variant(point_model="dgcnn", k=4, emb_dims=32, points=32, image_size=32, batch_size=4)
    prm = Params(cls=v, precision=precision)
    torch.manual_seed(0)
    model = CrossPointModel(v, with_images=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(1)
    clouds = torch.rand(4, 32, 3, generator=gen) * 2 - 1
    images = (torch.rand(4, 32, 32, 3, generator=gen) * 255).to(torch.uint8)
    total, imid, cmid = train_step(model, opt, clouds, images, prm, 32, make_generator(0, CPU))
    assert total.dtype == torch.float32 and math.isfinite(float(total))
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast keeps float32 weights


def test_precision_is_recorded_in_checkpoints_and_metrics():
    v = Variant(point_model="pointnet", emb_dims=16, points=8, k=4)
    prm = Params(cls=v, precision="bf16", w_cmid=0.0)
    model = CrossPointModel(v, with_images=False)
    ckpt = _checkpoint(model, model_config(v, False), 1, {"val/accuracy": 0.5}, prm, "cls", 0)
    assert ckpt["precision"] == "bf16" and ckpt["params"]["precision"] == "bf16"
    summary = _summary([{"epoch": 0, "val/accuracy": 0.1}], {"value": 0.5, "epoch": 1}, "accuracy", 0, prm.precision)
    assert summary["precision"] == "bf16" and "numerics" in summary
