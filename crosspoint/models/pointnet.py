"""PointNet encoder and the shared per-point layer used by all point encoders.

Point features are kept channels-last, ``[B, N, C]``: a "1x1 convolution" over points is then a
plain ``Linear`` on the last dimension (one matmul over ``B*N`` rows), and batch norm runs on the
flattened ``[B*N, C]`` view, which gives exactly the statistics of ``BatchNorm1d`` over ``[B, C, N]``.
"""

from __future__ import annotations

from itertools import pairwise

import torch.nn.functional as F
from torch import Tensor, nn

from crosspoint.models.blas import linear


class LinearBNAct(nn.Module):
    """Linear (no bias) -> BatchNorm -> LeakyReLU(slope) on the last dimension of ``[..., C]``.

    ``slope=0`` gives ReLU. All leading dimensions are pooled for the batch-norm statistics, so on
    ``[B, N, C]`` this equals Conv1d(1x1) + BatchNorm1d over ``[B, C, N]``, and on ``[B, N, k, C]`` it
    equals Conv2d(1x1) + BatchNorm2d over ``[B, C, N, k]``.
    """

    def __init__(self, in_dim: int, out_dim: int, slope: float = 0.2) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim, bias=False)
        self.bn = nn.BatchNorm1d(out_dim)
        self.slope = slope

    def norm_act(self, x: Tensor) -> Tensor:
        """Batch norm + activation of pre-activations ``[..., C]`` (used by EdgeConv's per-point form)."""
        shape = x.shape
        y = self.bn(x.reshape(-1, shape[-1]))
        y = F.relu(y, inplace=True) if self.slope == 0 else F.leaky_relu(y, self.slope, inplace=True)
        return y.view(shape)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm_act(linear(x, self.linear.weight))


class PointNet(nn.Module):
    """PointNet without the input/feature transforms, as used by CrossPoint.

    Shared MLP 3 -> 64 -> 64 -> 64 -> 128 -> ``emb_dims`` (each Linear without bias + BN + ReLU),
    then a global max over points: ``forward([B, N, 3]) -> [B, emb_dims]`` (``out_dim = emb_dims``,
    1024 in the paper).
    """

    def __init__(self, emb_dims: int = 1024) -> None:
        super().__init__()
        widths = (3, 64, 64, 64, 128, emb_dims)
        self.mlp = nn.Sequential(*(LinearBNAct(a, b, slope=0.0) for a, b in pairwise(widths)))
        self.out_dim = emb_dims

    def forward(self, points: Tensor) -> Tensor:
        return self.mlp(points).max(dim=1).values
