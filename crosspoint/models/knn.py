"""Batched k-nearest-neighbour search with bounded memory.

The squared distance ``|q - p|^2 = |q|^2 - 2 q.p + |p|^2`` is ranked through the score
``2 q.p - |p|^2`` (``|q|^2`` is constant along a row, so it does not change the order), which is
one matmul per block and a ``topk``. Queries are processed in blocks so that at most
``max_elems`` scores exist at a time: peak memory is bounded regardless of batch size and point
count. Everything runs on the input's device; the search is done in float32 (float64 for float64
input) with autocast off, so mixed-precision training does not change the graph.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: Default cap on the number of pairwise scores held at once (2**25 float32 = 128 MiB).
DEFAULT_MAX_ELEMS = 2**25


def knn(x: Tensor, k: int, *, max_elems: int = DEFAULT_MAX_ELEMS) -> Tensor:
    """Indices of the ``k`` nearest points (the point itself included) for every point.

    Args:
        x: ``[B, N, C]`` coordinates or features (any float dtype, any device).
        k: neighbours per point, ``1 <= k <= N``.
        max_elems: upper bound on the pairwise-score elements computed per block.

    Returns:
        ``[B, N, k]`` int64 indices into the N points of the same sample, nearest first.
    """
    if x.dim() != 3:
        raise ValueError(f"knn expects [B, N, C], got shape {tuple(x.shape)}")
    b, n, _ = x.shape
    if not 1 <= k <= n:
        raise ValueError(f"knn: k={k} must be between 1 and the number of points {n}")
    if max_elems < 1:
        raise ValueError(f"knn: max_elems must be positive, got {max_elems}")
    out = torch.empty(b, n, k, dtype=torch.long, device=x.device)
    with torch.no_grad(), torch.autocast(device_type=x.device.type, enabled=False):
        pts = x.detach() if x.dtype == torch.float64 else x.detach().float()
        sq = pts.square().sum(-1)  # [B, N]
        batch_block = max(1, min(b, max_elems // (n * n)))
        for b0 in range(0, b, batch_block):
            b1 = min(b, b0 + batch_block)
            p = pts[b0:b1]
            neg_sq = -sq[b0:b1].unsqueeze(1)  # [b, 1, N]
            rows = max(1, min(n, max_elems // ((b1 - b0) * n)))
            for q0 in range(0, n, rows):
                q1 = min(n, q0 + rows)
                score = torch.baddbmm(neg_sq, p[:, q0:q1], p.transpose(1, 2), alpha=2.0)
                out[b0:b1, q0:q1] = score.topk(k, dim=-1).indices
    return out


def knn_brute_force(x: Tensor, k: int) -> Tensor:
    """Reference kNN (explicit distances, full sort), for tests; same contract as :func:`knn`."""
    d = torch.cdist(x.double(), x.double(), compute_mode="donot_use_mm_for_euclid_dist")
    return d.argsort(dim=-1, stable=True)[..., :k]


def gather_neighbours(feat: Tensor, idx: Tensor) -> Tensor:
    """``feat[b, idx[b, i, j]]`` for features ``[B, N, C]`` and indices ``[B, M, k]`` -> ``[B, M, k, C]``.

    One flat ``index_select`` over the batch (no expanded index tensor), so the extra memory is the
    output only.
    """
    b, n, c = feat.shape
    _, m, k = idx.shape
    offset = torch.arange(b, device=idx.device).view(b, 1, 1) * n
    flat = (idx + offset).reshape(-1)
    return feat.reshape(b * n, c).index_select(0, flat).view(b, m, k, c)
