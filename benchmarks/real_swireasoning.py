"""SwiReasoning vs plain sampling and greedy decoding on a real chat model: SmolLM2-135M-Instruct, word problems.

Problems: `trl_explore.toy.make_word_problem_dataset` (one-step English arithmetic, answer in ``\\boxed{}``), rendered
with the model's ChatML template (its default system prompt included), graded numerically by the math reward
(below). Decoders, same budget (``--budget`` new tokens): greedy (`model.generate`), plain sampling and
SwiReasoning (`swi_generate`) at temperature 0.6, top-p 0.95 (the paper's sampling; no top-k), one sample per
problem per seed, ``--sample_seeds`` seeds. Grading: `make_math_reward(extractors=("boxed", "final_answer"))` — the
instruction asks for ``\\boxed{}``, but SmolLM2-135M ends with "The final answer is N." far more often (greedy on the
first 20 problems: 0 / 20 boxed answers, 2 / 20 correct with the "final answer" extractor). Reported: accuracy (mean reward), generated tokens per sample, share of
samples cut by the budget, and SwiReasoning's latent-step share and switches.

SmolLM2-Instruct is **not** a thinking model: it has no ``<think>`` / ``</think>`` tokens (each encodes to 3
pieces) and never closes a thinking block, so the strings of the released code (``"</think>"``, ``"</think>\\n\\nThe
final answer is"``) would feed it markup it has never seen. What is used instead (``swi_config``):

- ``think_token=" Let"`` (the anchor mixed in on an explicit -> latent switch: how the model opens a reasoning step,
  "Let's ...") and ``end_think_token=" Therefore"`` (the anchor of a latent -> explicit switch; when the model
  samples it itself it is concluding, which locks explicit mode as a written ``</think>`` does). Both single tokens.
- ``convergence_string="\\n\\nTherefore, the final answer is"`` — fed on a capped switch (C <= count <= 2C): the
  plain-prose way to make a non-thinking model stop reasoning and answer;
- ``termination_string="\\n\\nThe final answer is $\\\\boxed{"`` — fed past 2C, then the 32-token answer budget (the
  string included): it opens the ``\\boxed{`` the reward reads, so the forced answer is gradable.
- switch cap ``max_switch_count=2`` (the released README's), the other options at the paper's defaults
  (alpha0 = 1, beta0 = 0.7, window 512, latent start, the released math-token override).

    python benchmarks/real_swireasoning.py --check                      # greedy on 20 problems: is 0 < accuracy < 1?
    python benchmarks/real_swireasoning.py --num_problems 40 --budget 128 --sample_seeds 0 1
    python benchmarks/real_swireasoning.py --quick                      # smoke test: 4 problems, budget 24
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import append_rows, make_row  # noqa: E402
from _real import load_real_model, machine_note  # noqa: E402

SWI_STRINGS = {
    "think_token": " Let",
    "end_think_token": " Therefore",
    "convergence_string": "\n\nTherefore, the final answer is",
    "termination_string": "\n\nThe final answer is $\\boxed{",
}


def swi_config(max_switch_count: int = 2):
    """The SwiReasoning config for a non-thinking chat model (see the module docstring for the strings' reasons)."""
    from trl_explore.generation import SwiReasoningConfig

    return SwiReasoningConfig(max_switch_count=max_switch_count, **SWI_STRINGS)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num_problems", type=int, default=40)
    p.add_argument("--problem_seed", type=int, default=0, help="seed of make_word_problem_dataset")
    p.add_argument("--budget", type=int, default=128, help="max_new_tokens of every decoder")
    p.add_argument("--sample_seeds", type=int, nargs="+", default=[0, 1], help="seeds of the sampled decoders")
    p.add_argument("--max_switch_count", type=int, default=2, help="SwiReasoning's switch cap C")
    p.add_argument(
        "--extractors",
        nargs="+",
        default=["boxed", "final_answer"],
        help="answer extractors of make_math_reward, tried in order (the model writes 'The final answer "
        "is N.' far more often than \\boxed{N})",
    )
    p.add_argument("--batch_size", type=int, default=20)
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (pinned)")
    p.add_argument("--skip_greedy", action="store_true", help="only the sampled decoders (e.g. one more seed)")
    p.add_argument("--check", action="store_true", help="only greedy on the first 20 problems (difficulty check)")
    p.add_argument("--csv", default=None, help="tidy rows (default benchmarks/results.csv)")
    p.add_argument("--json", default=None, help="write rows and completions as JSON here")
    p.add_argument("--quick", action="store_true", help="smoke test: 4 problems, budget 24, one seed")
    args = p.parse_args(argv)
    if args.quick:
        args.num_problems, args.budget, args.sample_seeds, args.batch_size = 4, 24, [0], 4
    if args.check:
        args.num_problems, args.sample_seeds = 20, []
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)
    from trl_explore.generation.swireasoning_eval import PLAIN, compare_decoding
    from trl_explore.rewards import make_math_reward
    from trl_explore.toy import make_word_problem_dataset

    start = time.perf_counter()
    model, tokenizer = load_real_model(args.threads)
    data = make_word_problem_dataset(args.num_problems, seed=args.problem_seed)
    prompts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in data["prompt"]]
    columns = {"solution": list(data["solution"])}
    reward = make_math_reward(extractors=tuple(args.extractors))
    rows, completions = [], {}

    def run(name: str, seed: int, **kwargs) -> None:
        t0 = time.perf_counter()
        res = compare_decoding(
            model,
            tokenizer,
            prompts,
            reward,
            columns,
            budgets=(args.budget,),
            batch_size=args.batch_size,
            seed=seed,
            progress=False,
            **kwargs,
        )
        for r in res.rows:
            decoder = name if r["decoder"] == PLAIN else r["decoder"]
            row = {**r, "decoder": decoder, "seed": seed, "seconds": (time.perf_counter() - t0) / len(res.rows)}
            rows.append(row)
            completions[f"{decoder}/seed{seed}"] = res.completions[(r["decoder"], args.budget)]
            print(
                f"  {decoder:<13} seed {seed}: accuracy {r['accuracy']:.3f}  tokens {r['mean_tokens']:.1f}  "
                f"truncated {r['truncated']:.2f}",
                flush=True,
            )

    if not args.skip_greedy:
        run("greedy", 0, swi_configs={}, temperature=0.0)
    for seed in args.sample_seeds:
        run(
            "sampling",
            seed,
            swi_configs={"swireasoning": swi_config(args.max_switch_count)},
            temperature=0.6,
            top_p=0.95,
        )
    wall = time.perf_counter() - start

    config = {"model": "SmolLM2-135M-Instruct", "num_problems": args.num_problems, "problem_seed": args.problem_seed,
              "budget": args.budget, "extractors": args.extractors, "sample_seeds": args.sample_seeds,
              "max_switch_count": args.max_switch_count,
              "threads": args.threads, "quick": args.quick, "check": args.check, "skip_greedy": args.skip_greedy,
              **SWI_STRINGS}  # fmt: skip
    print(
        f"\nSmolLM2-135M-Instruct, {args.num_problems} word problems (seed {args.problem_seed}), budget "
        f"{args.budget} tokens, sampling T=0.6 top-p 0.95"
    )
    print(f"{'decoder':<14}{'seed':>5}{'accuracy':>10}{'tokens':>9}{'truncated':>11}{'latent':>8}{'switches':>10}")
    out_rows = []
    for r in rows:
        latent = "" if r.get("latent_share") is None else f"{r['latent_share']:.3f}"
        switches = "" if r.get("switches") is None else f"{r['switches']:.2f}"
        print(
            f"{r['decoder']:<14}{r['seed']:>5}{r['accuracy']:>10.3f}{r['mean_tokens']:>9.1f}{r['truncated']:>11.2f}"
            f"{latent:>8}{switches:>10}"
        )
        cfg = {**config, "decoder": r["decoder"], "seed": r["seed"]}
        out_rows.append(make_row(f"real_swireasoning/{r['decoder']}", "accuracy", "fraction", r["accuracy"], None, cfg))
        out_rows.append(
            make_row(f"real_swireasoning/{r['decoder']}", "mean_tokens", "tokens", r["mean_tokens"], None, cfg)
        )
    for decoder in ("sampling", "swireasoning"):
        mine = [r for r in rows if r["decoder"] == decoder]
        if len(mine) > 1:
            acc = sum(r["accuracy"] for r in mine) / len(mine)
            tok = sum(r["mean_tokens"] for r in mine) / len(mine)
            print(f"{decoder:<14}{'mean':>5}{acc:>10.3f}{tok:>9.1f}")
    print(f"\nwall time {wall:.0f} s; {machine_note()}")
    out_rows.append(make_row("real_swireasoning", "wall_time", "s", wall, None, config))
    path = append_rows(out_rows, args.csv)
    print(f"rows appended to {path}")
    result = {"config": config, "rows": rows, "wall_s": wall, "machine": machine_note(), "completions": completions}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
