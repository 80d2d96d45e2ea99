#!/usr/bin/env bash
# ECHO at paper scale on one GPU (H200 budget: under 8 minutes): matmul probe, DiT bf16 training
# step (TFLOP/s), 1024^2 16-frame rollout, 256^3 3-D encode/decode, short stage-1/2 training on
# 1024^2 frames. Writes benchmarks/results/gpu_suite.{md,json}.
#
#   bash benchmarks/gpu_suite.sh             # needs a CUDA GPU and a CUDA build of torch
#   bash benchmarks/gpu_suite.sh --dry-run   # tiny sizes on CPU: checks the plumbing (~1 min)
#   bash benchmarks/gpu_suite.sh --steps probe dit   # a subset
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${ECHOPV_PYTHON:-.venv/bin/python}
if [ ! -x "$PY" ]; then
  echo "gpu_suite: $PY not found; run scripts/setup.sh first (or set ECHOPV_PYTHON)" >&2
  exit 2
fi
if [[ " $* " != *" --dry-run "* ]]; then
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
# one budget for the whole suite: a hung step must not eat the GPU lease
exec timeout "${ECHOPV_GPU_SUITE_TIMEOUT:-480}" "$PY" benchmarks/gpu_suite.py "$@"
