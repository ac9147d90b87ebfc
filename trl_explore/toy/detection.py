"""An offline human-vs-machine text set for the detectors (`trl_explore.detection`), built with the toy kit.

What it is: the toy version of the Lastde / Fast-DetectGPT benchmark protocol, where the source model continues the
first tokens of each human text (30 tokens there). The "human" side is the synthetic task's reference text — prompt +
the target completion the task generator writes (``Compute (3+4)*2\n<think>3+4=7,7*2=14</think>\boxed{14}``); the
"machine" side is a (warm-started) toy model continuing the first ``prefix_tokens`` tokens of the same text, sampled
at temperature 1. The warm start trains on completions only, so its continuations of a half-written prompt are often
degenerate (repeated digits and operators): an easy set, and not natural language. Its numbers say that the detectors
run end to end and separate a model's own samples from text it did not write — not how they do on news or essays.

(A set whose machine side is the model's completion of the full prompt is not separable at all: the model was
trained on exactly the human side's completions, the shared prompts dominate every score, and every method sits at
AUROC ≈ 0.5.)
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["make_detection_texts"]


@torch.no_grad()
def make_detection_texts(
    model: Any,
    tokenizer: Any,
    num_texts: int = 64,
    *,
    task: str = "arithmetic",
    prefix_tokens: int = 8,
    seed: int = 0,
    temperature: float = 1.0,
    max_new_tokens: int = 48,
    batch_size: int = 64,
) -> dict[str, list[str]]:
    """``{"human": [...], "machine": [...]}``: ``num_texts`` task texts (prompt + reference completion) and, for each,
    the model's continuation of its first ``prefix_tokens`` tokens.

    Args:
        model: a causal LM on any device (typically ``warm_start(task)``'s model).
        tokenizer: its tokenizer (the toy tokenizer).
        num_texts (`int`, *optional*, defaults to `64`): texts per side.
        task (`str`, *optional*, defaults to `"arithmetic"`): ``"arithmetic"`` or ``"countdown"``.
        prefix_tokens (`int`, *optional*, defaults to `8`): tokens of the human text the model continues (>= 1).
        seed (`int`, *optional*, defaults to `0`): seed of the texts and of the sampling (the global torch RNG state
            is restored afterwards).
        temperature (`float`, *optional*, defaults to `1.0`): sampling temperature (> 0).
        max_new_tokens (`int`, *optional*, defaults to `48`): tokens generated after the prefix.
        batch_size (`int`, *optional*, defaults to `64`): texts per ``generate`` call.
    """
    from .tasks import make_arithmetic_dataset, make_countdown_dataset

    if isinstance(num_texts, bool) or not isinstance(num_texts, int) or num_texts < 1:
        raise ValueError(f"`num_texts` must be an integer >= 1, got {num_texts!r}.")
    if isinstance(prefix_tokens, bool) or not isinstance(prefix_tokens, int) or prefix_tokens < 1:
        raise ValueError(f"`prefix_tokens` must be an integer >= 1, got {prefix_tokens!r}.")
    if task not in ("arithmetic", "countdown"):
        raise ValueError(f"`task` must be 'arithmetic' or 'countdown', got {task!r}.")
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or not temperature > 0:
        raise ValueError(f"`temperature` must be a number > 0, got {temperature!r}.")
    build = make_arithmetic_dataset if task == "arithmetic" else make_countdown_dataset
    rows = build(num_texts, seed=10_000 + seed)
    human = [p + c for p, c in zip(rows["prompt"], rows["completion"])]
    prefixes = [tokenizer(text, add_special_tokens=False)["input_ids"][:prefix_tokens] for text in human]
    device = next(model.parameters()).device
    state = torch.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    torch.manual_seed(seed)
    was_training = model.training
    model.eval()
    machine: list[str] = []
    try:
        for start in range(0, len(prefixes), batch_size):
            chunk = prefixes[start : start + batch_size]
            width = max(len(p) for p in chunk)
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
            ids = torch.tensor([[pad] * (width - len(p)) + p for p in chunk], device=device)  # left padding
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk], device=device)
            out = model.generate(
                input_ids=ids,
                attention_mask=mask,
                do_sample=True,
                temperature=float(temperature),
                top_k=0,
                top_p=1.0,
                max_new_tokens=max_new_tokens,
                pad_token_id=pad,
            )
            machine.extend(tokenizer.batch_decode(out, skip_special_tokens=True))
    finally:
        model.train(was_training)
        torch.set_rng_state(state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)
    return {"human": human, "machine": machine}
