"""Configuration of SwiReasoning decoding and the tokenizer look-ups it needs (think tokens, strings, math tokens)."""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._validation import (
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_optional_int,
    check_optional_number,
    check_str,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

START_MODES = ("latent", "explicit")
MATH_TOKEN_SETS = ("released", "pattern")
ANSWER_BUDGET_FROM = ("switch", "after_termination")

#: The math symbols of the released construction (the authors' code, sdc17/SwiReasoning): each is encoded without
#: special tokens and every id of its encoding is a math token, so a symbol spelled in several tokens contributes all
#: its pieces (``\\begin{pmatrix}`` adds every token of its encoding). Encoded bare, so the space-prefixed tokens
#: (``" +"``) are not in the set, and neither are ``.`` and ``,``.
RELEASED_MATH_SYMBOLS: tuple[str, ...] = (
    # operators and relations
    "+",
    "-",
    "*",
    "/",
    "^",
    "_",
    "=",
    "<",
    ">",
    "|",
    "\\leq",
    "\\geq",
    "\\neq",
    "\\approx",
    "\\sim",
    "\\equiv",
    "\\to",
    "\\implies",
    "\\iff",
    "\\mid",
    "\\vert",
    "\\Vert",
    "\\cdot",
    "\\ast",
    "\\star",
    "\\circ",
    "\\perp",
    "\\parallel",
    "\\angle",
    # logic and sets
    "\\in",
    "\\notin",
    "\\subset",
    "\\supset",
    "\\subseteq",
    "\\supseteq",
    "\\cup",
    "\\cap",
    "\\emptyset",
    "\\varnothing",
    "\\because",
    "\\therefore",
    "\\forall",
    "\\exists",
    "\\wedge",
    "\\vee",
    "\\neg",
    # brackets and delimiters
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "\\left",
    "\\right",
    "\\left(",
    "\\right)",
    "\\left[",
    "\\right]",
    "\\left\\{",
    "\\right\\}",
    "\\lceil",
    "\\rceil",
    "\\lfloor",
    "\\rfloor",
    "\\begin{pmatrix}",
    "\\end{pmatrix}",
    # constructs and fonts
    "\\frac",
    "\\dfrac",
    "\\sqrt",
    "\\sqrt[]",
    "\\binom",
    "\\choose",
    "\\boxed",
    "\\overline",
    "\\underline",
    "\\mathbb",
    "\\mathbf",
    "\\mathrm",
    "\\text",
    "\\mbox",
    "\\operatorname",
    "\\sum",
    "\\prod",
    "\\int",
    "\\lim",
    "\\dots",
    "\\ldots",
    "\\cdots",
    "\\vdots",
    "\\ddots",
    # constants, Greek letters, shapes
    "\\infty",
    "\\prime",
    "\\pi",
    "\\theta",
    "\\alpha",
    "\\beta",
    "\\gamma",
    "\\delta",
    "\\epsilon",
    "\\zeta",
    "\\lambda",
    "\\mu",
    "\\nu",
    "\\triangle",
    "\\triangleleft",
    "\\triangleright",
    # functions
    "\\sin",
    "\\cos",
    "\\tan",
    "\\cot",
    "\\cotg",
    "\\sec",
    "\\csc",
    "\\arcsin",
    "\\arccos",
    "\\arctan",
    "\\log",
    "\\ln",
    "\\exp",
    "\\min",
    "\\max",
    "\\arg",
    "\\deg",
    "\\gcd",
    # digits and ASCII letters
    *"0123456789",
    *"abcdefghijklmnopqrstuvwxyz",
    *"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
)

#: Text of a "math" token of the `"pattern"` set, stripped of surrounding whitespace: a LaTeX command, a run of digits
#: and operators, or a single letter (a variable).
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
            count to C … 2C the convergence string is fed; beyond 2C the termination string is fed and the sequence
            stops when its answer budget is spent (`answer_budget`, `answer_budget_from`).
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
            Length of the answer after the termination string is triggered; how it is counted is
            `answer_budget_from`. At least 1 with ``"switch"``, at least 0 with ``"after_termination"``.
        answer_budget_from (`str`, *optional*, defaults to `"switch"`):
            `"switch"` (the released code): the sequence records `answer_budget` tokens from the termination switch
            step on, that step and the termination string included, then stops (32: it stops 31 steps after the
            switch). `"after_termination"`: it records the whole termination string, then `answer_budget` more tokens.
        math_override (`bool`, *optional*, defaults to `True`):
            A sampled math token (see `math_tokens`) forces that one step explicit: the token's embedding is fed
            instead of the soft embedding, the mode is unchanged.
        math_tokens (`str`, *optional*, defaults to `"released"`):
            Which token ids are math tokens. `"released"` (the released code): every id of the encodings of
            `RELEASED_MATH_SYMBOLS` (operators, relations, brackets, LaTeX commands, digits, ASCII letters), each
            symbol encoded bare; on a byte-level BPE vocabulary this leaves out the space-prefixed forms (``" +"``)
            and the punctuation ``.`` and ``,``. `"pattern"`: every vocabulary token whose decoded text, stripped of
            whitespace, is a LaTeX command, a run of digits and operators (``.`` and ``,`` included) or a single
            letter (`is_math_text`; special tokens excluded).
        math_token_ids (`list[int]`, *optional*):
            Explicit set of math token ids, instead of the set `math_tokens` builds from the tokenizer.
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
    answer_budget_from: str = "switch"
    math_override: bool = True
    math_tokens: str = "released"
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
        check_number(self, "alpha0", low=0.0, high=1.0)
        check_number(self, "beta0", low=0.0, high=1.0)
        check_optional_int(self, "window_size", low=1)
        check_optional_int(self, "max_switch_count", low=1)
        check_str(self, "think_token")
        check_str(self, "end_think_token")
        if self.think_token == self.end_think_token:
            raise ValueError(f"`think_token` and `end_think_token` must differ, both are {self.think_token!r}.")
        check_str(self, "convergence_string", allow_none=True)
        check_str(self, "termination_string", allow_none=True)
        check_choice(self, "answer_budget_from", ANSWER_BUDGET_FROM)
        check_int(self, "answer_budget", low=0)
        if self.answer_budget == 0 and self.answer_budget_from == "switch":
            raise ValueError(
                "`answer_budget` must be >= 1 with `answer_budget_from='switch'` (it counts the switch step), got 0; "
                "`answer_budget_from='after_termination'` with 0 stops right after the termination string."
            )
        check_bool(self, "math_override")
        check_choice(self, "math_tokens", MATH_TOKEN_SETS)
        check_bool(self, "do_sample")
        if self.math_token_ids is not None:
            ids = self.math_token_ids
            if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
                raise ValueError(f"`math_token_ids` must be a list of non-negative ints or None, got {ids!r}.")
            ids = list(ids)
            if any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in ids):
                raise ValueError(f"`math_token_ids` must be a list of non-negative ints or None, got {ids!r}.")
            self.math_token_ids = ids
        check_choice(self, "start_mode", START_MODES)
        check_number(self, "initial_soft_weight", low=0.0, high=1.0)
        check_str(self, "initial_mix_token", allow_none=True)
        check_number(self, "temperature", low=0.0, low_open=True)
        check_number(self, "top_p", low=0.0, high=1.0, low_open=True)
        check_optional_int(self, "top_k", low=0)
        check_optional_number(self, "min_p", low=0.0, high=1.0)
        check_optional_int(self, "seed", low=0, high=2**64 - 1)

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


