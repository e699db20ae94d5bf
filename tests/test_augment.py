"""Statistics of each point augmentation and the image augmentation."""

from __future__ import annotations

import math

import pytest
import torch

from crosspoint.config import ParamsError, parse_section
from crosspoint.training.augment import (
    ImageAugment,
    PointAugment,
    augment_images,
    augment_points,
    make_generator,
    normalize_images,
    normalize_unit_sphere,
)

torch.set_num_threads(2)

# Every random step switched off; each test switches one on.
OFF = dict(scale_low=1.0, scale_high=1.0, rotate_y=False, translate=0.0, jitter_sigma=0.0, dropout_max=0.0)


def clouds(b: int = 256, n: int = 64, seed: int = 0) -> torch.Tensor:
    gen = make_generator(seed)
    pts = torch.randn(b, n, 3, generator=gen) * torch.tensor([2.0, 1.0, 0.5]) + 3.0
    return pts


def test_normalise_to_unit_sphere():
    x = normalize_unit_sphere(clouds())
    torch.testing.assert_close(x.mean(dim=1), torch.zeros(256, 3), rtol=0, atol=1e-5)
    torch.testing.assert_close(x.norm(dim=-1).amax(dim=1), torch.ones(256))
    out = augment_points(clouds(), PointAugment(**OFF), make_generator(0))
    torch.testing.assert_close(out, x)
    raw = clouds()
    assert torch.equal(augment_points(raw, PointAugment(normalize=False, **OFF), None), raw)


def test_scale_is_isotropic_and_in_range():
    base = normalize_unit_sphere(clouds())
    cfg = PointAugment(**{**OFF, "scale_low": 0.5, "scale_high": 2.0})
    out = augment_points(clouds(), cfg, make_generator(1))
    ratio = out / base
    s = ratio[:, 0, 0]
    torch.testing.assert_close(ratio, s.view(-1, 1, 1).expand_as(ratio), rtol=1e-4, atol=1e-4)
    assert s.min() >= 0.5 and s.max() <= 2.0
    assert s.min() < 0.6 and s.max() > 1.9  # the range is used
    assert s.mean().item() == pytest.approx(1.25, abs=0.1)


def test_rotation_keeps_y_and_norms():
    base = normalize_unit_sphere(clouds())
    out = augment_points(clouds(), PointAugment(**{**OFF, "rotate_y": True}), make_generator(2))
    torch.testing.assert_close(out[..., 1], base[..., 1])
    torch.testing.assert_close(out.norm(dim=-1), base.norm(dim=-1))
    # angle of the first point's xz projection: uniform over the circle
    ang_in = torch.atan2(base[:, 0, 2], base[:, 0, 0])
    ang_out = torch.atan2(out[:, 0, 2], out[:, 0, 0])
    delta = torch.remainder(ang_in - ang_out, 2 * math.pi)
    hist = torch.histc(delta, bins=4, min=0, max=2 * math.pi)
    assert (hist > 256 / 4 * 0.5).all(), hist
    # same rotation for every point of a sample (pairwise distances preserved)
    exact = "donot_use_mm_for_euclid_dist"
    torch.testing.assert_close(
        torch.cdist(out, out, compute_mode=exact),
        torch.cdist(base, base, compute_mode=exact),
        rtol=1e-4,
        atol=1e-5,
    )


@pytest.mark.parametrize("by_extent", [True, False])
def test_translation_range(by_extent):
    base = normalize_unit_sphere(clouds())
    cfg = PointAugment(**{**OFF, "translate": 0.5, "translate_by_extent": by_extent})
    out = augment_points(clouds(), cfg, make_generator(3))
    shift = out - base
    torch.testing.assert_close(shift, shift[:, :1].expand_as(shift), rtol=0, atol=1e-5)  # rigid per sample
    unit = shift[:, 0]
    if by_extent:
        unit = unit / (base.amax(dim=1) - base.amin(dim=1))
    assert unit.abs().max() <= 0.5 + 1e-5
    assert unit.min() < -0.4 and unit.max() > 0.4
    assert unit.mean().abs() < 0.06


def test_jitter_clipped_with_expected_std():
    base = normalize_unit_sphere(clouds(b=64, n=512))
    out = augment_points(
        clouds(b=64, n=512), PointAugment(**{**OFF, "jitter_sigma": 0.01}), make_generator(4)
    )
    noise = out - base
    assert noise.abs().max() <= 0.05 + 1e-6
    assert noise.std().item() == pytest.approx(0.01, rel=0.03)
    clipped = augment_points(
        clouds(b=64, n=512),
        PointAugment(**{**OFF, "jitter_sigma": 0.05, "jitter_clip": 0.02}),
        make_generator(4),
    )
    noise = clipped - base
    assert noise.abs().max() <= 0.02 + 1e-6
    assert (noise.abs() > 0.02 - 1e-6).float().mean() > 0.5  # most values hit the clip at sigma 0.05


def test_dropout_replaces_by_first_point():
    base = normalize_unit_sphere(clouds(b=512, n=256))
    out = augment_points(
        clouds(b=512, n=256), PointAugment(**{**OFF, "dropout_max": 0.875}), make_generator(5)
    )
    assert out.shape == base.shape
    kept = (out == base).all(-1)
    is_first = (out == base[:, :1]).all(-1)
    assert (kept | is_first).all()
    torch.testing.assert_close(out[:, 0], base[:, 0])
    frac = (~kept).float().mean(dim=1)
    assert frac.max() <= 0.875 + 0.08  # per-sample ratio at most 0.875 (+ binomial noise)
    assert frac.mean().item() == pytest.approx(0.875 / 2, abs=0.04)  # ratio ~ U(0, 0.875)
    assert frac.min() < 0.05 and frac.max() > 0.75


