#!/usr/bin/env bash
# SPEAR on one GPU (prepared for a session with a device; about 1-2 minutes on an H100):
#   the cost of replay on a training step of a randomly initialised Qwen2.5-0.5B-shaped model (config built in code, no
#   download), bf16: the generation phases (collecting rows to the CPU buffer, mixing 8 stored rows into a batch of 16)
#   and compute_loss + backward on the mixed batch, TRL's GRPOTrainer vs SPEARGRPOTrainer (stored behaviour log-probs,
#   row weights, replay Clip-Cov), 1024 completion tokens. It also checks that the replay paths run on CUDA tensors.
# Rows are appended to $OUT/spear_gpu.csv when $OUT is set (device runner), else benchmarks/results.csv.
set -euo pipefail
cd "$(dirname "$0")/../.."
python -c "import trl_explore" 2>/dev/null || pip install -q -e .
CSV="${OUT:+$OUT/spear_gpu.csv}"
CSV_ARGS=()
if [ -n "${CSV}" ]; then CSV_ARGS=(--csv "${CSV}"); fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
timeout 150 python benchmarks/spear.py --model qwen2.5-0.5b --device cuda --dtype bfloat16 --batch 16 --replay 8 \
    --tokens 1024 --repeats 5 --threads 0 "${CSV_ARGS[@]}"
