"""What decides the numerics of every stage process, pinned in one place.

The same code and pinned packages still compute different bits on different x86-64 CPUs when the
libraries choose their kernels for the processor they find: torch's ATen (AVX-512 or AVX2 loops),
oneDNN (convolutions), MKL (torch's BLAS), OpenBLAS (numpy's BLAS, and with it scikit-learn's
t-SNE), numpy's own SIMD loops, and Mesa's llvmpipe rasteriser. :func:`pin` runs when the package
is imported (``crosspoint/__init__.py``), before numpy or torch load, and fixes each of them to
its AVX2 code path, which every x86-64 CPU since 2013 (Intel Haswell, AMD Zen) runs; and the thread
count, which decides how torch splits its reductions, to a fixed number instead of "all cores".

It also tells OpenBLAS's idle threads not to spin (speed only).

Environment:
  ``CROSSPOINT_THREADS``  threads for torch, OpenMP and the BLAS libraries (default 2, the
                          reference machine's: the committed record was made with 2);
  ``CROSSPOINT_ISA``      ``avx2`` (default) pins the kernels above; ``native`` leaves every library
                          to choose (faster on AVX-512 machines, but not the record's bits).

A value already set in the environment for one of the library variables is kept (it is recorded).
:func:`record` gives the settings in force, stored in every checkpoint and metrics file, and
:func:`configure_torch` applies the thread count and, on CUDA, torch's deterministic algorithms.
"""

from __future__ import annotations

import os
import sys
from typing import Any

DEFAULT_THREADS = 2
THREADS_ENV = "CROSSPOINT_THREADS"
ISA_ENV = "CROSSPOINT_ISA"

# numpy's dispatch targets above AVX2 (numpy 2.4 on x86-64: X86_V3 is AVX2; these use AVX-512).
NUMPY_ABOVE_AVX2 = "X86_V4 AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR"

# library variable -> value for the AVX2 code path
AVX2_SETTINGS = {
    "ATEN_CPU_CAPABILITY": "avx2",  # torch's vectorised CPU kernels
    "DNNL_MAX_CPU_ISA": "AVX2",  # oneDNN (torch's CPU convolutions)
    # MKL (torch's BLAS): its conditional numerical reproducibility on the SSE2 branch. "AVX2,STRICT"
    # is not enough: MKL still takes other code on an AMD than on an Intel CPU (and other bits).
    "MKL_CBWR": "COMPATIBLE",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "OPENBLAS_CORETYPE": "Haswell",  # OpenBLAS's AVX2 kernels (numpy, scipy, scikit-learn)
    "NPY_DISABLE_CPU_FEATURES": NUMPY_ABOVE_AVX2,
    "LP_NATIVE_VECTOR_WIDTH": "256",  # Mesa llvmpipe: 8-wide float vectors (AVX2)
}
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# Speed only, no bits: OpenBLAS's idle threads stop spinning almost at once (2^4 cycles), so that
# they leave the cores to torch's OpenMP threads between the DGCNN's OpenBLAS products
# (crosspoint/models/blas.py; spinning, they made a DGCNN forward pass 1.5x slower on 2 cores).
SPEED_SETTINGS = {"OPENBLAS_THREAD_TIMEOUT": "4"}
RECORDED_VARS = (*AVX2_SETTINGS, *THREAD_VARS, "CUBLAS_WORKSPACE_CONFIG")

_pinned: dict[str, Any] = {}


def cpu_has_avx2() -> bool:
    """Whether this CPU runs AVX2 and FMA (Linux /proc/cpuinfo; False where it cannot tell)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return {"avx2", "fma"} <= flags
    except OSError:
        pass
    return False


def threads() -> int:
    """The pinned thread count (``CROSSPOINT_THREADS``, default 2)."""
    value = os.environ.get(THREADS_ENV, str(DEFAULT_THREADS))
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{THREADS_ENV}={value!r}: expected a positive number of threads")
    return n


def pin() -> dict[str, Any]:
    """Set the library variables for this process (and the processes it starts). Effective only
    before numpy and torch are imported; returns what it decided. Idempotent."""
    if _pinned:
        return _pinned
    isa = os.environ.get(ISA_ENV, "avx2").lower()
    if isa not in ("avx2", "native"):
        raise ValueError(f"{ISA_ENV}={isa!r}: expected avx2 or native")
    n = threads()
    for var in THREAD_VARS:
        os.environ.setdefault(var, str(n))
    for var, value in SPEED_SETTINGS.items():
        os.environ.setdefault(var, value)
    if isa == "avx2" and sys.platform.startswith("linux") and cpu_has_avx2():
        for var, value in AVX2_SETTINGS.items():
            os.environ.setdefault(var, value)
    else:
        isa = "native"
    # cuBLAS: a fixed workspace makes its GEMMs deterministic (needed by torch's deterministic mode).
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    late = [m for m in ("numpy", "torch") if m in sys.modules]
    _pinned.update(isa=isa, threads=n, imported_before=late)
    return _pinned


def configure_torch(device: Any = None) -> None:
    """Apply the pinned thread count to torch; on CUDA, deterministic algorithms where torch has
    them (warn-only where it has none: see the README's reproducibility section)."""
    import torch

    n = threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    if device is not None and getattr(device, "type", str(device)) == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.use_deterministic_algorithms(True, warn_only=True)


def record() -> dict[str, Any]:
    """The numerics in force, for checkpoints and metrics files: the same on every machine that
    honours the pin (no CPU model, no host name)."""
    info: dict[str, Any] = {"isa": _pinned.get("isa", "unpinned"), "threads": threads()}
    info["env"] = {var: os.environ[var] for var in RECORDED_VARS if var in os.environ}
    if "torch" in sys.modules:
        import torch

        info["torch"] = torch.__version__.split("+")[0]
        info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        info["torch_threads"] = torch.get_num_threads()
        info["deterministic_algorithms"] = torch.are_deterministic_algorithms_enabled()
    if "numpy" in sys.modules:
        import numpy

        info["numpy"] = numpy.__version__
    return info


def check() -> list[str]:
    """Problems that make the pin ineffective in this process (numpy or torch imported first,
    torch not on the pinned kernels)."""
    problems = []
    if _pinned.get("imported_before"):
        problems.append(f"{', '.join(_pinned['imported_before'])} imported before crosspoint: "
                        "import crosspoint first (or set the variables in crosspoint.numerics yourself)")
    if _pinned.get("isa") == "avx2" and "torch" in sys.modules:
        import torch

        if torch.backends.cpu.get_cpu_capability() != "AVX2":
            problems.append(f"torch runs {torch.backends.cpu.get_cpu_capability()} kernels, not the pinned AVX2")
    return problems
