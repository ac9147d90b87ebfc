"""A pool of disposable verification processes with a hard per-task wall-clock limit.

Why not ``concurrent.futures.ProcessPoolExecutor``: it cannot kill one hung task (a sympy call stuck in C-level big
integer arithmetic ignores every Python-level interruption), and ``signal.alarm`` only works on the main thread of the
main process. Here every worker is a plain subprocess (``subprocess.Popen``) talking JSON lines over pipes:

* a task past its deadline gets its worker ``SIGKILL``-ed; the task scores 0 and a fresh worker replaces the dead one
  on demand;
* no ``multiprocessing`` start method is involved, so the pool works from any thread, from a ``spawn``/``fork`` child,
  and even from a daemonic ``multiprocessing.Pool`` worker (which may not start ``multiprocessing`` children), and it
  never re-imports the user's ``__main__``;
* workers are created lazily (only as many as there are pending tasks, up to ``max_workers``), reused across calls,
  killed at interpreter exit (``atexit``), forgotten (not killed) in a forked child, and exit by themselves when their
  parent dies.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import selectors
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["VerifierPool", "default_max_workers", "get_pool", "shutdown_pools"]

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The worker imports the very files this process uses: the package root goes on sys.path unless it is there already
# (never ahead of the standard library when the package is installed in site-packages).
_WORKER_CODE = (
    "import sys; root = sys.argv[1]; root in sys.path or sys.path.insert(0, root); "
    "from trl_explore.rewards._worker import main; main(sys.argv[2:])"
)


def default_max_workers() -> int:
    """CPUs available to this process, capped at 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))


class _Worker:
    def __init__(self, memory_limit_mb: int) -> None:
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = "1"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                *(["-P"] if sys.version_info >= (3, 11) else []),  # no current directory on sys.path (no shadowing)
                "-c",
                _WORKER_CODE,
                _PACKAGE_ROOT,
                "--memory-limit-mb",
                str(memory_limit_mb),
                "--parent-pid",
                str(os.getpid()),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
            start_new_session=True,  # a Ctrl-C in the terminal interrupts the trainer, not a worker mid-task
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.fd = self.proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.buffer = b""
        self.ready = False
        self.started = time.monotonic()
        self.task: int | None = None
        self.deadline = 0.0

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode("utf-8"))
        self.proc.stdin.flush()

    def read_messages(self) -> list[dict[str, Any]] | None:
        """Messages available now; `None` at end of file (the worker died)."""
        try:
            chunk = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        if not chunk:
            return None
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        out = []
        for line in lines:
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    logger.warning("verification worker wrote an unreadable line: %r", line[:200])
        return out

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # already gone
                self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - unkillable (D state)
            logger.warning("verification worker %d did not exit after SIGKILL", self.proc.pid)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def close(self) -> None:
        """Ask the worker to exit, then make sure it does."""
        if self.proc.poll() is None:
            try:
                self.send({"cmd": "exit"})
                self.proc.wait(timeout=0.5)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
        self.kill()


