"""Configuration of SwiReasoning decoding and the tokenizer look-ups it needs (think tokens, strings, math tokens)."""

from __future__ import annotations

import math
import re
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

START_MODES = ("latent", "explicit")

#: Text of a "math" token, stripped of surrounding whitespace: a LaTeX command, a run of digits and operators, or
#: a single letter (a variable). Such a sampled token forces its step explicit when `math_override` is on.
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
_DIGITS_AND_OPERATORS = re.compile(r"[0-9+\-*/=^_<>()\[\]{}|!.,%$\\]+")
_SINGLE_LETTER = re.compile(r"[A-Za-z]")


def is_math_text(text: str) -> bool:
    """Whether a token's text (whitespace stripped) is math: a LaTeX command (``\\frac``), digits and operators
    (``12``, ``+``, ``)=``, ``3.5``), or a single letter (``x``)."""
    s = text.strip()
    if not s:
        return False
    return bool(_LATEX_COMMAND.fullmatch(s) or _DIGITS_AND_OPERATORS.fullmatch(s) or _SINGLE_LETTER.fullmatch(s))


def _check_number(name: str, value: Any, low: float, high: float, *, integer: bool = False, allow_none: bool = False,
                  low_open: bool = False) -> None:
    if value is None and allow_none:
        return
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        want = "an int" if integer else "a float"
        raise ValueError(f"`{name}` must be {want}{' or None' if allow_none else ''}, got {value!r}.")
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite, got {value!r}.")
    too_low = value <= low if low_open else value < low
    if too_low or value > high:
        lo = "(" if low_open else "["
        hi = "inf)" if math.isinf(high) else f"{high:g}]"
        raise ValueError(f"`{name}` must be in {lo}{low:g}, {hi}, got {value!r}.")


def _check_token_text(name: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, str) or not value:
        raise ValueError(f"`{name}` must be a non-empty string{' or None' if allow_none else ''}, got {value!r}.")


