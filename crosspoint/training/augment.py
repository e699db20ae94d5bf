"""Batched random augmentations of point clouds and rendered views, as tensor ops on the input's device.

Every sample of a batch gets its own random draw. Randomness comes from the ``torch.Generator``
passed in (``None`` = torch's global generator); the generator must live on the same device as
the data (see :func:`make_generator`), so a seeded run gives the same views on the same device.

Point pipeline (CrossPoint, each step with probability 1, in this order):

1. normalise to the unit sphere: subtract the centroid, divide by the largest point norm;
2. isotropic scale ``s ~ U(scale_low, scale_high)`` (one factor for all three axes);
3. rotation about the up (y) axis by ``U(0, 2 pi)``;
4. translation: per axis ``U(-translate, translate)``, multiplied by the cloud's current extent
   (max - min) along that axis when ``translate_by_extent`` (the reading of "U(-0.5, 0.5) x extent
   per axis" that the authors' released code implements: ``PointcloudTranslate`` draws three
   uniforms and multiplies them by ``coord_max - coord_min``), or used directly as a shift in
   units of the (normalised, scaled) cloud when ``translate_by_extent`` is false;
5. jitter: i.i.d. ``N(0, jitter_sigma^2)`` per coordinate, clipped to ``+-jitter_clip``;
6. random input dropout: ratio ``r ~ U(0, dropout_max)``, each point independently dropped with
   probability ``r`` and replaced by the (augmented) first point, so N stays constant.

``enabled=False`` switches all random steps off (normalisation, deterministic, still follows
``normalize``). Image pipeline: colour jitter (brightness, contrast, saturation; factors
``U(max(0, 1 - x), 1 + x)``, applied in that fixed order, values clipped to [0, 1]), horizontal flip
with probability ``hflip``, then ImageNet mean/std normalisation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A seeded generator on ``device`` (pass the device of the data it will draw for)."""
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


def _check_generator(generator: torch.Generator | None, device: torch.device) -> None:
    if generator is not None and generator.device.type != device.type:
        raise ValueError(
            f"augment: generator is on {generator.device} but the data is on {device}; "
            "create it with make_generator(seed, data.device)"
        )


def _uniform(
    shape: tuple[int, ...], low: float, high: float, like: Tensor, gen: torch.Generator | None
) -> Tensor:
    u = torch.rand(shape, generator=gen, device=like.device, dtype=like.dtype)
    return low + (high - low) * u


@dataclass(frozen=True)
class PointAugment:
    """Point-cloud augmentation settings (defaults: the paper's)."""

    normalize: bool = True
    scale_low: float = 0.5
    scale_high: float = 2.0
    rotate_y: bool = True
    translate: float = 0.5
    jitter_sigma: float = 0.01
    jitter_clip: float = 0.05
    dropout_max: float = 0.875
    enabled: bool = True
    translate_by_extent: bool = True

    def check(self) -> list[str]:
        problems = []
        if not 0 < self.scale_low <= self.scale_high:
            problems.append(f"need 0 < scale_low <= scale_high, got {self.scale_low}, {self.scale_high}")
        if self.translate < 0:
            problems.append(f"translate must be >= 0, got {self.translate}")
        if self.jitter_sigma < 0 or self.jitter_clip < 0:
            problems.append(
                f"jitter_sigma and jitter_clip must be >= 0, got {self.jitter_sigma}, {self.jitter_clip}"
            )
        if not 0 <= self.dropout_max < 1:
            problems.append(f"dropout_max must be in [0, 1), got {self.dropout_max}")
        return problems


def normalize_unit_sphere(points: Tensor) -> Tensor:
    """Centre each cloud ``[B, N, 3]`` on its centroid and scale it so its farthest point has norm 1."""
    centred = points - points.mean(dim=1, keepdim=True)
    radius = centred.norm(dim=-1).amax(dim=1).clamp_min(1e-12)
    return centred / radius.view(-1, 1, 1)


def rotation_y(angle: Tensor) -> Tensor:
    """Rotation matrices ``[B, 3, 3]`` about the y axis for angles ``[B]`` (right-handed)."""
    c, s = torch.cos(angle), torch.sin(angle)
    zero, one = torch.zeros_like(angle), torch.ones_like(angle)
    rows = [torch.stack([c, zero, s], -1), torch.stack([zero, one, zero], -1), torch.stack([-s, zero, c], -1)]
    return torch.stack(rows, dim=-2)


