"""Exploration components of `ExploreGRPOTrainer` and their protocol (`base`).

Importing this package registers the built-in components (Lp-Reg, relative-negative advantages, Clip-Cov / KL-Cov,
Dr.BoT filters, SPEAR's self-imitation replay). A component of your
own is registered with `register_component` from any module (see the docs page "Writing a component").
"""

# The import order is the registration order (it breaks ties within a phase), hence not alphabetical
from __future__ import annotations  # noqa: I001

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
from .covariance import ClipCovComponent, CovarianceArguments, KLCovComponent
from .dr_bot import DrBoTArguments, DrBoTComponent
from .spear import SelfImitationComponent, SPEARArguments

__all__ = [
    "ADDED_KEY",
    "ClipCovComponent",
    "CovarianceArguments",
    "DEFAULT_ORDER",
    "DrBoTArguments",
    "DrBoTComponent",
    "IN_MASK_KEY",
    "KEEP_KEY",
    "OWN_LOSS_TYPES",
    "PHASES",
    "ROW_WEIGHT_KEY",
    "ComponentArguments",
    "ExploreComponent",
    "GenerationContext",
    "KLCovComponent",
    "LossContext",
    "LpRegArguments",
    "LpRegComponent",
    "Metric",
    "RelativeNegativeArguments",
    "RelativeNegativeComponent",
    "SPEARArguments",
    "SamplingContext",
    "SamplingRequest",
    "SelfImitationComponent",
    "merge_token_stats_requests",
    "register_component",
    "registered_components",
    "unregister_component",
]
