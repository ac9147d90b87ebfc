"""Lp-Reg loss: forward + backward wall time and peak memory against TRL's GRPO loss, in the same run.

Three implementations of the per-token loss on the last hidden states (the part of the step Lp-Reg changes: LM head,
log-probs and the loss; the backbone is identical for all three):

* ``trl``   — TRL 1.16's fused LM head (``trl.kernels.ChunkedLogProbFunction``, log-probs + entropy, as GRPOTrainer
  requests them) and the clipped GRPO surrogate with ``dapo`` aggregation;
* ``ours``  — `trl_explore.kernels.token_stats` (same pass: log-prob, entropy, proxy log-prob, kept mass) and the
  Lp-Reg loss (selection + k3 term);
* ``naive`` — the released code's approach: full ``[N, V]`` logits, ``log_softmax``, the proxy from the full
  probabilities and the same Lp-Reg loss (skipped when the logits would not fit comfortably in memory).

Usage::

    python benchmarks/lp_reg.py                                  # CPU acceptance: V = 32k, 16k tokens, one thread
    python benchmarks/lp_reg.py --vocab 32768 151936 --tokens 4096 16384 --hidden 256 --threads 1
    python benchmarks/lp_reg.py --device cuda --hidden 896 --tokens 4096 16384 --vocab 151936
    python benchmarks/lp_reg.py --model qwen2.5-0.5b --device cuda --dtype bfloat16 --tokens 4096 16384

Prints time and memory ratios against TRL and appends tidy rows to ``benchmarks/results.csv`` (``_common``).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))

from _common import append_rows, make_row, peak_memory_bytes, time_fn  # noqa: E402

from trl_explore.functional.lp_reg import (  # noqa: E402
    lp_reg_per_token_loss,
    lp_reg_proxy_logps,
    lp_reg_select,
)
from trl_explore.kernels.token_stats import token_stats  # noqa: E402

NAIVE_MAX_LOGIT_BYTES = 3 * 2**30  # skip the naive path above ~3 GiB of logits


def _surrogate(logps: torch.Tensor, adv: torch.Tensor, eps_low: float = 1.0, eps_high: float = 9.0) -> torch.Tensor:
    coef_1 = torch.exp(logps - logps.detach())
    coef_2 = torch.clamp(coef_1, 1 - eps_low, 1 + eps_high)
    return -torch.min(coef_1 * adv, coef_2 * adv), coef_1


def loss_trl(hidden, weight, targets, adv, mask):
    from trl.kernels import ChunkedLogProbFunction

    logps, entropy, *_ = ChunkedLogProbFunction.apply(
        hidden, weight, None, targets, 1.0, 32768, None, 1.0, ("entropy",)
    )
    per_token, _ = _surrogate(logps, adv)
    _ = entropy.detach().mean()  # logged as a metric by TRL
    return (per_token * mask).sum() / mask.sum()


def _lp_reg_tail(logps, proxy, adv, mask, rho=0.01, beta=1.0):
    per_token, coef_1 = _surrogate(logps, adv)
    sel = lp_reg_select(logps.unsqueeze(0), proxy.unsqueeze(0), adv.unsqueeze(0), mask.unsqueeze(0), rho=rho)
    loss, _ = lp_reg_per_token_loss(
        per_token.unsqueeze(0),
        coef_1.unsqueeze(0),
        logps.unsqueeze(0),
        proxy.unsqueeze(0),
        adv.unsqueeze(0),
        sel.selected,
        beta=beta,
    )
    return (loss.squeeze(0) * mask).sum() / mask.sum()


def loss_ours(hidden, weight, targets, adv, mask):
    stats = token_stats(hidden, weight, targets, min_p=0.02)
    _ = stats.entropy.detach().mean()
    return _lp_reg_tail(stats.logprobs, stats.proxy_logps, adv, mask)


def loss_naive(hidden, weight, targets, adv, mask):
    logits = hidden @ weight.t()  # [N, V]
    logp_all = torch.log_softmax(logits.float(), dim=-1)
    logps = logp_all.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    _ = -(logp_all.exp() * logp_all).sum(-1).detach().mean()  # entropy for logging
    proxy, _ = lp_reg_proxy_logps(logits.detach(), targets, 0.02)
    return _lp_reg_tail(logps, proxy, adv, mask)


IMPLS = {"trl": loss_trl, "ours": loss_ours, "naive": loss_naive}

MODEL_SHAPES = {
    # Qwen2.5-0.5B: hidden 896, 24 layers, 14 heads / 2 KV heads, MLP 4864, vocabulary 151936, tied embeddings
    "qwen2.5-0.5b": dict(
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        vocab_size=151936,
        tie_word_embeddings=True,
    ),
    # a few-MB stand-in to check the model mode on CPU
    "tiny": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=4096,
        tie_word_embeddings=True,
    ),
}


def run_model_case(shape: str, batch: int, completion_len: int, device: str, dtype: torch.dtype, repeats: int):
    """Full ``compute_loss`` + backward of TRL's GRPOTrainer vs `LpRegGRPOTrainer` on a randomly initialised model of
    the given shape (backbone included), recipe clip [0, 10], ``dapo`` loss, a fixed batch."""
    import tempfile

    from datasets import Dataset
    from transformers import Qwen2Config, Qwen2ForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    from trl_explore.toy import make_tokenizer
    from trl_explore.trainers import LpRegConfig, LpRegGRPOTrainer

    cfg = Qwen2Config(**MODEL_SHAPES[shape], max_position_embeddings=max(4096, completion_len + 64))
    tokenizer = make_tokenizer()
    gen = torch.Generator().manual_seed(0)
    prompt_len = 64
    inputs = {
        "prompt_ids": torch.randint(0, cfg.vocab_size, (batch, prompt_len), generator=gen),
        "prompt_mask": torch.ones(batch, prompt_len, dtype=torch.long),
        "completion_ids": torch.randint(0, cfg.vocab_size, (batch, completion_len), generator=gen),
        "completion_mask": torch.ones(batch, completion_len, dtype=torch.long),
        "advantages": torch.where(torch.arange(batch) % 2 == 0, 1.0, -1.0),
        "num_items_in_batch": torch.tensor(float(batch * completion_len)),
    }
    inputs = {k: v.to(device) for k, v in inputs.items()}
    common = dict(
        per_device_train_batch_size=batch,
        num_generations=batch,
        max_completion_length=completion_len,
        report_to="none",
        use_cpu=device == "cpu",
        bf16=dtype == torch.bfloat16,
        gradient_checkpointing=True,
        epsilon=1.0,
        epsilon_high=9.0,
        loss_type="dapo",
        save_strategy="no",
    )
    dataset = Dataset.from_dict({"prompt": ["x"] * batch})
    sync = torch.cuda.synchronize if device == "cuda" else None
    config = {
        "model": shape,
        "batch": batch,
        "completion_len": completion_len,
        "tokens": batch * completion_len,
        "device": device,
        "dtype": str(dtype),
    }
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (trainer_cls, args_cls) in {
            "trl": (GRPOTrainer, GRPOConfig),
            "ours": (LpRegGRPOTrainer, LpRegConfig),
        }.items():
            torch.manual_seed(0)
            model = Qwen2ForCausalLM(cfg).to(dtype)
            trainer = trainer_cls(
                model=model,
                reward_funcs=lambda completions, **kw: [0.0] * len(completions),
                args=args_cls(output_dir=tmp, **common),
                train_dataset=dataset,
                processing_class=tokenizer,
            )
            trainer.current_gradient_accumulation_steps = 1
            trainer.model.train()

            def step(trainer=trainer):
                trainer.model.zero_grad(set_to_none=True)
                trainer.compute_loss(trainer.model, dict(inputs)).backward()

            step()
            seconds = time_fn(step, warmup=0, repeats=repeats, sync=sync)
            trainer.model.zero_grad(set_to_none=True)
            peak = peak_memory_bytes(step)
            results[name] = {"time": seconds, "peak": peak}
            print(f"  {name:6s} step {seconds:8.3f} s   peak {peak / 2**20:9.1f} MiB")
            del trainer, model
            if device == "cuda":
                torch.cuda.empty_cache()
    base = results["trl"]
    ours = results["ours"]
    print(f"  ours  /trl: time x{ours['time'] / base['time']:.3f}   memory x{ours['peak'] / base['peak']:.3f}")
    rows = []
    for name, res in results.items():
        rows.append(make_row(f"lp_reg_step/{name}", "fwd_bwd_time", "s", res["time"], base["time"], config))
        rows.append(make_row(f"lp_reg_step/{name}", "peak_memory", "bytes", res["peak"], base["peak"], config))
    return rows


def run_case(n_tokens: int, vocab: int, hidden_size: int, device: str, dtype: torch.dtype, repeats: int) -> list[dict]:
    gen = torch.Generator().manual_seed(0)
    hidden = (torch.randn(n_tokens, hidden_size, generator=gen) / math.sqrt(hidden_size)).to(device, dtype)
    weight = (3.0 * torch.randn(vocab, hidden_size, generator=gen)).to(device, dtype)  # peaked rows: proxy filters
    hidden.requires_grad_(True)
    weight.requires_grad_(True)
    targets = torch.randint(0, vocab, (n_tokens,), generator=gen).to(device)
    adv = torch.where(torch.arange(n_tokens) % 3 == 0, 1.0, -1.0).to(device)
    mask = torch.ones(n_tokens, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else None
    config = {
        "tokens": n_tokens,
        "vocab": vocab,
        "hidden": hidden_size,
        "device": device,
        "dtype": str(dtype),
        "threads": torch.get_num_threads(),
    }
    steps = {}
    for name, fn in IMPLS.items():
        cap = NAIVE_MAX_LOGIT_BYTES
        if device == "cuda":  # the naive path holds ~4 fp32 copies of the logits
            cap = torch.cuda.get_device_properties(0).total_memory // 6
        if name == "naive" and n_tokens * vocab * 4 > cap:
            print(f"  naive skipped: {n_tokens}x{vocab} fp32 logits exceed {cap / 2**30:.1f} GiB")
            continue

        def step(fn=fn):
            hidden.grad = None
            weight.grad = None
            fn(hidden, weight, targets, adv, mask).backward()

        steps[name] = step
    # Interleave the implementations (round-robin) so that load from other processes hits all of them alike; record
    # the wall time (`_common.time_fn`) and the process CPU time of each run, then take medians.
    wall: dict[str, list[float]] = {name: [] for name in steps}
    cpu: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():
        step()  # warm-up
    for _ in range(repeats):
        for name, step in steps.items():
            c0 = time.process_time()
            wall[name].append(time_fn(step, warmup=0, repeats=1, sync=sync))
            cpu[name].append(time.process_time() - c0)
    results: dict[str, dict[str, float]] = {}
    for name, step in steps.items():
        peak = peak_memory_bytes(step)
        results[name] = {"time": statistics.median(wall[name]), "cpu": statistics.median(cpu[name]), "peak": peak}
        res = results[name]
        print(f"  {name:6s} wall {res['time']:8.3f} s   cpu {res['cpu']:8.3f} s   peak {peak / 2**20:9.1f} MiB")
    rows = []
    base = results["trl"]
    for name, res in results.items():
        rows.append(make_row(f"lp_reg_loss/{name}", "fwd_bwd_time", "s", res["time"], base["time"], config))
        rows.append(make_row(f"lp_reg_loss/{name}", "fwd_bwd_cpu_time", "s", res["cpu"], base["cpu"], config))
        rows.append(make_row(f"lp_reg_loss/{name}", "peak_memory", "bytes", res["peak"], base["peak"], config))
        if name != "trl":
            print(
                f"  {name:6s}/trl: wall x{res['time'] / base['time']:.3f}   cpu x{res['cpu'] / base['cpu']:.3f}   "
                f"memory x{res['peak'] / base['peak']:.3f}"
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, nargs="+", default=[16384])
    parser.add_argument("--vocab", type=int, nargs="+", default=[32768])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads on CPU (0 = leave as is)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--csv", default=None)
    parser.add_argument(
        "--model",
        choices=sorted(MODEL_SHAPES),
        default=None,
        help="instead of the loss-only cases: full compute_loss + backward on a random model",
    )
    parser.add_argument("--batch", type=int, default=8, help="sequences per step with --model")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    rows = []
    if args.model is not None:
        for n in args.tokens:
            completion_len = max(1, n // args.batch)
            print(f"model={args.model} batch={args.batch} completion_len={completion_len} {args.device} {args.dtype}")
            rows += run_model_case(args.model, args.batch, completion_len, args.device, dtype, args.repeats)
        print(f"rows appended to {append_rows(rows, args.csv)}")
        return
    for vocab in args.vocab:
        for n in args.tokens:
            print(f"V={vocab} tokens={n} H={args.hidden} {args.device} {args.dtype}")
            rows += run_case(n, vocab, args.hidden, args.device, dtype, args.repeats)
    path = append_rows(rows, args.csv)
    print(f"rows appended to {path}")


if __name__ == "__main__":
    main()
