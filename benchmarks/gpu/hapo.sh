#!/usr/bin/env bash
# HAPO on one GPU (about 1-2 minutes on an H100/H200): the loss step (compute_loss + backward) of TRL's GRPOTrainer
# vs HAPOGRPOTrainer with all four parts, and with the loss parts only, on a randomly initialised
# Qwen2.5-0.5B-shaped model (hidden 896, 24 layers, V = 151936, bf16), 8 sequences of 1024 completion tokens; and
# generation with / without the adaptive-temperature processor (transformers backend).
# Rows are appended to $OUT/hapo_gpu.csv when $OUT is set (device runner), else benchmarks/results.csv.
set -euo pipefail
cd "$(dirname "$0")/../.."
CSV="${OUT:+$OUT/hapo_gpu.csv}"
CSV_ARGS=()
if [ -n "${CSV}" ]; then CSV_ARGS=(--csv "${CSV}"); fi
timeout 300 python benchmarks/hapo.py --device cuda --dtype bfloat16 --hidden 896 --layers 24 --vocab 151936 \
    --batch 8 --prompt 128 --completion 1024 --new-tokens 128 --repeats 5 --threads 0 "${CSV_ARGS[@]}"
