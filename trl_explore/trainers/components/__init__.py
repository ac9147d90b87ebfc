"""Exploration components of `ExploreGRPOTrainer` and their protocol (`base`).

Importing this package registers the built-in components (Lp-Reg, relative-negative advantages). A component of your
own is registered with `register_component` from any module (see the docs page "Writing a component").
"""

from __future__ import annotations

from .base import (
    ADDED_KEY,
    DEFAULT_ORDER,
    IN_MASK_KEY,
    KEEP_KEY,
    OWN_LOSS_TYPES,
    PHASES,
    ROW_WEIGHT_KEY,
    ComponentArguments,
    ExploreComponent,
    GenerationContext,
    LossContext,
    Metric,
    SamplingContext,
    SamplingRequest,
    merge_token_stats_requests,
    register_component,
    registered_components,
    unregister_component,
)
from .lp_reg import LpRegArguments, LpRegComponent
from .relative_negative import RelativeNegativeArguments, RelativeNegativeComponent

__all__ = [
    "ADDED_KEY",
    "DEFAULT_ORDER",
    "IN_MASK_KEY",
    "KEEP_KEY",
    "OWN_LOSS_TYPES",
    "PHASES",
    "ROW_WEIGHT_KEY",
    "ComponentArguments",
    "ExploreComponent",
    "GenerationContext",
    "LossContext",
    "LpRegArguments",
    "LpRegComponent",
    "Metric",
    "RelativeNegativeArguments",
    "RelativeNegativeComponent",
    "SamplingContext",
    "SamplingRequest",
    "merge_token_stats_requests",
    "register_component",
    "registered_components",
    "unregister_component",
]
