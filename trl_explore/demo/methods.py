"""The methods the demo compares: a registry. Adding a method to the demo is one `register_method(DemoMethod(...))`.

Each entry names the trainer and config classes, the config fields that define the method on top of the shared budget
(`trl_explore.demo.regime`), a one-line description (shown by `trl-explore demo --help` and in the report), and the
quantities the method targets (keys of `trl_explore.demo.quantities.QUANTITIES`): the report gives, for each method,
the paired difference to GRPO on those quantities and on pass@1.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

BASELINE = "grpo"


@dataclass(frozen=True)
class DemoMethod:
    """One RL method of the demo.

    Args:
        name (`str`): key on the command line (`--methods grpo lp_reg`); lower case letters, digits and `_`.
        label (`str`): name in plots and tables.
        trainer (`str`): ``"module:Class"`` of the trainer (imported when the method runs).
        config (`str`): ``"module:Class"`` of its config.
        overrides (`dict`): config fields that define the method on top of the shared budget (e.g. Lp-Reg's clip
            range), applied after `trl_explore.demo.regime.grpo_config_values`.
        summary (`str`): one line after the label: paper and mechanism (`trl-explore demo --help`, the report).
        targets (`tuple[str, ...]`): quantities the method is meant to change, keys of
            `trl_explore.demo.quantities.QUANTITIES` (`"entropy"`, `"low_prob_share"`, `"pass@k"`, ...).
        default (`bool`): whether a plain `trl-explore demo` runs it (otherwise only with `--methods`).
        mechanism (`tuple[tuple[str, str], ...]`): logged metrics that show the method's mechanism at work, as
            ``(log key, label)`` pairs (plotted over steps in the report's `mechanisms.png`).
    """

    name: str
    label: str
    trainer: str
    config: str
    overrides: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    targets: tuple[str, ...] = ()
    default: bool = True
    mechanism: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.name or not all(c.islower() or c.isdigit() or c == "_" for c in self.name):
            raise ValueError(f"`name` must be lower case letters, digits and '_', got {self.name!r}.")
        for value, what in ((self.trainer, "trainer"), (self.config, "config")):
            if value.count(":") != 1:
                raise ValueError(f"`{what}` must be 'module:Class', got {value!r}.")
        from .quantities import QUANTITIES

        unknown = [t for t in self.targets if t not in QUANTITIES]
        if unknown:
            raise ValueError(f"`targets` {unknown} are not quantities; known: {sorted(QUANTITIES)}.")

    def load(self) -> tuple[type, type]:
        """Import and return ``(trainer_class, config_class)``."""
        classes = []
        for target in (self.trainer, self.config):
            module, _, name = target.partition(":")
            classes.append(getattr(importlib.import_module(module), name))
        return classes[0], classes[1]


METHODS: dict[str, DemoMethod] = {}


def register_method(method: DemoMethod, *, replace: bool = False) -> DemoMethod:
    """Add `method` to `METHODS` (the demo runs registered methods in registration order, GRPO first)."""
    if method.name in METHODS and not replace:
        raise ValueError(f"A demo method named {method.name!r} is already registered (pass replace=True).")
    METHODS[method.name] = method
    return method


_RNG = "trl_explore.trainers:RelativeNegativeGRPOTrainer", "trl_explore.trainers:RelativeNegativeConfig"

for _method in [
    DemoMethod(
        name="grpo",
        label="GRPO",
        trainer="trl:GRPOTrainer",
        config="trl:GRPOConfig",
        summary="the baseline: TRL's GRPOTrainer, group-normalised advantages, clipped surrogate (ε = 0.2).",
        mechanism=(("clip_ratio/region_mean", "share of tokens clipped"),),
    ),
    DemoMethod(
        name="lp_reg",
        label="Lp-Reg",
        trainer="trl_explore.trainers:LpRegGRPOTrainer",
        config="trl_explore.trainers:LpRegConfig",
        # The released recipe: clip range [0, 10], κ = 0.02, β = 1. ρ is raised from 1% because a toy micro-batch has
        # a few hundred negative tokens and the released rule needs k = int(n·ρ) > 1 to select anything.
        overrides={"lp_reg_rho": 0.05, "epsilon": 1.0, "epsilon_high": 9.0},
        summary="arXiv 2510.03222: shields the low-probability tokens of negative samples with a KL to a "
        "min-p-filtered proxy; clip range [0, 10].",
        targets=("entropy", "low_prob_share"),
        mechanism=(("lp_reg/frac_selected", "share of tokens shielded"),),
    ),
    DemoMethod(
        name="grpo_n",
        label="GRPO-N",
        trainer=_RNG[0],
        config=_RNG[1],
        overrides={"advantage_mode": "grpo_n"},
        summary="arXiv 2510.04028: keeps only the relative-negative part min(A, 0) of GRPO's advantages.",
        targets=("pass@k",),
        mechanism=(("rng/frac_mixed_groups", "share of groups with a learning signal"),),
    ),
    DemoMethod(
        name="nsr",
        label="NSR",
        trainer=_RNG[0],
        config=_RNG[1],
        overrides={"advantage_mode": "nsr", "negative_normalization": "selected_tokens"},
        summary="arXiv 2506.01347: advantage -1 for incorrect samples, correct ones dropped; no baseline.",
        targets=("pass@k",),
        mechanism=(("rng/frac_kept_samples", "share of samples pushed down"),),
    ),
    DemoMethod(
        name="w_reinforce",
        label="W-REINFORCE",
        trainer=_RNG[0],
        config=_RNG[1],
        overrides={"advantage_mode": "w_reinforce", "positive_weight": 0.1},
        summary="arXiv 2506.01347: advantage +0.1 for correct, -1 for incorrect samples.",
        targets=("pass@k",),
        mechanism=(("rng/frac_negative_tokens", "share of tokens pushed down"),),
    ),
    DemoMethod(
        name="hapo",
        label="HAPO",
        trainer="trl_explore.trainers:HAPOGRPOTrainer",
        config="trl_explore.trainers:HAPOConfig",
        # all four parts with the released defaults (τ = 0.05, α = β = 1, dual clip 10, paper sign) on the shared
        # budget; the regime's 4 optimizer steps per generation move the importance ratio that DAR and AAC act on
        summary="arXiv 2509.16591: per-token entropy drives the rollout temperature, group-token advantages, "
        "advantage redistribution and asymmetric clipping.",
        targets=("pass@1", "entropy"),
        mechanism=(
            ("hapo/temperature_mean", "mean rollout temperature"),
            ("hapo/dar_frac_amplified", "share of tokens whose advantage was amplified"),
        ),
    ),
    DemoMethod(
        name="spear",
        label="SPEAR (replay)",
        trainer="trl_explore.trainers:SPEARGRPOTrainer",
        config="trl_explore.trainers:SPEARConfig",
        # the demo's task has no tool: SPEAR's self-imitation replay with Clip-Cov on the replayed tokens, a buffer
        # sized so that replay triggers every few generations here, and a 30-step warm-up of the replay weight γ(t)
        overrides={"sil_buffer_size": 32, "sil_warmup_steps": 30},
        summary="arXiv 2509.22601: replays the best recent completions (self-imitation) with Clip-Cov on the "
        "replayed tokens (no tool on this task).",
        targets=("pass@1",),
        mechanism=(("spear/replay_rows", "replayed rows per generation"),),
    ),
    DemoMethod(
        name="psr",
        label="PSR",
        trainer=_RNG[0],
        config=_RNG[1],
        overrides={"advantage_mode": "psr", "negative_normalization": "selected_tokens"},
        summary="arXiv 2506.01347 (ablation, not in the default run): advantage +1 for correct samples only.",
        targets=("pass@k",),
        default=False,
    ),
]:
    register_method(_method)


def resolve_methods(names: list[str] | None) -> list[DemoMethod]:
    """Methods by name (default: every registered method with ``default=True``), GRPO first since the others are
    compared with it; GRPO is added when missing."""
    if not names:
        chosen = [m for m in METHODS.values() if m.default]
    else:
        unknown = [n for n in names if n not in METHODS]
        if unknown:
            raise ValueError(f"`methods`: Unknown method(s) {unknown}; available: {', '.join(METHODS)}.")
        chosen = [METHODS[n] for n in dict.fromkeys(names)]
    if BASELINE not in {m.name for m in chosen}:
        chosen.append(METHODS[BASELINE])
    return sorted(chosen, key=lambda m: m.name != BASELINE)
