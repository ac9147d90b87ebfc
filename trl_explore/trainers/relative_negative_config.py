"""`RelativeNegativeConfig`: `ExploreGRPOConfig` with relative-negative advantages on (GRPO-N, arXiv 2510.04028), and
presets for the NSR / W-REINFORCE recipe (arXiv 2506.01347)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .components.relative_negative import ADVANTAGE_MODES
from .explore_grpo_config import ExploreGRPOConfig

# Optimizer steps per generation batch in the NSR / W-REINFORCE released scripts: 1024 prompts x 8 samples per
# generation, mini-batch 256 prompts, one pass over the data
RECIPE_UPDATES_PER_GENERATION = 4


@dataclass
class RelativeNegativeConfig(ExploreGRPOConfig):
    r"""
    Configuration class for [`RelativeNegativeGRPOTrainer`]: [`ExploreGRPOConfig`] with GRPO-N advantages
    (`min(A_grpo, 0)`, relative-negative gradients only) and the `rng/*` metrics on.

    Parameters whose defaults differ from [`ExploreGRPOConfig`]:
        advantage_mode (`str`, *optional*, defaults to `"grpo_n"`):
            GRPO-N. Any mode of [`ExploreGRPOConfig`] may be chosen (`"gspo_n"`, `"nsr"`, `"psr"`, `"w_reinforce"`,
            `"grpo"` for the baseline with the same metrics).
        rng_metrics (`bool`, *optional*, defaults to `True`):
            Log `rng/*` metrics, also with `advantage_mode="grpo"`.

    Presets (classmethods returning a config; keyword arguments override any field):
        - [`~RelativeNegativeConfig.nsr_recipe`]: NSR as released by Zhu et al.
        - [`~RelativeNegativeConfig.w_reinforce_recipe`]: W-REINFORCE (λ = 0.1) with the same recipe.
        - [`~RelativeNegativeConfig.grpo_n_recipe`]: GRPO-N with the same optimisation settings.
    """

    advantage_mode: str = field(
        default="grpo_n",
        metadata={"help": "Advantage mode (GRPO-N by default).", "choices": list(ADVANTAGE_MODES)},
    )
    rng_metrics: bool = field(default=True, metadata={"help": "Log the rng/* metrics with advantage_mode='grpo' too."})

    @classmethod
    def recipe_defaults(cls, gradient_accumulation_steps: int = 1) -> dict[str, Any]:
        """The optimisation settings of the NSR / W-REINFORCE released scripts in TRL 1.16 terms.

        - PPO clip 0.2 on both sides: `epsilon=0.2`, `epsilon_high=0.2`;
        - no KL: `beta=0.0`;
        - 4 optimizer steps per generation batch, each sample used once: `num_iterations=1` and
          `steps_per_generation = 4 · gradient_accumulation_steps` (TRL generates `per_device_train_batch_size ·
          num_processes · steps_per_generation` completions at once and takes an optimizer step every
          `gradient_accumulation_steps` micro-batches). Old log-probs are then computed by TRL, so the later updates
          are clipped against the generating policy, as in the recipe;
        - token-mean loss over the global batch: `loss_type="dapo"` (verl's `token-mean`);
        - learning rate 1e-6, constant schedule, no warmup; temperature 1.0; 8 samples per prompt;
          `max_completion_length=3072`.

        Not reproduced: the entropy bonus (1e-4 in the paper, 1e-3 in the repository config) is left at
        `entropy_coef=0.0`; pass `entropy_coef=1e-4` to add TRL's static entropy bonus.
        """
        return dict(
            epsilon=0.2,
            epsilon_high=0.2,
            beta=0.0,
            num_iterations=1,
            gradient_accumulation_steps=gradient_accumulation_steps,
            steps_per_generation=RECIPE_UPDATES_PER_GENERATION * gradient_accumulation_steps,
            loss_type="dapo",
            learning_rate=1e-6,
            lr_scheduler_type="constant",
            warmup_steps=0,
            temperature=1.0,
            num_generations=8,
            max_completion_length=3072,
        )

    @classmethod
    def _recipe(cls, mode_fields: dict[str, Any], overrides: dict[str, Any]) -> RelativeNegativeConfig:
        kwargs = cls.recipe_defaults(overrides.get("gradient_accumulation_steps", 1))
        if "generation_batch_size" in overrides:  # TRL refuses both; the caller's choice wins
            kwargs.pop("steps_per_generation")
        kwargs.update(mode_fields)
        kwargs.update(overrides)
        return cls(**kwargs)

    @classmethod
    def nsr_recipe(cls, **overrides: Any) -> RelativeNegativeConfig:
        """NSR (`advantage_mode="nsr"`, `negative_normalization="selected_tokens"`: the released code subsets the
        batch to incorrect samples) with `recipe_defaults`; keyword arguments override any field."""
        return cls._recipe({"advantage_mode": "nsr", "negative_normalization": "selected_tokens"}, overrides)

    @classmethod
    def w_reinforce_recipe(cls, **overrides: Any) -> RelativeNegativeConfig:
        """W-REINFORCE (`advantage_mode="w_reinforce"`, λ = `positive_weight` = 0.1) with `recipe_defaults`."""
        return cls._recipe({"advantage_mode": "w_reinforce", "positive_weight": 0.1}, overrides)

    @classmethod
    def grpo_n_recipe(cls, **overrides: Any) -> RelativeNegativeConfig:
        """GRPO-N (`advantage_mode="grpo_n"`, `negative_normalization="all_tokens"`) with `recipe_defaults`."""
        return cls._recipe({"advantage_mode": "grpo_n", "negative_normalization": "all_tokens"}, overrides)
