#!/usr/bin/env bash
# Command 1: set up (scripts/setup.sh) and run the whole default pipeline with `dvc repro`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH" PYOPENGL_PLATFORM="${PYOPENGL_PLATFORM:-egl}" DVC_NO_ANALYTICS=1
dvc repro "$@"
echo; cat results/tables/summary.md
