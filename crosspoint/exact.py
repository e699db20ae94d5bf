"""Small linear algebra that gives the same bits on every x86-64 CPU (and one large one, :func:`gram`).

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


def rotation_y(theta: float) -> np.ndarray:
    """The 3x3 rotation by ``theta`` radians about the up axis y."""
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


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


def _gram_slices(a: np.ndarray, count: int, bits: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Row i of ``a`` as ``2**e[i] * sum_s slices[s][i] * 2**(-bits * (s + 1))``, each slice an
    integer-valued float64 array below ``2**bits`` in magnitude (digits below the last slice dropped)."""
    a = np.asarray(a, dtype=np.float64)
    peak = np.abs(a).max(axis=1) if a.shape[1] else np.zeros(len(a))
    _, e = np.frexp(np.where(peak > 0, peak, 1.0))  # |a[i]| < 2**e[i]
    rest = np.ldexp(a, -e[:, None])  # |rest| < 1, exact
    slices = []
    for _ in range(count):
        rest = np.ldexp(rest, bits)
        digit = np.trunc(rest)
        slices.append(digit)
        rest = rest - digit
    return slices, e


def gram(a: np.ndarray, b: np.ndarray | None = None, slices: int = 2) -> np.ndarray:
    """``a @ b.T`` (``a @ a.T`` when ``b`` is None) in float64, the same bits on every CPU and with any
    BLAS kernel or thread count, at BLAS speed.

    Each row is cut into integer-valued slices of ``bits`` bits (2 * bits + log2(columns) <= 53), so every
    product of two slices, and every partial sum of a slice-by-slice matrix product, is an integer below
    2**53: exact, whatever order the BLAS sums in. The slice products are then added in a fixed order
    with elementwise operations. Digits below the last slice are dropped: with two slices of 21 bits
    (2,048 columns) the result is within about 1e-11 of the largest entry, relatively, of the exact
    product (an SVM's kernel; the float32 inputs themselves carry 6e-8)."""
    columns = np.asarray(a).shape[1]
    bits = (53 - max(1, int(np.ceil(np.log2(max(columns, 2)))))) // 2
    sa, ea = _gram_slices(a, slices, bits)
    sb, eb = (sa, ea) if b is None else _gram_slices(b, slices, bits)
    out = np.zeros((len(ea), len(eb)))
    for total in range(slices):  # the largest terms first; within one, a pair of mirrored products is
        term = None              # added first, so that a @ a.T comes out symmetric
        for s in range(total // 2 + 1):
            t = total - s
            p = sa[s] @ sb[t].T
            if s != t:
                p = p + (p.T if b is None else sa[t] @ sb[s].T)
            term = p if term is None else term + p
        out = out + np.ldexp(term, -bits * (total + 2))
    return np.ldexp(np.ldexp(out, ea[:, None]), eb[None, :])
