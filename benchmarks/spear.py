"""Cost of SPEAR's replay on one training step, against TRL in the same run.

1. Generation phases: `SelfImitationComponent` collecting the positive rows of a batch (CPU copies) and mixing R stored
   rows into it (padding, concatenation, token recount) — `ExploreGRPOTrainer._run_generation_phases` — reported in
   milliseconds and as a fraction of the loss step below.
2. Loss step (compute_loss + backward) on the same mixed batch of B + R rows: TRL's `GRPOTrainer` (replayed rows as
   plain rows) vs `SPEARGRPOTrainer` (stored behaviour log-probs, per-row weights, replay Clip-Cov): the price of the
   own loss path and Clip-Cov, same work otherwise.

A randomly initialised model of the given shape (config built in code, no download). CSV rows through
`benchmarks/_common.py` (baseline: TRL).

    python benchmarks/spear.py --model tiny --device cpu                        # a check on a CPU
    python benchmarks/spear.py --model qwen2.5-0.5b --device cuda --dtype bfloat16 --batch 16 --replay 8 --tokens 1024
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import append_rows, make_row, peak_memory_bytes, time_fn  # noqa: E402

MODEL_SHAPES = {
    "qwen2.5-0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                         num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=4096, tie_word_embeddings=True),
}  # fmt: skip


def _batch(rows: int, tokens: int, vocab: int, seed: int, device: str) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    prompt_len = 64
    completion_mask = torch.ones(rows, tokens, dtype=torch.long)
    for r in range(rows):  # ragged completions, right-padded
        completion_mask[r, int(tokens * (0.5 + 0.5 * r / max(rows - 1, 1))) :] = 0
    batch = {
        "prompt_ids": torch.randint(5, vocab, (rows, prompt_len), generator=g),
        "prompt_mask": torch.ones(rows, prompt_len, dtype=torch.long),
        "completion_ids": torch.randint(5, vocab, (rows, tokens), generator=g) * completion_mask,
        "completion_mask": completion_mask,
        "advantages": torch.where(torch.arange(rows) % 2 == 0, 1.0, -1.0),
        "num_items_in_batch": completion_mask.sum(),
    }
    return {k: v.to(device) for k, v in batch.items()}


def run(args: argparse.Namespace) -> list[dict]:
    from datasets import Dataset
    from transformers import Qwen2Config, Qwen2ForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    from trl_explore.toy import make_tokenizer
    from trl_explore.trainers import SPEARConfig, SPEARGRPOTrainer
    from trl_explore.trainers.components.rows import take_row
    from trl_explore.trainers.components.spear import PENDING_KEY, ReplayEntry

    dtype = getattr(torch, args.dtype)
    shape = MODEL_SHAPES[args.model]
    cfg = Qwen2Config(**shape, max_position_embeddings=max(4096, args.tokens + 128))
    tokenizer = make_tokenizer()
    common = dict(
        per_device_train_batch_size=args.batch, num_generations=args.batch, max_completion_length=args.tokens,
        report_to="none", use_cpu=args.device == "cpu", bf16=dtype == torch.bfloat16, gradient_checkpointing=True,
        loss_type="dapo", save_strategy="no", epsilon_high=0.28,
    )  # fmt: skip
    sync = torch.cuda.synchronize if args.device == "cuda" else None
    config = {"model": args.model, "batch": args.batch, "replay": args.replay, "tokens": args.tokens,
              "device": args.device, "dtype": args.dtype}  # fmt: skip
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        model = Qwen2ForCausalLM(cfg).to(dtype)
        spear = SPEARGRPOTrainer(
            model=model, reward_funcs=lambda completions, **kw: [0.0] * len(completions),
            args=SPEARConfig(output_dir=tmp, sil_buffer_size=args.replay, sil_trigger_factor=0.5, sil_warmup_steps=0,
                             clip_cov_replay_lb=-1e9, clip_cov_replay_ub=1e9, **common),
            train_dataset=Dataset.from_dict({"prompt": ["x"] * args.batch}), processing_class=tokenizer,
        )  # fmt: skip
        component = next(c for c in spear.components if c.name == "spear")
        stored = _batch(args.replay, args.tokens, cfg.vocab_size, seed=1, device=args.device)
        entries = []
        for i in range(args.replay):
            row = take_row(stored, i, skip=("advantages",))
            row["old_per_token_logps"] = -torch.rand(row["completion_ids"].numel())
            entries.append(ReplayEntry(row=row, reward=1.0, advantage=1.0, group=i, step=0))
        spear.model.train()
        rewards = torch.tensor([[1.0 if i % 2 == 0 else 0.0] for i in range(args.batch)], device=args.device)

        def phases():
            component.buffer.entries = list(entries)
            component.baseline.values = torch.tensor([0.0, 0.5])
            component.pending = []
            spear._last_rewards_per_func = rewards
            return spear._run_generation_phases(_batch(args.batch, args.tokens, cfg.vocab_size, 0, args.device))

        mixed = phases()
        assert mixed["completion_ids"].size(0) == args.batch + args.replay, "the replay must trigger"
        phase_seconds = time_fn(phases, warmup=1, repeats=args.repeats, sync=sync)
        spear.current_gradient_accumulation_steps = 1
        plain = {k: v for k, v in mixed.items() if not k.startswith(("explore_", PENDING_KEY))}
        plain["old_per_token_logps"] = torch.nan_to_num(mixed["old_per_token_logps"], nan=0.0)

        trl = GRPOTrainer(
            model=Qwen2ForCausalLM(cfg).to(dtype), reward_funcs=lambda completions, **kw: [0.0] * len(completions),
            args=GRPOConfig(output_dir=tmp, **common), train_dataset=Dataset.from_dict({"prompt": ["x"] * args.batch}),
            processing_class=tokenizer,
        )  # fmt: skip
        trl.current_gradient_accumulation_steps = 1
        trl.model.train()
        results = {}
        for name, trainer, inputs in (("trl", trl, plain), ("spear", spear, mixed)):

            def step(trainer=trainer, inputs=inputs):
                trainer.model.zero_grad(set_to_none=True)
                trainer.compute_loss(trainer.model, dict(inputs)).backward()

            step()
            seconds = time_fn(step, warmup=0, repeats=args.repeats, sync=sync)
            trainer.model.zero_grad(set_to_none=True)
            results[name] = {"time": seconds, "peak": peak_memory_bytes(step)}
            print(f"  {name:6s} loss step {seconds:8.3f} s   peak {results[name]['peak'] / 2**20:9.1f} MiB")
    base, ours = results["trl"], results["spear"]
    print(f"  generation phases with replay: {1000 * phase_seconds:.1f} ms "
          f"({phase_seconds / ours['time']:.3f} of a loss step)")  # fmt: skip
    print(
        f"  spear / trl loss step: time x{ours['time'] / base['time']:.3f}   memory x{ours['peak'] / base['peak']:.3f}"
    )
    for name, res in results.items():
        rows.append(make_row(f"spear_step/{name}", "fwd_bwd_time", "s", res["time"], base["time"], config))
        rows.append(make_row(f"spear_step/{name}", "peak_memory", "bytes", res["peak"], base["peak"], config))
    rows.append(make_row("spear_step/spear", "generation_phases_time", "s", phase_seconds, ours["time"], config))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODEL_SHAPES), default="tiny", help="Model shape (default tiny).")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu).")
    parser.add_argument("--dtype", default="float32", help="float32 or bfloat16 (default float32).")
    parser.add_argument("--batch", type=int, default=8, help="Generated rows B (default 8).")
    parser.add_argument("--replay", type=int, default=4, help="Replayed rows R mixed in (default 4).")
    parser.add_argument("--tokens", type=int, default=128, help="Completion width T (default 128).")
    parser.add_argument("--repeats", type=int, default=3, help="Timed repeats, median (default 3).")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (0: torch default; default 1).")
    parser.add_argument("--csv", default=None, help="CSV file to append rows to (default benchmarks/results.csv).")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"SPEAR step cost: {vars(args)}")
    append_rows(run(args), args.csv)


if __name__ == "__main__":
    main()
