#!/usr/bin/env bash
# Command 2: set up (scripts/setup.sh) and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH" PYOPENGL_PLATFORM="${PYOPENGL_PLATFORM:-egl}" DVC_NO_ANALYTICS=1
python -m pytest "$@"
