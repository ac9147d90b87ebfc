"""SwiReasoning against plain sampling at the same budgets (accuracy, generated tokens, latent share), and plots of
the per-step traces. Used by ``examples/evaluate_math.py --backend swireasoning``, the demo and the notebook."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from .swireasoning import EXPLICIT, LATENT, MATH_OVERRIDE, SwiReasoningOutput, swi_generate
from .swireasoning_config import SwiReasoningConfig

logger = logging.getLogger(__name__)

PLAIN = "sampling"


@dataclass
class DecodingComparison:
    """Rows of a comparison (one per decoder and budget) and the SwiReasoning outputs behind them.

    Args:
        rows (`list[dict]`): `decoder`, `budget`, `accuracy` (mean reward of the graded samples), `num_graded`,
            `mean_tokens` (generated tokens per sample, eos included), `truncated` (share of samples that hit the
            budget), and for SwiReasoning `latent_share` (share of steps fed a soft embedding), `switches`
            (latent -> explicit switches per sample), `math_override_share` and `end_think_share` (samples whose
            model wrote the end-of-thinking token itself).
        outputs (`dict[tuple[str, int], list[SwiReasoningOutput]]`): per (decoder, budget), the batches' outputs.
        completions (`dict[tuple[str, int], list[str]]`): per (decoder, budget), every completion (prompt-major).
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[tuple[str, int], list[SwiReasoningOutput]] = field(default_factory=dict, repr=False)
    completions: dict[tuple[str, int], list[str]] = field(default_factory=dict, repr=False)

    def markdown(self) -> str:
        """The rows as a Markdown table."""
        head = (
            "| decoder | budget | accuracy | tokens / sample | truncated | latent steps | switches / sample | "
            "math overrides |"
        )
        lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|"]

        def fmt(value: Any, digits: int = 3) -> str:
            return "—" if value is None else f"{value:.{digits}f}"

        for r in self.rows:
            lines.append(
                f"| {r['decoder']} | {r['budget']} | {fmt(r['accuracy'])} | {fmt(r['mean_tokens'], 1)} | "
                f"{fmt(r['truncated'], 2)} | {fmt(r.get('latent_share'))} | {fmt(r.get('switches'), 2)} | "
                f"{fmt(r.get('math_override_share'))} |"
            )
        return "\n".join(lines) + "\n"


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    value = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if value is None:
        value = tokenizer.eos_token_id
    if value is None:
        return []
    return [int(value)] if isinstance(value, int) else [int(v) for v in value]


def _plain_sampling(
    model: Any,
    tokenizer: Any,
    texts: list[str],
    budget: int,
    temperature: float,
    top_p: float,
    seed: int,
    add_special_tokens: bool,
) -> tuple[list[str], list[int], list[bool]]:
    """`model.generate` with the same sampling settings as `sample_completions_transformers` (temperature, top-p,
    no top-k); returns completions, generated-token counts (up to and including the first eos) and whether each
    sample ran out of budget."""
    enc = tokenizer(
        texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=add_special_tokens
    ).to(model.device)
    greedy = temperature == 0
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    devices = [model.device] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        out = model.generate(
            **enc,
            do_sample=not greedy,
            temperature=None if greedy else temperature,
            top_p=None if greedy else top_p,
            top_k=None if greedy else 0,
            max_new_tokens=budget,
            pad_token_id=pad_id,
        )
    new = out[:, enc["input_ids"].shape[1] :]
    eos = _eos_ids(model, tokenizer)
    counts, truncated = [], []
    for row in new.tolist():
        stop = next((i for i, tok in enumerate(row) if tok in eos), None)
        counts.append(len(row) if stop is None else stop + 1)
        truncated.append(stop is None)
    completions = [tokenizer.decode(row[:n], skip_special_tokens=True) for row, n in zip(new.tolist(), counts)]
    return completions, counts, truncated


