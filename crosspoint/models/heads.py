"""Projection heads mapping encoder features to the 256-d contrastive embedding space."""

from __future__ import annotations

from torch import nn

#: Width of the contrastive embedding (paper: 256 for both modalities).
PROJ_DIM = 256


def point_head(in_dim: int, hidden: int = 1024, out_dim: int = PROJ_DIM) -> nn.Sequential:
    """Point projection head: Linear ``in_dim -> hidden``, BN, ReLU, Linear ``hidden -> out_dim``.

    Paper: 2048 -> 1024 -> 256 for DGCNN (max || avg features), 1024 -> 1024 -> 256 for the part-seg
    DGCNN and PointNet. Linear layers keep their bias.
    """
    return nn.Sequential(
        nn.Linear(in_dim, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, out_dim),
    )


def image_head(in_dim: int, hidden: int = 512, out_dim: int = PROJ_DIM) -> nn.Sequential:
    """Image projection head: Linear ``in_dim -> hidden`` (no bias), BN, ReLU, Linear ``hidden -> out_dim``
    (no bias). Paper: 2048 (ResNet-50) -> 512 -> 256; with ResNet-18, 512 -> 512 -> 256."""
    return nn.Sequential(
        nn.Linear(in_dim, hidden, bias=False),
        nn.BatchNorm1d(hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, out_dim, bias=False),
    )
