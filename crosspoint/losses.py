"""Contrastive losses: NT-Xent (SimCLR) and the CrossPoint objective (IMID + CMID)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def nt_xent(a: Tensor, b: Tensor, temperature: float = 0.1) -> Tensor:
    """Normalised-temperature cross-entropy over the ``2N`` samples of two aligned views.

    ``a[i]`` and ``b[i]`` are a positive pair; for each of the ``2N`` anchors the other ``2N - 2``
    samples (from both views) are its negatives. With cosine similarities ``s`` (inputs are
    L2-normalised here) the loss of anchor ``u`` with positive ``v`` is
    ``-log(exp(s(u, v)/T) / sum_{w != u} exp(s(u, w)/T))``, averaged over all ``2N`` anchors, i.e. both
    directions. Computed in float32 whatever the input dtype (safe under autocast).

    Args:
        a, b: ``[N, D]`` embeddings, ``N >= 1``.
        temperature: ``T > 0`` (paper: 0.1).

    Returns:
        scalar loss tensor.
    """
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(
            f"nt_xent expects two [N, D] tensors of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if temperature <= 0:
        raise ValueError(f"nt_xent: temperature must be positive, got {temperature}")
    n = a.shape[0]
    with torch.autocast(device_type=a.device.type, enabled=False):
        z = F.normalize(torch.cat([a.float(), b.float()]), dim=1)
        logits = (z @ z.T) / temperature
        self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
        logits = logits.masked_fill(self_mask, float("-inf"))
        targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
        return F.cross_entropy(logits, targets)


def crosspoint_loss(
    z1: Tensor,
    z2: Tensor,
    z_img: Tensor,
    *,
    temperature: float = 0.1,
    w_imid: float = 1.0,
    w_cmid: float = 1.0,
) -> tuple[Tensor, Tensor, Tensor]:
    """CrossPoint objective: ``(total, imid, cmid)``.

    ``imid = nt_xent(z1, z2)`` (intra-modal: two augmented views of each cloud);
    ``cmid = nt_xent((z1 + z2) / 2, z_img)`` (cross-modal: mean point embedding vs. its rendered view);
    ``total = w_imid * imid + w_cmid * cmid`` (a zero weight drops that term from the total exactly).
    """
    imid = nt_xent(z1, z2, temperature)
    cmid = nt_xent((z1 + z2) / 2, z_img, temperature)
    if w_cmid == 0:
        total = w_imid * imid
    elif w_imid == 0:
        total = w_cmid * cmid
    else:
        total = w_imid * imid + w_cmid * cmid
    return total, imid, cmid
