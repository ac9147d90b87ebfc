#!/usr/bin/env bash
# Lastde / Lastde++ scoring speed on one GPU (prepared for a session with a device; well under 2 minutes on an H100):
# texts/s of the likelihood baseline, Lastde, Fast-DetectGPT (analytic) and Lastde++ (K = 100 samples per position),
# plus the plain full-logits likelihood, in the same run, on a randomly initialised Qwen2.5-0.5B-shaped model
# (V = 151936, config built in code, no download), bf16, 64 texts x 512 tokens, batches of 8; then GPT-2-small's shape.
# Targets: Lastde >= 1/1.2 of the likelihood baseline's texts/s, Lastde++ >= 1/1.2 of Fast-DetectGPT's.
# Rows are appended to $OUT/lastde_gpu.csv when $OUT is set (device runner), else benchmarks/results.csv; the tables
# are printed (and saved to $OUT/lastde_gpu.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
python -c "import trl_explore, sklearn" 2>/dev/null || pip install -q -e .
CSV="${OUT:+$OUT/lastde_gpu.csv}"
CSV_ARGS=()
if [ -n "${CSV}" ]; then CSV_ARGS=(--csv "${CSV}"); fi
LOG="${OUT:+$OUT/lastde_gpu.txt}"
LOG="${LOG:-/dev/null}"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
timeout 100 python benchmarks/lastde.py --model qwen2.5-0.5b --device cuda --dtype bfloat16 --threads 0 \
    --texts 64 --tokens 512 --batch 8 --n_samples 100 --repeats 3 "${CSV_ARGS[@]}" | tee -a "${LOG}"
timeout 60 python benchmarks/lastde.py --model gpt2-small --device cuda --dtype bfloat16 --threads 0 \
    --texts 64 --tokens 512 --batch 8 --n_samples 100 --repeats 3 "${CSV_ARGS[@]}" | tee -a "${LOG}"
