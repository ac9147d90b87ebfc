"""The detection command line: ``trl-explore detect`` and ``examples/lastde_detect.py`` (same arguments).

Score texts from JSONL / JSON / CSV / Parquet files with every zero-shot detector in one pass and, with labels,
evaluate them (metrics table, ROC plot). See `LastdeDetectArguments` and ``docs/methods/lastde.md``.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._validation import check_choice, check_int, check_optional_int, check_str
from .detectors import METHODS, score_all_methods
from .metrics import detection_metrics, plot_roc

logger = logging.getLogger(__name__)

#: The files `main` writes into ``output_dir`` (a re-run replaces them; other files there stay: `trl_explore._output`)
DETECT_FILES = ("scores.jsonl", "metrics.md", "metrics.json", "roc.png")
#: The command's name in the output folder's manifest (``examples/lastde_detect.py`` is the same command)
COMMAND = "trl-explore detect"

LABELS = {"0": 0, "1": 1, "false": 0, "true": 1, "human": 0, "machine": 1, "ai": 1}


@dataclass
class LastdeDetectArguments:
    """Arguments of the detection script (see the module docstring)."""

    model_name_or_path: str = field(
        metadata={
            "help": "Scoring model: Hub name or local path; `toy` for the offline toy, `smollm2` for the offline "
            "SmolLM2-135M-Instruct (`trl_explore.toy.pretrained_model_path`)."
        }
    )
    data_files: list[str] | None = field(
        default=None,
        metadata={
            "help": "JSONL / JSON / CSV / Parquet files of texts (`toy`: the toy set; `real`: human prose from "
            "Python's documentation and the scoring model's continuations of its first 30 tokens)."
        },
    )
    human_files: list[str] | None = field(default=None, metadata={"help": "Files of human-written texts."})
    machine_files: list[str] | None = field(default=None, metadata={"help": "Files of machine-generated texts."})
    text_column: str = field(default="text", metadata={"help": "Column holding the texts."})
    label_column: str | None = field(
        default=None, metadata={"help": "Column of labels (0/1, false/true, human/machine) in --data_files."}
    )
    reference_model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "Sampling model of Fast-DetectGPT and Lastde++ (same tokenizer; default: the scoring model)."
        },
    )
    methods: list[str] = field(default_factory=lambda: list(METHODS), metadata={"help": f"Methods, among {METHODS}."})
    n_samples: int = field(default=100, metadata={"help": "Lastde++: tokens sampled per position (K)."})
    short_text: str = field(default="clamp", metadata={"help": "Lastde texts shorter than tau' + s: clamp or nan."})
    rank_ties: str = field(
        default="min",
        metadata={
            "help": "log_rank: tied logits give the label the tie's best rank (min) or count those of smaller "
            "token id, as the released argsort does (released)."
        },
    )
    batch_size: int = field(default=8, metadata={"help": "Texts per forward pass."})
    max_length: int = field(default=512, metadata={"help": "Texts are truncated to this many tokens."})
    limit: int | None = field(default=None, metadata={"help": "Use only the first N texts of each file."})
    dtype: str = field(default="auto", metadata={"help": "Model dtype: auto, bfloat16, float16, float32."})
    seed: int = field(default=0, metadata={"help": "Seed of Lastde++'s samples."})
    output_dir: str = field(
        default="lastde_detect_out",
        metadata={
            "help": "Where scores, metrics and the plot go; a re-run replaces the files it wrote there, other files "
            "stay (one that it would overwrite is refused)."
        },
    )

    def __post_init__(self) -> None:
        for name in ("model_name_or_path", "text_column", "output_dir"):
            check_str(self, name)
        for name in ("label_column", "reference_model_name_or_path"):
            check_str(self, name, allow_none=True)
        for name in ("data_files", "human_files", "machine_files"):
            files = getattr(self, name)
            if files is not None and (
                not isinstance(files, (list, tuple)) or not all(isinstance(f, str) and f for f in files)
            ):
                raise ValueError(f"`{name}` must be a list of file paths (or None), got {files!r}.")
        if (
            not isinstance(self.methods, (list, tuple))
            or not self.methods
            or any(not isinstance(m, str) or m not in METHODS for m in self.methods)
        ):
            raise ValueError(f"`methods` must be a non-empty list from {METHODS}, got {self.methods!r}.")
        check_int(self, "n_samples", low=2)
        check_int(self, "batch_size", low=1)
        check_int(self, "max_length", low=2)
        check_optional_int(self, "limit", low=1)
        check_int(self, "seed", low=0)
        check_choice(self, "dtype", ("auto", "bfloat16", "float16", "float32"))
        check_choice(self, "short_text", ("clamp", "nan"))
        check_choice(self, "rank_ties", ("min", "released"))


def _check(args: LastdeDetectArguments) -> None:
    """The combinations of inputs (each field is checked on its own when the arguments are built)."""
    if not args.data_files and not (args.human_files and args.machine_files):
        raise ValueError("pass `data_files`, or both `human_files` and `machine_files`.")
    if args.data_files and (args.human_files or args.machine_files):
        raise ValueError("pass either `data_files` or `human_files` / `machine_files`, not both.")
    if bool(args.human_files) != bool(args.machine_files):
        raise ValueError("`human_files` and `machine_files` go together.")


def _load_model(path: str, dtype: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if path == "toy":
        from trl_explore.toy import warm_start

        path = str(warm_start(task="arithmetic"))
    else:
        from trl_explore.toy.pretrained import resolve_pretrained

        path = resolve_pretrained(path)  # `smollm2` -> the cached checkpoint folder; anything else unchanged
    tokenizer = AutoTokenizer.from_pretrained(path)
    torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype).to(device), tokenizer


def _read(path: str, args: LastdeDetectArguments, need_labels: bool) -> tuple[list[str], list[int] | None]:
    from datasets import load_dataset

    suffix = Path(path).suffix.lower()
    builder = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}.get(suffix)
    if builder is None:
        raise ValueError(f"{path}: unsupported file type {suffix!r} (use .jsonl, .json, .csv or .parquet).")
    if not Path(path).is_file():
        raise ValueError(f"{path}: no such file.")
    data = load_dataset(builder, data_files=path, split="train")
    if args.text_column not in data.column_names:
        raise ValueError(f"{path}: no column {args.text_column!r} (columns: {data.column_names}).")
    if args.limit is not None:
        data = data.select(range(min(args.limit, len(data))))
    texts = ["" if t is None else str(t) for t in data[args.text_column]]
    if not need_labels:
        return texts, None
    if args.label_column not in data.column_names:
        raise ValueError(f"{path}: no label column {args.label_column!r} (columns: {data.column_names}).")
    labels = []
    for value in data[args.label_column]:
        key = str(value).strip().lower()
        if key not in LABELS:
            raise ValueError(f"{path}: label {value!r} is not one of 0/1, false/true, human/machine.")
        labels.append(LABELS[key])
    return texts, labels


def load_texts(args: LastdeDetectArguments, model=None, tokenizer=None) -> tuple[list[str], list[int] | None]:
    """The texts and their labels (``None`` in score mode)."""
    if args.data_files == ["toy"]:
        from trl_explore.toy import make_detection_texts

        toy = make_detection_texts(model, tokenizer, args.limit or 32, seed=args.seed)
        return toy["human"] + toy["machine"], [0] * len(toy["human"]) + [1] * len(toy["machine"])
    if args.data_files == ["real"]:
        from trl_explore.toy.human_text import make_real_detection_texts

        real = make_real_detection_texts(model, tokenizer, args.limit or 150, seed=args.seed)
        return real["human"] + real["machine"], [0] * len(real["human"]) + [1] * len(real["machine"])
    if args.data_files:
        texts, labels = [], [] if args.label_column else None
        for path in args.data_files:
            t, y = _read(path, args, need_labels=args.label_column is not None)
            texts += t
            if labels is not None:
                labels += y
        return texts, labels
    human = [t for path in args.human_files for t in _read(path, args, need_labels=False)[0]]
    machine = [t for path in args.machine_files for t in _read(path, args, need_labels=False)[0]]
    return human + machine, [0] * len(human) + [1] * len(machine)


def _fmt(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def metrics_table(metrics: dict[str, dict[str, Any]]) -> str:
    head = ["method", "AUROC", "PR-AUC", "TPR@1%FPR", "human", "machine", "unscored"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method, m in metrics.items():
        cells = [
            method,
            _fmt(m["auroc"]),
            _fmt(m["pr_auc"]),
            _fmt(m["tpr_at_fpr"]),
            str(m["num_human"]),
            str(m["num_machine"]),
            str(m["num_unscored"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(args: LastdeDetectArguments) -> dict[str, Any]:
    """Score (and evaluate) the texts with every method; write the outputs; return ``{"scores", "metrics"}``.

    ``output_dir`` is checked first: a file there that this command did not write and would overwrite ends the run
    before the model loads (`trl_explore._output`)."""
    from .._output import check_output_dir, writing_into
    from ..toy.warm_start import small_model_threads, torch_threads

    _check(args)
    check_output_dir(args.output_dir, COMMAND, DETECT_FILES)
    model, tokenizer = _load_model(args.model_name_or_path, args.dtype)
    reference = None
    if args.reference_model_name_or_path:
        reference, ref_tokenizer = _load_model(args.reference_model_name_or_path, args.dtype)
        if ref_tokenizer.get_vocab() != tokenizer.get_vocab():
            raise ValueError("the reference model's tokenizer differs from the scoring model's: they must share one.")
    with torch_threads(small_model_threads(model)):  # one thread for a tiny model, restored afterwards
        texts, labels = load_texts(args, model, tokenizer)
        if not texts:
            raise ValueError("no texts found in the input files.")
        logger.info("%d texts, methods: %s", len(texts), ", ".join(args.methods))
        results = score_all_methods(
            model,
            tokenizer,
            texts,
            args.methods,
            reference_model=reference,
            n_samples=args.n_samples,
            batch_size=args.batch_size,
            max_length=args.max_length,
            seed=args.seed,
            short_text=args.short_text,
            rank_ties=args.rank_ties,
        )
    with writing_into(args.output_dir, COMMAND, DETECT_FILES) as out:
        out.mkdir(parents=True, exist_ok=True)
        return _write_outputs(args, out, texts, labels, results)


def _write_outputs(args: LastdeDetectArguments, out: Path, texts: list[str], labels: list[int] | None, results) -> dict:
    with (out / "scores.jsonl").open("w") as f:
        for i, text in enumerate(texts):
            row: dict[str, Any] = {"index": i, "text": text}
            if labels is not None:
                row["label"] = labels[i]
            for method, r in results.items():
                score = float(r.scores[i])
                row[method] = None if math.isnan(score) else score
                if r.reasons[i]:
                    row[f"{method}_undefined"] = r.reasons[i]
            f.write(json.dumps(row) + "\n")
    report: dict[str, Any] = {"scores": {m: r.scores.tolist() for m, r in results.items()}, "metrics": None}
    print(f"wrote {out / 'scores.jsonl'} ({len(texts)} texts)")  # noqa: T201 - the script's report
    if labels is None:
        return report
    import numpy as np

    y = np.asarray(labels)
    if y.min() == y.max():
        raise ValueError("evaluation needs both human (0) and machine (1) texts.")
    metrics = {m: detection_metrics(r.scores[y == 0], r.scores[y == 1]) for m, r in results.items()}
    table = metrics_table(metrics)
    (out / "metrics.md").write_text(table)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    plot_roc(
        {m: (r.scores[y == 0], r.scores[y == 1]) for m, r in results.items()},
        out / "roc.png",
        title=f"ROC — scoring model {args.model_name_or_path}",
    )
    print(table)  # noqa: T201
    print(f"wrote {out / 'metrics.md'}, metrics.json and roc.png")  # noqa: T201
    report["metrics"] = metrics
    return report


def run_cli(argv: list[str] | None = None, description: str | None = None) -> dict[str, Any]:
    """Parse ``argv`` (``--name value`` pairs of `LastdeDetectArguments`, dashes or underscores) and run `main`, as
    ``examples/lastde_detect.py`` does: ``--help`` explains the command first, a mistake ends it with one ``error:``
    line (``TRL_EXPLORE_DEBUG=1`` shows the traceback)."""
    from trl_explore.scripts import ExampleParser, run_example

    parser = ExampleParser(LastdeDetectArguments, doc=description or __doc__, prog="trl-explore detect")
    return run_example(parser, main, argv)
