"""Independent fits run side by side on the pinned threads (the SVC fits of the linear-SVM and few-shot
stages)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from crosspoint import numerics


def parallel_map(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    """``[fn(item) for item in items]`` on the pinned number of threads (``numerics.threads()``).

    Meant for scikit-learn's SVC fits, which are single-threaded and release the GIL while libsvm
    runs: each fit gives what it gives alone, in the same order (two threads on 2 cores: six fits
    1.60 s -> 0.85 s)."""
    items = list(items)
    workers = min(numerics.threads(), len(items))
    if workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))
