"""`HAPOGRPOTrainer`: the `ExploreGRPOTrainer` with the four HAPO parts on (arXiv 2509.16591)."""

from __future__ import annotations

from .explore_grpo_trainer import ExploreGRPOTrainer
from .hapo_config import HAPOConfig


class HAPOGRPOTrainer(ExploreGRPOTrainer):
    """HAPO: `ExploreGRPOTrainer` whose ``args`` default to `HAPOConfig` (all four parts on, released defaults).

    A plain `trl.GRPOConfig` is accepted and upgraded with the four HAPO parts on (its other fields kept as given).

    Example:
        ```python
        from trl_explore.trainers import HAPOConfig, HAPOGRPOTrainer

        trainer = HAPOGRPOTrainer(model="Qwen/Qwen2.5-Math-1.5B", reward_funcs=reward,
                                  args=HAPOConfig(output_dir="out"), train_dataset=dataset)
        ```
    """

    _tag_names = ["trl", "grpo", "trl_explore", "hapo"]
    config_class = HAPOConfig
    _default_output_suffix = "HAPO"

    def _method_off_warning(self) -> str | None:
        if self.args.hapo_enabled:
            return None
        return "HAPOGRPOTrainer was given every HAPO part off: it runs as a plain ExploreGRPOTrainer."
