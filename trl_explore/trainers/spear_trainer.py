"""`SPEARGRPOTrainer`: the `ExploreGRPOTrainer` with SPEAR's self-imitation replay on (arXiv 2509.22601)."""

from __future__ import annotations

from .explore_grpo_trainer import ExploreGRPOTrainer
from .spear_config import SPEARConfig


class SPEARGRPOTrainer(ExploreGRPOTrainer):
    """SPEAR: `ExploreGRPOTrainer` whose ``args`` default to `SPEARConfig` (replay, its warm-up and replay Clip-Cov on).

    Works with TRL's tool calling (``tools=[...]``, multi-turn) and ``environment_factory`` (TRL needs transformers
    >= 5.0 for tools and >= 5.2 for environments); pass `trl_explore.rewards.toolcall_reward` among ``reward_funcs``
    for the tool-call curriculum. A plain `trl.GRPOConfig` is accepted and upgraded with replay on.

    Example:
        ```python
        from trl_explore.rewards import toolcall_reward
        from trl_explore.toy.tools import calculator
        from trl_explore.trainers import SPEARConfig, SPEARGRPOTrainer

        trainer = SPEARGRPOTrainer(
            model="Qwen/Qwen3-0.6B",
            reward_funcs=[accuracy_reward, toolcall_reward(per_call=0.1, cap=1.0, schedule="cosine", steps=200)],
            args=SPEARConfig.dr_bot_recipe(output_dir="out"),
            train_dataset=dataset,
            tools=[calculator],
        )
        ```
    """

    _tag_names = ["trl", "grpo", "trl_explore", "spear"]

    config_class = SPEARConfig
    _default_output_suffix = "SPEAR"

    def _method_off_warning(self) -> str | None:
        if self.args.sil:
            return None
        return "SPEARGRPOTrainer was given `sil=False`: no replay (a plain ExploreGRPOTrainer)."
