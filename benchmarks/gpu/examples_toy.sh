#!/usr/bin/env bash
# The example scripts on one GPU without extra flags (prepared for a session with a device; about 1-2 minutes):
# 1. the offline toy routes of the RL and SFT examples pick the GPU themselves (bf16 where the GPU supports it natively,
#    else float32 mixed precision is left to the user) and train: RL with a non-zero reward, SFT with a falling loss;
# 2. QLoRA (`--use_peft --load_in_4bit`) reaches the model in every example that offers it (GRPO, rank-aware SFT,
#    Fourier SFT): a local 4-bit model trains 2 steps and its LoRA adapter is saved. The model is a tiny Qwen2 built in
#    code and saved to a local folder (no download; the machine has no network), the data a local JSONL.
# Prints one line per check and writes them to $OUT/examples_toy_gpu.txt when $OUT is set.
set -euo pipefail
cd "$(dirname "$0")/../.."
python -c "import trl_explore" 2>/dev/null || pip install -q -e .
python -c "import bitsandbytes" 2>/dev/null || pip install -q "bitsandbytes>=0.45.1" || true
export TRL_EXPLORE_CACHE="${TMPDIR:-/tmp}/trl_explore_gpu_cache" TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
WORK="$(mktemp -d)"
REPORT="${OUT:+$OUT/examples_toy_gpu.txt}"
REPORT="${REPORT:-$WORK/report.txt}"
nvidia-smi --query-gpu=name,memory.total,compute_cap --format=csv,noheader || true

python - "$WORK" <<'PY'
import json, sys
from pathlib import Path
from trl_explore.toy import make_tiny_model, make_tokenizer, make_arithmetic_dataset
work = Path(sys.argv[1])
tok = make_tokenizer()
make_tiny_model(tok, hidden_size=128, num_hidden_layers=2).save_pretrained(work / "model")
tok.save_pretrained(work / "model")
rows = make_arithmetic_dataset(64, seed=0)
with open(work / "math.jsonl", "w") as f:
    for p, s in zip(rows["prompt"], rows["solution"]):
        f.write(json.dumps({"problem": p, "solution": s}) + "\n")
with open(work / "numbers.jsonl", "w") as f:
    for i in range(64):
        f.write(json.dumps({"prompt": f"x={i}", "value": i % 10}) + "\n")
PY

check () {  # name, log file, python expression over the log text that must hold
  if python - "$2" "$3" <<'PY'
import ast, re, sys
text = open(sys.argv[1]).read()
logs = [ast.literal_eval(m) for m in re.findall(r"\{'[^{}]*\}", text)]
ok = eval(sys.argv[2], {"logs": logs, "text": text})
sys.exit(0 if ok else 1)
PY
  then echo "PASS $1" | tee -a "$REPORT"; else echo "FAIL $1 (see $2)" | tee -a "$REPORT"; tail -20 "$2"; fi
}
COMMON=(--report_to none --save_strategy no --logging_steps 1)

timeout 240 python examples/lpreg_grpo.py --model_name_or_path toy --dataset_name toy-arithmetic --learning_rate 1e-4 \
    --max_steps 4 --per_device_train_batch_size 16 --num_generations 8 --max_completion_length 24 \
    --output_dir "$WORK/lpreg" "${COMMON[@]}" > "$WORK/lpreg.log" 2>&1 || true
check "lpreg toy route on the GPU, reward > 0" "$WORK/lpreg.log" \
    "'No GPU' not in text and sum(float(l['reward']) for l in logs if 'reward' in l) > 0"

timeout 120 python examples/rank_aware_sft.py --model_name_or_path toy --dataset_name toy-arithmetic \
    --learning_rate 3e-3 --max_steps 12 --per_device_train_batch_size 16 --logging_steps 3 \
    --output_dir "$WORK/rank" --report_to none --save_strategy no > "$WORK/rank.log" 2>&1 || true
check "rank-aware toy route on the GPU, loss falls" "$WORK/rank.log" \
    "len([l for l in logs if 'loss' in l]) >= 2 and float([l for l in logs if 'loss' in l][-1]['loss']) < float([l for l in logs if 'loss' in l][0]['loss'])"

QLORA=(--use_peft --load_in_4bit --lora_r 8 --lora_target_modules q_proj v_proj --max_steps 2 "${COMMON[@]}")
timeout 240 python examples/lpreg_grpo.py --model_name_or_path "$WORK/model" --dataset_name "$WORK/math.jsonl" \
    --per_device_train_batch_size 8 --num_generations 8 --max_completion_length 16 --output_dir "$WORK/q_lpreg" \
    "${QLORA[@]}" > "$WORK/q_lpreg.log" 2>&1 || true
check "QLoRA lpreg_grpo: adapter saved" "$WORK/q_lpreg.log" \
    "__import__('os').path.isfile('$WORK/q_lpreg/adapter_model.safetensors')"
timeout 240 python examples/rank_aware_sft.py --model_name_or_path "$WORK/model" --dataset_name toy-arithmetic \
    --per_device_train_batch_size 8 --output_dir "$WORK/q_rank" "${QLORA[@]}" > "$WORK/q_rank.log" 2>&1 || true
check "QLoRA rank_aware_sft: adapter saved" "$WORK/q_rank.log" \
    "__import__('os').path.isfile('$WORK/q_rank/adapter_model.safetensors')"
timeout 240 python examples/fourier_head_sft.py --model_name_or_path "$WORK/model" --dataset_name "$WORK/numbers.jsonl" \
    --value_range 0 9 --per_device_train_batch_size 8 --output_dir "$WORK/q_fourier" "${QLORA[@]}" \
    > "$WORK/q_fourier.log" 2>&1 || true
check "QLoRA fourier_head_sft: 4-bit model, adapter saved" "$WORK/q_fourier.log" \
    "__import__('os').path.isfile('$WORK/q_fourier/adapter_model.safetensors')"
cat "$REPORT"
