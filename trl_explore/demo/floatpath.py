"""Floating-point paths of the demo's worker processes: the same run with another rounding of every sum.

A demo run is deterministic on one machine and thread layout, but not across CPUs: torch's CPU kernels (softmax,
reductions, norms) are vectorised for the widest instruction set the CPU has, and a different vector width adds the
same numbers in another order. Over many optimizer steps of sampling, that last-bit difference grows into different
samples and different end-of-run numbers (three verdict items once flipped between two machines). `--float-path` reruns
the demo as another CPU would, on this one:

| name | what the worker processes get | mimics |
|---|---|---|
| `default` | nothing changed | this CPU |
| `avx2` | ``ATEN_CPU_CAPABILITY=avx2``, ``MKL_CBWR=AVX2`` | a CPU without AVX-512 (differs on an AVX-512 CPU) |
| `scalar` | ``ATEN_CPU_CAPABILITY=default``, ``MKL_CBWR=COMPATIBLE`` | no SIMD (slower; differs on any x86 CPU) |

``ATEN_CPU_CAPABILITY`` can only lower the capability: on a CPU whose best is AVX2, `avx2` is the `default` path (use
`scalar`); ``torch.backends.cpu.get_cpu_capability()`` names this CPU's. Torch reads it when its first kernel runs,
so the variables are set for the worker processes at their start (a non-default path always uses worker processes).
Worker threads 1 vs 2 are not a perturbation here: at the toy model's sizes torch splits no kernel across threads,
and the logits and gradients of the warm-started model (a forward and backward pass on 64 sequences of 60 tokens) came
out bit-identical with 1 and 2 threads, while `avx2` changed both on an AVX-512 CPU.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

FLOAT_PATHS: dict[str, dict[str, str]] = {
    "default": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"},
    "scalar": {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"},
}
"""Environment variables each float path sets for the worker processes."""


def check_float_path(name: str) -> str:
    """`name` when it is a key of `FLOAT_PATHS`, else a `ValueError` naming the valid ones."""
    if not isinstance(name, str) or name not in FLOAT_PATHS:
        raise ValueError(f"`float_path` must be one of {', '.join(FLOAT_PATHS)}, got {name!r}.")
    return name


@contextlib.contextmanager
def float_path_environment(name: str) -> Iterator[None]:
    """Set the float path's environment variables in this process for the block (child processes started inside it
    inherit them) and put the previous values back afterwards."""
    env = FLOAT_PATHS[check_float_path(name)]
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
