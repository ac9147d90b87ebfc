"""Run with ``torchrun --standalone --nproc_per_node N tests/distributed/suite_script.py OUT CASE [CASE ...]``.

Trains each case of `suite_cases.CASES` named on the command line for 3 optimizer steps, one after the other in this
launch, on a global batch of 12 rows split over the N processes (N = 1 gives the reference of the same global batch).
Each rank writes ``OUT/<case>/rank<r>.json``: the log history, and what the components computed along the way (the
generated completions and advantages, Lp-Reg's thresholds, HAPO's entropy statistics, the gathered completion lengths,
SPEAR's replays).

Sampling is made independent of how the rows are split over processes: a test-only component appends a Gumbel-max
sampler whose noise is a function of (generation, global row, position) and generation is greedy over it, which is an
exact sample of the (possibly temperature-adapted) distribution. It also raises EOS's logit so that completion lengths
vary. Prompts all have the same length (no left padding, whose amount would depend on the split).

``--fail-on-rank R``: rank R raises in its reward function (the harness's own test: its error must reach the output).
``--resume``: for each case, train 4 steps saving at step 2, then resume a new trainer from that checkpoint
(`resume_case`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import torch
from torch.distributed.elastic.multiprocessing.errors import record

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from suite_cases import CASES_BY_NAME, GLOBAL_BATCH, NUM_GENERATIONS, STEPS, TIMING_KEYS, Case  # noqa: E402
from torchrun_launch import arm_watchdog, finish  # noqa: E402

import trl_explore.trainers as trainers  # noqa: E402
from trl_explore.trainers.components import (  # noqa: E402
    ExploreComponent,
    GenerationContext,
    SamplingRequest,
    register_component,
)

EOS_BOOST = 2.5


class GumbelMaxSampler:
    """Logits processor: adds Gumbel noise seeded by (generation, global row, position) and raises EOS; with greedy
    decoding the argmax is a sample of ``softmax(scores)`` that does not depend on how rows are split over processes."""

    def __init__(self, generation: int, process_index: int, eos: int) -> None:
        self.generation, self.process_index, self.eos = generation, process_index, eos

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        rows, vocab = scores.shape
        offset = self.process_index * rows
        noise = torch.empty(rows, vocab, dtype=torch.float32)
        for b in range(rows):
            seed = (self.generation * 1_000_003 + (offset + b) * 7919 + input_ids.shape[1]) % (2**62)
            g = torch.Generator().manual_seed(seed)
            u = torch.rand(vocab, generator=g, dtype=torch.float64).clamp(1e-12, 1 - 1e-12)
            noise[b] = (-torch.log(-torch.log(u))).float()
        out = scores.float() + noise.to(scores.device)
        out[:, self.eos] += EOS_BOOST
        return out.to(scores.dtype)


@register_component
class DeterministicSampling(ExploreComponent):
    """Test-only: every training rollout goes through `GumbelMaxSampler` (registered last: after HAPO's temperature)."""

    name = "test_deterministic_sampling"

    @classmethod
    def enabled(cls, args: Any) -> bool:
        return True

    def sampling(self, ctx: Any) -> SamplingRequest:
        trainer = self.trainer
        # keyed by the global step (not a counter of this object): a resumed run draws what the uninterrupted one drew
        sampler = GumbelMaxSampler(
            int(trainer.state.global_step), trainer.accelerator.process_index, trainer.processing_class.eos_token_id
        )
        return SamplingRequest(logits_processors=[sampler])


def _jsonable(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return _jsonable(value.detach().cpu().tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # "nan", "inf": JSON has none
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _parity_reward(completions: list[Any], **kwargs: Any) -> list[float]:
    return [float(len(str(c)) % 2) for c in completions]


def _grpo_trainer(case: Case, out: Path, world: int, fail_on_rank: int | None):
    from datasets import Dataset

    from trl_explore.toy import make_tiny_model, make_tokenizer

    tok = make_tokenizer()
    model = make_tiny_model(tok, hidden_size=32, num_hidden_layers=1, seed=0)
    with torch.no_grad():
        model.lm_head.weight.mul_(6.0)  # sharper distributions: min-p filtering and the entropy scores bite
    reward = _parity_reward
    if fail_on_rank is not None:
        rank = int(os.environ.get("RANK", "0"))

        def reward(completions: list[Any], **kwargs: Any) -> list[float]:
            if rank == fail_on_rank:
                raise ValueError(f"injected failure on rank {rank}")
            return _parity_reward(completions)

    kwargs: dict[str, Any] = dict(
        output_dir=str(out / "run"), per_device_train_batch_size=GLOBAL_BATCH // world,
        num_generations=NUM_GENERATIONS, max_completion_length=6, max_steps=STEPS, learning_rate=1e-2,
        report_to="none", use_cpu=True, bf16=False, logging_steps=1, save_strategy="no", seed=0, data_seed=0,
        generation_kwargs={"do_sample": False}, ddp_timeout=300, disable_tqdm=True, warmup_steps=0,
    )  # fmt: skip
    kwargs.update(case.overrides)
    args = getattr(trainers, case.config)(**kwargs)
    # every prompt has the same length: no left padding (whose amount would depend on the split of the batch)
    data = Dataset.from_dict({"prompt": [f"{i:02d}+{i:02d}=" for i in range(16)]})
    return getattr(trainers, case.trainer)(
        model=model, reward_funcs=reward, args=args, train_dataset=data, processing_class=tok
    )


def _sft_trainer(case: Case, out: Path, world: int):
    from datasets import Dataset

    from trl_explore.toy import make_tiny_model, make_tokenizer

    tok = make_tokenizer()
    g = torch.Generator().manual_seed(0)
    rows = []
    for _ in range(48):
        v = torch.rand((), generator=g).item()
        rows.append({"prompt": f"x={v:.2f} bin:", "completion": str(min(int(v * 10), 9))})
    args = getattr(trainers, case.config)(
        output_dir=str(out / "run"), per_device_train_batch_size=GLOBAL_BATCH // world, max_steps=STEPS,
        learning_rate=1e-2, report_to="none", use_cpu=True, bf16=False, logging_steps=1, save_strategy="no", seed=0,
        data_seed=0, max_length=32, ddp_timeout=300, disable_tqdm=True, **case.overrides,
    )  # fmt: skip
    model = make_tiny_model(tok, hidden_size=32, num_hidden_layers=1, seed=0)
    return getattr(trainers, case.trainer)(
        model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok
    )


def _probe(trainer, records: dict[str, list]) -> None:
    """Record what the components compute: per generation (completions, advantages, gathered lengths and rewards) and
    per micro-batch (Lp-Reg's threshold, HAPO's entropy statistics, SPEAR's buffer)."""
    original_phases = trainer._run_generation_phases

    def phases(output):
        out = original_phases(output)
        if trainer.model.training:
            records["generations"].append(
                {
                    "completion_ids": out["completion_ids"],
                    "completion_mask": out["completion_mask"],
                    "advantages": out["advantages"],
                    "rewards": trainer._last_rewards_per_func,
                }
            )
        return out

    trainer._run_generation_phases = phases
    original_lengths = GenerationContext.global_completion_lengths

    def lengths(ctx):
        value = original_lengths(ctx)
        records["global_lengths"].append(value)
        return value

    GenerationContext.global_completion_lengths = lengths
    original_loss = trainer._compute_loss

    def loss(model, inputs):
        value = original_loss(model, inputs)
        for component in trainer.components:
            if component.name == "lp_reg":
                records["lp_reg_threshold"].append(component.last_threshold_logp)
            if component.name == "hapo_adaptive_temperature" and component.stats is not None:
                records["hapo_stats"].append(list(component.stats))
            if component.name == "spear":
                records["spear"].append({"buffer": len(component.buffer), "generation": component.generation})
        return value

    trainer._compute_loss = loss


def resume_case(case: Case, out_dir: Path) -> None:
    """Run A: 4 steps with a checkpoint at step 2; run B: a new trainer resumed from A's checkpoint-2. Writes both
    runs' per-step logs (``OUT/<case>/resume_rank<r>.json``)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    out = out_dir / case.name
    out.mkdir(parents=True, exist_ok=True)
    extended = Case(case.name, case.trainer, case.config, {**case.overrides, "max_steps": 4}, kind=case.kind)
    runs = {}
    for name, extra, resume in (
        ("a", {"save_strategy": "steps", "save_steps": 2}, None),
        ("b", {}, str(out / "a" / "run" / "checkpoint-2")),
    ):
        torch.manual_seed(0)
        run_case_config = Case(case.name, case.trainer, case.config, {**extended.overrides, **extra}, kind=case.kind)
        build = _sft_trainer if case.kind == "sft" else lambda c, o, w: _grpo_trainer(c, o, w, None)
        trainer = build(run_case_config, out / name, world)
        trainer.train(resume_from_checkpoint=resume)
        runs[name] = [
            {k: v for k, v in e.items() if k not in TIMING_KEYS} for e in trainer.state.log_history if "loss" in e
        ]
    (out / f"resume_rank{rank}.json").write_text(json.dumps(_jsonable({"world_size": world, **runs})))


def run_case(case: Case, out_dir: Path, fail_on_rank: int | None) -> None:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    out = out_dir / case.name
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    records: dict[str, list] = {
        k: [] for k in ("generations", "global_lengths", "lp_reg_threshold", "hapo_stats", "spear")
    }
    if case.kind == "sft":
        trainer = _sft_trainer(case, out, world)
    else:
        trainer = _grpo_trainer(case, out, world, fail_on_rank)
        _probe(trainer, records)
    assert trainer.accelerator.num_processes == world, (trainer.accelerator.num_processes, world)
    try:
        trainer.train()
    finally:
        GenerationContext.global_completion_lengths = _ORIGINAL_LENGTHS
    logs = [{k: v for k, v in e.items() if k not in TIMING_KEYS} for e in trainer.state.log_history]
    payload = {"case": case.name, "world_size": world, "rank": rank, "logs": logs, **records}
    (out / f"rank{rank}.json").write_text(json.dumps(_jsonable(payload)))


_ORIGINAL_LENGTHS = GenerationContext.global_completion_lengths


@record
def main() -> None:
    arm_watchdog()
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("cases", nargs="+")
    parser.add_argument("--fail-on-rank", type=int, default=None)
    parser.add_argument("--resume", action="store_true", help="save at step 2, resume, compare (resume_case)")
    ns = parser.parse_args()
    torch.set_num_threads(1)
    for name in ns.cases:
        if ns.resume:
            resume_case(CASES_BY_NAME[name], Path(ns.out_dir))
        else:
            run_case(CASES_BY_NAME[name], Path(ns.out_dir), ns.fail_on_rank)
    finish()


if __name__ == "__main__":
    main()
