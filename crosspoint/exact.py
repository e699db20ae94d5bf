"""Small linear algebra that gives the same bits on every x86-64 CPU.

NumPy hands ``@``, ``np.dot`` and ``np.linalg.norm`` of a vector to its BLAS (OpenBLAS), which
picks its kernels for the processor it finds: the AVX-512 kernels sum the products of a 3x3
transform in another order than the AVX2 ones, so a mesh rotated with ``@`` differs in the last bit
between machines (22 of the 900 default synthetic objects did). The data stages use these helpers
instead: each output is a sum of products taken in a fixed order with elementwise ufuncs (one
rounding per multiply and per add, whatever the SIMD width), so the stored arrays do not depend on
the BLAS build, its kernels or its thread count.

:func:`tensor_sqrt` is the one torch helper here: torch's own CPU ``sqrt`` is not portable either.
"""

from __future__ import annotations

import numpy as np


def transform(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``points @ matrix.T`` for points ``[..., n]`` and a matrix ``[m, n]`` (float64)."""
    p = np.asarray(points, dtype=np.float64)
    m = np.asarray(matrix, dtype=np.float64)
    if p.shape[-1] != m.shape[1]:
        raise ValueError(f"points [..., {p.shape[-1]}] do not fit a [{m.shape[0]}, {m.shape[1]}] matrix")
    out = p[..., 0, None] * m[:, 0]
    for j in range(1, m.shape[1]):
        out = out + p[..., j, None] * m[:, j]
    return out


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for small 2-d matrices (float64)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return transform(a, b.T)


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sum of ``a * b`` over the last axis, in index order."""
    prod = np.asarray(a, dtype=np.float64) * np.asarray(b, dtype=np.float64)
    out = prod[..., 0]
    for j in range(1, prod.shape[-1]):
        out = out + prod[..., j]
    return out


def norm(a: np.ndarray) -> np.ndarray:
    """Euclidean norm over the last axis (a float for a vector)."""
    return np.sqrt(dot(a, a))


def rigid(points: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """``points @ pose[:3, :3].T + pose[:3, 3]`` for a 4x4 pose."""
    pose = np.asarray(pose, dtype=np.float64)
    return transform(points, pose[:3, :3]) + pose[:3, 3]


def tensor_sqrt(t):
    """Square root of a torch tensor, correctly rounded on every CPU. torch's float CPU ``sqrt``
    goes through MKL's vector math library, whose result depends on the processor, whatever
    ``MKL_CBWR`` says (an AMD Zen 5 and an emulated Intel Haswell differ in about 17% of the values
    of a large float32 tensor, and in a 64-element one); numpy's is the IEEE instruction, the same
    bits everywhere. CUDA's ``sqrt`` is already correctly rounded and is used as it is."""
    import torch

    if t.device.type != "cpu":
        return torch.sqrt(t)
    out = torch.empty_like(t, memory_format=torch.contiguous_format)
    np.sqrt(t.detach().contiguous().numpy(), out=out.numpy())
    return out