@dataclass
class SwiReasoningConfig:
    r"""Settings of SwiReasoning decoding (arXiv 2510.05069): when to switch between latent and explicit reasoning,
    how the next input is built, the switch cap, and how tokens are sampled.

    Args:
        alpha0 (`float`, *optional*, defaults to `1.0`):
            Soft share α₀ of the explicit → latent switch step: its input is ``α_t·e_soft + (1 − α_t)·E[<think>]``,
            ``α_t = α₀ + (1 − α₀)·t / max_new_tokens``. In ``[0, 1]``. The paper tunes it per model and dataset
            (Qwen3-8B: 0.5 on GSM8K, 1.0 on MATH500).
        beta0 (`float`, *optional*, defaults to `0.7`):
            Soft share β₀ of the latent → explicit switch step (anchor ``</think>``), same schedule. In ``[0, 1]``.
        window_size (`int` or `None`, *optional*, defaults to `512`):
            Explicit steps that must pass before an explicit → latent switch (at least 1). `None`: never switch back.
        max_switch_count (`int` or `None`, *optional*, defaults to `None`):
            Switch cap C (off when `None`; the released README uses 2). On a latent → explicit switch that brings the
            count to C … 2C the convergence string is fed; beyond 2C the termination string is fed, then
            `answer_budget` more tokens are generated and the sequence stops.
        think_token (`str`, *optional*, defaults to `"<think>"`):
            Start-of-thinking token (anchor of the explicit → latent step). Must be one token of the tokenizer.
        end_think_token (`str`, *optional*, defaults to `"</think>"`):
            End-of-thinking token (anchor of the latent → explicit step; sampling it locks explicit). One token.
        convergence_string (`str`, *optional*):
            Text fed on a capped switch (C ≤ count ≤ 2C). Defaults to ``"\n\n" + end_think_token + "\n\n"`` (the
            released code's choice for non-Qwen models; Qwen models use ``"</think>"``).
        termination_string (`str`, *optional*):
            Text fed when the count exceeds 2C. Defaults to ``end_think_token + "\n\nThe final answer is"``.
        answer_budget (`int`, *optional*, defaults to `32`):
            Tokens generated after the termination string before the sequence stops (≥ 0).
        math_override (`bool`, *optional*, defaults to `True`):
            A sampled math token (digit, operator, single letter, LaTeX command; see `is_math_text`) forces that one
            step explicit: the token's embedding is fed instead of the soft embedding, the mode is unchanged.
        math_token_ids (`list[int]`, *optional*):
            Explicit set of math token ids, instead of the ones derived from the tokenizer's vocabulary.
        start_mode (`str`, *optional*, defaults to `"latent"`):
            Mode of step 0: `"latent"` (the paper) or `"explicit"`.
        initial_soft_weight (`float`, *optional*, defaults to `0.9`):
            Soft share of step 0 in latent start: ``0.9·e_soft + 0.1·E[initial_mix_token]``. In ``[0, 1]``.
        initial_mix_token (`str` or `None`, *optional*, defaults to `"\n"`):
            Token mixed into step 0 (the released code looks up a newline). `None`: step 0 is pure ``e_soft``.
        do_sample (`bool`, *optional*, defaults to `True`):
            Sample the recorded token (otherwise greedy: argmax of the processed logits).
        temperature (`float`, *optional*, defaults to `0.6`):
            Sampling temperature (> 0) of the recorded token; the entropy and ``e_soft`` always use the raw logits.
        top_p (`float`, *optional*, defaults to `0.95`):
            Nucleus sampling, in ``(0, 1]`` (1 disables it).
        top_k (`int` or `None`, *optional*, defaults to `20`):
            Top-k sampling (`None` or 0 disables it).
        min_p (`float` or `None`, *optional*, defaults to `None`):
            Min-p sampling, in ``[0, 1]`` (`None` disables it).
        seed (`int` or `None`, *optional*, defaults to `None`):
            Seed of a private `torch.Generator` for sampling (`None`: the global torch RNG).
    """

    alpha0: float = 1.0
    beta0: float = 0.7
    window_size: int | None = 512
    max_switch_count: int | None = None
    think_token: str = "<think>"
    end_think_token: str = "</think>"
    convergence_string: str | None = None
    termination_string: str | None = None
    answer_budget: int = 32
    math_override: bool = True
    math_token_ids: list[int] | None = None
    start_mode: str = "latent"
    initial_soft_weight: float = 0.9
    initial_mix_token: str | None = "\n"
    do_sample: bool = True
    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int | None = 20
    min_p: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        _check_number("alpha0", self.alpha0, 0.0, 1.0)
        _check_number("beta0", self.beta0, 0.0, 1.0)
        _check_number("window_size", self.window_size, 1, math.inf, integer=True, allow_none=True)
        _check_number("max_switch_count", self.max_switch_count, 1, math.inf, integer=True, allow_none=True)
        _check_token_text("think_token", self.think_token)
        _check_token_text("end_think_token", self.end_think_token)
        if self.think_token == self.end_think_token:
            raise ValueError(f"`think_token` and `end_think_token` must differ, both are {self.think_token!r}.")
        _check_token_text("convergence_string", self.convergence_string, allow_none=True)
        _check_token_text("termination_string", self.termination_string, allow_none=True)
        _check_number("answer_budget", self.answer_budget, 0, math.inf, integer=True)
        for name in ("math_override", "do_sample"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"`{name}` must be a bool, got {getattr(self, name)!r}.")
        if self.math_token_ids is not None:
            ids = self.math_token_ids
            if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
                raise ValueError(f"`math_token_ids` must be a list of non-negative ints or None, got {ids!r}.")
            ids = list(ids)
            if any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in ids):
                raise ValueError(f"`math_token_ids` must be a list of non-negative ints or None, got {ids!r}.")
            self.math_token_ids = ids
        if self.start_mode not in START_MODES:
            raise ValueError(f"`start_mode` must be one of {START_MODES}, got {self.start_mode!r}.")
        _check_number("initial_soft_weight", self.initial_soft_weight, 0.0, 1.0)
        _check_token_text("initial_mix_token", self.initial_mix_token, allow_none=True)
        _check_number("temperature", self.temperature, 0.0, math.inf, low_open=True)
        _check_number("top_p", self.top_p, 0.0, 1.0, low_open=True)
        _check_number("top_k", self.top_k, 0, math.inf, integer=True, allow_none=True)
        _check_number("min_p", self.min_p, 0.0, 1.0, allow_none=True)
        _check_number("seed", self.seed, 0, 2**64 - 1, integer=True, allow_none=True)

    @property
    def resolved_convergence_string(self) -> str:
        """The convergence string actually fed (the default spelled out)."""
        if self.convergence_string is not None:
            return self.convergence_string
        return f"\n\n{self.end_think_token}\n\n"

    @property
    def resolved_termination_string(self) -> str:
        """The termination string actually fed (the default spelled out)."""
        if self.termination_string is not None:
            return self.termination_string
        return f"{self.end_think_token}\n\nThe final answer is"


