"""Trainers: thin subclasses of TRL trainers. Names are resolved lazily so importing this package stays cheap."""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "ExploreGRPOConfig": "explore_grpo_config",
    "ExploreGRPOTrainer": "explore_grpo_trainer",
    "ExploreComponent": "explore_grpo_trainer",
    "LossContext": "explore_grpo_trainer",
    "LpRegComponent": "lp_reg_component",
    "LpRegConfig": "lp_reg_config",
    "LpRegGRPOTrainer": "lp_reg_trainer",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trl_explore.trainers' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
