"""Contrastive losses: NT-Xent (SimCLR) and the CrossPoint objective (IMID + CMID).

Under torchrun with ``global_batch=True`` the negatives are the samples of every process: each
process gathers the embeddings of all (gradients flow back to the process that made them) and
computes the loss rows of its own anchors against all of them, the mean over its rows. The mean of
these losses over the processes, which is what DistributedDataParallel's gradient averaging
differentiates, is the loss of one process holding the whole global batch. With one process (or
``global_batch=False``) the local batch is the whole batch and nothing is gathered.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from crosspoint.training.distributed import all_gather_rows, gathering


def nt_xent(a: Tensor, b: Tensor, temperature: float = 0.1, *, global_batch: bool = False) -> Tensor:
    """Normalised-temperature cross-entropy over the ``2N`` samples of two aligned views.

    ``a[i]`` and ``b[i]`` are a positive pair; for each of the ``2N`` anchors the other ``2N - 2``
    samples (from both views) are its negatives. With cosine similarities ``s`` (inputs are
    L2-normalised here) the loss of anchor ``u`` with positive ``v`` is
    ``-log(exp(s(u, v)/T) / sum_{w != u} exp(s(u, w)/T))``, averaged over all ``2N`` anchors, i.e. both
    directions. Computed in float32 whatever the input dtype (safe under autocast).

    Args:
        a, b: ``[N, D]`` embeddings, ``N >= 1``.
        temperature: ``T > 0`` (paper: 0.1).
        global_batch: under torchrun, negatives from every process's batch (see the module doc).

    Returns:
        scalar loss tensor.
    """
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(
            f"nt_xent expects two [N, D] tensors of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if temperature <= 0:
        raise ValueError(f"nt_xent: temperature must be positive, got {temperature}")
    if global_batch and gathering():
        return _nt_xent_global(a, b, temperature)
    n = a.shape[0]
    with torch.autocast(device_type=a.device.type, enabled=False):
        z = F.normalize(torch.cat([a.float(), b.float()]), dim=1)
        logits = (z @ z.T) / temperature
        self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
        logits = logits.masked_fill(self_mask, float("-inf"))
        targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
        return F.cross_entropy(logits, targets)


def _nt_xent_global(a: Tensor, b: Tensor, temperature: float) -> Tensor:
    """This process's ``2n`` anchors against the ``2 * world * n`` samples of all processes.

    Global layout, as one process would stack it: ``[a of rank 0, ..., a of rank P-1, b of rank 0,
    ..., b of rank P-1]``; local anchor ``i`` (a) sits at ``rank * n + i``, its positive (b) at
    ``P * n + rank * n + i``."""
    n = a.shape[0]
    with torch.autocast(device_type=a.device.type, enabled=False):
        z = F.normalize(torch.cat([a.float(), b.float()]), dim=1)
        gathered = all_gather_rows(z)  # [a_0, b_0, a_1, b_1, ...] -> [a_0, a_1, ..., b_0, b_1, ...]
        columns = gathered.view(-1, 2, n, z.shape[1]).transpose(0, 1).reshape(-1, z.shape[1])
        total = columns.shape[0] // 2
        start = torch.distributed.get_rank() * n
        own_a = torch.arange(start, start + n, device=z.device)
        own = torch.cat([own_a, own_a + total])  # column of each local anchor itself
        positive = torch.cat([own_a + total, own_a])
        logits = (z @ columns.T) / temperature
        self_mask = torch.zeros_like(logits, dtype=torch.bool)
        self_mask[torch.arange(2 * n, device=z.device), own] = True
        logits = logits.masked_fill(self_mask, float("-inf"))
        return F.cross_entropy(logits, positive)


def crosspoint_loss(
    z1: Tensor,
    z2: Tensor,
    z_img: Tensor,
    *,
    temperature: float = 0.1,
    w_imid: float = 1.0,
    w_cmid: float = 1.0,
    global_batch: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """CrossPoint objective: ``(total, imid, cmid)``.

    ``imid = nt_xent(z1, z2)`` (intra-modal: two augmented views of each cloud);
    ``cmid = nt_xent((z1 + z2) / 2, z_img)`` (cross-modal: mean point embedding vs. its rendered view);
    ``total = w_imid * imid + w_cmid * cmid`` (a zero weight drops that term from the total exactly).
    ``global_batch``: negatives from every process under torchrun (see :func:`nt_xent`).
    """
    imid = nt_xent(z1, z2, temperature, global_batch=global_batch)
    cmid = nt_xent((z1 + z2) / 2, z_img, temperature, global_batch=global_batch)
    if w_cmid == 0:
        total = w_imid * imid
    elif w_imid == 0:
        total = w_cmid * cmid
    else:
        total = w_imid * imid + w_cmid * cmid
    return total, imid, cmid
