"""`RelativeNegativeGRPOTrainer`: the `ExploreGRPOTrainer` with relative-negative advantages (arXiv 2510.04028 /
2506.01347)."""

from __future__ import annotations

from .explore_grpo_trainer import ExploreGRPOTrainer
from .relative_negative_config import RelativeNegativeConfig


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

    def _method_off_warning(self) -> str | None:
        if self.args.relative_negative_enabled:
            return None
        return (
            "RelativeNegativeGRPOTrainer was given advantage_mode='grpo' and rng_metrics=False: it runs as a plain "
            "ExploreGRPOTrainer."
        )
