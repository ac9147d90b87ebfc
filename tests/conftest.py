"""Shared pytest configuration: make ``tests/`` importable (``from reference.x import ...``) and keep runs offline."""

from __future__ import annotations

import os
import sys
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

# Never touch the network from the test-suite: everything is built in code or read from local files.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_DISABLED", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _one_thread():
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    return previous


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def quick_warm_start(tmp_path_factory):
    """A briefly warm-started toy countdown model (a minute of SFT, cached for the session): writes the format, rarely
    right. For tests that need a model that generates task-shaped text, not a good one."""
    import torch

    from trl_explore.toy import warm_start

    previous = _one_thread()
    try:
        return warm_start(task="countdown", max_steps=40, cache_dir=tmp_path_factory.mktemp("warm_start"))
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def _toy_route_cache_dir(tmp_path_factory):
    """A toy-kit cache holding the toy route's arithmetic model (`trl_explore.toy.toy_model_path`), warm-started once
    per session (about 20 CPU-seconds) for the example and README tests."""
    from trl_explore.toy import toy_model_path

    path = tmp_path_factory.mktemp("toy_route_cache")
    previous = _one_thread()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("TRL_EXPLORE_CACHE", str(path))
            toy_model_path("arithmetic")
    finally:
        import torch

        torch.set_num_threads(previous)
    return path


@pytest.fixture
def toy_route_cache(_toy_route_cache_dir, monkeypatch):
    """``TRL_EXPLORE_CACHE`` pointing at the session's toy-route cache (its arithmetic model already built), and one
    torch thread, for the duration of a test."""
    import torch

    monkeypatch.setenv("TRL_EXPLORE_CACHE", str(_toy_route_cache_dir))
    previous = _one_thread()
    yield _toy_route_cache_dir
    torch.set_num_threads(previous)


@pytest.fixture
def one_thread():
    """One intra-op torch thread for the test (tiny tensors: fastest, and no oversubscription of shared CI cores);
    the previous count is restored afterwards. Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``.

    An explicit ``OMP_NUM_THREADS`` is honoured instead: CI's stage ``other float paths (default, 2 threads)`` runs
    these tests on two threads (docs/robustness.md, "Float paths and tolerances")."""
    import torch

    previous = torch.get_num_threads()
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
