"""Configuration of `ExploreGRPOTrainer`: TRL's `GRPOConfig` plus every built-in component's fields, each off by
default. The fields of each component live next to it (`trl_explore.trainers.components`) as a dataclass mixin; the
mixins, and the docstring sections that document them, come from `trl_explore.trainers.components.BUILTIN_ARGUMENTS`
(derived from the one tuple `BUILTIN_MODULES`)."""

from __future__ import annotations

import inspect
import logging
import textwrap
from dataclasses import dataclass, field

from transformers import SchedulerType
from trl import GRPOConfig

from .._device import resolve_precision
from .._validation import (
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_optional_int,
    check_optional_number,
)
from .components import BUILTIN_ARGUMENTS
from .components.base import NEGATIVE_NORMALIZATIONS, OWN_LOSS_TYPES, ComponentArguments

logger = logging.getLogger(__name__)

#: `loss_type` values of TRL 1.16's `GRPOConfig` (a tripwire test reads them in TRL's own help text)
TRL_LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo")
#: `lr_scheduler_type` values of transformers
LR_SCHEDULERS = tuple(s.value for s in SchedulerType)

__all__ = ["NEGATIVE_NORMALIZATIONS", "OWN_LOSS_TYPES", "TRL_LOSS_TYPES", "ExploreGRPOConfig", "arguments_docstring"]


def arguments_docstring(mixins: tuple[type[ComponentArguments], ...]) -> str:
    """The docstring sections of the component mixins ``mixins``, in order, indented as a class docstring's body.

    Each mixin's docstring is one TRL-grammar section (a ``> Parameters of ...`` line, then its fields), so the
    composed config documents every field where TRL's `GRPOConfig` documents its own."""
    sections = [textwrap.indent(inspect.cleandoc(m.__doc__ or ""), "    ") for m in mixins if m.__doc__]
    return "\n\n".join(sections)


@dataclass
class ExploreGRPOConfig(*reversed(BUILTIN_ARGUMENTS), GRPOConfig):
    r"""
    Configuration class for [`ExploreGRPOTrainer`]: every parameter of [`~trl.GRPOConfig`] plus the fields of the
    built-in exploration components. Every component is off by default; with all of them off the trainer is TRL's
    `GRPOTrainer` (loss and gradients equal).

    The component fields follow, one section per built-in component's `ComponentArguments` mixin (in the order of
    `trl_explore.trainers.components.BUILTIN_MODULES`; the mixins are this class's bases, first component last).

    A component of your own adds its fields by composing its `ComponentArguments` mixin in front of this class
    (``@dataclass class MyConfig(MyArguments, ExploreGRPOConfig)``); its `validate` runs in ``__post_init__``.

    Parameters (besides TRL's and the components'):
        max_invalid_reward_batches (`int`, *optional*, defaults to `10`):
            Stop training after this many generation batches in a row in which no completion got a valid reward
            (every function returned `None`, NaN or inf: nothing trains), logging an error that names the reward
            function(s); `train()` returns and `trainer.stop_reason` holds the message. `0` never stops.

    Checked at construction besides the component fields: `max_completion_length` >= 1 (or `None`), `top_k` >= 0;
    when the trainer is built, `top_k` is refused above the model's vocabulary size.
    """

    max_invalid_reward_batches: int = field(
        default=10,
        metadata={
            "help": "Stop after this many generation batches in a row without any valid reward (None/NaN/inf from "
            "every reward function); 0 never stops."
        },
    )

    def __post_init__(self) -> None:
        self._validate_trl_fields()
        resolve_precision(self)
        super().__post_init__()
        self._validate_components()

    def _validate_trl_fields(self) -> None:
        """Type, range and finiteness of the TRL fields the named configs re-declare with their recipes' defaults
        (`LpRegConfig`, `HAPOConfig`, ...), checked before TRL's own ``__post_init__`` reads them."""
        check_number(self, "epsilon", low=0.0)
        check_optional_number(self, "epsilon_high", low=0.0)
        check_number(self, "beta", low=0.0)
        check_number(self, "temperature", low=0.0, low_open=True)
        check_number(self, "top_p", low=0.0, high=1.0, low_open=True)
        check_number(self, "learning_rate", low=0.0)
        check_number(self, "weight_decay", low=0.0)
        check_number(self, "warmup_steps", low=0.0)
        check_choice(self, "loss_type", TRL_LOSS_TYPES)
        scheduler = self.lr_scheduler_type
        check_choice(None, "lr_scheduler_type", LR_SCHEDULERS, value=getattr(scheduler, "value", scheduler))
        check_bool(self, "vllm_importance_sampling_correction")
        check_optional_int(self, "steps_per_generation", low=1)
        check_optional_int(self, "max_completion_length", low=1)
        check_int(self, "top_k", low=0)
        check_int(self, "max_invalid_reward_batches", low=0)

    def _validate_components(self) -> None:
        """Run `ComponentArguments.validate` of every component mixin of this config class, base-most first."""
        for klass in reversed(type(self).__mro__):
            if issubclass(klass, ComponentArguments) and "validate" in vars(klass):
                klass.validate(self)


ExploreGRPOConfig.__doc__ = f"{ExploreGRPOConfig.__doc__.rstrip()}\n\n{arguments_docstring(BUILTIN_ARGUMENTS)}\n"
