"""Process-wide settings the demo changes while it collects in the caller's process, and their restoration."""

from __future__ import annotations

import contextlib
import os
import warnings
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


KNOWN_WARNINGS: tuple[tuple[type[Warning], str], ...] = (
    # transformers 5 renamed gradient checkpointing to activation checkpointing; TRL 1.16 (and TrainingArguments
    # itself) still use the old names, once per trainer: `gradient_checkpointing`, `is_gradient_checkpointing`,
    # `gradient_checkpointing_enable` / `_disable` "is deprecated and will be removed in v6".
    (FutureWarning, r"`(is_)?gradient_checkpointing\w*` is deprecated"),
)
"""Upstream warnings a demo user cannot act on (they come from TRL's and transformers' own calls), silenced by
`quiet_known_warnings`; anything else still shows."""


def quiet_known_warnings() -> None:
    """Silence `KNOWN_WARNINGS` and the per-load progress bars of transformers ("Loading weights") and datasets."""
    for category, pattern in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern, category=category)
    with contextlib.suppress(ImportError):
        import transformers

        transformers.logging.disable_progress_bar()
    with contextlib.suppress(ImportError):
        import datasets

        datasets.disable_progress_bars()


@contextlib.contextmanager
def _restoring_console_state() -> Iterator[None]:
    """Undo `quiet_known_warnings` in this process afterwards (warning filters, transformers / datasets bars)."""
    import datasets
    import transformers

    bars = transformers.utils.logging.is_progress_bar_enabled(), datasets.is_progress_bar_enabled()
    with warnings.catch_warnings():
        try:
            yield
        finally:
            if bars[0]:
                transformers.logging.enable_progress_bar()
            if bars[1]:
                datasets.enable_progress_bars()
