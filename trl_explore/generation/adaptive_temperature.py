"""HAPO's adaptive temperature sampling (ATS) as a transformers logits processor.

``T_tok = T_base · (1 + τ·h̃)`` per row and decode step, with h̃ the entropy score of the row's distribution at
``T_base`` standardised with the previous training step's statistics (`trl_explore.functional.hapo`). The processor
divides each row's logits by ``1 + τ·h̃``; the temperature / top-k / top-p warpers that transformers builds from the
generation config run after every processor passed to ``generate(logits_processor=...)``, so ``T_base`` and the
truncation stay in the generation config.

vLLM: `trl_explore.generation.vllm_adaptive_temperature` holds the V1 logits processor that does the same per request.
"""

from __future__ import annotations

import math

import torch
from transformers import LogitsProcessor

from .._validation import check_choice, check_number
from ..functional.hapo import HAPO_SIGNS, HapoEntropyStats, hapo_row_temperature_factor

__all__ = ["AdaptiveTemperatureLogitsProcessor"]


class AdaptiveTemperatureLogitsProcessor(LogitsProcessor):
    """Divide each row's logits by ``1 + τ·h̃`` (HAPO Eq. 3).

    Args:
        tau (`float`):
            τ in ``[0, 1)`` (released code 0.05, paper 0.1). ``0`` leaves the logits unchanged.
        stats (`HapoEntropyStats` or 4-tuple):
            ``(pivot, rms, pos_max, neg_min)`` of the log-entropies of the previous training step.
        temperature (`float`, *optional*, defaults to `1.0`):
            T_base of the generation config; the row entropy is taken at this temperature, like the training side's.
        sign (`str`, *optional*, defaults to `"paper"`):
            ``"paper"`` (h̃ in [−1, 1]) or ``"released"``.
        entropy_temperature (`float` or `None`, *optional*, defaults to `None`):
            Temperature of the row entropy: ``None`` takes ``temperature`` (T_base); ``1.0`` takes the raw logits, as
            the released HAPO code does (identical at T_base = 1).

    The effective temperatures ``T_base · (1 + τ·h̃)`` of every row of every decode step are accumulated on the
    logits' device (no host synchronisation per step); `temperature_stats` reads them.
    """

    def __init__(
        self,
        tau: float,
        stats: HapoEntropyStats | tuple[float, float, float, float],
        temperature: float = 1.0,
        sign: str = "paper",
        entropy_temperature: float | None = None,
    ) -> None:
        self.tau = check_number(None, "tau", value=tau, low=0.0, high=1.0, high_open=True)
        self.temperature = check_number(None, "temperature", value=temperature, low=0.0, low_open=True)
        self.sign = check_choice(None, "sign", HAPO_SIGNS, value=sign)
        self.entropy_temperature = (
            self.temperature
            if entropy_temperature is None
            else check_number(None, "entropy_temperature", value=entropy_temperature, low=0.0, low_open=True)
        )
        if len(tuple(stats)) != 4 or not all(math.isfinite(float(v)) for v in stats):
            raise ValueError(f"`stats` must be 4 finite numbers (pivot, rms, pos_max, neg_min), got {stats!r}.")
        self.stats = HapoEntropyStats(*(float(v) for v in stats))
        if self.stats.rms <= 0:
            raise ValueError(f"`stats.rms` must be > 0, got {self.stats.rms}.")
        self._running: torch.Tensor | None = None  # [sum, count, min, max] of the effective temperatures

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        factor = hapo_row_temperature_factor(scores, self.stats, self.tau, self.entropy_temperature, self.sign)  # [N]
        effective = factor.double() * self.temperature
        step = torch.stack([effective.sum(), effective.new_tensor(effective.numel()), effective.min(), effective.max()])
        if self._running is None:
            self._running = step
        else:
            running = self._running
            self._running = torch.stack(
                [
                    running[0] + step[0],
                    running[1] + step[1],
                    torch.minimum(running[2], step[2]),
                    torch.maximum(running[3], step[3]),
                ]
            )
        return scores / factor.to(scores.dtype).unsqueeze(-1)

    def temperature_stats(self) -> tuple[float, float, float, float]:
        """``(sum, count, min, max)`` of the effective temperatures so far (``(0, 0, inf, -inf)`` before any step)."""
        if self._running is None:
            return 0.0, 0.0, math.inf, -math.inf
        total, count, low, high = self._running.tolist()
        return total, count, low, high
