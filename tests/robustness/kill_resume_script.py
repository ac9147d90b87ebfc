"""``python tests/robustness/kill_resume_script.py MODE OUT`` — the killed-run test's training process.

The ``all_stateful`` family (HAPO's adaptive temperature and TLGA, SPEAR's replay, Clip-Cov, Lp-Reg, TRL's adaptive
entropy controller) trains 5 steps with a checkpoint after every step.

* ``full``: trains uninterrupted in ``OUT/full``; writes ``OUT/full.json`` (the per-step losses).
* ``killed``: trains in ``OUT/run``; when step 4 starts scoring its completions (after checkpoint-3 was written) it
  writes ``OUT/ready`` and waits, for the test to SIGKILL it mid-step.
* ``resume``: ``train(resume_from_checkpoint=True)`` in ``OUT/run``; writes ``OUT/resume.json``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from families import build_grpo, parity_reward  # noqa: E402

STEPS = 5
KILL_AT = 3  # global step when the process blocks (during step 4)


def main(mode: str, out: Path) -> None:
    torch.set_num_threads(1)

    def reward(completions, trainer_state=None, **kwargs):
        if mode == "killed" and trainer_state is not None and trainer_state.global_step == KILL_AT:
            (out / "ready").write_text("step 4 is scoring its completions\n")
            time.sleep(600)  # the test kills this process here
        return parity_reward(completions)

    run_dir = out / ("full" if mode == "full" else "run")
    trainer = build_grpo(
        "all_stateful", run_dir, reward_funcs=reward, max_steps=STEPS, save_strategy="steps", save_steps=1
    )
    trainer.train(resume_from_checkpoint=True if mode == "resume" else None)
    logs = [e for e in trainer.state.log_history if "loss" in e and "train_runtime" not in e]
    (out / f"{mode}.json").write_text(json.dumps({int(e["step"]): [e["loss"], e["grad_norm"]] for e in logs}))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
