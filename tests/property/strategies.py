"""Shared hypothesis strategies for the property suites: tensors (with ties, extremes and empty shapes), masks (random,
fully masked rows, a single valid token), dtypes, and grouped rewards in TRL's layout."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# fp32 and bf16 are what trainers feed; float64 is what the references use
LOW_PRECISION = (torch.float32, torch.bfloat16)
float_dtypes = st.sampled_from(LOW_PRECISION)


def floats32(low: float, high: float) -> st.SearchStrategy[float]:
    """Finite float32-representable values in ``[low, high]`` (0, the ends and repeats included by hypothesis)."""
    lo, hi = np.float32(low), np.float32(high)
    if float(lo) < low:  # round the bounds inwards to float32
        lo = np.nextafter(lo, np.float32(np.inf))
    if float(hi) > high:
        hi = np.nextafter(hi, np.float32(-np.inf))
    return st.floats(float(lo), float(hi), allow_nan=False, allow_infinity=False, width=32)


def tensors(shape, low: float = -30.0, high: float = 30.0, unique: bool = False) -> st.SearchStrategy[torch.Tensor]:
    """A float32 tensor of ``shape`` with values in ``[low, high]`` (``unique``: no two entries equal)."""
    return hnp.arrays(np.float32, shape, elements=floats32(low, high), unique=unique).map(
        lambda a: torch.from_numpy(np.ascontiguousarray(a)).clone()
    )


def int_tensors(shape, low: int, high: int) -> st.SearchStrategy[torch.Tensor]:
    return hnp.arrays(np.int64, shape, elements=st.integers(low, high)).map(
        lambda a: torch.from_numpy(np.ascontiguousarray(a)).clone()
    )


@st.composite
def masks(draw, shape, kind: str | None = None) -> torch.Tensor:
    """A bool mask of ``shape``: random, all true, all false, one fully masked row, or a single valid entry."""
    kind = kind or draw(st.sampled_from(["random", "all", "none", "masked_row", "single"]))
    n = int(np.prod(shape)) if len(shape) else 1
    if kind == "all":
        return torch.ones(shape, dtype=torch.bool)
    if kind == "none" or n == 0:
        return torch.zeros(shape, dtype=torch.bool)
    if kind == "single":
        mask = torch.zeros(n, dtype=torch.bool)
        mask[draw(st.integers(0, n - 1))] = True
        return mask.view(shape)
    mask = torch.from_numpy(draw(hnp.arrays(np.bool_, shape))).clone()
    if kind == "masked_row" and len(shape) >= 2 and shape[0] > 0:
        mask[draw(st.integers(0, shape[0] - 1))] = False
    return mask


@st.composite
def grouped_rewards(
    draw, max_groups: int = 5, min_g: int = 2, max_g: int = 8, values=None, allow_empty: bool = True
) -> tuple[torch.Tensor, int]:
    """``([P·G] float32 rewards, G)`` laid out like TRL (each prompt's G completions consecutive)."""
    g = draw(st.integers(min_g, max_g))
    p = draw(st.integers(0 if allow_empty else 1, max_groups))
    values = values if values is not None else st.one_of(st.sampled_from([0.0, 0.2, 1.0, 1.2]), floats32(-5.0, 5.0))
    rewards = draw(hnp.arrays(np.float32, (p * g,), elements=values))
    return torch.from_numpy(np.ascontiguousarray(rewards)).clone(), g


def group_permutation(num_groups: int, g: int, group_order: list[int], within: list[list[int]]) -> torch.Tensor:
    """Flat index permutation that reorders whole groups (``group_order``) and the members of each (``within``)."""
    idx = []
    for new_pos, old_group in enumerate(group_order):
        idx.extend(old_group * g + j for j in within[new_pos])
    return torch.tensor(idx, dtype=torch.long)


@st.composite
def group_permutations(draw, num_groups: int, g: int) -> torch.Tensor:
    order = draw(st.permutations(range(num_groups)))
    within = [draw(st.permutations(range(g))) for _ in range(num_groups)]
    return group_permutation(num_groups, g, list(order), [list(w) for w in within])
