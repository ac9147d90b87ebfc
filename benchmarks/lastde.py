"""Lastde / Lastde++ against the baselines, in the same run: scoring speed (texts/s) and detection quality (AUROC).

**Speed.** The same texts are scored on the same model by each detector of `trl_explore.detection` (one forward of
the backbone per batch + the fused detection-statistics kernel): the likelihood baseline, Lastde (preset
``lastde``), Fast-DetectGPT (analytic) and Lastde++ (K = ``--n_samples`` samples per position). Also timed: a plain
likelihood scorer the way it is usually written (``model(...).logits`` -> float32 log-softmax -> gather, batched,
full ``[B, T, V]`` logits). Ratios: Lastde vs likelihood, Lastde++ vs Fast-DetectGPT (texts/s; > 1 / 1.2 is the
target: Lastde costs one forward pass, Lastde++ about what Fast-DetectGPT costs).

Models: ``toy`` (the toy kit's 64-wide Qwen2, V = 260), ``gpt2-small`` (GPT-2 small's shape, V = 50257, on the Qwen2
architecture) or ``qwen2.5-0.5b`` (Qwen2.5-0.5B's shape, V = 151936), randomly initialised from configs built in code
(no download). Texts: ``--texts`` random printable
strings of ``--tokens`` characters (one token each with the toy byte tokenizer, used with both models).

**Quality** (``--auroc``, toy model only): the toy human-vs-machine set of `trl_explore.toy.make_detection_texts`
(human: arithmetic-task reference texts; machine: the warm-started toy model continuing their first 8 tokens at
temperature 1 — an easy, non-natural-language set; see the docs), scored by the warm-started model itself
(white-box), every method from one pass. Rows go to ``--csv`` (default ``benchmarks/results.csv``).

    python benchmarks/lastde.py --model toy --texts 32 --tokens 256 --auroc
    python benchmarks/lastde.py --model gpt2-small --texts 8 --tokens 256 --repeats 3 --threads 1 --clock cpu
    python benchmarks/lastde.py --model qwen2.5-0.5b --device cuda --dtype bfloat16 --texts 256 --tokens 512
"""

from __future__ import annotations

import argparse
import logging
import string
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import append_rows, make_row, time_fn  # noqa: E402

from trl_explore.detection import (  # noqa: E402
    FastDetectGPTDetector,
    LastdeDetector,
    LikelihoodDetector,
    detection_metrics,
    score_all_methods,
)
from trl_explore.toy import make_tiny_model, make_tokenizer  # noqa: E402

MODELS = {
    "toy": {},
    "gpt2-small": {  # GPT-2 small's width, depth and vocabulary on the Qwen2 architecture (a CPU-sized real model)
        "vocab_size": 50257,
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "max_position_embeddings": 1024,
    },
    "qwen2.5-0.5b": {
        "vocab_size": 151936,
        "hidden_size": 896,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "intermediate_size": 4864,
        "max_position_embeddings": 32768,
    },
}


def random_texts(n: int, length: int, seed: int) -> list[str]:
    g = torch.Generator().manual_seed(seed)
    alphabet = string.ascii_letters + string.digits + " .,;:!?'-()"
    return ["".join(alphabet[int(i)] for i in torch.randint(len(alphabet), (length,), generator=g)) for _ in range(n)]


class PlainLikelihood:
    """The usual way: full logits, float32 log-softmax, gather; batched with right padding."""

    def __init__(self, model, tokenizer, batch_size: int) -> None:
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size

    @torch.no_grad()
    def score(self, texts: list[str]) -> list[float]:
        device = next(self.model.parameters()).device
        out = []
        for s in range(0, len(texts), self.batch_size):
            ids = [self.tokenizer(t)["input_ids"] for t in texts[s : s + self.batch_size]]
            width = max(len(i) for i in ids)
            x = torch.zeros((len(ids), width), dtype=torch.long)
            mask = torch.zeros_like(x)
            for r, row in enumerate(ids):
                x[r, : len(row)], mask[r, : len(row)] = torch.tensor(row), 1
            x, mask = x.to(device), mask.to(device)
            logp = torch.log_softmax(self.model(input_ids=x, attention_mask=mask).logits[:, :-1].float(), -1)
            tok = logp.gather(-1, x[:, 1:, None]).squeeze(-1) * mask[:, 1:]
            out += (tok.sum(1) / mask[:, 1:].sum(1)).tolist()
        return out


