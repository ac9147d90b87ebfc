"""Lastde / Lastde++ and every baseline on a real model: white-box AUROC on real human prose vs the model's own text.

Scoring model = generator = SmolLM2-135M-Instruct (`trl_explore.toy.pretrained_model_path`, float32, CPU). Human
texts: prose paragraphs of Python's reference documentation (`trl_explore.toy.human_text`); machine texts: the model
continuing each human text's first 30 tokens to the same token length at temperature 1 (the papers' protocol,
`make_real_detection_texts`). Every method is scored from one statistics pass (`score_all_methods`; Lastde++ with the
scoring model as its own reference, K = ``--n_samples``), then AUROC with 95 % percentile CIs from a paired,
class-stratified bootstrap over texts (the same resampled texts for every method), and the CIs of the differences the
papers claim (Xu et al., arXiv 2410.06072, Tables 1-2: Lastde > likelihood, log-rank, entropy; Lastde++ >=
Fast-DetectGPT).

Entropy orientation: the AUROC is reported for the score ``+ mean_t H(p_t)`` (higher entropy = machine), the
orientation of the released baselines (DetectGPT / Fast-DetectGPT / Lastde code) that the papers' tables use,
whichever sign this checkout's `EntropyDetector` has (it is probed and flipped if needed). ``AUROC(− H) = 1 − AUROC(H)``.

    python benchmarks/real_detection.py --num_texts 150 --seed 0 --bootstrap 1000
    python benchmarks/real_detection.py --quick          # smoke test: 8 + 8 short texts, K = 4, 50 resamples
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import append_rows, make_row  # noqa: E402
from _real import load_real_model, machine_note, paired_bootstrap_auroc  # noqa: E402

METHODS = ("likelihood", "log_rank", "entropy", "fast_detectgpt", "lastde", "lastde++")
PAIRS = (
    ("lastde", "likelihood"),
    ("lastde", "log_rank"),
    ("lastde", "entropy"),
    ("lastde++", "fast_detectgpt"),
)


def entropy_sign() -> float:
    """+1 when this checkout's `EntropyDetector` scores ``+ mean H`` (the released orientation), −1 when it scores
    ``− mean H``: probed on a hand-made one-token statistics record with entropy 1."""
    import torch

    from trl_explore.detection.detectors import EntropyDetector
    from trl_explore.detection.scoring import TextStatistics

    st = TextStatistics.empty([0, 1], 0)
    st.label_logprob = torch.zeros(1)
    st.label_rank = torch.ones(1, dtype=torch.long)
    st.entropy = torch.ones(1)
    st.expected_logp = torch.zeros(1)
    st.expected_logp2 = torch.zeros(1)
    score = EntropyDetector.score_statistics(None, [st]).scores[0]
    return 1.0 if score > 0 else -1.0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num_texts", type=int, default=150, help="human texts and as many machine texts (<= 197)")
    p.add_argument("--max_tokens", type=int, default=128, help="longest text in tokens (papers' prefix: 30)")
    p.add_argument("--prefix_tokens", type=int, default=30)
    p.add_argument("--seed", type=int, default=0, help="paragraph order and the machine texts' sampling")
    p.add_argument("--n_samples", type=int, default=100, help="Lastde++'s K")
    p.add_argument("--detector_seed", type=int, default=0, help="seed of Lastde++'s samples")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    p.add_argument("--bootstrap_seed", type=int, default=0)
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (pinned)")
    p.add_argument(
        "--texts_file",
        default=None,
        help="JSON {human, machine}: reuse these texts (written by --save_texts) instead of generating",
    )
    p.add_argument("--save_texts", default=None, help="write the texts used to this JSON file")
    p.add_argument("--csv", default=None, help="tidy rows (default benchmarks/results.csv)")
    p.add_argument("--json", default=None, help="write the results as JSON here")
    p.add_argument("--quick", action="store_true", help="smoke test: 8 texts, 48 tokens, K=4, 50 resamples")
    args = p.parse_args(argv)
    if args.quick:
        args.num_texts, args.max_tokens, args.n_samples, args.bootstrap = 8, 48, 4, 50
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)
    from trl_explore.detection import score_all_methods
    from trl_explore.toy.human_text import make_real_detection_texts

    start = time.perf_counter()
    model, tokenizer = load_real_model(args.threads)
    if args.texts_file:
        texts = json.loads(Path(args.texts_file).read_text())
    else:
        texts = make_real_detection_texts(
            model,
            tokenizer,
            args.num_texts,
            prefix_tokens=args.prefix_tokens,
            max_tokens=args.max_tokens,
            seed=args.seed,
        )
    if args.save_texts:
        Path(args.save_texts).write_text(json.dumps(texts))
    gen_s = time.perf_counter() - start
    n_h = len(texts["human"])
    scores = score_all_methods(
        model,
        tokenizer,
        texts["human"] + texts["machine"],
        METHODS,
        n_samples=args.n_samples,
        batch_size=args.batch_size,
        seed=args.detector_seed,
    )
    score_s = time.perf_counter() - start - gen_s
    sign = entropy_sign()
    per_method = {
        m: np.asarray(s.scores, dtype=np.float64) * (sign if m == "entropy" else 1.0) for m, s in scores.items()
    }
    keep = np.all([np.isfinite(v) for v in per_method.values()], axis=0)  # the same texts for every method
    human = {m: v[:n_h][keep[:n_h]] for m, v in per_method.items()}
    machine = {m: v[n_h:][keep[n_h:]] for m, v in per_method.items()}
    ci = paired_bootstrap_auroc(human, machine, PAIRS, num_resamples=args.bootstrap, seed=args.bootstrap_seed)
    wall = time.perf_counter() - start

    config = {"model": "SmolLM2-135M-Instruct", "num_texts": args.num_texts, "max_tokens": args.max_tokens,
              "prefix_tokens": args.prefix_tokens, "seed": args.seed, "n_samples": args.n_samples,
              "detector_seed": args.detector_seed, "bootstrap": args.bootstrap, "bootstrap_seed": args.bootstrap_seed,
              "threads": args.threads, "quick": args.quick, "entropy_orientation": "+mean H"}  # fmt: skip
    print(
        f"white-box AUROC, SmolLM2-135M-Instruct scoring its own continuations: {int(keep[:n_h].sum())} human + "
        f"{int(keep[n_h:].sum())} machine texts (<= {args.max_tokens} tokens), K = {args.n_samples}, "
        f"{args.bootstrap} paired bootstrap resamples (95 % percentile CI)"
    )
    print(f"{'method':<16}{'AUROC':>8}{'95% CI':>20}")
    rows = []
    for m in METHODS:
        r = ci[m]
        print(f"{m:<16}{r['auroc']:>8.3f}   [{r['low']:.3f}, {r['high']:.3f}]")
        rows.append(make_row(f"real_detection/{m}", "auroc", "auroc", r["auroc"], None, config))
        rows.append(make_row(f"real_detection/{m}", "auroc_ci_low", "auroc", r["low"], None, config))
        rows.append(make_row(f"real_detection/{m}", "auroc_ci_high", "auroc", r["high"], None, config))
    print(f"\n{'paper claim (difference a - b)':<34}{'diff':>8}{'95% CI':>20}   CI excludes 0")
    for a, b in PAIRS:
        r = ci[f"{a} - {b}"]
        print(
            f"{a + ' - ' + b:<34}{r['diff']:>+8.3f}   [{r['low']:+.3f}, {r['high']:+.3f}]   "
            f"{'yes' if r['excludes_zero'] else 'no'}"
        )
        rows.append(
            make_row(
                f"real_detection/{a}-{b}",
                "auroc_diff",
                "auroc",
                r["diff"],
                None,
                {**config, "ci_low": r["low"], "ci_high": r["high"]},
            )
        )
    print(f"\nwall time {wall:.0f} s (machine texts {gen_s:.0f} s, scoring {score_s:.0f} s); {machine_note()}")
    rows.append(make_row("real_detection", "wall_time", "s", wall, None, config))
    path = append_rows(rows, args.csv)
    print(f"rows appended to {path}")
    result = {
        "config": config,
        "ci": ci,
        "wall_s": wall,
        "generation_s": gen_s,
        "scoring_s": score_s,
        "machine": machine_note(),
        "num_human": int(keep[:n_h].sum()),
        "num_machine": int(keep[n_h:].sum()),
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=lambda x: None if math.isnan(x) else x))
    return result


if __name__ == "__main__":
    main()
