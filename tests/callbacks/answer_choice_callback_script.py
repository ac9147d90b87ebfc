"""Run with ``torchrun --standalone --nproc_per_node 2 tests/callbacks/answer_choice_callback_script.py OUT_DIR``.

Each rank scores its shard of 7 held-out questions with `AnswerChoiceMassCallback` (CPU, gloo) and writes the gathered
metrics; rank 0 also writes the metrics of a one-process `answer_choice_mass` call on all questions.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.elastic.multiprocessing.errors import record

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from torchrun_launch import arm_watchdog, finish  # noqa: E402

from trl_explore.callbacks.answer_choice import AnswerChoiceMassCallback  # noqa: E402
from trl_explore.metrics import answer_choice_mass, draw_demos  # noqa: E402
from trl_explore.toy import make_multiple_choice_dataset, make_tiny_model, make_tokenizer  # noqa: E402


@record
def main(out_dir: str) -> None:
    arm_watchdog()
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    tok = make_tokenizer()
    model = make_tiny_model(tok, seed=4)
    ds = make_multiple_choice_dataset(7, seed=5)
    cb = AnswerChoiceMassCallback(ds, num_shots=2, pmi=True, eval_steps=1, batch_size=3, show_progress=False)
    row = cb.evaluate(model, tok, type("Args", (), {"output_dir": None})(), step=0)
    row.pop("seconds")
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(row))
    if rank == 0:
        demos = draw_demos(ds.to_list(), 7, 2, seed=0, exclude_self=True)
        s = answer_choice_mass(
            model,
            tok,
            ds["question"],
            ds["choices"],
            num_shots=2,
            demos=demos,
            pmi=True,
            answers=ds["answer"],
            show_progress=False,
        ).summary()
        keys = ("mass", "all_token_mass", "accuracy", "first_token_accuracy", "sfc_resolved", "pmi_accuracy")
        Path(out_dir, "single.json").write_text(json.dumps({"step": 0, **{k: s[k] for k in keys}}))
    finish()


if __name__ == "__main__":
    main(sys.argv[1])
