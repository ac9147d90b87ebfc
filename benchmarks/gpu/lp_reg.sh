#!/usr/bin/env bash
# Lp-Reg on one GPU (prepared for a session with a device; about 3-5 minutes on an H100, well under 8):
#   1. loss-only: TRL's fused LM head + GRPO loss vs ours (fused token statistics + Lp-Reg) vs the naive full-logits
#      implementation, V = 151936 (Qwen2.5) and 32768, H = 896, bf16, 4k and 16k completion tokens;
#   2. full step: compute_loss + backward of TRL's GRPOTrainer vs LpRegGRPOTrainer on a randomly initialised
#      Qwen2.5-0.5B-shaped model (config built in code, no download), 8 sequences, 4k and 16k completion tokens.
# Rows are appended to $OUT/lp_reg_gpu.csv when $OUT is set (device runner), else benchmarks/results.csv.
set -euo pipefail
cd "$(dirname "$0")/../.."
CSV="${OUT:+$OUT/lp_reg_gpu.csv}"
CSV_ARGS=()
if [ -n "${CSV}" ]; then CSV_ARGS=(--csv "${CSV}"); fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
timeout 200 python benchmarks/lp_reg.py --device cuda --dtype bfloat16 --hidden 896 --threads 0 \
    --vocab 151936 32768 --tokens 4096 16384 --repeats 5 "${CSV_ARGS[@]}"
timeout 250 python benchmarks/lp_reg.py --device cuda --dtype bfloat16 --model qwen2.5-0.5b --batch 8 --threads 0 \
    --tokens 4096 16384 --repeats 3 "${CSV_ARGS[@]}"
