"""The offline exploration lab behind `trl-explore demo` (also `python -m trl_explore.demo`).

A tiny model is warm-started on a toy task (cached), then plain GRPO and every RL method of the library are trained
from the same weights with the same paired seeds and budget (`trl_explore.demo.regime`), each at its own learning
rate (`trl_explore.demo.tuned`); the report opens with a verdict, gives each method's paired difference to GRPO on
the quantities it targets, and plots reward, entropy, the share of low-probability tokens and pass@k.
"""

from .methods import METHODS, DemoMethod, register_method
from .regime import DEFAULT_REGIME, QUICK_REGIME, ToyRegime
from .runner import DemoSettings, run_demo
from .stats import PairedDifference, mean_se, paired_difference, t_critical
from .tuned import TUNED_LEARNING_RATES, rates_from_sweep

__all__ = [
    "DEFAULT_REGIME",
    "METHODS",
    "QUICK_REGIME",
    "TUNED_LEARNING_RATES",
    "DemoMethod",
    "DemoSettings",
    "PairedDifference",
    "ToyRegime",
    "mean_se",
    "paired_difference",
    "rates_from_sweep",
    "register_method",
    "run_demo",
    "t_critical",
]
