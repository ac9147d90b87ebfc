"""Probability mass on answer choices on a real model: SmolLM2-135M-Instruct on programmatic multiple-choice questions.

Questions (``_real.make_mc_questions``): five kinds with answers known by construction — arithmetic result, largest
number, odd one out of a category, antonym, capital city — four choices each, the correct position uniform.
Demonstrations come from a separate pool built with another seed (``--seed + 1000``), drawn per question
(`answer_choice_mass`'s default). Every setting: format (``enumerated`` / ``string`` / ``cloze``) x k in-context
examples x chat template off / on, scored with `trl_explore.metrics.answer_choice_mass` (PMI on): mean PM (mass on the
valid choices' first tokens), sequence-scoring accuracy, SFC-resolved share, PMI_DC accuracy.

The paper's claims checked (Wiegreffe et al., arXiv 2305.14596, §4-5): (1) in-context examples raise PM (k = 0 -> 1);
(2) more PM does not always mean more accuracy (steps k -> k' where PM rose and accuracy fell); (3) SFC resolves the
questions where PM is high (resolved share among questions with PM >= 0.5 vs < 0.5, pooled over settings).

    python benchmarks/real_answer_choice.py --per_kind 20 --shots 0 1 3 --seed 0
    python benchmarks/real_answer_choice.py --quick      # smoke test: 2 questions per kind, k in {0, 1}, cloze + enumerated
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import append_rows, make_row  # noqa: E402
from _real import (  # noqa: E402
    MC_KINDS,
    icl_mass_steps,
    load_real_model,
    machine_note,
    make_mc_questions,
    resolved_share_by_mass,
)

FORMATS = ("enumerated", "string", "cloze")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--per_kind", type=int, default=20, help=f"questions per kind ({len(MC_KINDS)} kinds)")
    p.add_argument("--shots", type=int, nargs="+", default=[0, 1, 3], help="in-context examples k")
    p.add_argument("--formats", nargs="+", default=list(FORMATS), choices=FORMATS)
    p.add_argument("--chat", nargs="+", default=["off", "on"], choices=["off", "on"], help="chat template")
    p.add_argument("--seed", type=int, default=0, help="questions (the demo pool uses seed + 1000) and demo draws")
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (pinned)")
    p.add_argument("--mass_threshold", type=float, default=0.5, help="high-PM threshold of claim (3)")
    p.add_argument("--csv", default=None, help="tidy rows (default benchmarks/results.csv)")
    p.add_argument("--json", default=None, help="write the per-setting summaries as JSON here")
    p.add_argument("--quick", action="store_true", help="smoke test: 2 per kind, k in {0, 1}, two formats, chat off")
    args = p.parse_args(argv)
    if args.quick:
        args.per_kind, args.shots, args.formats, args.chat = 2, [0, 1], ["enumerated", "cloze"], ["off"]
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)
    from trl_explore.metrics import answer_choice_mass

    start = time.perf_counter()
    model, tokenizer = load_real_model(args.threads)
    items = make_mc_questions(args.per_kind, seed=args.seed)
    pool = [{k: q[k] for k in ("question", "choices", "answer")} for q in make_mc_questions(4, seed=args.seed + 1000)]
    questions = [q["question"] for q in items]
    choices = [q["choices"] for q in items]
    answers = [q["answer"] for q in items]
    rows, masses, resolved = [], [], []
    for chat in args.chat:
        for fmt in args.formats:
            for k in args.shots:
                t0 = time.perf_counter()
                res = answer_choice_mass(
                    model,
                    tokenizer,
                    questions,
                    choices,
                    format=fmt,
                    num_shots=k,
                    demos=pool if k else None,
                    pmi=True,
                    batch_size=args.batch_size,
                    answers=answers,
                    seed=args.seed,
                    use_chat_template=chat == "on",
                    show_progress=False,
                )
                s = res.summary()
                per_kind = {
                    kind: float(
                        np.mean([p == a for p, a, q in zip(res.pred_sequence, answers, items) if q["kind"] == kind])
                    )
                    for kind in MC_KINDS
                }
                rows.append(
                    {
                        "format": fmt,
                        "chat": chat,
                        "num_shots": k,
                        "mass": s["mass"],
                        "accuracy": s["accuracy"],
                        "sfc_resolved": s["sfc_resolved"],
                        "pmi_accuracy": s["pmi_accuracy"],
                        "per_kind_accuracy": per_kind,
                        "seconds": time.perf_counter() - t0,
                    }
                )
                masses += list(res.mass)
                resolved += list(res.sfc_resolved)
                print(
                    f"  {fmt:<11} chat {chat:<3} k={k}: PM {s['mass']:.3f}  acc {s['accuracy']:.3f}  "
                    f"SFC {s['sfc_resolved']:.3f}  PMI acc {s['pmi_accuracy']:.3f}  "
                    f"({time.perf_counter() - t0:.0f} s)",
                    flush=True,
                )
    wall = time.perf_counter() - start

    config = {
        "model": "SmolLM2-135M-Instruct",
        "per_kind": args.per_kind,
        "kinds": list(MC_KINDS),
        "seed": args.seed,
        "threads": args.threads,
        "quick": args.quick,
        "pmi": True,
    }
    n = len(items)
    print(
        f"\nanswer-choice mass, SmolLM2-135M-Instruct, {n} questions ({args.per_kind} x {len(MC_KINDS)} kinds, "
        f"4 choices: chance accuracy 0.25), seed {args.seed}"
    )
    print(f"{'format':<12}{'chat':<6}{'k':>3}{'PM':>8}{'acc':>8}{'SFC res.':>10}{'PMI acc':>9}")
    out_rows = []
    for r in rows:
        print(
            f"{r['format']:<12}{r['chat']:<6}{r['num_shots']:>3}{r['mass']:>8.3f}{r['accuracy']:>8.3f}"
            f"{r['sfc_resolved']:>10.3f}{r['pmi_accuracy']:>9.3f}"
        )
        cfg = {**config, "format": r["format"], "chat": r["chat"], "num_shots": r["num_shots"]}
        for metric in ("mass", "accuracy", "sfc_resolved", "pmi_accuracy"):
            out_rows.append(make_row("real_answer_choice", metric, "fraction", r[metric], None, cfg))

    steps = icl_mass_steps(rows)
    first = [s for s in steps if s["k_from"] == 0]
    raised = sum(s["d_mass"] > 0 for s in first)
    discordant = [s for s in steps if s["discordant"]]
    sfc = resolved_share_by_mass(masses, resolved, args.mass_threshold)
    corr = float(np.corrcoef([r["mass"] for r in rows], [r["accuracy"] for r in rows])[0, 1]) if len(rows) > 2 else None
    print("\nclaims")
    print(
        f"(1) k=0 -> k={first[0]['k_to'] if first else '?'} raises PM in {raised} of {len(first)} (format, chat) "
        f"settings: " + ", ".join(f"{s['format']}/{s['chat']} {s['d_mass']:+.3f}" for s in first)
    )
    print(
        f"(2) steps k -> k' where PM rose and accuracy fell: {len(discordant)} of {len(steps)}"
        + (
            "".join(
                f"\n      {s['format']}/{s['chat']} k {s['k_from']}->{s['k_to']}: PM {s['d_mass']:+.3f}, "
                f"acc {s['d_accuracy']:+.3f}"
                for s in discordant
            )
        )
        + (f"; correlation of PM and accuracy across the {len(rows)} settings: {corr:+.2f}" if corr is not None else "")
    )
    print(
        f"(3) SFC-resolved share: {sfc['high']:.3f} of {sfc['n_high']} question-settings with PM >= "
        f"{args.mass_threshold}, {sfc['low']:.3f} of {sfc['n_low']} with PM < {args.mass_threshold}"
    )
    print(f"\nwall time {wall:.0f} s; {machine_note()}")
    out_rows.append(make_row("real_answer_choice", "wall_time", "s", wall, None, config))
    path = append_rows(out_rows, args.csv)
    print(f"rows appended to {path}")
    result = {
        "config": config,
        "rows": rows,
        "steps": steps,
        "sfc_by_mass": sfc,
        "mass_accuracy_corr": corr,
        "wall_s": wall,
        "machine": machine_note(),
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
