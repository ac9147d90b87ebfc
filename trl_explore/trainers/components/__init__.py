"""Exploration components of `ExploreGRPOTrainer` and their protocol (`base`).

Importing this package registers the built-in components, in this order (the order of `ExploreGRPOTrainer.components`
and the tie-break within a phase): Lp-Reg, relative-negative advantages, HAPO's four parts, Clip-Cov / KL-Cov, the
Dr.BoT filters, SPEAR's self-imitation replay. A component of your own is registered with `register_component` from
any module (see the docs page "Writing a component").
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

# isort: off
# registration order of the built-in components (kept by hand: the import order is the registration order)
from .lp_reg import LpRegArguments, LpRegComponent
from .relative_negative import RelativeNegativeArguments, RelativeNegativeComponent
from .hapo import HAPOArguments, HapoClipComponent, HapoDARComponent, HapoTemperatureComponent, HapoTLGAComponent
from .covariance import ClipCovComponent, CovarianceArguments, KLCovComponent
from .dr_bot import DrBoTArguments, DrBoTComponent
from .spear import SelfImitationComponent, SPEARArguments

# isort: on

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
    "HAPOArguments",
    "HapoClipComponent",
    "HapoDARComponent",
    "HapoTLGAComponent",
    "HapoTemperatureComponent",
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
