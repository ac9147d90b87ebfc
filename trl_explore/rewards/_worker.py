"""Verification worker: a disposable process that grades answer pairs symbolically.

Started by :mod:`trl_explore.rewards._pool` as ``python -c "...; from trl_explore.rewards._worker import main; main()"``.
Protocol: one JSON object per line. The worker first writes ``{"ready": true}`` (after importing sympy and latex2sympy2,
so import time never eats into a task's deadline), then answers each task line
``{"id", "pred", "gold", "rel_tol", "limits", "timeout"}`` with ``{"id", "equal", "status", "detail"}``.

The parent kills the worker when a task passes its deadline; as a second line of defence a watchdog thread exits the
worker when a task runs far past its deadline or when the parent process disappears. Address-space size is capped with
``RLIMIT_AS`` so that a memory bomb fails with ``MemoryError`` instead of taking the machine down.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from typing import Any

logger = logging.getLogger(__name__)


def _set_memory_limit(limit_mb: int) -> None:
    if limit_mb <= 0:
        return
    try:
        import resource
    except ImportError:  # pragma: no cover - non-POSIX
        return
    limit = limit_mb * 1024 * 1024
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError) as err:  # pragma: no cover - platform refuses
        logger.warning("could not cap the verification worker's memory: %s", err)


def verify(task: dict[str, Any]) -> dict[str, Any]:
    """Grade one ``(pred, gold)`` pair: normalise, compare structure, decide leaves symbolically."""
    from ._normalize import Limits, NormalizationError, compare, parse_answer, screen
    from ._symbolic import SymbolicRefused, leaf_equal_symbolic

    limits = Limits(**task.get("limits", {}))
    rel_tol = float(task.get("rel_tol", 1e-4))
    for raw in (task["pred"], task["gold"]):
        reason = screen(raw, limits)
        if reason is not None:
            return {"equal": False, "status": "rejected", "detail": reason}
    try:
        pred = parse_answer(task["pred"], limits)
        gold = parse_answer(task["gold"], limits)
    except NormalizationError as err:
        return {"equal": False, "status": "unparsable", "detail": str(err)}
    refused: list[str] = []

    def leaf_eq(a: Any, b: Any) -> bool:
        try:
            return leaf_equal_symbolic(a, b, rel_tol)
        except SymbolicRefused as err:
            refused.append(err.reason)
            return False

    equal = compare(pred, gold, leaf_eq)
    status = "ok" if equal or not refused else refused[0]
    return {"equal": bool(equal), "status": status, "detail": ""}


_WARMUP = (
    ("(x+1)^2", "x^2+2x+1"),
    ("\\sin^2 x + \\cos^2 x", "1"),
    ("\\frac{\\sqrt{2}}{2}", "0.7071"),
    ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "(1, \\sqrt{4})"),
)


class _Watchdog(threading.Thread):
    """Exits the process when the parent dies or when a task overruns its hard limit (the parent normally kills
    the worker long before that; this covers a dead or stuck parent)."""

    def __init__(self, parent_pid: int) -> None:
        super().__init__(daemon=True, name="trl-explore-verifier-watchdog")
        self.parent_pid = parent_pid
        self.task_deadline: float | None = None

    def run(self) -> None:
        while True:
            time.sleep(0.25)
            if self.parent_pid and os.getppid() != self.parent_pid:
                os._exit(3)
            deadline = self.task_deadline
            if deadline is not None and time.monotonic() > deadline:
                os._exit(4)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--memory-limit-mb", type=int, default=0)
    parser.add_argument("--parent-pid", type=int, default=0)
    args = parser.parse_args(argv)

    # The protocol owns the original stdout; anything a library prints goes to stderr instead.
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    _set_memory_limit(args.memory_limit_mb)
    watchdog = _Watchdog(args.parent_pid)
    watchdog.start()

    import warnings

    warnings.filterwarnings("ignore")
    from . import _symbolic  # noqa: F401 - warm the sympy / latex2sympy2 import before announcing readiness

    # Warm sympy's lazy imports and caches (the first simplify() in a process takes ~0.6 s, the next ~0.05 s) so
    # that a task's deadline measures the task, not the process start-up.
    watchdog.task_deadline = time.monotonic() + 60.0
    for pred, gold in _WARMUP:
        verify({"pred": pred, "gold": gold})
    watchdog.task_deadline = None

    channel.write(json.dumps({"ready": True}) + "\n")
    channel.flush()
    stdin = sys.stdin.buffer
    while True:
        line = stdin.readline()
        if not line:
            break
        msg = json.loads(line)
        if msg.get("cmd") == "exit":
            break
        timeout = float(msg.get("timeout", 2.0))
        watchdog.task_deadline = time.monotonic() + 2 * timeout + 5.0
        try:
            result = verify(msg)
        # Third-party symbolic code (sympy simplification, latex2sympy2 converters) raises many unrelated exception
        # types on adversarial input (PolynomialError, CoercionFailed, NotImplementedError, TypeError, RecursionError,
        # MemoryError ...). The worker must answer every task, so it reports the failure (scored 0, counted as
        # "error" by the parent) instead of dying.
        except Exception as err:  # noqa: BLE001 - see comment above
            result = {"equal": False, "status": "error", "detail": f"{type(err).__name__}: {str(err)[:200]}"}
        watchdog.task_deadline = None
        result["id"] = msg.get("id")
        channel.write(json.dumps(result) + "\n")
        channel.flush()


if __name__ == "__main__":  # pragma: no cover
    main()
