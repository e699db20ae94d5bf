"""Shared test fixtures: small data the tests build, and the CAPOD meshes from ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import crosspoint  # noqa: F401  (first: pins the numerics before numpy and torch load)

REPO = Path(__file__).resolve().parents[1]
CAPOD = Path(os.environ.get("CROSSPOINT_CAPOD", REPO.parent / "shared" / "data" / "capod"))

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


@pytest.fixture(scope="session")
def capod_dir() -> Path:
    """The 180 real CAPOD meshes (Princeton Shape Benchmark layout); skip when ../shared is absent."""
    if not (CAPOD / "CAPOD.cla").exists():
        pytest.skip(f"CAPOD meshes not found at {CAPOD} (set CROSSPOINT_CAPOD)")
    return CAPOD


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO
