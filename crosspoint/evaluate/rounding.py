"""The numbers of the evaluations' metrics files: percentages and rounded floats."""

from __future__ import annotations

from typing import Any


def rounded(value: Any, digits: int = 4) -> Any:
    """``value`` with every float rounded (nested dicts and lists), for readable metrics files."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    return value


def percent(x: float) -> float:
    """A fraction as a percentage rounded to 4 decimals (metrics JSON stores percent, as the paper)."""
    return round(100.0 * float(x), 4)
