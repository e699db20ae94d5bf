#!/usr/bin/env bash
# Command 2: set up (scripts/setup.sh) and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH" PYOPENGL_PLATFORM="${PYOPENGL_PLATFORM:-egl}" DVC_NO_ANALYTICS=1
# Two workers (pytest-xdist), each running whole modules, slowest first (tests/conftest.py): most of the suite's
# time is single-threaded pipeline start-ups. Pass -n 0 to run in one process.
python -m pytest -n 2 --dist loadscope --no-loadscope-reorder "$@"
