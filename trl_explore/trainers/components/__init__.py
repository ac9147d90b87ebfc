"""Exploration components of `ExploreGRPOTrainer` and their protocol (`base`).

`BUILTIN_MODULES` is the one list of the built-in components: one module of this package each, in registration order
(the order of `ExploreGRPOTrainer.components` and the tie-break within a phase). Everything else derives from it: the
registry (importing this package imports the modules in that order, and their `register_component` decorators run),
`BUILTIN_COMPONENTS` and `BUILTIN_ARGUMENTS`, `ExploreGRPOConfig`'s fields and docstring sections, and the test suite's
validation table and multi-process cases. A new built-in component is a new module plus one line in the tuple.

A component of your own is registered with `register_component` from any module (see the docs page "Writing a
component").
"""

from __future__ import annotations

import importlib

from .base import (
    ADDED_KEY,
    DEFAULT_ORDER,
    IN_MASK_KEY,
    KEEP_KEY,
    METRIC_REDUCTIONS,
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
    SharedSlot,
    SharedValues,
    merge_token_stats_requests,
    register_component,
    registered_components,
    unregister_component,
)

#: The built-in component modules (of this package), in registration order: the single source (module docstring)
BUILTIN_MODULES: tuple[str, ...] = (
    "lp_reg",
    "relative_negative",
    "hapo",
    "covariance",
    "dr_bot",
    "spear",
)


def _import_builtins(modules: tuple[str, ...]) -> tuple[type[ExploreComponent], ...]:
    """Import ``modules`` in order (their components register themselves) and return their component classes, in
    registration order."""
    classes: list[type[ExploreComponent]] = []
    for module_name in modules:
        module = importlib.import_module(f"{__name__}.{module_name}")
        classes += [c for c in registered_components() if c.__module__ == module.__name__ and c not in classes]
    return tuple(classes)


#: The built-in component classes, in registration order
BUILTIN_COMPONENTS: tuple[type[ExploreComponent], ...] = _import_builtins(BUILTIN_MODULES)
#: Their config-field mixins, each once, in registration order (`ExploreGRPOConfig` composes them)
BUILTIN_ARGUMENTS: tuple[type[ComponentArguments], ...] = tuple(
    dict.fromkeys(c.arguments for c in BUILTIN_COMPONENTS if c.arguments is not None)
)

# public names of the built-in modules (already imported, and registered, by `_import_builtins` above)
from .covariance import ClipCovComponent, CovarianceArguments, KLCovComponent  # noqa: E402
from .dr_bot import DrBoTArguments, DrBoTComponent  # noqa: E402
from .hapo import HAPOArguments, HapoClipComponent, HapoDARComponent, HapoTemperatureComponent, HapoTLGAComponent  # noqa: E402
from .lp_reg import LpRegArguments, LpRegComponent  # noqa: E402
from .relative_negative import RelativeNegativeArguments, RelativeNegativeComponent  # noqa: E402
from .spear import SelfImitationComponent, SPEARArguments  # noqa: E402

__all__ = [
    "ADDED_KEY",
    "BUILTIN_ARGUMENTS",
    "BUILTIN_COMPONENTS",
    "BUILTIN_MODULES",
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
    "METRIC_REDUCTIONS",
    "LpRegArguments",
    "LpRegComponent",
    "Metric",
    "RelativeNegativeArguments",
    "RelativeNegativeComponent",
    "SPEARArguments",
    "SamplingContext",
    "SamplingRequest",
    "SelfImitationComponent",
    "SharedSlot",
    "SharedValues",
    "merge_token_stats_requests",
    "register_component",
    "registered_components",
    "unregister_component",
]
