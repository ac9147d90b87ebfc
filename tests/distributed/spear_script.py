"""Run with ``torchrun --standalone --nproc_per_node 2 tests/distributed/spear_script.py OUT_DIR``.

Run A trains a tiny `SPEARGRPOTrainer` for 6 steps on CPU (gloo) with a replay buffer of 2 rows that triggers, one
group of 8 completions spanning both ranks and a checkpoint after every step. Run B resumes from the checkpoint before
A's first replay after step 1 and replays again. Each rank writes what its component did.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "trainers"))

from grpo_helpers import build_trainer, tiny_model, tiny_tokenizer  # noqa: E402

from trl_explore.trainers import SPEARConfig, SPEARGRPOTrainer  # noqa: E402

COMMON = dict(
    per_device_train_batch_size=4, num_generations=8, sil_buffer_size=2, sil_trigger_factor=1.0, sil_warmup_steps=0,
    learning_rate=1e-3, clip_cov_replay_ratio=0.2, clip_cov_replay_lb=-1e9, clip_cov_replay_ub=1e9,
)  # fmt: skip


def _record(trainer) -> dict[int, dict]:
    spear = next(c for c in trainer.components if c.name == "spear")
    replays: dict[int, dict] = {}
    original = spear._replay

    def replay(ctx, p50, weight):
        generation = spear.generation
        count = original(ctx, p50, weight)
        replays[generation] = {
            "rows": count,
            "groups": [e.group for e in spear.last_replay],
            "completion_ids": [e.row["completion_ids"].tolist() for e in spear.last_replay],
            "behaviour": [e.row["old_per_token_logps"].tolist() for e in spear.last_replay],
            "advantages": spear.last_replay_advantages.tolist(),
            "batch_rows": int(ctx.output["completion_ids"].size(0)) + count,
        }
        return count

    spear._replay = replay
    return replays


def main(out_dir: str) -> None:
    torch.set_num_threads(1)
    out = Path(out_dir)
    first = build_trainer(
        SPEARGRPOTrainer, SPEARConfig, out / "run", model=tiny_model(tiny_tokenizer()), max_steps=6,
        save_strategy="steps", save_steps=1, **COMMON,
    )  # fmt: skip
    replays_a = _record(first)
    first.train()
    rank = first.accelerator.process_index
    logs = [
        {k: v for k, v in e.items() if k.startswith(("spear/", "clip_cov/"))}
        for e in first.state.log_history
        if "spear/replay_triggered" in e
    ]
    later = sorted(g for g in replays_a if g >= 1)
    replays_b: dict[int, dict] = {}
    if later:
        second = build_trainer(
            SPEARGRPOTrainer, SPEARConfig, out / "resumed", model=tiny_model(tiny_tokenizer()),
            max_steps=later[0] + 1, save_strategy="no", **COMMON,
        )  # fmt: skip
        replays_b = _record(second)
        second.train(resume_from_checkpoint=str(out / "run" / f"checkpoint-{later[0]}"))
    payload = {
        "world_size": first.accelerator.num_processes,
        "steps": first.state.global_step,
        "replays": {str(k): v for k, v in replays_a.items()},
        "resumed_from": later[0] if later else None,
        "resumed_replays": {str(k): v for k, v in replays_b.items()},
        "logs": logs,
    }
    (out / f"spear_rank{rank}.json").write_text(json.dumps(payload))


if __name__ == "__main__":
    main(sys.argv[1])
