"""Process-wide settings the demo changes while it collects in the caller's process, and their restoration."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

_ENV_VARS = ("WANDB_DISABLED",)


@contextlib.contextmanager
def restoring_process_state() -> Iterator[None]:
    """Put torch's intra-op thread count and the environment variables the demo sets (``WANDB_DISABLED``) back as
    they were before the block, whatever happens inside it.

    The demo runs the toy model with one torch thread and W&B off; in a worker process that is the worker's own
    business, but collecting in the caller's process (a notebook, `trl_explore.demo.runner.collect`) must not leave
    the caller's process with one thread or with W&B disabled.
    """
    import torch

    threads = torch.get_num_threads()
    env = {name: os.environ.get(name) for name in _ENV_VARS}
    try:
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        for name, value in env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
