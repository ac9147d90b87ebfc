# /// script
# dependencies = [
#     "trl_explore",
#     "trl>=1.16,<1.17",
#     "matplotlib",
# ]
# ///
r"""Does the model attend to the answer choices, and does that buy accuracy? Probability mass on answer choices (PM),
accuracy and the SFC certificate of a causal LM on multiple-choice benchmarks, for k in-context examples and the three
prompt formats of Wiegreffe et al. (arXiv 2305.14596).

For every dataset, prompt format (`enumerated`, `string`, `cloze`) and number of shots k (default 0, 1, 2, 4, 8) it
scores every question with `trl_explore.metrics.answer_choice_mass` and writes to `--output_dir`:

- `results.md` — the table (also printed): mass, all-token mass, accuracy of sequence / first-token / PMI scoring and
  of greedy generation, invalid-answer rate, SFC-resolved share;
- `results.csv` (one tidy row per dataset × format × k) and `results.json` (the same plus per-question scores);
- `mass_vs_accuracy.png` — PM and accuracy by k per format, and accuracy against PM.

Datasets: Hub names (`cais/mmlu`, `tau/commonsense_qa`, `allenai/openbookqa`, or the short names `mmlu`,
`commonsense_qa`, `openbookqa`, which also pick the subset, the evaluation split and the split demonstrations come
from) or local JSONL / JSON / CSV / Parquet files in the MMLU (`question`, `choices` list, `answer` index or letter),
CommonsenseQA (`choices` = {label, text}, `answerKey`) or OpenBookQA (`question_stem`) conventions. The paper used
500 OpenBookQA, 500 CommonsenseQA and 1,140 MMLU questions (`--limit`).

Offline on a CPU (toy kit; no Hub, no GPU): `--model_name_or_path toy` is a tiny model warm-started on the toy
multiple-choice task in the three formats (cached after its first run; prompts in its chat template; PMI on), `toy-mc`
synthetic arithmetic questions; the toy route evaluates k = 0, 1, 2 unless `--shots` says otherwise:

```bash
python examples/answer_choice_mass.py --model_name_or_path toy --datasets toy-mc --output_dir /tmp/acm_toy
```

The authors' released prompts (instruction header, the same k demonstrations for every question drawn from the
training split with Python's `random` seeded 10, strict answer parsing): `--protocol released --seed 10`.

One GPU (base model; the paper's datasets and sizes):

```bash
python examples/answer_choice_mass.py --model_name_or_path Qwen/Qwen2.5-0.5B \
    --datasets openbookqa commonsense_qa mmlu --limit 500 --pmi --output_dir acm_out
```

Instruction-tuned model, prompts in its chat template:

```bash
python examples/answer_choice_mass.py --model_name_or_path Qwen/Qwen2.5-0.5B-Instruct --use_chat_template \
    --datasets data/my_mcq.jsonl --shots 0 1 --formats enumerated
```

The script scores one model in one process (a larger model: `--dtype bfloat16` on a GPU; `device_map` sharding is
not used). Without a GPU it runs on the CPU in float32.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trl_explore._device import default_device
from trl_explore._output import check_output_dir, writing_into
from trl_explore._validation import check_bool, check_int
from trl_explore.data import check_toy_name
from trl_explore.metrics.answer_choice import (
    ANSWER_PARSING,
    FORMATS,
    PROTOCOLS,
    answer_choice_mass,
    load_multiple_choice_dataset,
    plot_answer_choice_mass,
    released_instruction,
)
from trl_explore.scripts import ExampleParser, check_model_path, is_toy, run_example
from trl_explore.toy.warm_start import small_model_threads, torch_threads

logger = logging.getLogger(__name__)

#: Hub datasets with their subset, evaluation split and the split demonstrations are drawn from
HUB_PRESETS: dict[str, dict[str, str | None]] = {
    "cais/mmlu": {"subset": "all", "split": "test", "demo_split": "dev"},
    "tau/commonsense_qa": {"subset": None, "split": "validation", "demo_split": "train"},
    "allenai/openbookqa": {"subset": "main", "split": "test", "demo_split": "train"},
}
ALIASES = {"mmlu": "cais/mmlu", "commonsense_qa": "tau/commonsense_qa", "openbookqa": "allenai/openbookqa"}
#: the released prompts' instruction headers, by Hub name (`released_instruction`)
RELEASED_NAMES = {hub: short for short, hub in ALIASES.items()}
DEFAULT_SHOTS = [0, 1, 2, 4, 8]
#: the toy model holds 512 positions: about two demonstrations
TOY_SHOTS = [0, 1, 2]
METRICS = (
    "mass",
    "all_token_mass",
    "accuracy",
    "first_token_accuracy",
    "pmi_accuracy",
    "generation_accuracy",
    "invalid_rate",
    "sfc_resolved",
)


@dataclass
class AnswerChoiceMassArguments:
    """Arguments of the answer-choice mass script.

    Args:
        model_name_or_path: Hub name or local path of the model; `toy` builds the toy kit's warm-started model.
        datasets: Hub names, short names or local files; `toy-mc` is the toy kit's multiple-choice task.
    """

    model_name_or_path: str = field(
        default=None, metadata={"help": "Hub name or local path (required); `toy` for the offline toy model."}
    )
    datasets: list[str] = field(
        default_factory=lambda: ["openbookqa"],
        metadata={"help": "Hub names (or mmlu, commonsense_qa, openbookqa), local files, or toy-mc."},
    )
    split: str | None = field(default=None, metadata={"help": "Evaluation split (default: the preset's, else test)."})
    subset: str | None = field(default=None, metadata={"help": "Hub configuration (default: the preset's)."})
    demo_source: str | None = field(
        default=None,
        metadata={
            "help": "Where demonstrations come from: a split of the same dataset or a file in the same "
            "conventions (default: the preset's demo split, else the other evaluated questions)."
        },
    )
    limit: int | None = field(default=None, metadata={"help": "Evaluate only the first N questions."})
    formats: list[str] = field(default_factory=lambda: list(FORMATS), metadata={"help": "Prompt formats."})
    shots: list[int] | None = field(
        default=None, metadata={"help": "In-context examples k (default 0 1 2 4 8; the toy model: 0 1 2)."}
    )
    pmi: bool | None = field(
        default=None,
        metadata={"help": "Also score PMI_DC (one more pass per question; default: on for the toy model)."},
    )
    surface_forms: list[str] | None = field(
        default=None,
        metadata={
            "help": "Enumerated format: surface-form templates counted in PM, the first one scored, e.g. "
            "' {symbol}' '{symbol}' '({symbol})'."
        },
    )
    greedy_max_new_tokens: int = field(
        default=8, metadata={"help": "Greedy-generation budget for generation accuracy / invalid rate (0: skip)."}
    )
    use_chat_template: bool = field(
        default=False, metadata={"help": "Render prompts with the chat template (always on for the toy model)."}
    )
    batch_size: int = field(default=8, metadata={"help": "Questions per forward."})
    dtype: str = field(
        default="auto",
        metadata={
            "help": "Model dtype (auto: the checkpoint's on a GPU, float32 on a CPU).",
            "choices": ["auto", "bfloat16", "float16", "float32"],
        },
    )
    seed: int = field(default=0, metadata={"help": "Seed of the demonstrations' shuffle (the released runs: 10)."})
    protocol: str = field(
        default="default",
        metadata={
            "help": "`released`: the authors' released prompts (instruction header, one shared draw of the "
            "demonstrations from the demo split); `default`: no header, a draw per question.",
            "choices": list(PROTOCOLS),
        },
    )
    answer_parsing: str = field(
        default="strict",
        metadata={
            "help": "Greedy answers: `strict` (the released rule: exactly a choice / symbol) or `lenient` "
            "(a prefix, case-insensitive).",
            "choices": list(ANSWER_PARSING),
        },
    )
    output_dir: str = field(
        default="answer_choice_mass_out",
        metadata={
            "help": "Where results and the plot go; a re-run replaces the files it wrote there, other files stay (one "
            "that it would overwrite is refused)."
        },
    )


#: The script's name in the output folder's manifest, and the files it writes there (`trl_explore._output`)
COMMAND = "answer_choice_mass.py"
OUTPUT_FILES = ("results.md", "results.csv", "results.json", "mass_vs_accuracy.png")


def _check(args: AnswerChoiceMassArguments) -> None:
    unknown = [f for f in args.formats if f not in FORMATS]
    if unknown or not args.formats:
        raise ValueError(f"`formats` must be a non-empty list from {FORMATS}, got {args.formats}.")
    if args.shots is not None and (
        not args.shots or any(isinstance(k, bool) or not isinstance(k, int) or k < 0 for k in args.shots)
    ):
        raise ValueError(f"`shots` must be a non-empty list of integers >= 0, got {args.shots}.")
    if not args.datasets:
        raise ValueError("`datasets` is empty.")
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"`limit` must be >= 1, got {args.limit}.")
    if args.dtype not in ("auto", "bfloat16", "float16", "float32"):
        raise ValueError(f"`dtype` must be auto, bfloat16, float16 or float32, got {args.dtype!r}.")
    check_int(args, "greedy_max_new_tokens", low=0)
    check_int(args, "batch_size", low=1)
    check_int(args, "seed", low=0)
    if args.pmi is not None:
        check_bool(args, "pmi")
    check_bool(args, "use_chat_template")
    if args.protocol not in PROTOCOLS:
        raise ValueError(f"`protocol` must be one of {PROTOCOLS}, got {args.protocol!r}.")
    if args.answer_parsing not in ANSWER_PARSING:
        raise ValueError(f"`answer_parsing` must be one of {ANSWER_PARSING}, got {args.answer_parsing!r}.")


def _load_model(args: AnswerChoiceMassArguments):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if is_toy(args.model_name_or_path):
        from trl_explore.toy import toy_multiple_choice_model_path

        path = toy_multiple_choice_model_path()
        if not args.use_chat_template:
            logger.info("toy model: prompts rendered with its chat template (the form it was trained on)")
            args.use_chat_template = True
    else:
        path = check_model_path(args.model_name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    device = default_device()
    dtype = args.dtype if args.dtype != "auto" or device != "cpu" else "float32"
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype if dtype == "auto" else getattr(torch, dtype))
    logger.info("model %s on %s (%s)", path, device, dtype)
    return model.to(device), tokenizer


def _load(name: str, args: AnswerChoiceMassArguments) -> tuple[list[dict], list[dict] | None]:
    """The evaluated questions and the demonstration pool (`None`: the evaluated questions themselves)."""
    check_toy_name(name, ["toy-mc"], "--datasets")
    if name == "toy-mc":
        from trl_explore.toy import make_multiple_choice_dataset

        n = args.limit or 32
        return make_multiple_choice_dataset(n, seed=10_000 + args.seed).to_list(), (
            make_multiple_choice_dataset(64, seed=20_000 + args.seed).to_list()
        )
    name = ALIASES.get(name, name)
    preset = HUB_PRESETS.get(name, {})
    subset = args.subset if args.subset is not None else preset.get("subset")
    split = args.split or preset.get("split") or "test"
    rows = load_multiple_choice_dataset(name, split=split, subset=subset, limit=args.limit).to_list()
    demo_source = args.demo_source or preset.get("demo_split")
    if demo_source is None:
        return rows, None
    if Path(demo_source).exists():
        return rows, load_multiple_choice_dataset(demo_source).to_list()
    return rows, load_multiple_choice_dataset(name, split=demo_source, subset=subset).to_list()


def _instruction(name: str, fmt: str, args: AnswerChoiceMassArguments) -> str | None:
    """The released header of a known dataset under `--protocol released` (none otherwise, and none for cloze)."""
    if args.protocol != "released" or fmt == "cloze":
        return None
    hub = ALIASES.get(name, name)
    if hub not in RELEASED_NAMES:
        raise ValueError(
            f"--protocol released needs the released header of {name!r}: it is known for {sorted(ALIASES)} only."
        )
    subset = args.subset if args.subset is not None else HUB_PRESETS[hub].get("subset")
    if RELEASED_NAMES[hub] == "mmlu" and fmt == "enumerated" and subset in (None, "all"):
        raise ValueError(
            "--protocol released on MMLU runs one subject at a time (its header names the subject): "
            "pass --subset <subject>, e.g. --subset abstract_algebra."
        )
    return released_instruction(RELEASED_NAMES[hub], fmt, subject=subset)


def _table(rows: list[dict[str, Any]]) -> str:
    head = ["dataset", "format", "k", *METRICS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["dataset"], r["format"], str(r["k"])]
        cells += ["" if r[m] is None else f"{r[m]:.3f}" for m in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(args: AnswerChoiceMassArguments) -> list[dict[str, Any]]:
    """Evaluate every dataset × format × k; write the table, CSV, JSON and plot; return the table's rows."""

    _check(args)
    toy = is_toy(args.model_name_or_path)
    if args.shots is None:
        args.shots = list(TOY_SHOTS if toy else DEFAULT_SHOTS)
    if args.pmi is None:
        args.pmi = toy
    check_output_dir(args.output_dir, COMMAND, OUTPUT_FILES)  # before the model loads
    model, tokenizer = _load_model(args)
    with torch_threads(small_model_threads(model)):  # one thread for a tiny model, restored afterwards
        return _evaluate(args, model, tokenizer)


