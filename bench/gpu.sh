#!/usr/bin/env bash
# The GPU check as one prepared command (see bench/gpu.py): on a machine with one H100 or H200, CUDA torch,
# numpy, h5py, PyYAML; no DVC, dvclive, Snakemake, trimesh, pyrender or network. About 5-8 minutes.
#   bash bench/gpu.sh            # writes results/bench/gpu.json (and $OUT/gpu.json when OUT is set)
#   bash bench/gpu.sh --tiny     # toy sizes on any device (tests/test_gpu_check.py runs this on the CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] && [ -z "${CROSSPOINT_SYSTEM_PYTHON:-}" ] && PYTHON=.venv/bin/python
exec "$PYTHON" bench/gpu.py "$@"
