#!/usr/bin/env bash
# SwiReasoning decoding on one GPU (prepared for a session with a device; well under 2 minutes on an H100):
# tokens/s of `swi_generate` vs `model.generate` on the same random Qwen2 model, batch and budget (same run, medians
# of alternating repeats), plus the greedy-equivalence check on the device (degenerate settings == generate greedy).
#   1. hidden 1024 x 8 layers, vocab 32768, bf16, batch 16, 256 new tokens  (launch-bound: the per-step overhead shows)
#   2. hidden 2048 x 16 layers, vocab 151936 (Qwen vocabulary), bf16, batch 32, 128 new tokens
#   3. the CPU-sized model in float32 on the GPU, batch 8, 128 new tokens
# Rows are appended to $OUT/swireasoning_gpu.csv when $OUT is set (device runner), else benchmarks/results.csv.
set -euo pipefail
cd "$(dirname "$0")/../.."
python -c "import trl_explore" 2>/dev/null || pip install -q -e .
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
CSV="${OUT:+$OUT/swireasoning_gpu.csv}"
CSV_ARGS=()
if [ -n "${CSV}" ]; then CSV_ARGS=(--csv "${CSV}"); fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
COMMON=(--device cuda --threads 0 --repeats 5 --check)
timeout 100 python benchmarks/swireasoning.py "${COMMON[@]}" --dtype bfloat16 --hidden 1024 --layers 8 --heads 16 \
    --vocab 32768 --batch 16 --max-new-tokens 256 "${CSV_ARGS[@]}"
timeout 100 python benchmarks/swireasoning.py "${COMMON[@]}" --dtype bfloat16 --hidden 2048 --layers 16 --heads 16 \
    --vocab 151936 --batch 32 --max-new-tokens 128 "${CSV_ARGS[@]}"
timeout 60 python benchmarks/swireasoning.py "${COMMON[@]}" --dtype float32 --batch 8 --max-new-tokens 128 \
    "${CSV_ARGS[@]}"
