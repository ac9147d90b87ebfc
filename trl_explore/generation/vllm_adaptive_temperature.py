"""HAPO's adaptive temperature as a vLLM V1 logits processor (vLLM 0.22 - 0.31, the range TRL 1.16 supports).

Registered through the ``vllm.logits_processors`` entry point of this package, so every vLLM engine started in an
environment where ``trl_explore`` is installed loads it: in colocate mode TRL builds ``LLM(...)`` itself, and this is
the only way in. It is a **no-op** for every request that does not carry its arguments; `ExploreGRPOTrainer`'s HAPO
component puts them in ``SamplingParams.extra_args`` (colocate) or in the request's ``vllm_xargs`` (server), as flat
scalars:

``hapo_tau``, ``hapo_temperature`` (T_base), ``hapo_pivot``, ``hapo_rms``, ``hapo_pos_max``, ``hapo_neg_min`` and
``hapo_sign`` (``0`` paper, ``1`` released).

Server mode needs no flag when ``trl_explore`` is installed in the server's environment (the entry point is loaded
automatically); otherwise start it with ``vllm serve ... --logits-processors
trl_explore.generation.vllm_adaptive_temperature:HapoAdaptiveTemperature``.

vLLM calls non-argmax-invariant processors on the raw logits, before its temperature, min-p, top-k and top-p: the
processor divides each participating row by ``1 + τ·h̃`` and vLLM then applies T_base.
"""

from __future__ import annotations

from typing import Any

import torch
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor, MoveDirectionality

from ..functional.hapo import HAPO_SIGNS, HapoEntropyStats, hapo_row_temperature_factor

__all__ = ["EXTRA_ARG_KEYS", "HapoAdaptiveTemperature", "request_arguments"]

# The per-request arguments, all flat scalars (vLLM's server accepts str / int / float in `vllm_xargs`)
EXTRA_ARG_KEYS = ("hapo_tau", "hapo_temperature", "hapo_pivot", "hapo_rms", "hapo_pos_max", "hapo_neg_min", "hapo_sign")


def request_arguments(
    tau: float, temperature: float, stats: HapoEntropyStats, sign: str = "paper"
) -> dict[str, float | int]:
    """The extra arguments of one rollout request (what the trainer's HAPO component sends)."""
    return {
        "hapo_tau": float(tau),
        "hapo_temperature": float(temperature),
        "hapo_pivot": float(stats.pivot),
        "hapo_rms": float(stats.rms),
        "hapo_pos_max": float(stats.pos_max),
        "hapo_neg_min": float(stats.neg_min),
        "hapo_sign": HAPO_SIGNS.index(sign),
    }


def _parse(extra_args: dict[str, Any] | None) -> tuple[float, float, HapoEntropyStats, str] | None:
    """``(tau, temperature, stats, sign)`` of a request, or ``None`` when it carries no HAPO arguments."""
    if not extra_args or "hapo_tau" not in extra_args:
        return None
    missing = [key for key in EXTRA_ARG_KEYS if key not in extra_args]
    if missing:
        raise ValueError(f"HAPO adaptive temperature: request extra_args lack {missing}.")
    stats = HapoEntropyStats(
        float(extra_args["hapo_pivot"]),
        float(extra_args["hapo_rms"]),
        float(extra_args["hapo_pos_max"]),
        float(extra_args["hapo_neg_min"]),
    )
    sign = HAPO_SIGNS[int(extra_args["hapo_sign"])]
    return float(extra_args["hapo_tau"]), float(extra_args["hapo_temperature"]), stats, sign


class HapoAdaptiveTemperature(LogitsProcessor):
    """vLLM V1 logits processor: per participating request, ``logits /= 1 + τ·h̃`` (HAPO ATS)."""

    @classmethod
    def validate_params(cls, sampling_params: Any) -> None:
        settings = _parse(getattr(sampling_params, "extra_args", None))
        if settings is not None and not 0.0 <= settings[0] < 1.0:
            raise ValueError(f"hapo_tau must be in [0, 1), got {settings[0]}.")

    def __init__(self, vllm_config: Any, device: torch.device, is_pin_memory: bool) -> None:
        self.device = device
        self.requests: dict[int, tuple[float, float, HapoEntropyStats, str]] = {}
        # rows grouped by their settings (one group per training step in practice), rebuilt when the batch changes
        self._groups: list[tuple[tuple[float, float, HapoEntropyStats, str], torch.Tensor]] = []

    def is_argmax_invariant(self) -> bool:
        # a per-row positive scale keeps the argmax, but vLLM must still call it for sampled requests; declaring
        # False keeps it on the path that runs before temperature for every request
        return False

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        if batch_update is None:
            return
        for index in batch_update.removed:
            self.requests.pop(index, None)
        for index, params, *_ in batch_update.added:
            settings = _parse(getattr(params, "extra_args", None))
            if settings is None:
                self.requests.pop(index, None)
            else:
                self.requests[index] = settings
        for first, second, direction in batch_update.moved:
            a, b = self.requests.pop(first, None), self.requests.pop(second, None)
            if a is not None:
                self.requests[second] = a
            if b is not None and direction == MoveDirectionality.SWAP:
                self.requests[first] = b
        grouped: dict[tuple[float, float, HapoEntropyStats, str], list[int]] = {}
        for index, settings in self.requests.items():
            grouped.setdefault(settings, []).append(index)
        self._groups = [
            (settings, torch.tensor(sorted(rows), dtype=torch.long, device=self.device))
            for settings, rows in grouped.items()
        ]

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        for (tau, temperature, stats, sign), rows in self._groups:
            selected = logits[rows]
            factor = hapo_row_temperature_factor(selected, stats, tau, temperature, sign)
            logits[rows] = selected / factor.to(selected.dtype).unsqueeze(-1)
        return logits
