#!/usr/bin/env bash
# answer_choice_mass on one GPU (prepared for a session with a device; about 1-2 minutes on an H100): seconds per
# question and peak memory of ours (one-row prefill + cached continuations) vs the naive full-logits scoring, in the
# same run, on a randomly initialised Qwen2.5-0.5B-shaped model (V = 151936, config built in code, no download), bf16,
# 64 questions with 8 in-context examples (~900-token prompts), PMI on, enumerated and string formats.
# Rows are appended to $OUT/answer_choice_mass_gpu.csv when $OUT is set (device runner), else benchmarks/results.csv.
set -euo pipefail
cd "$(dirname "$0")/../.."
python -c "import trl_explore" 2>/dev/null || pip install -q -e .
CSV="${OUT:+$OUT/answer_choice_mass_gpu.csv}"
CSV_ARGS=()
if [ -n "${CSV}" ]; then CSV_ARGS=(--csv "${CSV}"); fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
timeout 150 python benchmarks/answer_choice_mass.py --model qwen2.5-0.5b --device cuda --dtype bfloat16 --threads 0 \
    --questions 64 --shots 8 --batch 4 --repeats 3 --formats enumerated string "${CSV_ARGS[@]}"
