"""The DGCNN's per-point linear layers on the CPU through NumPy's OpenBLAS, pinned to one kernel set.

On the CPU, torch hands ``F.linear`` to MKL. MKL runs other code on an Intel than on an AMD processor
unless ``MKL_CBWR=COMPATIBLE`` (:mod:`crosspoint.numerics`), and that branch is SSE2: a
``[8192, 512] x [512, 1024]`` product takes 172 ms on a 2-core AMD EPYC (Zen 3). NumPy's OpenBLAS,
with ``OPENBLAS_CORETYPE=Haswell`` (also set by :mod:`crosspoint.numerics`), runs its AVX2/FMA
Haswell kernels on every x86-64 CPU that has them, whatever the vendor or AVX-512: 56 ms for the same
product. Like torch's, its bits depend on the thread count (measured: 1 thread against 2 differ, 2
and 3 agree), which :mod:`crosspoint.numerics` pins for both.

OpenBLAS's result for one row of a product also depends on where the row sits in the call and on how
many rows the call has (its kernels treat the rows of a 12-wide panel, and the first and last rows of
each cache block, differently; measured: half the rows of a [256, 64] x [64, 64] product change when
the rows are permuted). So the forward product is taken one sample at a time -- dimension 0 of the
input indexes the samples (clouds), as everywhere in the models -- with NumPy's stacked ``matmul``,
one OpenBLAS call of the same shape per sample: a cloud's features do not depend on which batch it
came in, and sharded feature extraction equals one shard bit for bit. At the default's shapes this
costs nothing measurable (32 calls of [256, 512] x [512, 1024]: 70 ms against 67 ms for one call).

:func:`linear` is ``F.linear`` with forward and backward products done that way (float32 tensors on
the CPU; anything else, e.g. CUDA or a bf16 autocast, goes to ``F.linear`` unchanged).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def _mm(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` for contiguous 2-d float32 CPU tensors (either may be a transposed view of one)."""
    return torch.from_numpy(np.matmul(a.numpy(), b.numpy()))


class _OpenBLASLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        per_sample = x.detach().reshape(x.shape[0], -1, x.shape[-1]).contiguous()
        w = weight.detach().contiguous()
        y = torch.from_numpy(np.matmul(per_sample.numpy(), w.numpy().T))  # one call per sample
        if bias is not None:
            y += bias.detach()
        ctx.save_for_backward(per_sample.view(-1, x.shape[-1]), w)
        ctx.has_bias = bias is not None
        ctx.in_shape = x.shape
        return y.view(*x.shape[:-1], w.shape[0])

    @staticmethod
    def backward(ctx, grad: Tensor):
        x2, w = ctx.saved_tensors
        g = grad.reshape(-1, w.shape[0]).contiguous()
        gx = _mm(g, w).view(ctx.in_shape) if ctx.needs_input_grad[0] else None
        gw = _mm(g.T, x2) if ctx.needs_input_grad[1] else None
        gb = g.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return gx, gw, gb


def portable(x: Tensor, weight: Tensor) -> bool:
    """Whether :func:`linear` takes the OpenBLAS path for these operands."""
    return (x.device.type == "cpu" and x.dtype == torch.float32 and weight.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu") and x.dim() >= 2 and x.numel() > 0)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.linear(x, weight, bias)``: on float32 CPU tensors through OpenBLAS (see the module doc)."""
    if not portable(x, weight):
        return F.linear(x, weight, bias)
    return _OpenBLASLinear.apply(x, weight, bias)
