#!/usr/bin/env bash
# CUDA checks of the tiling core (prepared for a session with a device; about 1 minute on one GPU): bf16 token
# statistics, rank-aware loss (both gradient schedules), a numeric-head number group and the detection statistics
# against float64 CPU references; writes $OUT/kernels_check.json when $OUT is set. Exits 1 when a check fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python -c "import trl, trl_explore" 2>/dev/null || pip install -q -e .
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
timeout 300 python benchmarks/gpu/kernels_check.py