def compare_decoding(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    reward_fn: Callable[..., list[float | None]],
    reward_columns: dict[str, Sequence[Any]] | None = None,
    *,
    swi_configs: dict[str, SwiReasoningConfig] | None = None,
    budgets: Sequence[int] = (256,),
    num_samples: int = 1,
    temperature: float = 0.6,
    top_p: float = 0.95,
    batch_size: int = 8,
    seed: int = 0,
    add_special_tokens: bool = False,
    include_plain: bool = True,
    progress: bool = True,
) -> DecodingComparison:
    """Sample every prompt with plain sampling and with each SwiReasoning config at each budget, grade, summarise.

    Every decoder samples with the same settings (temperature, top-p, no top-k: each SwiReasoning config's sampling
    fields are replaced) and the same budget (`max_new_tokens`); prompts are rendered text (apply a chat template
    first, e.g. with `trl_explore.evaluation.render_prompts`).

    Args:
        model (`PreTrainedModel`):
            The causal LM.
        tokenizer (`PreTrainedTokenizerBase`):
            Its tokenizer (with the think tokens of the configs).
        prompts (`list[str]`):
            Prompt texts.
        reward_fn (`Callable`):
            A TRL-contract reward, called as ``reward_fn(prompts=, completions=, **columns)``.
        reward_columns (`dict[str, list]`, *optional*):
            Per-prompt columns the reward needs (``solution``, ``target``, ...).
        swi_configs (`dict[str, SwiReasoningConfig]`, *optional*):
            Named configs (default ``{"swireasoning": SwiReasoningConfig()}``).
        budgets (`list[int]`, *optional*, defaults to `(256,)`):
            `max_new_tokens` values (a budget sweep).
        num_samples (`int`, *optional*, defaults to `1`):
            Samples per prompt.
        temperature (`float`, *optional*, defaults to `0.6`):
            Sampling temperature (0: greedy, one sample).
        top_p (`float`, *optional*, defaults to `0.95`):
            Nucleus sampling.
        batch_size (`int`, *optional*, defaults to `8`):
            Prompts per batch (× `num_samples` rows).
        seed (`int`, *optional*, defaults to `0`):
            Seed of every decoder (batch `i` uses `seed + i`).
        add_special_tokens (`bool`, *optional*, defaults to `False`):
            Passed to the tokenizer.
        include_plain (`bool`, *optional*, defaults to `True`):
            Also run plain sampling (`model.generate`).
        progress (`bool`, *optional*, defaults to `True`):
            Progress bar over batches.

    Returns:
        `DecodingComparison`.
    """
    from tqdm.auto import tqdm

    if num_samples < 1 or batch_size < 1:
        raise ValueError(f"`num_samples` and `batch_size` must be >= 1, got {num_samples} and {batch_size}.")
    if isinstance(temperature, bool) or not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"`temperature` must be a finite float >= 0, got {temperature!r}.")
    if temperature == 0 and num_samples > 1:
        raise ValueError("`temperature=0` (greedy) gives identical samples; use `num_samples=1` with it.")
    if not budgets or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in budgets):
        raise ValueError(f"`budgets` must be a non-empty list of ints >= 1, got {list(budgets)!r}.")
    if isinstance(prompts, str) or not prompts:
        raise ValueError("`prompts` must be a non-empty list of strings.")
    columns = {k: list(v) for k, v in (reward_columns or {}).items()}
    for name, values in columns.items():
        if len(values) != len(prompts):
            raise ValueError(f"reward column {name!r} has {len(values)} values for {len(prompts)} prompts.")
    configs = swi_configs if swi_configs is not None else {"swireasoning": SwiReasoningConfig()}
    greedy = temperature == 0
    configs = {
        name: replace(
            c,
            do_sample=not greedy,
            temperature=c.temperature if greedy else temperature,
            top_p=top_p,
            top_k=None,
            min_p=None,
        )
        for name, c in configs.items()
    }
    decoders = ([PLAIN] if include_plain else []) + list(configs)
    if PLAIN in configs:
        raise ValueError(f"A SwiReasoning config may not be named {PLAIN!r}.")

    rows_text = [p for p in prompts for _ in range(num_samples)]  # prompt-major
    batch_rows = batch_size * num_samples
    batches = [(i, rows_text[i : i + batch_rows]) for i in range(0, len(rows_text), batch_rows)]
    result = DecodingComparison()
    was_training = model.training
    model.eval()
    try:
        for budget in budgets:
            for decoder in decoders:
                completions: list[str] = []
                counts: list[int] = []
                truncated: list[bool] = []
                outputs: list[SwiReasoningOutput] = []
                bar = tqdm(batches, desc=f"{decoder} @ {budget}", disable=not progress, leave=False)
                for index, (_, texts) in enumerate(bar):
                    if decoder == PLAIN:
                        c, n, cut = _plain_sampling(
                            model, tokenizer, texts, budget, temperature, top_p, seed + index, add_special_tokens
                        )
                    else:
                        out = swi_generate(
                            model,
                            tokenizer,
                            texts,
                            replace(configs[decoder], seed=seed + index),
                            budget,
                            add_special_tokens=add_special_tokens,
                        )
                        c, n = out.texts, out.num_generated_tokens
                        cut = [reason == "length" for reason in out.finish_reason]
                        outputs.append(out)
                    completions.extend(c)
                    counts.extend(n)
                    truncated.extend(cut)
                flat_columns = {k: [v for v in values for _ in range(num_samples)] for k, values in columns.items()}
                scores = list(reward_fn(prompts=rows_text, completions=completions, **flat_columns))
                if len(scores) != len(completions):
                    raise ValueError(f"reward_fn returned {len(scores)} scores for {len(completions)} completions.")
                graded = [float(s) for s in scores if s is not None]
                row: dict[str, Any] = {
                    "decoder": decoder,
                    "budget": budget,
                    "accuracy": sum(graded) / len(graded) if graded else None,
                    "num_graded": len(graded),
                    "mean_tokens": sum(counts) / len(counts),
                    "truncated": sum(truncated) / len(truncated),
                }
                if decoder != PLAIN:
                    summaries = _pooled(outputs)
                    row.update(summaries)
                    result.outputs[(decoder, budget)] = outputs
                result.rows.append(row)
                result.completions[(decoder, budget)] = completions
                logger.info("%s @ %d: accuracy %s, %.1f tokens", decoder, budget, row["accuracy"], row["mean_tokens"])
    finally:
        model.train(was_training)
    return result


