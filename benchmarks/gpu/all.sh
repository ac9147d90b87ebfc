#!/usr/bin/env bash
# Every GPU check of the library in one call (prepared for a session with a lent GPU; at most 8 minutes on one H100/H200):
#   1. CUDA correctness of the tiling core (bf16 vs float64 CPU references)            benchmarks/gpu/kernels_check.py
#   2. 2-step smokes of the Lp-Reg GRPO and rank-aware SFT examples under DeepSpeed ZeRO-3 and FSDP2 (accelerate launch,
#      the repository's accelerate configs, one process per GPU): finite losses, exit status 0
#                                                                                     benchmarks/gpu/distributed_smoke.py
#   3. the GPU variant of every speed / memory benchmark, each ours vs its baseline in the same run, sized down from the
#      per-method scripts (benchmarks/gpu/<method>.sh run the full sizes): Lp-Reg, rank-aware, HAPO, SPEAR,
#      SwiReasoning, answer-choice mass, Lastde.
# Every section has its own time limit and the whole run a deadline (GPU_ALL_BUDGET_S, default 470 s): a section that
# no longer fits is skipped with a SKIP row, so the script always ends on time with what it measured.
# Output: one CSV (benchmarks/_common.py's columns: name, metric, unit, value, baseline_value, ratio, config, machine,
# ...) at $OUT/gpu_all.csv when $OUT is set (device runner), else benchmarks/gpu_all.csv; a log next to it; a summary
# table on stdout.
#
#   bash benchmarks/gpu/all.sh              # on the GPU machine
#   bash benchmarks/gpu/all.sh --dry-run    # on any machine: checks every command's flags and configs, runs nothing
#
# Offline GPU machines: wheels of missing dependencies placed in ./.whl are installed from there (no index).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
DRY_RUN=0
if [ "${1:-}" = "--dry-run" ]; then DRY_RUN=1; fi
START=$(date +%s)
BUDGET="${GPU_ALL_BUDGET_S:-470}"
DEADLINE=$(( START + BUDGET ))
RESULTS="${OUT:-$ROOT/benchmarks}"
CSV="$RESULTS/gpu_all.csv"
LOG="$RESULTS/gpu_all.log"
WORK="$(mktemp -d)"
COMMANDS="$WORK/commands.jsonl"
mkdir -p "$RESULTS"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
export TRL_EXPLORE_CACHE="$WORK/cache" PYTHONUNBUFFERED=1

if [ "$DRY_RUN" = 0 ]; then
    rm -f "$CSV" "$LOG"
    if [ -d .whl ] && ls .whl/*.whl > /dev/null 2>&1; then  # offline machine: the carried wheels it lacks
        mapfile -t WHEELS < <(python benchmarks/gpu/offline_wheels.py .whl)
        echo "installing from .whl: ${WHEELS[*]##*/}" | tee -a "$LOG"
        if [ "${#WHEELS[@]}" -gt 0 ]; then
            python -m pip install -q --no-index --no-deps --target "$WORK/site" "${WHEELS[@]}" >> "$LOG" 2>&1
            export PYTHONPATH="$WORK/site:$PYTHONPATH"
        fi
    fi
    python -c "import trl_explore" 2>/dev/null || python -m pip install -q -e . >> "$LOG" 2>&1
    nvidia-smi --query-gpu=name,memory.total,compute_cap --format=csv,noheader | tee -a "$LOG"
    python -c "import torch, transformers, trl; print('torch', torch.__version__, 'transformers', transformers.__version__,
'trl', trl.__version__, 'cuda', torch.cuda.is_available())" 2>&1 | tee -a "$LOG"
fi

skip_row () {  # name, reason
    python - "$CSV" "$1" "$2" <<'PY'
import sys
sys.path.insert(0, "benchmarks")
from _common import append_rows, make_row
append_rows([make_row(sys.argv[2], "skipped: " + sys.argv[3], "", float("nan"), None, {})], sys.argv[1])
PY
}

