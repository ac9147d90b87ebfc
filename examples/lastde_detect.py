# /// script
# dependencies = [
#     "trl_explore",
#     "trl>=1.16,<1.17",
#     "scikit-learn",
#     "matplotlib",
# ]
# ///
"""Is this text machine-generated? Score texts with Lastde / Lastde++ (Xu et al., arXiv 2410.06072) and the baselines
they are compared with — likelihood, log-rank, entropy, Fast-DetectGPT (analytic) — using any causal LM as the
scoring model, and evaluate them on labelled human-vs-machine sets.

Input: JSONL / JSON / CSV / Parquet files with a text column (`--text_column`, default `text`).

- **score** mode (no labels): writes `scores.jsonl` (one row per text: every method's score — higher = more
  machine-like — and, for an undefined score, why it is NaN).
- **evaluate** mode — either a label column (`--label_column`, values 0/1, false/true or human/machine) or separate
  `--human_files` and `--machine_files`: also prints and writes the metrics table (AUROC, PR-AUC, TPR at 1% FPR for
  every method: `metrics.md`, `metrics.json`) and the ROC curves (`roc.png`).

Every method comes from one pass over the texts (one forward of the scoring model per batch, plus the reference model
for Fast-DetectGPT and Lastde++; Lastde++ draws `--n_samples` tokens per position from the reference model).

```bash
python examples/lastde_detect.py --model_name_or_path gpt2 --data_files essays.jsonl --label_column label
python examples/lastde_detect.py --model_name_or_path EleutherAI/gpt-neo-2.7B \\
    --reference_model_name_or_path EleutherAI/gpt-j-6B --human_files human.csv --machine_files gpt4.csv \\
    --methods fast_detectgpt lastde lastde++ --dtype bfloat16
python examples/lastde_detect.py --model_name_or_path Qwen/Qwen2.5-1.5B --data_files unknown.parquet  # scores only
```

The same is available as `trl-explore detect ...` (same arguments, dashes or underscores).

Offline try-out with the toy kit (warm-started tiny model; a toy human-vs-machine set, see `docs/methods/lastde.md`):
`python examples/lastde_detect.py --model_name_or_path toy --data_files toy --n_samples 20`.
"""

from __future__ import annotations

from trl_explore.detection.cli import LastdeDetectArguments, main
from trl_explore.scripts import ExampleParser, run_example

__all__ = ["LastdeDetectArguments", "main", "make_parser"]


def make_parser() -> ExampleParser:
    return ExampleParser(LastdeDetectArguments, doc=__doc__)


if __name__ == "__main__":
    run_example(make_parser(), main)
