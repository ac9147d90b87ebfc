"""`--float-path`: the worker processes get the path's environment, the caller's environment is put back, and a
spawned torch process runs its CPU kernels at the lowered capability."""

from __future__ import annotations

import os
from concurrent.futures import Future

import pytest

from trl_explore.demo.floatpath import FLOAT_PATHS, check_float_path, float_path_environment


def test_environment_is_set_for_the_block_and_restored(monkeypatch):
    monkeypatch.setenv("MKL_CBWR", "AUTO")
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    with float_path_environment("avx2"):
        assert os.environ["ATEN_CPU_CAPABILITY"] == "avx2" and os.environ["MKL_CBWR"] == "AVX2"
    assert "ATEN_CPU_CAPABILITY" not in os.environ and os.environ["MKL_CBWR"] == "AUTO"
    with float_path_environment("default"):
        assert "ATEN_CPU_CAPABILITY" not in os.environ
    with pytest.raises(ValueError, match="`float_path` must be one of default, avx2, scalar, got 'avx3'"):
        check_float_path("avx3")


def _capability() -> str:
    import torch

    return torch.backends.cpu.get_cpu_capability()


def test_a_spawned_worker_runs_at_the_lowered_capability():
    """What `execute` does: start spawn workers inside `float_path_environment`. `scalar` gives torch's DEFAULT (no
    SIMD) kernels on any CPU; `avx2` gives AVX2 where the CPU has more."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    import torch

    native = torch.backends.cpu.get_cpu_capability()
    ctx = mp.get_context("spawn")
    with float_path_environment("scalar"), ProcessPoolExecutor(1, mp_context=ctx) as pool:
        assert pool.submit(torch.backends.cpu.get_cpu_capability).result() == "DEFAULT"
    if native.startswith("AVX512"):
        with float_path_environment("avx2"), ProcessPoolExecutor(1, mp_context=ctx) as pool:
            assert pool.submit(torch.backends.cpu.get_cpu_capability).result() == "AVX2"
    assert torch.backends.cpu.get_cpu_capability() == native  # this process is unchanged


class _InlinePool:
    """A stand-in for ProcessPoolExecutor that records the environment at start-up and runs each job inline."""

    started_with: list = []

    def __init__(self, workers, mp_context=None, initializer=None, initargs=()):
        self.started_with.append((workers, os.environ.get("ATEN_CPU_CAPABILITY")))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args):
        future = Future()
        future.set_result(fn(*args))
        return future


def test_execute_starts_workers_inside_the_float_path(monkeypatch):
    """A non-default float path goes through worker processes even with one worker (torch in this process has
    already chosen its kernels); the default path with one worker runs inline. The caller's environment is put
    back after."""
    import concurrent.futures

    import trl_explore.demo.runner as runner

    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", _InlinePool)
    monkeypatch.setattr(runner, "_worker_run", lambda job, settings, path: {"seed": job.seed, "pooled": True})
    monkeypatch.setattr(runner, "run_job", lambda job, settings, path, emit: {"seed": job.seed, "pooled": False})
    _InlinePool.started_with.clear()
    jobs = [runner.Job("start", 0), runner.Job("start", 1)]
    avx2 = runner.DemoSettings(float_path="avx2", workers=1)
    assert runner.execute(jobs, avx2, "toy", lambda e: None, 1) == [
        {"seed": 0, "pooled": True},
        {"seed": 1, "pooled": True},
    ]
    assert _InlinePool.started_with == [(1, "avx2")] and "ATEN_CPU_CAPABILITY" not in os.environ
    default = runner.DemoSettings(workers=1)
    assert runner.execute(jobs, default, "toy", lambda e: None, 1)[0] == {"seed": 0, "pooled": False}
    assert set(FLOAT_PATHS) == {"default", "avx2", "scalar"}
