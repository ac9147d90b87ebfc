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
