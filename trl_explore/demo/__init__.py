"""The offline exploration lab behind `trl-explore demo` (also `python -m trl_explore.demo`).

A tiny model is warm-started on a toy task (cached), then plain GRPO and every RL method of the library are trained
from the same weights with the same seed and budget; the report compares reward, entropy, the share of
low-probability tokens and pass@1 / pass@k over steps.
"""

from .methods import METHODS, DemoMethod
from .runner import DemoSettings, run_demo

__all__ = ["METHODS", "DemoMethod", "DemoSettings", "run_demo"]
