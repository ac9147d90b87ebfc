"""The toy RL regime: the one set of training settings shared by `trl-explore demo` and `benchmarks/rng_toy.py`.

The values of `DEFAULT_REGIME` come from the regime search documented in `benchmarks/demo_regime.md` (summary in
docs/toy.md, "The demo regime"): the settings in which plain GRPO, on the toy countdown task, both clearly improves
pass@1 and shows the failure the library's methods target (policy entropy and the share of low-probability sampled
tokens fall, large-k pass@k shrinks). Change them only together with a new search entry in that log.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any


class DemoUsageError(ValueError):
    """A problem with the user's input found while running (output folder, dataset, model): the CLI prints it as
    one line."""


def check_int(name: str, value: Any, minimum: int) -> int:
    """`value` as an int >= `minimum`, else a `ValueError` naming `name` (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}.")
    return value


def check_float(name: str, value: Any, low: float, high: float, *, low_open: bool = True) -> float:
    """`value` as a finite float in `(low, high]` (`[low, high]` with ``low_open=False``), else a `ValueError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite number, got {value!r}.")
    below = value <= low if low_open else value < low
    if below or value > high:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise ValueError(f"`{name}` must be in {interval}, got {value}.")
    return float(value)


@dataclass(frozen=True)
class ToyRegime:
    """Training and evaluation settings of a same-budget comparison of RL methods on a toy task.

    Args:
        task (`str`, *optional*, defaults to `"countdown"`):
            Toy task (`"countdown"` or `"arithmetic"`).
        warm_start_steps (`int`, *optional*):
            SFT steps of the warm start; `None` keeps the toy kit's tuned default (1500 for countdown), whose cached
            checkpoint is shared with `trl-explore warm-start`.
        steps (`int`, *optional*, defaults to `120`):
            Optimizer steps per run.
        learning_rate (`float`, *optional*, defaults to `5e-4`):
            Constant learning rate (AdamW, no warm-up, no weight decay, gradient clipping at 1.0). The default demo
            trains each method at its own rate instead (`trl_explore.demo.tuned`); this one is GRPO's from the regime
            search.
        prompts_per_step (`int`, *optional*, defaults to `8`):
            Prompts per optimizer step.
        num_generations (`int`, *optional*, defaults to `8`):
            Completions per prompt (the GRPO group).
        steps_per_generation (`int`, *optional*, defaults to `4`):
            Optimizer steps per generation batch: one generation of `steps_per_generation * prompts_per_step` prompts
            is split into that many optimizer steps, so from the second step on the importance ratio differs from 1
            (what clipping, Lp-Reg's ratio and HAPO's redistribution act on).
        max_completion_length (`int`, *optional*, defaults to `40`):
            Completion budget in tokens (a countdown solution takes about 30).
        temperature (`float`, *optional*, defaults to `1.2`):
            Sampling temperature of training and evaluation (the policy trained and measured is the tempered one).
        epsilon (`float`, *optional*, defaults to `0.2`):
            Clip range of GRPO and of the methods that keep GRPO's clipping (Lp-Reg brings its own).
        eval_prompts (`int`, *optional*, defaults to `64`):
            Held-out prompts of the pass@k evaluation.
        k (`int`, *optional*, defaults to `32`):
            Samples per held-out prompt: pass@1 ... pass@k are reported, pass@k is the "large-k" quantity.
        low_prob_threshold (`float`, *optional*, defaults to `0.1`):
            A sampled token is "low-probability" when the policy gives it probability below this.
        train_data_seed (`int`, *optional*, defaults to `1000`):
            Seed of the training prompts (the same prompts for every method and seed; the run seed orders them).
        eval_data_seed (`int`, *optional*, defaults to `2000`):
            Seed of the held-out prompts.
    """

    task: str = "countdown"
    warm_start_steps: int | None = None
    steps: int = 120
    learning_rate: float = 5e-4
    prompts_per_step: int = 8
    num_generations: int = 8
    steps_per_generation: int = 4
    max_completion_length: int = 40
    temperature: float = 1.2
    epsilon: float = 0.2
    eval_prompts: int = 64
    k: int = 32
    low_prob_threshold: float = 0.1
    train_data_seed: int = 1000
    eval_data_seed: int = 2000

    def __post_init__(self) -> None:
        if not isinstance(self.task, str) or not self.task:
            raise ValueError(f"`task` must be a non-empty string, got {self.task!r}.")
        check_int("train_data_seed", self.train_data_seed, 0)
        check_int("eval_data_seed", self.eval_data_seed, 0)
        if self.warm_start_steps is not None:
            check_int("warm_start_steps", self.warm_start_steps, 1)
        for name in ("steps", "prompts_per_step", "steps_per_generation", "max_completion_length", "eval_prompts", "k"):
            check_int(name, getattr(self, name), 1)
        check_int("num_generations", self.num_generations, 2)
        check_float("learning_rate", self.learning_rate, 0.0, 1.0)
        check_float("temperature", self.temperature, 0.0, 10.0)
        check_float("epsilon", self.epsilon, 0.0, 1.0)
        check_float("low_prob_threshold", self.low_prob_threshold, 0.0, 1.0)

    def replace(self, **changes: Any) -> ToyRegime:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_REGIME = ToyRegime()
"""The regime of the default `trl-explore demo` run (found by the search in `benchmarks/demo_regime.md`)."""

DEFAULT_SEEDS = 3
"""Paired seeds of the default `trl-explore demo` run (seeds 0, 1, 2: disjoint from the sweep's tuning seeds). The
measured time of the default run (`trl_explore.cli.DEMO_TIME`) is for this count: change both together."""

QUICK_REGIME = ToyRegime(
    warm_start_steps=60,
    steps=4,
    prompts_per_step=2,
    num_generations=4,
    steps_per_generation=2,
    eval_prompts=8,
    k=4,
)
"""`trl-explore demo --quick`: seconds per method on a barely warm-started model; checks that everything runs."""


def grpo_config_values(regime: ToyRegime, *, output_dir: str, seed: int, use_cpu: bool, bf16: bool) -> dict[str, Any]:
    """`GRPOConfig` fields shared by every method of a same-budget comparison (the demo, `benchmarks/rng_toy.py`):
    constant learning rate, no KL, token-mean loss (`dapo`), one log per optimizer step, nothing saved, no console
    output from the trainer. A method's own fields (`DemoMethod.overrides`) are applied on top."""
    return {
        "output_dir": output_dir,
        "max_steps": regime.steps,
        "per_device_train_batch_size": regime.prompts_per_step * regime.num_generations,
        "num_generations": regime.num_generations,
        "steps_per_generation": regime.steps_per_generation,
        "max_completion_length": regime.max_completion_length,
        "learning_rate": regime.learning_rate,
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
        "weight_decay": 0.0,
        "max_grad_norm": 1.0,
        "beta": 0.0,
        "loss_type": "dapo",
        "epsilon": regime.epsilon,
        "temperature": regime.temperature,
        "top_p": 1.0,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
        "seed": seed,
        "data_seed": seed,
        "use_cpu": use_cpu,
        "bf16": bf16,
    }
