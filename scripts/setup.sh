#!/usr/bin/env bash
# Set up everything the pipeline and the tests need on a fresh Debian machine with Python 3.11-3.13:
# the EGL/Mesa system libraries for headless rendering (installed with apt when run as root),
# a virtual environment in .venv, and this package with its pinned dependencies.
# Idempotent: a second run checks and returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*" >&2; }

# 1. System libraries for headless OpenGL (pyrender over EGL with Mesa's software rasteriser).
need_pkgs=()
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have_lib 'libEGL.so.1' || need_pkgs+=(libegl1)
have_lib 'libGL.so.1' || need_pkgs+=(libgl1)
have_lib 'libEGL_mesa.so.0' || need_pkgs+=(libegl-mesa0)
compgen -G '/usr/lib/*/dri/swrast_dri.so' >/dev/null || compgen -G '/usr/lib/*/dri/kms_swrast_dri.so' >/dev/null \
  || need_pkgs+=(libgl1-mesa-dri)
# Python 3.11 (the tested default), 3.12 or 3.13: PYTHON=... picks another interpreter.
python_bin="${PYTHON:-python3.11}"
command -v "$python_bin" >/dev/null || python_bin=python3
if ! "$python_bin" -c 'import sys; assert (3, 11) <= sys.version_info[:2] <= (3, 13)' 2>/dev/null; then
  say "Python 3.11, 3.12 or 3.13 is required (found: $("$python_bin" --version 2>&1)); set PYTHON=/path/to/python3.11"
  exit 1
fi
py_version="$("$python_bin" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
"$python_bin" -c 'import ensurepip, venv' 2>/dev/null || need_pkgs+=("python${py_version}-venv")
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing system packages: ${need_pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  else
    say "missing system packages: ${need_pkgs[*]}"
    say "install them with: sudo apt-get install ${need_pkgs[*]}   (then run this again)"
    exit 1
  fi
fi

# 2. Virtual environment with the pinned dependencies (skipped when pyproject.toml is unchanged).
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$python_bin" -m venv .venv
fi
stamp=".venv/.crosspoint-installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ] || ! .venv/bin/python -c 'import crosspoint, torch, pyrender' 2>/dev/null; then
  say "installing the package and its pinned dependencies into .venv (torch==2.13.0 first)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  # torch first, on its own: with it pinned and installed, nothing else can pull another build.
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q -e ".[test]"
  rm -f .venv/.crosspoint-installed-*
  touch "$stamp"
fi

# 3. Headless rendering check (one line of advice if it fails).
egl_check='from crosspoint.rendering.renderer import Renderer
with Renderer(8) as r:
    print(r.gl_renderer())'
if ! PYOPENGL_PLATFORM="${PYOPENGL_PLATFORM:-egl}" .venv/bin/python -c "$egl_check" >/dev/null 2>/tmp/crosspoint-egl.err; then
  say "headless OpenGL (EGL) does not work here: $(tail -n 1 /tmp/crosspoint-egl.err)"
  exit 1
fi
say "ready: .venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