@dataclass
class SwiReasoningTokens:
    """Token ids a SwiReasoning run needs, looked up once per tokenizer and config (`resolve_tokens`)."""

    think_id: int
    end_think_id: int
    initial_mix_id: int | None
    convergence_ids: list[int]
    termination_ids: list[int]
    math_ids: list[int]


def _single_token_id(tokenizer: Any, text: str, field_name: str) -> int:
    """Id of `text` when the tokenizer has it as one token (in its vocabulary or encoding to exactly one id)."""
    vocab = tokenizer.get_vocab()
    if text in vocab:
        return int(vocab[text])
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) == 1:
        return int(ids[0])
    raise ValueError(
        f"`{field_name}` {text!r} is not a single token of this tokenizer (it encodes to {len(ids)} tokens). "
        "SwiReasoning needs the think tokens as single tokens: add them (`tokenizer.add_tokens([...])` and "
        "`model.resize_token_embeddings(len(tokenizer))`) or set `think_token` / `end_think_token` to tokens the "
        "tokenizer has."
    )


_MATH_IDS_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def math_token_ids(tokenizer: Any) -> list[int]:
    """Ids of the tokenizer's math tokens (`is_math_text` of each token's decoded text; special tokens excluded).

    Decodes the whole vocabulary once per tokenizer (cached while the tokenizer lives).
    """
    size = len(tokenizer)
    cacheable = hasattr(type(tokenizer), "__weakref__")
    cached = _MATH_IDS_CACHE.get(tokenizer) if cacheable else None
    if cached is not None and cached[0] == size:
        return cached[1]
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    texts = tokenizer.batch_decode([[i] for i in range(size)], skip_special_tokens=False)
    ids = [i for i, text in enumerate(texts) if i not in special and is_math_text(text)]
    if cacheable:
        _MATH_IDS_CACHE[tokenizer] = (size, ids)
    return ids


def resolve_tokens(tokenizer: Any, config: SwiReasoningConfig) -> SwiReasoningTokens:
    """Look up the ids of the think tokens, the step-0 mix token, the cap strings and the math tokens.

    Raises:
        ValueError: a think token or the step-0 mix token is not a single token of the tokenizer.
    """
    if tokenizer is None:
        raise ValueError("SwiReasoning needs the model's tokenizer (for the think tokens and the cap strings).")
    think_id = _single_token_id(tokenizer, config.think_token, "think_token")
    end_think_id = _single_token_id(tokenizer, config.end_think_token, "end_think_token")
    mix_id = None
    if config.start_mode == "latent" and config.initial_mix_token is not None and config.initial_soft_weight < 1:
        mix_id = _single_token_id(tokenizer, config.initial_mix_token, "initial_mix_token")
    convergence = tokenizer.encode(config.resolved_convergence_string, add_special_tokens=False)
    termination = tokenizer.encode(config.resolved_termination_string, add_special_tokens=False)
    if config.math_token_ids is not None:
        math_ids = list(config.math_token_ids)
    elif config.math_override:
        math_ids = math_token_ids(tokenizer)
    else:
        math_ids = []
    return SwiReasoningTokens(
        think_id=think_id,
        end_think_id=end_think_id,
        initial_mix_id=mix_id,
        convergence_ids=[int(i) for i in convergence],
        termination_ids=[int(i) for i in termination],
        math_ids=math_ids,
    )


def math_mask(ids: list[int], vocab_size: int, device: torch.device | str) -> torch.Tensor:
    """``[V]`` bool mask of the math token ids (ids beyond the model's vocabulary are ignored)."""
    import torch

    mask = torch.zeros(vocab_size, dtype=torch.bool, device=device)
    kept = [i for i in ids if i < vocab_size]
    if kept:
        mask[torch.tensor(kept, dtype=torch.long, device=device)] = True
    return mask
