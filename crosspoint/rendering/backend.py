"""The OpenGL platform of headless rendering, and pyrender's import.

pyrender draws through OpenGL; without a display it needs an offscreen platform, chosen by the
``PYOPENGL_PLATFORM`` environment variable before OpenGL is first imported:

* ``egl`` (default): hardware or Mesa EGL. On Debian/Ubuntu install ``libegl1 libegl-mesa0
  libgl1-mesa-dri`` (Mesa's llvmpipe renders on the CPU when there is no GPU).
* ``osmesa``: the pure-software fallback when EGL is unavailable. Install ``libosmesa6`` and set
  ``render.backend: osmesa`` in params.yaml.

An already-set ``PYOPENGL_PLATFORM`` wins over the params value (the user asked for it explicitly).
numpy 2 removed ``np.infty``, which pyrender 0.1.45 still uses, so it is restored before import.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Literal

import numpy as np

from crosspoint.store import StageError

Backend = Literal["egl", "osmesa"]


def _one_line(err: BaseException, limit: int = 200) -> str:
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def install_hint(platform: str) -> str:
    """What to install for ``platform`` (one line, Debian package names)."""
    if platform == "osmesa":
        return "install OSMesa (Debian: apt-get install libosmesa6) or use the egl backend"
    return (
        "install EGL (Debian: apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri), "
        "or set render.backend: osmesa (and PYOPENGL_PLATFORM unset) with libosmesa6 installed"
    )


_pyrender: Any = None


def setup_backend(backend: Backend = "egl") -> str:
    """Choose the OpenGL platform (unless PYOPENGL_PLATFORM is already set); return the one in use."""
    os.environ.setdefault("PYOPENGL_PLATFORM", backend)
    return os.environ["PYOPENGL_PLATFORM"]


def import_pyrender(backend: Backend = "egl") -> Any:
    """Import pyrender lazily with the numpy-2 shim; a missing GL library becomes a StageError."""
    global _pyrender
    if _pyrender is not None:
        return _pyrender
    if "OpenGL.platform" in sys.modules and "PYOPENGL_PLATFORM" not in os.environ:
        raise StageError(
            "PyOpenGL was imported before the rendering backend was chosen; "
            f"set PYOPENGL_PLATFORM={backend} in the environment"
        )
    platform = setup_backend(backend)
    if not hasattr(np, "infty"):
        np.infty = np.inf  # type: ignore[attr-defined]  # removed in numpy 2, used by pyrender
    try:
        import pyrender
    except Exception as err:  # noqa: BLE001 - any GL loading failure means the same fix
        raise StageError(
            f"cannot load OpenGL for PYOPENGL_PLATFORM={platform} ({_one_line(err)}); "
            + install_hint(platform)
        ) from err
    _pyrender = pyrender
    return pyrender
