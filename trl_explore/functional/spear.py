"""SPEAR: Self-imitation with Progressive Exploration for Agentic RL (Qin et al., arXiv 2509.22601).

Objective (Sec. 3): ``J = J_GRPO(on-policy) + γ(t) · J_SIL(replay)``, both the clipped PPO surrogate; the reward is
``R = R_outcome + μ(t) · R_toolcall``. The pieces of math, ``t`` the global step:

* SIL weight, a cosine warm-up::

      γ(t) = c · (1 - cos(π t / T_γ)) / 2    for t <= T_γ,   c afterwards          (c = 1, T_γ = 200 / 300)

* tool-call reward weight, a cosine decay (schedules ``none``: 0, ``constant``: 1, ``cosine``)::

      μ(t) = (1 + cos(π t / T_μ)) / 2        for t <= T_μ,   0 afterwards          (T_μ = 200)

* tool-call reward ``R_toolcall = min(cap, per_call · n_calls)`` (``cap = 1``, ``per_call = 0.1``);
* replay advantage recalibration against ``P50(D_R)``, the median of the recent group-mean rewards::

      Ã = R - P50(D_R)        ("p50", default; no std division)
      Ã = w · Â               ("decay": the advantage at collection time, scaled)

  and only entries with ``Ã >= 0`` are replayed;
* the replay subset size is a power of two: `power_of_two_floor`, spread over processes by `replay_allocation`.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "RECALIBRATIONS",
    "TOOLCALL_SCHEDULES",
    "median",
    "power_of_two_floor",
    "recalibrated_advantages",
    "replay_allocation",
    "sil_weight",
    "toolcall_reward_value",
    "toolcall_weight",
]

RECALIBRATIONS = ("p50", "decay")
TOOLCALL_SCHEDULES = ("none", "constant", "cosine")


def _check_step(step: int) -> None:
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"`step` must be an integer >= 0, got {step!r}.")


def sil_weight(step: int, coef: float = 1.0, warmup_steps: int = 200) -> float:
    """γ(t) = c·(1 - cos(π t / T_γ))/2 for t <= T_γ, else c (SPEAR Sec. 3.3). ``warmup_steps = 0``: c from the start.

    Example: c = 1, T_γ = 200: γ(0) = 0, γ(100) = 0.5, γ(200) = γ(500) = 1.
    """
    _check_step(step)
    if isinstance(coef, bool) or not isinstance(coef, (int, float)) or not (math.isfinite(coef) and coef >= 0):
        raise ValueError(f"`coef` must be a finite number >= 0, got {coef!r}.")
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise ValueError(f"`warmup_steps` must be an integer >= 0, got {warmup_steps!r}.")
    if warmup_steps == 0 or step >= warmup_steps:
        return float(coef)
    return float(coef) * (1.0 - math.cos(math.pi * step / warmup_steps)) / 2.0


def toolcall_weight(step: int, schedule: str = "cosine", steps: int = 200) -> float:
    """μ(t) of the tool-call reward (SPEAR Sec. 3.3): ``"none"`` 0, ``"constant"`` 1, ``"cosine"``
    (1 + cos(π t / T_μ))/2 for t <= T_μ, else 0.

    Example: T_μ = 200: μ(0) = 1, μ(100) = 0.5, μ(200) = μ(300) = 0.
    """
    _check_step(step)
    if schedule not in TOOLCALL_SCHEDULES:
        raise ValueError(f"`schedule` must be one of {list(TOOLCALL_SCHEDULES)}, got {schedule!r}.")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"`steps` must be an integer >= 1, got {steps!r}.")
    if schedule == "none":
        return 0.0
    if schedule == "constant":
        return 1.0
    if step >= steps:
        return 0.0
    return (1.0 + math.cos(math.pi * step / steps)) / 2.0


def toolcall_reward_value(num_calls: int, per_call: float = 0.1, cap: float = 1.0) -> float:
    """``R_toolcall = min(cap, per_call · n_calls)`` (SPEAR Sec. 3.3), before the schedule weight μ(t)."""
    if isinstance(num_calls, bool) or not isinstance(num_calls, int) or num_calls < 0:
        raise ValueError(f"`num_calls` must be an integer >= 0, got {num_calls!r}.")
    return min(float(cap), float(per_call) * num_calls)


def median(values: torch.Tensor) -> float:
    """P50 of a 1-D tensor (linear interpolation between the two middle values for an even count), NaN when empty.

    Example: [3, 1, 2] -> 2; [4, 1, 3, 2] -> 2.5.
    """
    if values.dim() != 1:
        raise ValueError(f"`values` must be 1-D, got shape {tuple(values.shape)}.")
    if values.numel() == 0:
        return math.nan
    return float(torch.quantile(values.detach().double().cpu(), 0.5))


def recalibrated_advantages(
    rewards: torch.Tensor,
    advantages: torch.Tensor,
    mode: str = "p50",
    baseline_p50: float | None = None,
    decay: float = 0.1,
) -> torch.Tensor:
    """Replay advantages at the trigger (SPEAR Sec. 3.2): ``"p50"``: ``Ã = R - P50(D_R)``; ``"decay"``: ``Ã = w · Â``.

    Args:
        rewards: ``[E]`` rewards of the buffer entries at collection time.
        advantages: ``[E]`` their on-policy advantages at collection time (``"decay"``).
        mode: ``"p50"`` or ``"decay"``.
        baseline_p50: the median of the baseline buffer (``"p50"``; a finite number).
        decay: ``w`` in ``(0, 1]`` (``"decay"``).

    Returns:
        ``[E]`` float32 recalibrated advantages; entries with ``Ã < 0`` are not replayed (the caller filters).
    """
    if mode not in RECALIBRATIONS:
        raise ValueError(f"`mode` must be one of {list(RECALIBRATIONS)}, got {mode!r}.")
    if rewards.dim() != 1 or advantages.shape != rewards.shape:
        raise ValueError(
            f"`rewards` and `advantages` must be 1-D of one shape, got {tuple(rewards.shape)} and "
            f"{tuple(advantages.shape)}."
        )
    if mode == "p50":
        if baseline_p50 is None or not math.isfinite(baseline_p50):
            raise ValueError(f"`baseline_p50` must be a finite number with mode='p50', got {baseline_p50!r}.")
        return (rewards.double() - baseline_p50).float()
    if not (math.isfinite(decay) and 0 < decay <= 1):
        raise ValueError(f"`decay` must be a finite number in (0, 1], got {decay!r}.")
    return (advantages.double() * decay).float()


def power_of_two_floor(n: int) -> int:
    """The largest power of two ``<= n`` (0 for ``n < 1``). Example: 1 -> 1, 6 -> 4, 8 -> 8, 2047 -> 1024."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise ValueError(f"`n` must be an integer, got {n!r}.")
    return 0 if n < 1 else 1 << (n.bit_length() - 1)


def replay_allocation(available: list[int], max_total: int) -> list[int]:
    """Spread a power-of-two number of replay units over processes (identical on every process).

    ``total = power_of_two_floor(min(Σ available, max_total))`` units are handed out round-robin (process 0, 1, ...,
    one unit per process with units left per round), so shares differ by at most one where availability allows.

    Example: available [5, 1, 3], max_total 16: total = power_of_two_floor(9) = 8; the rounds give [1, 1, 1] (3 units),
    [2, 1, 2] (5), [3, 1, 3] (7), then process 0 takes the 8th: [4, 1, 3].
    """
    if any(isinstance(a, bool) or not isinstance(a, int) or a < 0 for a in available):
        raise ValueError(f"`available` must hold integers >= 0, got {available!r}.")
    if isinstance(max_total, bool) or not isinstance(max_total, int) or max_total < 0:
        raise ValueError(f"`max_total` must be an integer >= 0, got {max_total!r}.")
    total = power_of_two_floor(min(sum(available), max_total))
    shares = [0] * len(available)
    given = 0
    while given < total:
        for p, limit in enumerate(available):
            if given == total:
                break
            if shares[p] < limit:
                shares[p] += 1
                given += 1
    return shares
