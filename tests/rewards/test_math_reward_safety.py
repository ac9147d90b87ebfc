"""Adversarial inputs, hard time limits and process robustness of the math reward.

Every adversarial answer must score 0 quickly, nothing a model writes may execute, a hung symbolic check is killed at
its deadline (and counted), and the reward works from a thread, from a ``spawn`` child (a daemonic
``multiprocessing.Pool`` worker) and from a ``fork`` child.
"""

from __future__ import annotations

import multiprocessing as mp
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from trl_explore.rewards import MathReward, make_math_reward, math_accuracy_reward
from trl_explore.rewards._pool import default_max_workers, get_pool

# A sum that latex2sympy2 + sympy `doit()` needs minutes for (measured > 20 s on this machine) but that passes every
# size limit: the reliable way to exercise the wall-clock kill.
HANG = r"\sum_{n=1}^{100000} \frac{1}{n^2}"


def _injections(sentinel: Path) -> list[str]:
    s = str(sentinel)
    return [
        rf"\boxed{{__import__('os').system('touch {s}')}}",
        r"\boxed{().__class__.__bases__[0].__subclasses__()}",
        rf"\boxed{{eval(\"open('{s}', 'w').write('x')\")}}",
        rf"\boxed{{exec(compile('import os; os.system(\"touch {s}\")', 'x', 'exec'))}}",
        rf"\boxed{{\text{{__import__('os').system('touch {s}')}}}}",
        rf"\boxed{{\operatorname{{system}}(touch {s})}}",
    ]


def _adversarial_batch(sentinel: Path) -> list[str]:
    return [
        r"\boxed{2^{2^{2^{2^{10}}}}}",  # power tower
        r"\boxed{9999999999999^{9999999999}}",  # huge power
        r"\boxed{10!!!!!!!}",  # factorial chain
        r"\boxed{" + "7" * 100_000 + "}",  # 10^5-digit integer
        "a" * 500_000 + r"\boxed{" + "1" * 500_000 + "}",  # 1 MB completion whose box holds 0.5 MB
        r"\boxed{" + "{" * 10_000 + "1" + "}" * 10_000 + "}",  # 10^4-deep braces
        _injections(sentinel)[0],
        _injections(sentinel)[1],
        _injections(sentinel)[2],
        r"\boxed{(10^{10})!}",  # factorial of a huge argument (refused by the worker's magnitude bound)
        r"\boxed{2^{2^{100}}}",  # double exponential under the tower limit (refused by the magnitude bound)
        rf"\boxed{{{HANG}}}",  # passes every limit, hangs sympy: killed at the deadline
    ]


def test_adversarial_batch_scores_zero_fast(tmp_path: Path) -> None:
    """12 adversarial completions, fresh reward (cold worker pool): all 0, nothing executed, < 20 s on 2 cores."""
    sentinel = tmp_path / "pwned"
    batch = _adversarial_batch(sentinel)
    assert len(batch) == 12
    reward = make_math_reward(max_workers=2)  # default 2 s limit per symbolic check
    logged: dict[str, float] = {}
    start = time.monotonic()
    scores = reward(batch, ["5"] * len(batch), log_metric=logged.__setitem__)
    elapsed = time.monotonic() - start
    assert scores == [0.0] * 12
    assert elapsed < 20.0, f"adversarial batch took {elapsed:.1f} s"
    assert not sentinel.exists()
    assert logged["math_reward/timeouts"] == 1.0  # only HANG reaches the deadline
    # tower, huge power, factorial chain, 10^5 digits, 1 MB box, deep braces: refused by limits before any parsing
    assert logged["math_reward/rejected"] == 6.0
    # 3 injections rejected by the LaTeX grammar, (10^10)! and 2^(2^100) refused by the magnitude bound
    assert logged["math_reward/symbolic_refused"] == 5.0
    assert logged["math_reward/worker_errors"] == 0.0
    # the pool recovered: a normal symbolic check right after works
    assert reward([r"\boxed{\sqrt{9}}"], ["3"]) == [1.0]


