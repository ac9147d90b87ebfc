"""Run with ``torchrun --nproc_per_node 2 tests/distributed/lp_reg_batch_all_script.py OUT_DIR``.

Trains a tiny `LpRegGRPOTrainer` for 2 steps on CPU (gloo) with ``lp_reg_percentile_scope="batch_all"`` and writes,
per rank, the global threshold of every micro-batch and the threshold of the rank's local tokens alone.
"""

from __future__ import annotations

import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "trainers"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from grpo_helpers import build_trainer, tiny_model, tiny_tokenizer  # noqa: E402

from trl_explore.functional.lp_reg import lp_reg_percentile_threshold  # noqa: E402
from trl_explore.trainers import LpRegConfig, LpRegGRPOTrainer  # noqa: E402


def main(out_dir: str) -> None:
    tok = tiny_tokenizer()
    model = tiny_model(tok)
    with torch.no_grad():
        model.lm_head.weight.mul_(6.0)
    trainer = build_trainer(
        LpRegGRPOTrainer,
        LpRegConfig,
        out_dir,
        model=model,
        max_steps=2,
        lp_reg_rho=0.2,
        lp_reg_percentile_scope="batch_all",
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=8,
        seed=0,
        data_seed=0,
    )
    component = trainer.components[0]
    records: list[dict[str, float]] = []
    original = component.adjust_loss

    def recording(ctx):
        local, _ = lp_reg_percentile_threshold(ctx.per_token_logps.detach()[ctx.mask.bool()], component.args.lp_reg_rho)
        original(ctx)
        records.append(
            {"global": component.last_threshold_logp, "local": float("nan") if local is None else float(local)}
        )

    component.adjust_loss = recording
    trainer.train()
    rank = trainer.accelerator.process_index
    with open(os.path.join(out_dir, f"thresholds_rank{rank}.json"), "w") as f:
        json.dump({"world_size": trainer.accelerator.num_processes, "records": records}, f)


if __name__ == "__main__":
    main(sys.argv[1])