def _evaluate(args: AnswerChoiceMassArguments, model, tokenizer) -> list[dict[str, Any]]:
    from tqdm.auto import tqdm

    rows: list[dict[str, Any]] = []
    details: list[dict[str, Any]] = []
    runs = [(name, fmt, k) for name in args.datasets for fmt in args.formats for k in args.shots]
    loaded: dict[str, tuple[list[dict], list[dict] | None]] = {}
    for name, fmt, k in tqdm(runs, desc="dataset x format x k"):
        if name not in loaded:
            loaded[name] = _load(name, args)
            logger.info("%s: %d questions", name, len(loaded[name][0]))
        questions, pool = loaded[name]
        result = answer_choice_mass(
            model,
            tokenizer,
            [q["question"] for q in questions],
            [q["choices"] for q in questions],
            format=fmt,
            num_shots=k,
            demos=pool,
            surface_forms=args.surface_forms if fmt == "enumerated" else None,
            pmi=args.pmi,
            batch_size=args.batch_size,
            answers=[q["answer"] for q in questions],
            seed=args.seed,
            use_chat_template=args.use_chat_template,
            greedy_max_new_tokens=args.greedy_max_new_tokens,
            instruction=_instruction(name, fmt, args),
            answer_parsing=args.answer_parsing,
            protocol=args.protocol,
        )
        summary = result.summary()
        rows.append(
            {
                "dataset": name,
                "format": fmt,
                "k": k,
                **{m: summary[m] for m in METRICS},
                "num_questions": summary["num_questions"],
                "warnings": " ".join(result.warnings),
            }
        )
        details.append({"dataset": name, "format": fmt, "k": k, **result.to_dict()})
    table = _table(rows)
    with writing_into(args.output_dir, COMMAND, OUTPUT_FILES) as out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.md").write_text(table)
        with (out / "results.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        (out / "results.json").write_text(json.dumps(details, indent=1))
        plot_answer_choice_mass(rows, out / "mass_vs_accuracy.png")
    print(table)  # noqa: T201 - the script's report
    print(f"wrote {out / 'results.md'}, results.csv, results.json and mass_vs_accuracy.png")  # noqa: T201
    return rows


def make_parser() -> ExampleParser:
    return ExampleParser(AnswerChoiceMassArguments, doc=__doc__)


if __name__ == "__main__":
    run_example(make_parser(), main)
