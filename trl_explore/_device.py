"""Device and precision choices shared by the configs, the example scripts and the evaluation helpers.

TRL's configs default to bf16 mixed precision (``bf16=None`` becomes ``True`` unless ``fp16`` is set), and
transformers refuses bf16 on a machine without an accelerator unless ``use_cpu=True`` is passed. A user who runs an
example or the README's snippet on a laptop should not need to know that: `resolve_precision` picks float32 there and
says so in one INFO line, and leaves every explicit choice (``bf16=True``, ``fp16=True``) alone.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["accelerator_type", "default_device", "resolve_precision"]


def accelerator_type() -> str | None:
    """The type of the accelerator torch sees (``"cuda"``, ``"xpu"``, ``"mps"``, ...), or ``None`` on a CPU-only
    machine."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    accelerator = getattr(torch, "accelerator", None)
    if accelerator is not None and accelerator.is_available():
        current = accelerator.current_accelerator()
        return None if current is None else current.type
    return None


def default_device() -> str:
    """``"cuda"`` (or the machine's other accelerator) when there is one, else ``"cpu"``."""
    return accelerator_type() or "cpu"


def resolve_precision(args: Any) -> None:
    """Choose float32 on CPU for a `transformers.TrainingArguments` (TRL config) before its own checks run.

    Only when the caller left the precision open (``bf16 is None`` and ``fp16`` false): with ``use_cpu=True`` or on a
    machine without an accelerator, ``bf16`` becomes ``False`` (plain float32 training; TRL would otherwise turn bf16
    on and transformers would refuse it on a CPU-only machine). The CPU-only case also turns ``dataloader_pin_memory``
    off (there is no device memory to pin for) and logs one INFO line. Explicit choices
    are kept, so ``bf16=True`` on a CPU-only machine still gets transformers' error.
    """
    if getattr(args, "bf16", None) is not None or getattr(args, "fp16", False):
        return
    if getattr(args, "use_cpu", False):
        args.bf16 = False
        return
    if accelerator_type() is None:
        args.bf16 = False
        args.dataloader_pin_memory = False  # nothing to pin memory for (torch warns otherwise)
        logger.info("No GPU or other accelerator found: training on CPU in float32 (pass --bf16 / --fp16 to override).")
