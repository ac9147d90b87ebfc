"""`RelativeNegativeGRPOTrainer`: the `ExploreGRPOTrainer` with relative-negative advantages (arXiv 2510.04028 /
2506.01347)."""

from __future__ import annotations

import logging
from typing import Any

from .explore_grpo_trainer import ExploreGRPOTrainer
from .relative_negative_config import RelativeNegativeConfig

logger = logging.getLogger(__name__)


class RelativeNegativeGRPOTrainer(ExploreGRPOTrainer):
    """GRPO-N and friends: `ExploreGRPOTrainer` whose ``args`` default to `RelativeNegativeConfig` (GRPO-N on).

    Example:
        ```python
        from trl_explore.trainers import RelativeNegativeConfig, RelativeNegativeGRPOTrainer

        args = RelativeNegativeConfig.nsr_recipe(output_dir="out")  # or RelativeNegativeConfig(output_dir="out")
        trainer = RelativeNegativeGRPOTrainer(model="Qwen/Qwen2.5-0.5B", reward_funcs=reward, args=args,
                                              train_dataset=dataset)
        ```
    """

    _tag_names = ["trl", "grpo", "trl_explore", "relative_negative"]

    config_class = RelativeNegativeConfig
    _default_output_suffix = "RelativeNegative"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.args.relative_negative_enabled:
            logger.warning(
                "RelativeNegativeGRPOTrainer was given advantage_mode='grpo' and rng_metrics=False: it runs as a "
                "plain ExploreGRPOTrainer."
            )