class VerifierPool:
    """Runs verification tasks on up to ``max_workers`` worker processes, each under a wall-clock limit.

    Args:
        max_workers (`int`): most worker processes alive at once.
        memory_limit_mb (`int`): address-space cap (``RLIMIT_AS``) of each worker, 0 for none.
        startup_timeout (`float`): seconds a fresh worker may take to import sympy and announce itself.
    """

    def __init__(self, max_workers: int, memory_limit_mb: int = 2048, startup_timeout: float = 120.0) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}.")
        self.max_workers = max_workers
        self.memory_limit_mb = memory_limit_mb
        self.startup_timeout = startup_timeout
        self.counters: Counter[str] = Counter()
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False

    # ---------------------------------------------------------------------------------------------------------------
    def run(self, tasks: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
        """Run ``tasks`` in parallel; each result is the worker's verdict or ``{"status": "timeout"}`` /
        ``{"status": "crashed"}`` / ``{"status": "unavailable"}`` (all scored as not equal by the caller)."""
        if not tasks:
            return []
        with self._lock:
            if self._closed:
                raise RuntimeError("the verification pool was shut down")
            return self._run_locked(tasks, timeout)

    def _spawn(self) -> _Worker | None:
        try:
            worker = _Worker(self.memory_limit_mb)
        except OSError as err:
            logger.error("could not start a verification worker: %s", err)
            self.counters["spawn_failures"] += 1
            return None
        self.counters["spawned"] += 1
        self._workers.append(worker)
        return worker

    def _drop(self, worker: _Worker, kill: bool = True) -> None:
        if kill:
            worker.kill()
        if worker in self._workers:
            self._workers.remove(worker)

    def _run_locked(self, tasks: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
        results: list[dict[str, Any] | None] = [None] * len(tasks)
        attempts = [0] * len(tasks)
        pending: deque[int] = deque(range(len(tasks)))
        spawn_failures = 0
        # forget workers that died between calls
        for worker in list(self._workers):
            if worker.proc.poll() is not None:
                self._drop(worker)
        selector = selectors.DefaultSelector()
        try:
            while pending or any(w.task is not None for w in self._workers):
                busy = sum(w.task is not None for w in self._workers)
                want = min(self.max_workers, busy + len(pending))
                while len(self._workers) < want and spawn_failures < 3:
                    if self._spawn() is None:
                        spawn_failures += 1
                if not self._workers:
                    for idx in pending:
                        results[idx] = {"equal": False, "status": "unavailable"}
                    pending.clear()
                    break
                now = time.monotonic()
                for worker in list(self._workers):
                    if worker.ready and worker.task is None and pending:
                        idx = pending.popleft()
                        attempts[idx] += 1
                        try:
                            worker.send({**tasks[idx], "id": idx, "timeout": timeout})
                        except (BrokenPipeError, OSError):
                            self._drop(worker)
                            self._requeue_or_fail(idx, attempts, pending, results)
                            continue
                        worker.task = idx
                        worker.deadline = now + timeout
                # wait for output, the next task deadline, or the next startup deadline
                deadlines = [
                    w.deadline if w.task is not None else w.started + self.startup_timeout
                    for w in self._workers
                    if w.task is not None or not w.ready
                ]
                wait = max(0.0, min(deadlines) - time.monotonic()) if deadlines else 0.05
                for worker in self._workers:
                    with contextlib.suppress(KeyError):  # already registered
                        selector.register(worker.fd, selectors.EVENT_READ, worker)
                events = selector.select(timeout=min(wait, 1.0))
                for key in list(selector.get_map().values()):
                    selector.unregister(key.fileobj)
                for key, _ in events:
                    worker = key.data
                    messages = worker.read_messages()
                    if messages is None:  # end of file: the worker died (memory cap, crash)
                        idx = worker.task
                        self._drop(worker)
                        self.counters["crashed"] += 1
                        if idx is not None:
                            results[idx] = {"equal": False, "status": "crashed"}
                        continue
                    for msg in messages:
                        if msg.get("ready"):
                            worker.ready = True
                        elif worker.task is not None and msg.get("id") == worker.task:
                            results[worker.task] = msg
                            worker.task = None
                now = time.monotonic()
                for worker in list(self._workers):
                    if worker.task is not None and now >= worker.deadline:
                        results[worker.task] = {"equal": False, "status": "timeout"}
                        self.counters["killed"] += 1
                        self._drop(worker)
                        # start the replacement now: it warms up while this batch finishes (or before the next one)
                        if spawn_failures < 3 and self._spawn() is None:
                            spawn_failures += 1
                    elif not worker.ready and now >= worker.started + self.startup_timeout:
                        logger.error("a verification worker did not start within %.0f s", self.startup_timeout)
                        self.counters["spawn_failures"] += 1
                        spawn_failures += 1
                        self._drop(worker)
        finally:
            selector.close()
        return [r if r is not None else {"equal": False, "status": "unavailable"} for r in results]

    @staticmethod
    def _requeue_or_fail(
        idx: int, attempts: list[int], pending: deque[int], results: list[dict[str, Any] | None]
    ) -> None:
        if attempts[idx] < 2:
            pending.appendleft(idx)
        else:
            results[idx] = {"equal": False, "status": "crashed"}

    # ---------------------------------------------------------------------------------------------------------------
    @property
    def num_workers(self) -> int:
        """Worker processes currently alive."""
        return sum(w.proc.poll() is None for w in self._workers)

    def worker_pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers if w.proc.poll() is None]

    def shutdown(self) -> None:
        """Stop every worker (only in the process that created the pool; a forked child leaves them alone)."""
        if os.getpid() != self._pid:
            self._workers = []
            return
        with self._lock:
            for worker in self._workers:
                worker.close()
            self._workers = []
            self._closed = True


_POOLS: dict[tuple[int, int], VerifierPool] = {}
_POOLS_LOCK = threading.Lock()


def get_pool(max_workers: int, memory_limit_mb: int) -> VerifierPool:
    """The process-wide pool for these settings (created on first use, recreated in a forked child)."""
    key = (max_workers, memory_limit_mb)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None or pool._closed or pool._pid != os.getpid():
            pool = VerifierPool(max_workers, memory_limit_mb)
            _POOLS[key] = pool
        return pool


def shutdown_pools() -> None:
    """Stop every worker of every pool of this process (registered with ``atexit``)."""
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for pool in pools:
        pool.shutdown()


def _after_fork_in_child() -> None:
    # The child inherited copies of the parent's pools (and possibly a held lock): forget them without touching the
    # parent's workers; the child creates its own pool when it first needs one.
    global _POOLS_LOCK
    _POOLS_LOCK = threading.Lock()
    for pool in _POOLS.values():
        pool._workers = []
    _POOLS.clear()


atexit.register(shutdown_pools)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