section () {  # name, time limit (s), command...: runs the command under the limit or the deadline, whichever is first
    local name="$1" limit="$2"
    shift 2
    if [ "$DRY_RUN" = 1 ]; then
        python -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$name" "$@" >> "$COMMANDS"
        return 0
    fi
    local left=$(( DEADLINE - $(date +%s) ))
    if [ "$left" -lt 30 ]; then
        echo "SKIP $name: ${left}s left of the ${BUDGET}s budget" | tee -a "$LOG"
        skip_row "$name" "out of time" >> "$LOG" 2>&1
        return 0
    fi
    if [ "$limit" -gt "$left" ]; then limit="$left"; fi
    echo "=== $name (limit ${limit}s) $(date -u +%T)" | tee -a "$LOG"
    local t0=$(date +%s) rc=0
    timeout --kill-after 10 "$limit" "$@" >> "$LOG" 2>&1 || rc=$?
    local status="ok"
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then status="TIMEOUT"; elif [ "$rc" -ne 0 ]; then status="FAIL rc=$rc"; fi
    echo "    $status in $(( $(date +%s) - t0 ))s" | tee -a "$LOG"
    if [ "$status" != "ok" ]; then skip_row "$name" "$status" >> "$LOG" 2>&1; tail -15 "$LOG" | sed 's/^/    | /'; fi
}

CSVA=(--csv "$CSV")
BF16=(--device cuda --dtype bfloat16 --threads 0)

# 1. correctness first: a wrong kernel makes every speed number below meaningless
section kernels_check 90 python benchmarks/gpu/kernels_check.py "${CSVA[@]}"
# 2. ZeRO-3 and FSDP2 smokes (Lp-Reg GRPO, rank-aware SFT), 2 optimizer steps each
section distributed_smoke 170 python benchmarks/gpu/distributed_smoke.py --steps 2 --workdir "$WORK/smoke" "${CSVA[@]}"
# 3. speed and memory, ours vs the baseline measured in the same run
section lp_reg 45 python benchmarks/lp_reg.py "${BF16[@]}" --hidden 896 --vocab 151936 --tokens 8192 --repeats 3 \
    "${CSVA[@]}"
section lp_reg_step 45 python benchmarks/lp_reg.py "${BF16[@]}" --model qwen2.5-0.5b --batch 8 --tokens 4096 \
    --repeats 3 "${CSVA[@]}"
section rank_aware 40 python benchmarks/rank_aware.py "${BF16[@]}" --repeats 3 --beta -0.25 --lambda-low -0.1 \
    --top-k 100 --vocab 151936 --hidden 896 --tokens 8192 --skip-naive "${CSVA[@]}"
section hapo 50 python benchmarks/hapo.py "${BF16[@]}" --hidden 896 --layers 24 --vocab 151936 --batch 8 --prompt 128 \
    --completion 512 --new-tokens 64 --repeats 3 "${CSVA[@]}"
section spear 40 python benchmarks/spear.py "${BF16[@]}" --model qwen2.5-0.5b --batch 16 --replay 8 --tokens 512 \
    --repeats 3 "${CSVA[@]}"
section swireasoning 40 python benchmarks/swireasoning.py "${BF16[@]}" --repeats 3 --check --hidden 2048 --layers 16 \
    --heads 16 --vocab 151936 --batch 32 --max-new-tokens 64 "${CSVA[@]}"
section answer_choice_mass 35 python benchmarks/answer_choice_mass.py "${BF16[@]}" --model qwen2.5-0.5b --questions 32 \
    --shots 8 --batch 4 --repeats 2 --formats enumerated string "${CSVA[@]}"
section lastde 35 python benchmarks/lastde.py "${BF16[@]}" --model qwen2.5-0.5b --texts 32 --tokens 512 --batch 8 \
    --n_samples 100 --repeats 2 "${CSVA[@]}"

if [ "$DRY_RUN" = 1 ]; then
    python benchmarks/gpu/check_commands.py "$COMMANDS"
    rc=$?
    rm -rf "$WORK"
    exit "$rc"
fi

echo "=== done in $(( $(date +%s) - START ))s; CSV: $CSV" | tee -a "$LOG"
python benchmarks/gpu/summarize.py "$CSV" | tee -a "$LOG"
rm -rf "$WORK"
