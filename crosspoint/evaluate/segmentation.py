"""Part segmentation's pieces below the stage: loading a pretrained encoder into the segmentation model,
the label-smoothed loss, the per-shape data with its part mask, one training epoch and prediction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from crosspoint.metrics import segmentation_scores
from crosspoint.settings import PartsegParams as Params
from crosspoint.store import PointSet, StageError

# ---------------------------------------------------------------------------------------------
# Weights



def load_encoder_strict(model: nn.Module, state: dict[str, torch.Tensor], head_prefixes: tuple[str, ...]) -> list[str]:
    """Load ``state`` into ``model.encoder`` with every key matched (shapes included), and check that
    every model key outside the encoder is a declared head key. Returns the head keys (randomly
    initialised). Raises StageError naming the offending keys."""
    expected = set(model.encoder.state_dict())
    given = set(state)
    missing, unexpected = sorted(expected - given), sorted(given - expected)
    if missing or unexpected:
        raise StageError(
            f"partseg: pretrained encoder weights do not match the part-seg encoder: missing {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}"
            " (was the seg checkpoint pretrained with model dgcnn_seg?)"
        )
    try:
        model.encoder.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise StageError(f"partseg: cannot load the pretrained encoder: {' '.join(first[:3])}") from err
    head = [k for k in model.state_dict() if not k.startswith("encoder.")]
    stray = [k for k in head if not k.startswith(tuple(head_prefixes))]
    if stray:
        raise StageError(f"partseg: model keys neither in the encoder nor in the declared head: {stray[:5]}")
    return head


def smoothed_cross_entropy(logits: torch.Tensor, target: torch.Tensor, eps: float) -> torch.Tensor:
    """Cross-entropy against ``1 - eps`` on the target class and ``eps / (C - 1)`` on each other class
    (DGCNN's smoothing). ``logits [M, C]``, ``target [M]``; targets < 0 are ignored."""
    keep = target >= 0
    logits, target = logits[keep], target[keep]
    num = logits.shape[-1]
    if eps == 0 or num == 1:
        return F.cross_entropy(logits, target)
    soft = torch.full_like(logits, eps / (num - 1))
    soft.scatter_(1, target[:, None], 1.0 - eps)
    return -(soft * F.log_softmax(logits, dim=-1)).sum(-1).mean()


# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class SegData:
    """Shapes ready for training: points, per-point global part ids, category ids."""

    points: np.ndarray  # float32 [N, P, 3]
    parts: np.ndarray  # int64 [N, P]
    categories: np.ndarray  # int64 [N]

    def __len__(self) -> int:
        return len(self.categories)

    def take(self, idx: np.ndarray) -> SegData:
        return SegData(self.points[idx], self.parts[idx], self.categories[idx])


def seg_data(ps: PointSet, mask: np.ndarray) -> SegData:
    if ps.part_labels is None:
        raise StageError("partseg: the point store has no part labels")
    return SegData(
        points=ps.points[mask].astype(np.float32),
        parts=ps.part_labels[mask].astype(np.int64),
        categories=np.asarray(ps.labels[mask], np.int64),
    )


def fixed_subset(data: SegData, n: int, seed: int) -> SegData:
    """Every shape reduced to a seeded random subset of ``n`` points (used for val and test)."""
    total = data.points.shape[1]
    if n >= total:
        return data
    rng = np.random.default_rng(seed)
    idx = np.stack([rng.choice(total, size=n, replace=False) for _ in range(len(data))])
    return SegData(
        np.take_along_axis(data.points, idx[:, :, None], axis=1), np.take_along_axis(data.parts, idx, axis=1),
        data.categories,
    )


def part_mask(num_categories: int, num_parts: int, category_parts: dict[int, list[int]]) -> torch.Tensor:
    """``[categories, parts]`` bool: which global parts a category may be assigned."""
    mask = torch.zeros(num_categories, num_parts, dtype=torch.bool)
    for c, parts in category_parts.items():
        mask[c, parts] = True
    return mask


# ---------------------------------------------------------------------------------------------
# Training and evaluation


def train_epoch(
    model: nn.Module, data: SegData, num_categories: int, optimizer: torch.optim.Optimizer, prm: Params,
    rng: np.random.Generator, device: torch.device,
) -> tuple[float, float]:
    """One pass over ``data`` in a seeded order with a fresh point subset per shape; (loss, point acc)."""
    model.train()
    order = rng.permutation(len(data))
    total = data.points.shape[1]
    # summed on the device and read once per epoch (no host sync per step on CUDA); the mean of the
    # losses is numpy's over their float64 values, as it was when each was read per step
    losses: list[torch.Tensor] = []
    correct = torch.zeros((), dtype=torch.int64, device=device)
    count = torch.zeros((), dtype=torch.int64, device=device)
    # drop a last batch of one shape: BatchNorm cannot train on it
    batches = [order[i : i + prm.batch_size] for i in range(0, len(order), prm.batch_size)]
    batches = [b for b in batches if len(b) > 1] or batches
    for batch in batches:
        idx = np.stack([rng.choice(total, size=min(prm.points, total), replace=False) for _ in batch])
        pts = np.take_along_axis(data.points[batch], idx[:, :, None], axis=1)
        if prm.augment:
            pts = pts * rng.uniform(2 / 3, 3 / 2, size=(len(batch), 1, 3)) + rng.uniform(-0.2, 0.2, (len(batch), 1, 3))
        target = torch.from_numpy(np.take_along_axis(data.parts[batch], idx, axis=1)).to(device)
        cats = torch.from_numpy(data.categories[batch]).to(device)
        onehot = F.one_hot(cats, num_categories).float()
        logits = model(torch.from_numpy(pts.astype(np.float32)).to(device), onehot)
        loss = smoothed_cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), prm.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
        valid = target >= 0
        correct += ((logits.argmax(-1) == target) & valid).sum()
        count += valid.sum()
    mean_loss = float(np.mean(torch.stack(losses).cpu().double().numpy())) if losses else float("nan")
    return mean_loss, int(correct) / max(int(count), 1)


@torch.no_grad()
def predict(
    model: nn.Module, data: SegData, num_categories: int, mask: torch.Tensor | None, batch_size: int,
    device: torch.device,
) -> np.ndarray:
    """Per-point part predictions ``[N, P]``, each restricted to its category's parts by ``mask``
    (``[categories, parts]``), or over every part when ``mask`` is None."""
    model.eval()
    out = []
    if mask is not None:
        mask = mask.to(device)
    for i in range(0, len(data), batch_size):
        pts = torch.from_numpy(data.points[i : i + batch_size]).to(device)
        cats = torch.from_numpy(data.categories[i : i + batch_size]).to(device)
        logits = model(pts, F.one_hot(cats, num_categories).float())
        if mask is not None:
            logits = logits.masked_fill(~mask[cats][:, None, :], float("-inf"))
        out.append(logits.argmax(-1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, data.points.shape[1]), np.int64)


def scores(pred: np.ndarray, data: SegData, category_parts: dict[int, list[int]]):
    return segmentation_scores(list(pred), list(data.parts), list(data.categories), category_parts)
