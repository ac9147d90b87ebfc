"""HAPO overhead against TRL's `GRPOTrainer`, measured in the same run.

Two measurements, each interleaved (baseline, ours, baseline, ours, ...) so that load drifts hit both alike:

* **loss step** — ``compute_loss`` + ``backward`` of one micro-batch (off-policy old log-probs, so the redistribution
  and the adaptive clipping have work to do) with TRL's `GRPOTrainer` and with `HAPOGRPOTrainer` (all four parts on:
  TLGA runs at generation time, the adaptive clip and redistribution in the loss, the adaptive temperature's entropy
  statistics from the fused LM-head pass). Wall time (median) and peak memory above the live tensors.
* **generation** — ``model.generate`` of the same batch with and without `AdaptiveTemperatureLogitsProcessor`
  (sampling, T_base 1, the processor computes one softmax + entropy per row and step): tokens per second.

The model is a randomly initialised Qwen2 of the given size (no download). Usage::

    python benchmarks/hapo.py                                   # CPU acceptance: hidden 256, 4 layers, V = 32k
    python benchmarks/hapo.py --device cuda --hidden 896 --layers 8 --vocab 151936 --batch 16 --completion 1024

Prints the ratios (ours / TRL) and appends tidy rows to ``benchmarks/results.csv``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))

from _common import append_rows, make_row, peak_memory_bytes  # noqa: E402


def build_model(vocab: int, hidden: int, layers: int, device: str, dtype: torch.dtype):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64),
        num_key_value_heads=max(1, hidden // 128),
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=1,
    )
    return Qwen2ForCausalLM(config).to(device=device, dtype=dtype)


def build_trainers(model_state, args, out_dir):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from trl_explore.toy import make_tokenizer
    from trl_explore.trainers import HAPOConfig, HAPOGRPOTrainer

    tok = make_tokenizer()
    common = dict(
        per_device_train_batch_size=args.batch,
        num_generations=args.batch,
        max_completion_length=args.completion,
        report_to="none",
        use_cpu=args.device == "cpu",
        bf16=args.dtype == "bfloat16",
        loss_type="dapo",
        save_strategy="no",
        gradient_accumulation_steps=1,
        steps_per_generation=4,
    )
    data = Dataset.from_dict({"prompt": ["1+1="] * args.batch})
    trainers = []
    variants = (
        ("trl", GRPOTrainer, GRPOConfig, {}),
        ("ours", HAPOGRPOTrainer, HAPOConfig, {}),
        ("loss_parts", HAPOGRPOTrainer, HAPOConfig, {"hapo_adaptive_temperature": False}),
    )
    for name, trainer_cls, config_cls, extra in variants:
        model = build_model(args.vocab, args.hidden, args.layers, args.device, getattr(torch, args.dtype))
        model.load_state_dict(model_state)
        config = config_cls(output_dir=os.path.join(out_dir, name), **common, **extra)
        trainers.append(
            trainer_cls(
                model=model,
                reward_funcs=lambda completions, **kw: [0.0] * len(completions),
                args=config,
                train_dataset=data,
                processing_class=tok,
            )
        )
    return trainers


def make_batch(args, device):
    g = torch.Generator().manual_seed(0)
    b, p, c = args.batch, args.prompt, args.completion
    completion_mask = torch.ones(b, c, dtype=torch.long)
    for i in range(b):  # ragged completions
        completion_mask[i, c - (i * c) // (2 * b) :] = 0
    inputs = {
        "prompt_ids": torch.randint(5, args.vocab, (b, p), generator=g),
        "prompt_mask": torch.ones(b, p, dtype=torch.long),
        "completion_ids": torch.randint(5, args.vocab, (b, c), generator=g),
        "completion_mask": completion_mask,
        "advantages": torch.randn(b, generator=g),
        "old_per_token_logps": -10.5 + 0.3 * torch.randn(b, c, generator=g),
        "num_items_in_batch": completion_mask.sum(),
    }
    return {k: v.to(device) for k, v in inputs.items()}


def loss_step(trainer, inputs):
    def run():
        trainer.model.zero_grad(set_to_none=True)
        loss = trainer.compute_loss(trainer.model, dict(inputs))
        loss.backward()

    return run


def interleaved_times(fns, repeats, sync):
    times = [[] for _ in fns]
    for fn in fns:  # warm-up
        fn()
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--vocab", type=int, default=32768)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--prompt", type=int, default=64)
    parser.add_argument("--completion", type=int, default=256)
    parser.add_argument("--new-tokens", type=int, default=64, help="tokens generated per row in the generation test")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: leave the default)")
    parser.add_argument("--csv", default=None, help="CSV file for the rows (default benchmarks/results.csv)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = args.device
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    base = build_model(args.vocab, args.hidden, args.layers, device, getattr(torch, args.dtype))
    state = base.state_dict()
    config = {
        k: getattr(args, k) for k in ("device", "dtype", "vocab", "hidden", "layers", "batch", "prompt", "completion")
    }
    rows = []

    with tempfile.TemporaryDirectory() as out_dir:
        trainers = build_trainers(state, args, out_dir)
        for trainer in trainers:
            trainer.model.train()
            trainer.current_gradient_accumulation_steps = 1
        inputs = make_batch(args, device)
        times = interleaved_times([loss_step(t, inputs) for t in trainers], args.repeats, sync)
        memory = [peak_memory_bytes(loss_step(t, inputs)) for t in trainers]
        for trainer in trainers[1:]:
            assert "hapo/dar_frac_amplified" in trainer._metrics["train"], "the HAPO loss components must have run"
    print(f"loss step (forward + backward), {config}")
    labels = {
        "ours": "HAPO, all four parts (LM head through the fused token-statistics kernel)",
        "loss_parts": "HAPO clip + redistribution + TLGA only (TRL's LM head)",
    }
    print(f"  TRL GRPOTrainer: {times[0] * 1e3:9.1f} ms  {memory[0] / 2**20:8.1f} MiB")
    for (name, label), t, m in zip(labels.items(), times[1:], memory[1:]):
        print(
            f"  {label}: {t * 1e3:9.1f} ms  {m / 2**20:8.1f} MiB   time ratio {t / times[0]:.3f}   "
            f"memory ratio {m / memory[0]:.3f}"
        )
        rows += [
            make_row(f"hapo_loss_step_{name}", "wall_time", "s", t, times[0], config),
            make_row(f"hapo_loss_step_{name}", "peak_memory", "bytes", m, memory[0], config),
        ]

    from trl_explore.functional.hapo import HapoEntropyStats
    from trl_explore.generation import AdaptiveTemperatureLogitsProcessor

    model = base.eval()
    prompts = torch.randint(5, args.vocab, (args.batch, args.prompt), generator=torch.Generator().manual_seed(1))
    prompts = prompts.to(device)
    stats = HapoEntropyStats(
        pivot=float(torch.log(torch.tensor(float(args.vocab))).log()), rms=0.2, pos_max=1.0, neg_min=-3.0
    )
    kwargs = dict(
        do_sample=True,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        max_new_tokens=args.new_tokens,
        min_new_tokens=args.new_tokens,
        pad_token_id=0,
    )

    def generate(processors):
        def run():
            torch.manual_seed(0)
            with torch.no_grad():
                model.generate(prompts, attention_mask=torch.ones_like(prompts), logits_processor=processors, **kwargs)

        return run

    processor = AdaptiveTemperatureLogitsProcessor(0.05, stats)
    g_plain, g_ours = interleaved_times([generate([]), generate([processor])], max(3, args.repeats // 2), sync)
    tokens = args.batch * args.new_tokens
    print(f"generation ({tokens} tokens per call)")
    print(
        f"  tokens/s plain {tokens / g_plain:9.1f}   with processor {tokens / g_ours:9.1f}   time ratio {g_ours / g_plain:.3f}"
    )
    rows.append(
        make_row("hapo_generation", "wall_time", "s", g_ours, g_plain, {**config, "new_tokens": args.new_tokens})
    )
    path = append_rows(rows, args.csv)
    print(f"rows appended to {path}")


if __name__ == "__main__":
    main()
