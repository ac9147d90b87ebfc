"""`LpRegGRPOTrainer`: the `ExploreGRPOTrainer` with Lp-Reg on (arXiv 2510.03222)."""

from __future__ import annotations

from .explore_grpo_trainer import ExploreGRPOTrainer
from .lp_reg_config import LpRegConfig


class LpRegGRPOTrainer(ExploreGRPOTrainer):
    """Lp-Reg GRPO: `ExploreGRPOTrainer` whose ``args`` default to `LpRegConfig` (Lp-Reg on, recipe defaults).

    A plain `trl.GRPOConfig` is accepted and upgraded with Lp-Reg on (its other fields are kept as given).

    Example:
        ```python
        from trl_explore.trainers import LpRegConfig, LpRegGRPOTrainer

        trainer = LpRegGRPOTrainer(model="Qwen/Qwen2.5-0.5B", reward_funcs=reward, args=LpRegConfig(output_dir="out"),
                                   train_dataset=dataset)
        ```
    """

    _tag_names = ["trl", "grpo", "trl_explore", "lp_reg"]

    config_class = LpRegConfig
    _default_output_suffix = "LpReg"

    def _method_off_warning(self) -> str | None:
        if self.args.lp_reg:
            return None
        return "LpRegGRPOTrainer was given `lp_reg=False`: it runs as a plain ExploreGRPOTrainer."
