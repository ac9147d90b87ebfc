"""Unbiased pass@k estimator (Chen et al., 2021, "Evaluating Large Language Models Trained on Code", eq. 1)."""

from __future__ import annotations

from typing import Any

import numpy as np


def _pass_at_k_scalar(n: int, c: int, k: int) -> float:
    """``1 - C(n-c, k) / C(n, k)`` in the stable product form ``1 - prod_{i=n-c+1}^{n} (1 - k / i)``."""
    if n - c < k:
        return 1.0
    i = np.arange(n - c + 1, n + 1, dtype=np.float64)
    return float(1.0 - np.prod(1.0 - k / i))


def pass_at_k(n: Any, c: Any, k: int) -> Any:
    """Unbiased estimate of pass@k from ``n`` samples of which ``c`` are correct.

    pass@k = 1 − C(n − c, k) / C(n, k), computed as 1 − ∏_{i = n−c+1}^{n} (1 − k / i), which never forms the (huge)
    binomial coefficients and so stays exact to float64 rounding for any n.

    Args:
        n (`int` or array-like of `int`):
            Number of samples drawn per problem.
        c (`int` or array-like of `int`):
            Number of correct samples per problem (same shape as `n`, or broadcastable).
        k (`int`):
            The k of pass@k, `1 <= k <= n`.

    Returns:
        `float` when `n` and `c` are scalars, else a float64 `numpy.ndarray` of per-problem estimates (average it for the
        dataset-level pass@k).

    Raises:
        ValueError: if `c` is outside `[0, n]` or `k` is outside `[1, n]`.
    """
    n_arr = np.asarray(n)
    c_arr = np.asarray(c)
    if not (np.issubdtype(n_arr.dtype, np.integer) or n_arr.dtype == bool) and not np.all(n_arr == np.floor(n_arr)):
        raise ValueError(f"`n` must hold integers, got {n!r}.")
    if not (np.issubdtype(c_arr.dtype, np.integer) or c_arr.dtype == bool) and not np.all(c_arr == np.floor(c_arr)):
        raise ValueError(f"`c` must hold integers, got {c!r}.")
    n_arr, c_arr = np.broadcast_arrays(n_arr.astype(np.int64), c_arr.astype(np.int64))
    if int(k) != k:
        raise ValueError(f"`k` must be an integer, got {k!r}.")
    k = int(k)
    if np.any(c_arr < 0) or np.any(c_arr > n_arr):
        raise ValueError(f"`c` must satisfy 0 <= c <= n, got n={n!r}, c={c!r}.")
    if k < 1 or np.any(k > n_arr):
        raise ValueError(f"`k` must satisfy 1 <= k <= n, got k={k} with n={n!r}.")
    if n_arr.ndim == 0:
        return _pass_at_k_scalar(int(n_arr), int(c_arr), k)
    flat = [_pass_at_k_scalar(int(ni), int(ci), k) for ni, ci in zip(n_arr.ravel(), c_arr.ravel())]
    return np.asarray(flat, dtype=np.float64).reshape(n_arr.shape)
