"""Run with ``torchrun --nproc_per_node 2 tests/distributed/relative_negative_script.py OUT_DIR``.

Trains a tiny `RelativeNegativeGRPOTrainer` (NSR, ``selected_tokens``, ``dapo``) for 2 steps on CPU (gloo) with one
group of 8 completions spanning both ranks, and writes per rank what the component saw and produced.
"""

from __future__ import annotations

import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "trainers"))

from grpo_helpers import build_trainer, tiny_model, tiny_tokenizer  # noqa: E402

from trl_explore.trainers import RelativeNegativeConfig, RelativeNegativeGRPOTrainer  # noqa: E402
from trl_explore.trainers.components import KEEP_KEY  # noqa: E402


def main(out_dir: str) -> None:
    torch.set_num_threads(1)
    tok = tiny_tokenizer()
    trainer = build_trainer(
        RelativeNegativeGRPOTrainer,
        RelativeNegativeConfig,
        __import__("pathlib").Path(out_dir) / "run",
        model=tiny_model(tok),
        max_steps=2,
        per_device_train_batch_size=4,
        num_generations=8,
        advantage_mode="nsr",
        negative_normalization="selected_tokens",
        learning_rate=1e-2,
    )
    records = []
    original = trainer._run_generation_phases

    def recording(output):
        trl_num_items = int(output["num_items_in_batch"])
        out = original(output)
        loss_mask = out["completion_mask"].float()
        records.append(
            {
                "rewards": trainer._last_rewards_per_func[:, 0].tolist(),  # one reward function, weight 1
                "advantages": out["advantages"].tolist(),
                "keep": out[KEEP_KEY].tolist(),
                "local_tokens": loss_mask.sum(-1).tolist(),
                "trl_num_items": trl_num_items,
                "num_items": int(out["num_items_in_batch"]),
            }
        )
        return out

    trainer._run_generation_phases = recording
    trainer.train()
    metrics = [
        {k: v for k, v in e.items() if k.startswith("rng/")}
        for e in trainer.state.log_history
        if "rng/frac_kept_samples" in e
    ]
    rank = trainer.accelerator.process_index
    payload = {"world_size": trainer.accelerator.num_processes, "records": records, "metrics": metrics}
    with open(os.path.join(out_dir, f"rng_rank{rank}.json"), "w") as f:
        json.dump(payload, f)


if __name__ == "__main__":
    main(sys.argv[1])
