"""Configuration of [`FourierSFTTrainer`] (Fourier head, Gillman et al., ICLR 2025, arXiv 2410.22269)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from trl import SFTConfig

from .._device import resolve_precision
from .._validation import changed_fields, check_choice, check_int, check_number
from ..modules.fourier_head import check_nyquist

logger = logging.getLogger(__name__)

__all__ = ["FourierSFTConfig"]

HEAD_MODES = ("hybrid", "full")


@dataclass
class FourierSFTConfig(SFTConfig):
    r"""
    Configuration class for [`FourierSFTTrainer`].

    [`FourierSFTConfig`] inherits every parameter of [`~trl.SFTConfig`] and adds the Fourier head of "Fourier Head:
    Helping Large Language Models Learn Complex Probability Distributions" (arXiv 2410.22269): the training loss is

        loss = SFT loss + γ · ∫|f′|²   (γ · 2 · mean_rows Σ_k 2π² k² |c_k|², summed over the model's Fourier heads)

    With `fourier_head_number_tokens` the trainer attaches a numeric-token Fourier head to the model
    ([`~trl_explore.modules.numeric_head.attach_numeric_head`]); otherwise the model must already contain one or more
    [`~trl_explore.modules.fourier_head.FourierHead`] modules.

    Parameters:
        fourier_head_number_tokens (`list[str]` or `None`, *optional*, defaults to `None`):
            Ordered number tokens (lowest value first), each a single token of the tokenizer, e.g. the digits
            `["0", ..., "9"]`. When set, the trainer replaces the LM head by a `FourierNumericHead` over them before
            PEFT wraps the model (the head joins `modules_to_save`). At least 2, distinct.
        fourier_head_num_frequencies (`int`, *optional*, defaults to `4`):
            Frequencies N of the attached head. Must be `>= 1` and, with number tokens, below the Nyquist limit
            `N < len(fourier_head_number_tokens) / 2` (so at least 2N + 1 tokens; the digits allow N <= 4).
        fourier_head_mode (`str`, *optional*, defaults to `"hybrid"`):
            `"hybrid"` (the LM head keeps the number group's total mass, the Fourier density shapes it) or `"full"`
            (only number tokens can be emitted, bins as classes).
        fourier_head_regularization_gamma (`float`, *optional*, defaults to `1e-6`):
            Weight γ of the smoothness penalty, applied to every Fourier head in the model (the paper's value is
            `1e-6`; `0.0` trains with the plain SFT loss). Must be a finite number `>= 0`.
    """

    fourier_head_number_tokens: list[str] | None = field(
        default=None,
        metadata={"help": "Ordered number tokens of a numeric Fourier head to attach (e.g. the digits 0-9)."},
    )
    fourier_head_num_frequencies: int = field(
        default=4, metadata={"help": "Fourier frequencies N of the attached numeric head."}
    )
    fourier_head_mode: str = field(
        default="hybrid", metadata={"help": "Numeric head mode: 'hybrid' or 'full'.", "choices": list(HEAD_MODES)}
    )
    fourier_head_regularization_gamma: float = field(
        default=1e-6, metadata={"help": "Weight of the smoothness penalty gamma * int |f'|^2 (paper: 1e-6)."}
    )

    def __post_init__(self):
        resolve_precision(self)
        super().__post_init__()
        tokens = self.fourier_head_number_tokens
        if tokens is not None:
            if not isinstance(tokens, (list, tuple)) or not all(isinstance(t, str) for t in tokens):
                raise ValueError(f"`fourier_head_number_tokens` must be a list of strings or None, got {tokens!r}.")
            if len(tokens) < 2 or len(set(tokens)) != len(tokens):
                raise ValueError(
                    f"`fourier_head_number_tokens` must hold at least 2 distinct tokens, got {list(tokens)!r}."
                )
            self.fourier_head_number_tokens = list(tokens)
        check_int(self, "fourier_head_num_frequencies", low=1)
        if tokens is not None:
            check_nyquist(
                self.fourier_head_num_frequencies,
                len(tokens),
                ("fourier_head_num_frequencies", "len(fourier_head_number_tokens)"),
            )
        check_choice(self, "fourier_head_mode", HEAD_MODES)
        check_number(self, "fourier_head_regularization_gamma", low=0.0)
        if tokens is None:
            ignored = changed_fields(self, ["fourier_head_num_frequencies", "fourier_head_mode"])
            if ignored:
                logger.warning(
                    "%s set but `fourier_head_number_tokens` is not: no head is attached, so it has no effect (the "
                    "model's own FourierHead modules keep their settings).",
                    ", ".join(f"`{f}`" for f in ignored),
                )
