#!/usr/bin/env bash
# Rank-aware NTP loss on one GPU (prepared for a session with a device; about 2-4 minutes on an H100, well under 8):
# the loss path (forward + backward from hidden states) of TRL SFTTrainer's fused LM head (`ChunkedLogProbFunction`,
# Triton on CUDA) vs our fused rank-aware kernel vs the naive full-logits version, in the same run, bf16:
#   1. V = 32768, H = 1024, 8k and 32k tokens;   2. V = 151936 (Qwen2.5), H = 896, 8k tokens (naive skipped).
# Rows are appended to $OUT/rank_aware_gpu.csv when $OUT is set (device runner), else benchmarks/results.csv.
set -euo pipefail
cd "$(dirname "$0")/../.."
CSV="${OUT:+$OUT/rank_aware_gpu.csv}"
CSV_ARGS=()
if [ -n "${CSV}" ]; then CSV_ARGS=(--csv "${CSV}"); fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
COMMON=(--device cuda --dtype bfloat16 --threads 0 --repeats 5 --beta -0.25 --lambda-low -0.1 --top-k 100)
timeout 150 python benchmarks/rank_aware.py "${COMMON[@]}" --vocab 32768 --hidden 1024 --tokens 8192 "${CSV_ARGS[@]}"
timeout 150 python benchmarks/rank_aware.py "${COMMON[@]}" --vocab 32768 --hidden 1024 --tokens 32768 --skip-naive \
    "${CSV_ARGS[@]}"
timeout 150 python benchmarks/rank_aware.py "${COMMON[@]}" --vocab 151936 --hidden 896 --tokens 8192 --skip-naive \
    "${CSV_ARGS[@]}"
