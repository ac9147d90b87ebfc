"""The common first cell of the library's Colab notebooks: smoke mode, the accelerator and its precision.

Every notebook under ``notebooks/`` starts the same way: ``TRL_EXPLORE_SMOKE=1`` runs it offline on the toy kit in
seconds (one CPU thread, no GPU even if there is one), otherwise it uses the GPU when there is one and picks the
precision from the GPU's compute capability — bf16 from Ampere (8.0) on, fp16 below (a Colab T4 is 7.5).
``torch.cuda.is_bf16_supported()`` is not used: it counts emulation and answers ``True`` on a T4, where bf16 is slow.

    from trl_explore.colab import notebook_setup

    SETUP = notebook_setup(SMOKE)
    print(SETUP.summary())
    model = AutoModelForCausalLM.from_pretrained(name, dtype=SETUP.dtype).to(SETUP.device)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ._validation import check_bool

__all__ = ["SMOKE_ENV", "NotebookSetup", "notebook_setup"]

#: Environment variable that turns a notebook's smoke mode on (``"1"``)
SMOKE_ENV = "TRL_EXPLORE_SMOKE"


@dataclass(frozen=True)
class NotebookSetup:
    """Where and in which precision a notebook runs (see `notebook_setup`).

    Attributes:
        smoke (`bool`): offline smoke mode (toy kit, CPU, seconds).
        has_gpu (`bool`): a CUDA GPU is used (never in smoke mode).
        capability (`tuple[int, int]`): its compute capability (``(0, 0)`` without one).
        use_bf16 (`bool`): bf16 mixed precision (compute capability >= 8.0).
        use_fp16 (`bool`): fp16 mixed precision (a GPU below 8.0, e.g. a T4).
        device (`str`): ``"cuda"`` or ``"cpu"``.
        fp16_weights (`bool`): whether `dtype` is fp16 on such a GPU (inference notebooks) rather than float32 (training
            notebooks: fp16 weights overflow in Qwen2.5 and cannot be trained under fp16's gradient scaler).
    """

    smoke: bool
    has_gpu: bool
    capability: tuple[int, int]
    use_bf16: bool
    use_fp16: bool
    device: str
    fp16_weights: bool = False

    @property
    def dtype(self) -> Any:
        """The model weights' dtype: bf16 with `use_bf16`; with `use_fp16` fp16 (`fp16_weights`) or float32 (with fp16
        autocast); float32 on a CPU."""
        import torch

        if self.use_bf16:
            return torch.bfloat16
        return torch.float16 if self.use_fp16 and self.fp16_weights else torch.float32

    def summary(self) -> str:
        """One line for the notebook's output (two without a GPU outside smoke mode: how to get one on Colab)."""
        line = (
            f"smoke={self.smoke} gpu={self.has_gpu} capability={self.capability} bf16={self.use_bf16} "
            f"fp16={self.use_fp16} dtype={str(self.dtype).removeprefix('torch.')}"
        )
        if not self.smoke and not self.has_gpu:
            line += "\nNo GPU found: this will be very slow. On Colab: Runtime -> Change runtime type -> T4 GPU."
        return line


def notebook_setup(smoke: bool | None = None, *, fp16_weights: bool = False) -> NotebookSetup:
    """Decide a notebook's device and precision; in smoke mode also limit torch to one thread (the toy model's matmuls
    are tiny: one thread is fastest).

    Args:
        smoke (`bool`, *optional*): smoke mode; default: ``TRL_EXPLORE_SMOKE == "1"``.
        fp16_weights (`bool`, *optional*, defaults to `False`): load fp16 weights on a GPU without bf16 (fine for
            inference and scoring); training notebooks keep float32 weights there and train with fp16 autocast.

    Returns:
        `NotebookSetup`.
    """
    import torch

    if smoke is None:
        smoke = os.environ.get(SMOKE_ENV, "0") == "1"
    check_bool(None, "smoke", value=smoke)
    check_bool(None, "fp16_weights", value=fp16_weights)
    if smoke:
        torch.set_num_threads(1)
    has_gpu = torch.cuda.is_available() and not smoke
    capability = tuple(torch.cuda.get_device_capability()) if has_gpu else (0, 0)
    use_bf16 = has_gpu and capability >= (8, 0)
    return NotebookSetup(
        smoke=smoke,
        has_gpu=has_gpu,
        capability=capability,
        use_bf16=use_bf16,
        use_fp16=has_gpu and not use_bf16,
        device="cuda" if has_gpu else "cpu",
        fp16_weights=fp16_weights,
    )
