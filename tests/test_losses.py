"""NT-Xent against a naive loop reference; temperature behaviour; the CrossPoint loss weights."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
import torch

from crosspoint.training.losses import crosspoint_loss, nt_xent

torch.set_num_threads(2)


def naive_nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float) -> float:
    """Explicit loops: for each of the 2N anchors, its positive and its 2N - 2 negatives."""
    n = a.shape[0]
    z = [v / v.norm() for v in torch.cat([a, b]).double()]

    def sim(i: int, j: int) -> float:
        return float(z[i] @ z[j]) / temperature

    total = 0.0
    for i in range(2 * n):
        pos = (i + n) % (2 * n)
        negatives = [j for j in range(2 * n) if j not in (i, pos)]
        assert len(negatives) == 2 * n - 2
        denom = math.exp(sim(i, pos)) + sum(math.exp(sim(i, j)) for j in negatives)
        total += -math.log(math.exp(sim(i, pos)) / denom)
    return total / (2 * n)


@pytest.mark.parametrize(
    ("n", "d", "t"), [(1, 4, 0.1), (2, 3, 0.5), (5, 8, 0.1), (9, 16, 1.0), (6, 32, 0.07)]
)
def test_nt_xent_matches_naive_reference(n, d, t):
    gen = torch.Generator().manual_seed(n * 100 + d)
    a, b = torch.randn(n, d, generator=gen), torch.randn(n, d, generator=gen)
    b = b + 0.5 * a  # correlated pairs, so positives differ from negatives
    got = nt_xent(a, b, t)
    assert got.dim() == 0
    assert got.item() == pytest.approx(naive_nt_xent(a, b, t), rel=1e-5, abs=1e-6)


def test_nt_xent_symmetric_scale_invariant_and_one_pair():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(7, 10, generator=gen), torch.randn(7, 10, generator=gen)
    torch.testing.assert_close(nt_xent(a, b), nt_xent(b, a))
    torch.testing.assert_close(nt_xent(3 * a, 0.2 * b), nt_xent(a, b))  # cosine similarity
    assert nt_xent(a[:1], b[:1]).item() == pytest.approx(0.0, abs=1e-6)  # no negatives at all
    with pytest.raises(ValueError):
        nt_xent(a, b[:3])
    with pytest.raises(ValueError):
        nt_xent(a, b, temperature=0.0)


def test_nt_xent_temperature_behaviour():
    n = 8
    aligned = torch.eye(n, 16)  # positives identical, negatives orthogonal
    losses = [nt_xent(aligned, aligned, t).item() for t in (2.0, 1.0, 0.5, 0.1, 0.05)]
    assert all(x > y for x, y in pairwise(losses))  # sharper temperature -> lower loss when aligned
    assert losses[-1] < 1e-6
    # exact value for this case: -log(e^(1/T) / (e^(1/T) + 2N - 2))
    t = 0.5
    assert losses[2] == pytest.approx(-math.log(math.exp(1 / t) / (math.exp(1 / t) + 2 * n - 2)), rel=1e-6)
    # very high temperature: all logits equal -> log(2N - 1) (uniform over the 2N - 1 candidates)
    gen = torch.Generator().manual_seed(1)
    a, b = torch.randn(n, 5, generator=gen), torch.randn(n, 5, generator=gen)
    assert nt_xent(a, b, 1e4).item() == pytest.approx(math.log(2 * n - 1), rel=1e-4)
    # anti-aligned positives are penalised more at low temperature
    assert nt_xent(aligned, -aligned, 0.1) > nt_xent(aligned, -aligned, 1.0)


def test_nt_xent_gradients_and_bf16_inputs():
    gen = torch.Generator().manual_seed(2)
    a = torch.randn(6, 12, generator=gen, requires_grad=True)
    b = torch.randn(6, 12, generator=gen, requires_grad=True)
    loss = nt_xent(a, b)
    loss.backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
    low = nt_xent(a.detach().bfloat16(), b.detach().bfloat16())
    assert low.dtype == torch.float32
    assert low.item() == pytest.approx(loss.item(), rel=2e-2)


def test_crosspoint_loss_terms_and_weights():
    gen = torch.Generator().manual_seed(3)
    z1, z2, zi = (torch.randn(5, 16, generator=gen) for _ in range(3))
    total, imid, cmid = crosspoint_loss(z1, z2, zi, temperature=0.2)
    torch.testing.assert_close(imid, nt_xent(z1, z2, 0.2))
    torch.testing.assert_close(cmid, nt_xent((z1 + z2) / 2, zi, 0.2))
    torch.testing.assert_close(total, imid + cmid)
    t_only_imid, imid2, cmid2 = crosspoint_loss(z1, z2, zi, temperature=0.2, w_cmid=0.0)
    assert torch.equal(t_only_imid, imid) and torch.equal(cmid2, cmid)
    t_only_cmid, _, _ = crosspoint_loss(z1, z2, zi, temperature=0.2, w_imid=0.0)
    assert torch.equal(t_only_cmid, cmid)
    weighted, _, _ = crosspoint_loss(z1, z2, zi, temperature=0.2, w_imid=0.5, w_cmid=2.0)
    torch.testing.assert_close(weighted, 0.5 * imid + 2.0 * cmid)
