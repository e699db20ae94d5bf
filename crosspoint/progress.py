"""Progress of a long loop: a tqdm bar on a terminal, a few log lines elsewhere.

Under DVC, Snakemake or a batch scheduler stderr is a log file, where a tqdm bar writes one line per
refresh. :func:`progress` draws the bar only when stderr is a terminal; otherwise it logs a line when
the count passes a tenth of the total (at most one every ``MIN_INTERVAL`` seconds, so at most ten per
loop and none for a quick one) and a closing line when the loop took that long. Without a known total
a line is logged each time the elapsed time doubles (10 s, 20 s, 40 s, ...).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar

log = logging.getLogger("crosspoint.progress")

T = TypeVar("T")

MIN_INTERVAL = 10.0  # seconds between two log lines, and the least duration worth a closing line
STEPS = 10  # log lines per loop of known length: one per tenth


def on_terminal() -> bool:
    """Whether stderr (where tqdm draws) is an interactive terminal."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


class Progress(Generic[T]):
    """Iterate over ``iterable`` (or count with :meth:`update`) reporting progress; see the module doc.

    ``unit_scale=True`` shows counts in binary multiples (for bytes). ``disable`` turns it off
    entirely (for instance on all but the main process).
    """

    def __init__(self, iterable: Iterable[T] | None = None, desc: str = "", total: float | None = None,
                 unit: str = "it", *, initial: float = 0, unit_scale: bool = False, disable: bool = False,
                 leave: bool = False, logger: logging.Logger | None = None,
                 clock: Any = time.monotonic):
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self.iterable, self.desc, self.total, self.unit = iterable, desc, total, unit
        self.unit_scale = unit_scale
        self.n = self.initial = initial
        self.postfix = ""
        self.log = logger or log
        self._clock = clock
        self._start = self._last = clock()
        self._step = 0  # tenths of the total already reported
        self._closed = False
        self._bar = None
        self._disabled = disable
        if not disable and on_terminal():
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, initial=initial, unit_scale=unit_scale,
                             unit_divisor=1024 if unit_scale else 1000, leave=leave)

    # -- iteration and counting ----------------------------------------------------------------

    def __iter__(self) -> Iterator[T]:
        if self.iterable is None:
            raise TypeError("Progress without an iterable: count with update(n)")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def update(self, n: float = 1) -> None:
        """Count ``n`` more units done."""
        if self._disabled:
            return
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = self._clock()
        if now - self._last < MIN_INTERVAL:
            return
        if self.total:
            step = int(STEPS * self.n / self.total)
            if step > self._step and self.n < self.total:
                self._step = step
                self._emit(now)
        elif now - self._start >= 2 * (self._last - self._start) and now - self._start >= MIN_INTERVAL:
            self._emit(now)

    def set_postfix(self, **values: Any) -> None:
        """Show ``key=value`` pairs after the count (bar and log lines)."""
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())
        if self._bar is not None:
            self._bar.set_postfix(values)

    def close(self) -> None:
        """End the bar; log a closing line when the loop ran for at least ``MIN_INTERVAL`` seconds."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
            return
        now = self._clock()
        if not self._disabled and now - self._start >= MIN_INTERVAL:
            rate = (self.n - self.initial) / (now - self._start)
            tail = f", {self.postfix}" if self.postfix else ""
            self.log.info("%s: done, %s in %s (%s/s)%s", self.desc, self._amount(self.n),
                          _duration(now - self._start), self._amount(rate), tail)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- log lines -----------------------------------------------------------------------------

    def _emit(self, now: float) -> None:
        self._last = now
        elapsed = now - self._start
        rate = (self.n - self.initial) / elapsed if elapsed > 0 else 0.0
        if self.total:
            parts = [f"{self._amount(self.n, unit=False)}/{self._amount(self.total)} ({100 * self.n / self.total:.0f}%)"]
        else:
            parts = [self._amount(self.n)]
        parts += [f"{self._amount(rate)}/s", f"{_duration(elapsed)} elapsed"]
        if self.total and rate > 0:
            parts.append(f"~{_duration((self.total - self.n) / rate)} left")
        if self.postfix:
            parts.append(self.postfix)
        self.log.info("%s: %s", self.desc, ", ".join(parts))

    def _amount(self, value: float, unit: bool = True) -> str:
        """``value`` with the unit: ``120 obj``, ``3.5 obj`` or, with ``unit_scale``, ``1.5 MiB``."""
        prefix = ""
        if self.unit_scale:
            for prefix in ("", "Ki", "Mi", "Gi", "Ti"):  # noqa: B007 - the last one is kept
                if abs(value) < 1024:
                    break
                value /= 1024
        text = f"{value:.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:.3g}"
        if not unit and not self.unit_scale:
            return text  # ``120/1000 obj``; scaled amounts keep their unit: ``1.5 MiB/3.0 GiB``
        return f"{text} {prefix}{self.unit}"


def progress(iterable: Iterable[T] | None = None, desc: str = "", total: float | None = None,
             unit: str = "it", **kwargs: Any) -> Progress:
    """A :class:`Progress` over ``iterable``: iterate it, or use it as a counter with ``update(n)``."""
    return Progress(iterable, desc=desc, total=total, unit=unit, **kwargs)


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
