"""The methods the demo compares. Adding a method to the demo is one entry in `METHODS`."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DemoMethod:
    """One RL method of the demo: which trainer/config classes to use and the settings that define the method.

    Args:
        name: key used on the command line (`--methods grpo lp_reg`).
        label: name in plots and tables.
        trainer: ``"module:Class"`` of the trainer.
        config: ``"module:Class"`` of its config.
        overrides: config fields that define the method on top of the demo's shared budget (e.g. Lp-Reg's clip range).
        summary: one line for the report.
    """

    name: str
    label: str
    trainer: str
    config: str
    overrides: dict[str, Any] = field(default_factory=dict)
    summary: str = ""

    def load(self) -> tuple[type, type]:
        """Import and return ``(trainer_class, config_class)``."""
        classes = []
        for target in (self.trainer, self.config):
            module, _, name = target.partition(":")
            classes.append(getattr(importlib.import_module(module), name))
        return classes[0], classes[1]


METHODS: dict[str, DemoMethod] = {
    m.name: m
    for m in [
        DemoMethod(
            name="grpo",
            label="GRPO",
            trainer="trl:GRPOTrainer",
            config="trl:GRPOConfig",
            summary="TRL's GRPOTrainer: group-normalised advantages, clipped surrogate (ε = 0.2).",
        ),
        DemoMethod(
            name="lp_reg",
            label="Lp-Reg",
            trainer="trl_explore.trainers:LpRegGRPOTrainer",
            config="trl_explore.trainers:LpRegConfig",
            # The released recipe: clip range [0, 10], κ = 0.02. ρ is raised from 1% because a toy batch has a few
            # hundred negative tokens and the released rule needs k = int(n·ρ) > 1 to select anything.
            overrides={"lp_reg_rho": 0.05},
            summary="Lp-Reg (arXiv 2510.03222): shields low-probability tokens of negative samples with a KL to a "
            "min-p-filtered proxy; clip range [0, 10].",
        ),
        DemoMethod(
            name="grpo_n",
            label="GRPO-N",
            trainer="trl_explore.trainers:RelativeNegativeGRPOTrainer",
            config="trl_explore.trainers:RelativeNegativeConfig",
            overrides={"advantage_mode": "grpo_n"},
            summary="GRPO-N (arXiv 2510.04028): keeps only the relative-negative part min(A_grpo, 0) of GRPO's "
            "advantages.",
        ),
        DemoMethod(
            name="nsr",
            label="NSR",
            trainer="trl_explore.trainers:RelativeNegativeGRPOTrainer",
            config="trl_explore.trainers:RelativeNegativeConfig",
            overrides={"advantage_mode": "nsr", "negative_normalization": "selected_tokens"},
            summary="NSR (arXiv 2506.01347): -1 for incorrect samples, correct ones dropped; no baseline, no std.",
        ),
        DemoMethod(
            name="w_reinforce",
            label="W-REINFORCE",
            trainer="trl_explore.trainers:RelativeNegativeGRPOTrainer",
            config="trl_explore.trainers:RelativeNegativeConfig",
            overrides={"advantage_mode": "w_reinforce", "positive_weight": 0.1},
            summary="W-REINFORCE (arXiv 2506.01347): +0.1 for correct, -1 for incorrect samples.",
        ),
    ]
}


def resolve_methods(names: list[str] | None) -> list[DemoMethod]:
    """Methods by name (all when `names` is empty); GRPO first since the others are compared with it."""
    if not names:
        return list(METHODS.values())
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ValueError(f"`methods`: Unknown method(s) {unknown}; available: {sorted(METHODS)}.")
    return sorted((METHODS[n] for n in dict.fromkeys(names)), key=lambda m: m.name != "grpo")