def test_full_pipeline_seeded_and_per_sample():
    cfg = PointAugment()
    x = clouds(b=8, n=128)
    a = augment_points(x, cfg, make_generator(7))
    b = augment_points(x, cfg, make_generator(7))
    c = augment_points(x, cfg, make_generator(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and torch.isfinite(a).all()
    same_input = augment_points(x[:1].expand(4, -1, -1), cfg, make_generator(9))
    assert not torch.allclose(same_input[0], same_input[1])  # one draw per sample
    assert torch.equal(x, clouds(b=8, n=128))  # the input is not modified
    disabled = augment_points(x, PointAugment(enabled=False), make_generator(7))
    torch.testing.assert_close(disabled, normalize_unit_sphere(x))


def test_params_validation():
    assert parse_section(PointAugment, {"translate": 0.2}, "pretrain.points").translate == 0.2
    with pytest.raises(ParamsError, match="scale_low"):
        parse_section(PointAugment, {"scale_low": 3.0}, "pretrain.points")
    with pytest.raises(ParamsError, match="dropout_max"):
        parse_section(PointAugment, {"dropout_max": 1.0}, "pretrain.points")
    img = parse_section(ImageAugment, {"mean": [0.5, 0.5, 0.5]}, "pretrain.images")
    assert img.mean == (0.5, 0.5, 0.5)
    with pytest.raises(ParamsError, match="hflip"):
        parse_section(ImageAugment, {"hflip": 1.5}, "pretrain.images")


# ---------------------------------------------------------------- images


def images(b: int = 16, h: int = 24, w: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (b, h, w, 3), generator=make_generator(seed), dtype=torch.uint8)


def test_normalize_images_exact():
    cfg = ImageAugment()
    img = images()
    out = normalize_images(img, cfg)
    assert out.shape == (16, 3, 24, 32) and out.dtype == torch.float32 and out.is_contiguous()
    mean, std = torch.tensor(cfg.mean).view(1, 3, 1, 1), torch.tensor(cfg.std).view(1, 3, 1, 1)
    torch.testing.assert_close(out * std + mean, img.permute(0, 3, 1, 2).float() / 255)
    with pytest.raises(TypeError):
        normalize_images(img.float(), cfg)


def test_augment_images_shape_range_and_flip():
    cfg = ImageAugment()
    img = images()
    out = augment_images(img, cfg, make_generator(1))
    assert out.shape == (16, 3, 24, 32) and out.dtype == torch.float32
    mean, std = torch.tensor(cfg.mean).view(1, 3, 1, 1), torch.tensor(cfg.std).view(1, 3, 1, 1)
    unit = out * std + mean
    assert unit.min() >= -1e-5 and unit.max() <= 1 + 1e-5
    assert not torch.allclose(out, normalize_images(img, cfg))  # colour jitter changed something
    assert torch.equal(out, augment_images(img, cfg, make_generator(1)))  # seeded

    no_jitter = dict(brightness=0.0, contrast=0.0, saturation=0.0)
    flipped = augment_images(img, ImageAugment(**no_jitter, hflip=1.0), make_generator(2))
    torch.testing.assert_close(flipped, normalize_images(img.flip(2), cfg))
    kept = augment_images(img, ImageAugment(**no_jitter, hflip=0.0), make_generator(2))
    torch.testing.assert_close(kept, normalize_images(img, cfg))
    half = augment_images(images(b=200), ImageAugment(**no_jitter, hflip=0.5), make_generator(3))
    ref = normalize_images(images(b=200), cfg)
    n_flipped = sum(not torch.equal(half[i], ref[i]) for i in range(200))
    assert 70 < n_flipped < 130


def test_colour_jitter_factors():
    # brightness only: every pixel scaled by one factor per image within [0.6, 1.4] (before clipping)
    img = torch.full((64, 4, 4, 3), 100, dtype=torch.uint8)
    cfg = ImageAugment(contrast=0.0, saturation=0.0, hflip=0.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    out = augment_images(img, cfg, make_generator(4))
    factor = out[:, 0, 0, 0] / (100 / 255)
    torch.testing.assert_close(out, out[:, :1, :1, :1].expand_as(out))
    assert factor.min() >= 0.6 - 1e-5 and factor.max() <= 1.4 + 1e-5
    assert factor.min() < 0.7 and factor.max() > 1.3
    # saturation only on gray pixels changes nothing; on coloured pixels keeps the gray level
    gray_img = torch.full((8, 4, 4, 3), 77, dtype=torch.uint8)
    sat = ImageAugment(brightness=0.0, contrast=0.0, hflip=0.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    torch.testing.assert_close(
        augment_images(gray_img, sat, make_generator(5)), gray_img.permute(0, 3, 1, 2) / 255
    )
    colour = torch.tensor([120, 100, 80], dtype=torch.uint8).expand(8, 4, 4, 3).contiguous()
    out = augment_images(colour, sat, make_generator(5))
    gray_w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    torch.testing.assert_close((out * gray_w).sum(1), (colour.permute(0, 3, 1, 2) / 255 * gray_w).sum(1))