def released_math_token_ids(tokenizer: Any) -> list[int]:
    """Ids of the released construction: the union of the encodings of `RELEASED_MATH_SYMBOLS`, each symbol encoded
    bare (no special tokens), every id of a multi-token encoding kept; sorted."""
    ids: set[int] = set()
    for symbol in RELEASED_MATH_SYMBOLS:
        ids.update(int(i) for i in tokenizer.encode(symbol, add_special_tokens=False))
    return sorted(ids)


def pattern_math_token_ids(tokenizer: Any) -> list[int]:
    """Ids of the vocabulary tokens whose decoded text is math (`is_math_text`); special tokens excluded."""
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))], skip_special_tokens=False)
    return [i for i, text in enumerate(texts) if i not in special and is_math_text(text)]


_MATH_TOKEN_BUILDERS = {"released": released_math_token_ids, "pattern": pattern_math_token_ids}


def math_token_ids(tokenizer: Any, math_tokens: str = "released") -> list[int]:
    """The tokenizer's math token ids, built as `math_tokens` says (`"released"` or `"pattern"`; see
    `SwiReasoningConfig.math_tokens`).

    Cached per tokenizer while it lives (the `"pattern"` set decodes the whole vocabulary).
    """
    check_choice(None, "math_tokens", MATH_TOKEN_SETS, value=math_tokens)
    size = len(tokenizer)
    cacheable = hasattr(type(tokenizer), "__weakref__")
    cached = _MATH_IDS_CACHE.setdefault(tokenizer, {}) if cacheable else {}
    if math_tokens in cached and cached[math_tokens][0] == size:
        return cached[math_tokens][1]
    ids = _MATH_TOKEN_BUILDERS[math_tokens](tokenizer)
    cached[math_tokens] = (size, ids)
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
        math_ids = math_token_ids(tokenizer, config.math_tokens)
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