@pytest.mark.parametrize(
    "completion",
    [
        pytest.param("a" * 1_000_000 + r" so \boxed{4}", id="megabyte-then-box"),
        pytest.param(r"\boxed{1}" * 100_000, id="hundred-thousand-boxes"),
        pytest.param(r"\boxed{4}" + r"\boxedx" * 150_000, id="near-miss-commands"),
        pytest.param(r"\boxed{" + "{" * 1_000_000, id="megabyte-of-open-braces"),
        pytest.param("#### " + "9" * 1_000_000, id="megabyte-gsm8k-line"),
        pytest.param("The final answer is " + "x" * 1_000_000, id="megabyte-final-answer"),
    ],
)
def test_megabyte_completions_are_cheap(completion: str) -> None:
    reward = make_math_reward(extractors=("boxed", "gsm8k", "final_answer"), symbolic=False)
    start = time.monotonic()
    scores = reward([completion], ["5"])
    assert scores == [0.0]
    assert time.monotonic() - start < 1.0


def test_injection_strings_never_execute(tmp_path: Path) -> None:
    """Injection text as answer AND as gold, through every path (exact, numeric, symbolic parse in the worker)."""
    sentinel = tmp_path / "pwned"
    injections = _injections(sentinel)
    reward = make_math_reward(max_workers=2)
    answers = [i[len(r"\boxed{") : -1] for i in injections]
    completions = injections + injections
    golds = ["5"] * len(injections) + list(reversed(answers))
    scores = reward(completions, golds)
    assert not sentinel.exists()
    assert all(s in (0.0, 1.0) for s in scores)
    assert scores[: len(injections)] == [0.0] * len(injections)


def test_library_never_calls_python_evaluators() -> None:
    """Static guarantee: no eval/exec/sympify/parse_expr call anywhere in the reward package."""
    import re

    import trl_explore.rewards as pkg

    pattern = re.compile(r"\b(eval|exec|sympify|parse_expr)\s*\(")
    offenders = []
    for path in Path(pkg.__file__).parent.glob("*.py"):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.name}:{lineno}: {line.strip()}")
    assert not offenders, offenders


def test_timeout_is_killed_counted_and_logged() -> None:
    reward = make_math_reward(timeout=0.5, max_workers=1, name="hang_probe")
    pool = reward._pool()
    killed_before = pool.counters["killed"]
    logged: dict[str, float] = {}
    start = time.monotonic()
    scores = reward([rf"\boxed{{{HANG}}}", r"\boxed{\frac{6}{3}}"], ["5", "2"], log_metric=logged.__setitem__)
    elapsed = time.monotonic() - start
    assert scores == [0.0, 1.0]  # the cheap case is decided in-process, the hang scores 0
    assert logged["math_reward/timeouts"] == 1.0
    assert reward.stats["timeouts"] == 1
    assert pool.counters["killed"] == killed_before + 1
    assert elapsed < 15.0  # 0.5 s limit + worker start-up on a loaded machine
    # the dead worker is replaced on demand
    assert reward([r"\boxed{\sqrt{16}}"], ["4"]) == [1.0]
    # a verdict is cached, so the same hang costs nothing (and still counts as a timeout) the second time
    logged.clear()
    start = time.monotonic()
    assert reward([rf"\boxed{{{HANG}}}"], ["5"], log_metric=logged.__setitem__) == [0.0]
    assert time.monotonic() - start < 0.5
    assert logged["math_reward/timeouts"] == 1.0


def test_stats_accessor_counts_timeouts() -> None:
    from trl_explore.rewards import math_reward_stats

    before = math_reward_stats()["timeouts"]
    reward = make_math_reward(timeout=0.5, max_workers=1)
    reward([rf"\boxed{{{HANG} + 1}}"], ["5"])
    assert math_reward_stats()["timeouts"] == before + 1


@pytest.mark.skipif(default_max_workers() < 2, reason="needs 2 CPUs to observe parallel verification")
def test_batch_is_verified_in_parallel() -> None:
    """Two hung checks with a 1 s limit on 2 warm workers end together (~1 s), not one after the other (>= 2 s)."""
    reward = make_math_reward(timeout=1.0, max_workers=2)
    assert reward([r"\boxed{\sqrt{4}}", r"\boxed{\sqrt{9}}"], ["2", "3"]) == [1.0, 1.0]  # warm both workers
    pool = reward._pool()
    assert pool.num_workers == 2
    start = time.monotonic()
    scores = reward([rf"\boxed{{{HANG}}}", rf"\boxed{{{HANG} + 2}}"], ["1", "2"])
    elapsed = time.monotonic() - start
    assert scores == [0.0, 0.0]
    assert reward.stats["timeouts"] == 2
    assert elapsed < 1.9, f"two 1 s timeouts took {elapsed:.2f} s: not parallel"