def speed(args: argparse.Namespace) -> list[dict]:
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    tok = make_tokenizer(model_max_length=args.tokens + 8)
    # the toy model with a wider initialisation (peaked distributions: varied log-probs, as a trained model gives);
    # the real-sized shapes with their default one (stable activations in bf16)
    init = {"initializer_range": 0.2} if args.model == "toy" else {}
    model = make_tiny_model(tok, **MODELS[args.model], **init).to(device=device, dtype=dtype).eval()
    texts = random_texts(args.texts, args.tokens, args.seed)
    common = {"batch_size": args.batch, "max_length": args.tokens + 8, "show_progress": False}
    detectors = {
        "likelihood": LikelihoodDetector(model, tok, **common),
        "lastde": LastdeDetector(model, tok, preset="lastde", **common),
        "fast_detectgpt": FastDetectGPTDetector(model, tok, **common),
        "lastde++": LastdeDetector(model, tok, preset="lastde++", n_samples=args.n_samples, **common),
        "plain_likelihood": PlainLikelihood(model, tok, args.batch),
    }
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    seconds: dict[str, list[float]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # interleave the repeats of every method so that load changes on a shared machine hit all alike
        for _ in range(args.repeats):
            for name, det in detectors.items():
                if args.clock == "cpu":  # this process's CPU time: robust to other jobs on a shared machine
                    if name not in seconds:
                        det.score(texts)  # warm-up
                    start = time.process_time()
                    det.score(texts)
                    t = time.process_time() - start
                else:
                    t = time_fn(
                        lambda det=det: det.score(texts), warmup=0 if name in seconds else 1, repeats=1, sync=sync
                    )
                seconds.setdefault(name, []).append(t)
    median = {k: sorted(v)[len(v) // 2] for k, v in seconds.items()}
    rate = {k: args.texts / v for k, v in median.items()}
    config = {
        "model": args.model,
        "dtype": args.dtype,
        "texts": args.texts,
        "tokens": args.tokens,
        "clock": args.clock,
        "batch": args.batch,
        "n_samples": args.n_samples,
        "threads": torch.get_num_threads(),
    }
    baseline = {
        "lastde": "likelihood",
        "lastde++": "fast_detectgpt",
        "likelihood": "plain_likelihood",
        "fast_detectgpt": "likelihood",
        "plain_likelihood": None,
    }
    rows = []
    print(
        f"\nspeed ({args.model}, {args.dtype}, {args.texts} texts x {args.tokens} tokens, {args.device}, "
        f"{args.clock} clock, {torch.get_num_threads()} thread(s), median of {args.repeats})"
    )
    print("| method | texts/s | vs | ratio (texts/s) |\n|---|---|---|---|")
    for name in ("plain_likelihood", "likelihood", "lastde", "fast_detectgpt", "lastde++"):
        base = baseline[name]
        ratio = rate[name] / rate[base] if base else None
        print(f"| {name} | {rate[name]:.4g} | {base or ''} | {'' if ratio is None else f'{ratio:.3f}'} |")
        rows.append(
            make_row(
                f"lastde_speed/{name}",
                "texts_per_s",
                "texts/s",
                rate[name],
                rate[base] if base else None,
                {**config, "baseline": base},
            )
        )
    return rows


def auroc(args: argparse.Namespace) -> list[dict]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trl_explore.toy import make_detection_texts, warm_start

    rows = []
    print("\nAUROC on the toy human-vs-machine set (white-box: the warm-started model scores its own samples)")
    for task in args.tasks:
        path = warm_start(task=task)
        model = AutoModelForCausalLM.from_pretrained(path).eval()
        tok = AutoTokenizer.from_pretrained(path)
        data = make_detection_texts(model, tok, args.auroc_texts, task=task, seed=args.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            human = score_all_methods(model, tok, data["human"], n_samples=args.n_samples, show_progress=False)
            machine = score_all_methods(model, tok, data["machine"], n_samples=args.n_samples, show_progress=False)
        print(f"\n{task} ({args.auroc_texts} human + {args.auroc_texts} machine texts)")
        print("| method | AUROC | PR-AUC | TPR@1%FPR | unscored |\n|---|---|---|---|---|")
        for method in human:
            m = detection_metrics(human[method].scores, machine[method].scores)
            print(f"| {method} | {m['auroc']:.4f} | {m['pr_auc']:.4f} | {m['tpr_at_fpr']:.4f} | {m['num_unscored']} |")
            config = {"task": task, "texts_per_side": args.auroc_texts, "n_samples": args.n_samples, "seed": args.seed}
            rows.append(make_row(f"lastde_auroc/{task}/{method}", "auroc", "", m["auroc"], None, config))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), default="toy")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--texts", type=int, default=64, help="texts scored per timing (default: 64)")
    parser.add_argument("--tokens", type=int, default=256, help="tokens per text (default: 256)")
    parser.add_argument("--batch", type=int, default=8, help="texts per forward (default: 8)")
    parser.add_argument("--n_samples", type=int, default=100, help="Lastde++ samples per position (default: 100)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method (median; default: 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: leave; default: 1)")
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall time, or this process's CPU time (steadier on a shared CPU machine; not for GPUs)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-speed", dest="speed", action="store_false", help="skip the speed table")
    parser.add_argument("--auroc", action="store_true", help="also the AUROC table on the toy set (warm starts)")
    parser.add_argument("--tasks", nargs="+", default=["arithmetic", "countdown"], choices=["arithmetic", "countdown"])
    parser.add_argument("--auroc_texts", type=int, default=200, help="texts per side of the toy set (default: 200)")
    parser.add_argument("--csv", default=None, help="CSV to append rows to (default: benchmarks/results.csv)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    rows = speed(args) if args.speed else []
    if args.auroc:
        rows += auroc(args)
    if rows:
        print(f"\nrows appended to {append_rows(rows, args.csv)}")


if __name__ == "__main__":
    main()