def _pooled(outputs: Sequence[SwiReasoningOutput]) -> dict[str, float]:
    steps = sum(sum(o.num_generated_tokens) for o in outputs) or 1
    samples = sum(len(o.num_generated_tokens) for o in outputs) or 1
    return {
        "latent_share": sum(t.count(LATENT) for o in outputs for t in o.mode_trace) / steps,
        "math_override_share": sum(t.count(MATH_OVERRIDE) for o in outputs for t in o.mode_trace) / steps,
        "switches": sum(sum(o.switch_count) for o in outputs) / samples,
        "end_think_share": sum(1 for o in outputs for ev in o.trigger_events if any(e.kind == "end_think" for e in ev))
        / samples,
    }


def plot_traces(
    output: SwiReasoningOutput, path: str | Path, rows: Sequence[int] | None = None, title: str | None = None
) -> Path:
    """Plot the entropy per step of a few sequences, shaded by mode (latent / math override / explicit), with the
    switches marked; saved as a PNG at `path` (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    rows = list(range(min(4, len(output.mode_trace)))) if rows is None else list(rows)
    if not rows:
        raise ValueError("`rows` is empty: nothing to plot.")
    fig, axes = plt.subplots(len(rows), 1, figsize=(10, 1.9 * len(rows) + 0.6), sharex=True, squeeze=False)
    colours = {LATENT: "#f4a261", MATH_OVERRIDE: "#e9c46a", EXPLICIT: "#ffffff"}
    for ax, row in zip(axes[:, 0], rows):
        modes = output.mode_trace[row]
        entropy = output.entropy_trace[row]
        for step, mode in enumerate(modes):
            if mode != EXPLICIT:
                ax.axvspan(step - 0.5, step + 0.5, color=colours[mode], alpha=0.6, lw=0)
        ax.plot(range(len(entropy)), entropy, color="#264653", lw=1.2)
        for event in output.trigger_events[row]:
            style = {
                "to_explicit": ("#2a9d8f", "-"),
                "to_latent": ("#e76f51", "-"),
                "end_think": ("#6a4c93", ":"),
                "convergence": ("#1d3557", "--"),
                "termination": ("#d62828", "--"),
            }[event.kind]
            ax.axvline(event.step, color=style[0], ls=style[1], lw=1)
        share = output.latent_share[row]
        ax.set_ylabel("entropy\n(nats)")
        ax.set_title(
            f"sequence {row}: {len(modes)} steps, latent share {share:.2f}, "
            f"switches to explicit: {output.switch_count[row]}",
            fontsize=9,
            loc="left",
        )
    axes[-1, 0].set_xlabel("decoding step")
    handles = [
        Patch(color=colours[LATENT], alpha=0.6, label="latent step"),
        Patch(color=colours[MATH_OVERRIDE], alpha=0.6, label="math override (latent mode, token fed)"),
        Patch(facecolor="white", edgecolor="grey", label="explicit step"),
    ]
    from matplotlib.lines import Line2D

    handles += [
        Line2D([], [], color="#2a9d8f", label="→ explicit"),
        Line2D([], [], color="#e76f51", label="→ latent"),
        Line2D([], [], color="#6a4c93", ls=":", label="model wrote </think>"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.45 / fig.get_figheight(), 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