def test_typical_batch_is_decided_in_process() -> None:
    """A GRPO-sized batch of plain answers never touches the worker pool."""
    reward = make_math_reward(max_workers=1, name="cheap_probe")
    n = 1024
    completions = [f"Reasoning... so the answer is $\\boxed{{{i % 50}}}$." for i in range(n)]
    solutions = [f"\\boxed{{{i % 40}}}" for i in range(n)]
    start = time.monotonic()
    scores = reward(completions, solutions)
    elapsed = time.monotonic() - start
    assert scores == [1.0 if i % 50 == i % 40 else 0.0 for i in range(n)]
    assert reward.stats["symbolic_checks"] == 0
    assert reward.stats["decided_in_process"] == n
    assert elapsed < 2.0


def test_works_from_threads() -> None:
    reward = make_math_reward(timeout=1.0, max_workers=2)
    results: dict[int, list] = {}

    def run(k: int) -> None:
        results[k] = reward([r"\boxed{(x+1)^2}", rf"\boxed{{{HANG} + {k}}}", r"\boxed{3}"], ["x^2+2x+1", "0", "4"])

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == {0: [1.0, 0.0, 0.0], 1: [1.0, 0.0, 0.0]}
    assert reward.stats["timeouts"] == 2


def test_works_in_spawn_pool_worker() -> None:
    """A daemonic `spawn` Pool worker (which may not start multiprocessing children) grades with hard limits."""
    reward = make_math_reward(timeout=0.5, max_workers=1)
    ctx = mp.get_context("spawn")
    start = time.monotonic()
    with ctx.Pool(1) as pool:
        scores = pool.apply(
            reward, ([r"\boxed{\frac{\sqrt{2}}{2}}", rf"\boxed{{{HANG}}}"], [r"\frac{1}{\sqrt{2}}", "1"])
        )
        default_scores = pool.apply(math_accuracy_reward, ([r"\boxed{0.5}"], [r"\frac{1}{2}"]))
    assert scores == [1.0, 0.0]
    assert default_scores == [1.0]
    assert time.monotonic() - start < 40.0


def _fork_child(queue: mp.Queue) -> None:  # pragma: no cover - runs in a child
    reward = make_math_reward(timeout=0.5, max_workers=1)
    queue.put(reward([r"\boxed{2\sqrt{2}}", rf"\boxed{{{HANG}}}"], [r"\sqrt{8}", "1"]))


def test_works_in_fork_child_without_touching_parent_workers() -> None:
    reward = make_math_reward(timeout=0.5, max_workers=1)
    assert reward([r"\boxed{\sqrt{25}}"], ["5"]) == [1.0]
    pool = get_pool(1, reward.memory_limit_mb)
    parent_pids = pool.worker_pids()
    assert parent_pids
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_fork_child, args=(queue,))
    child.start()
    result = queue.get(timeout=60)
    child.join(timeout=30)
    assert result == [1.0, 0.0]
    assert child.exitcode == 0
    # the child built its own pool; the parent's workers are untouched and still serve the parent
    assert pool.worker_pids() == parent_pids
    assert reward([r"\boxed{\sqrt{36}}"], ["6"]) == [1.0]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("exit_call", ["sys.exit(0)", "os._exit(0)"])
def test_workers_do_not_outlive_their_parent(exit_call: str) -> None:
    """Normal exit: the atexit hook stops the workers. Hard exit (no atexit): their watchdog notices the dead parent."""
    code = textwrap.dedent(
        f"""
        import os, sys
        from trl_explore.rewards import make_math_reward
        r = make_math_reward(max_workers=1)
        assert r([r"\\boxed{{\\sqrt{{4}}}}"], ["2"]) == [1.0]
        print(" ".join(map(str, r._pool().worker_pids())), flush=True)
        {exit_call}
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    pids = [int(p) for p in out.stdout.split()]
    assert pids
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)


def test_unavailable_workers_score_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    """If no worker can start (broken interpreter path), symbolic cases score 0 and are counted; nothing raises."""
    import trl_explore.rewards._pool as pool_mod

    reward = MathReward(max_workers=1, memory_limit_mb=1234)  # its own pool key
    monkeypatch.setattr(pool_mod.sys, "executable", "/nonexistent/python")
    logged: dict[str, float] = {}
    assert reward([r"\boxed{\sqrt{4}}", r"\boxed{2}"], ["2", "2"], log_metric=logged.__setitem__) == [0.0, 1.0]
    assert logged["math_reward/worker_errors"] == 1.0
    monkeypatch.undo()
    assert reward([r"\boxed{\sqrt{4}}"], ["2"]) == [1.0]