def augment_points(points: Tensor, cfg: PointAugment, generator: torch.Generator | None = None) -> Tensor:
    """Apply the CrossPoint point augmentations to ``points [B, N, 3]``; returns a new ``[B, N, 3]`` tensor."""
    if points.dim() != 3 or points.shape[-1] != 3:
        raise ValueError(f"augment_points expects [B, N, 3], got {tuple(points.shape)}")
    if not points.is_floating_point():
        raise TypeError(f"augment_points expects float points, got {points.dtype}")
    _check_generator(generator, points.device)
    b, n, _ = points.shape
    x = normalize_unit_sphere(points) if cfg.normalize else points.clone()
    if not cfg.enabled:
        return x
    if (cfg.scale_low, cfg.scale_high) != (1.0, 1.0):
        x = x * _uniform((b, 1, 1), cfg.scale_low, cfg.scale_high, x, generator)
    if cfg.rotate_y:
        angle = _uniform((b,), 0.0, 2 * math.pi, x, generator)
        x = x @ rotation_y(angle).transpose(1, 2)
    if cfg.translate > 0:
        shift = _uniform((b, 1, 3), -cfg.translate, cfg.translate, x, generator)
        if cfg.translate_by_extent:
            shift = shift * (x.amax(dim=1, keepdim=True) - x.amin(dim=1, keepdim=True))
        x = x + shift
    if cfg.jitter_sigma > 0 and cfg.jitter_clip > 0:
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype) * cfg.jitter_sigma
        x = x + noise.clamp(-cfg.jitter_clip, cfg.jitter_clip)
    if cfg.dropout_max > 0:
        ratio = _uniform((b, 1), 0.0, cfg.dropout_max, x, generator)
        drop = torch.rand((b, n), generator=generator, device=x.device, dtype=x.dtype) < ratio
        x = torch.where(drop.unsqueeze(-1), x[:, :1], x)
    return x


@dataclass(frozen=True)
class ImageAugment:
    """Image augmentation settings (defaults: the paper's colour jitter 0.4, flip 0.5, ImageNet stats)."""

    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hflip: float = 0.5
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def check(self) -> list[str]:
        problems = []
        for name in ("brightness", "contrast", "saturation"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.hflip <= 1:
            problems.append(f"hflip is a probability in [0, 1], got {self.hflip}")
        if any(s <= 0 for s in self.std):
            problems.append(f"std values must be positive, got {self.std}")
        return problems


_GRAY = (0.299, 0.587, 0.114)


def _to_float_chw(images: Tensor) -> Tensor:
    if images.dim() != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected uint8 images [B, H, W, 3], got shape {tuple(images.shape)}")
    if images.dtype != torch.uint8:
        raise TypeError(f"expected uint8 images [B, H, W, 3], got dtype {images.dtype}")
    return images.permute(0, 3, 1, 2).float().div_(255.0)


def _grayscale(x: Tensor) -> Tensor:
    w = torch.tensor(_GRAY, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def _standardize(x: Tensor, cfg: ImageAugment) -> Tensor:
    mean = torch.tensor(cfg.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


def normalize_images(images: Tensor, cfg: ImageAugment) -> Tensor:
    """uint8 ``[B, H, W, 3]`` -> float ``[B, 3, H, W]`` scaled to [0, 1] and mean/std normalised (no randomness)."""
    return _standardize(_to_float_chw(images), cfg)


def resize_images(images: Tensor, size: int) -> Tensor:
    """Float ``[B, 3, H, W]`` resized to ``size`` x ``size`` (bilinear, antialiased); 0 or the same size: as is."""
    if size <= 0 or images.shape[-1] == size and images.shape[-2] == size:
        return images
    return torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                                           antialias=True)


def augment_images(images: Tensor, cfg: ImageAugment, generator: torch.Generator | None = None) -> Tensor:
    """Colour jitter + horizontal flip + normalisation: uint8 ``[B, H, W, 3]`` -> float ``[B, 3, H, W]``."""
    x = _to_float_chw(images)
    _check_generator(generator, x.device)
    b = x.shape[0]

    def factor(strength: float) -> Tensor:
        return _uniform((b, 1, 1, 1), max(0.0, 1.0 - strength), 1.0 + strength, x, generator)

    if cfg.brightness > 0:
        x = (x * factor(cfg.brightness)).clamp_(0.0, 1.0)
    if cfg.contrast > 0:
        mean_gray = _grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
        f = factor(cfg.contrast)
        x = (f * x + (1 - f) * mean_gray).clamp_(0.0, 1.0)
    if cfg.saturation > 0:
        f = factor(cfg.saturation)
        x = (f * x + (1 - f) * _grayscale(x)).clamp_(0.0, 1.0)
    if cfg.hflip > 0:
        flip = torch.rand((b, 1, 1, 1), generator=generator, device=x.device) < cfg.hflip
        x = torch.where(flip, x.flip(-1), x)
    return _standardize(x, cfg)
