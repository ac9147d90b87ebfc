"""`HAPOConfig`: `ExploreGRPOConfig` with the four HAPO parts on and the released recipe's defaults (arXiv 2509.16591)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .explore_grpo_config import ExploreGRPOConfig

# Optimizer steps per generation batch in the released recipes: 512 prompts x 16 samples, mini-batch 32 prompts
RECIPE_UPDATES_PER_GENERATION = 16


@dataclass
class HAPOConfig(ExploreGRPOConfig):
    r"""
    Configuration class for [`HAPOGRPOTrainer`]: [`ExploreGRPOConfig`] with token-level group average advantages,
    differential advantage redistribution, asymmetric adaptive clipping and adaptive temperature sampling on, and the
    defaults of the released recipes.

    When neither `steps_per_generation` nor `generation_batch_size` is given, `steps_per_generation` becomes
    `16 · gradient_accumulation_steps`: 16 optimizer steps per generation batch, as released, so that the importance
    ratio moves and the redistribution and the adaptive clipping act (with one step per generation the ratio is 1).

    Parameters whose defaults differ from [`ExploreGRPOConfig`]:
        hapo_tlga, hapo_dar, hapo_adaptive_clip, hapo_adaptive_temperature (`bool`, *optional*, defaults to `True`):
            All four HAPO parts on.
        vllm_importance_sampling_correction (`bool`, *optional*, defaults to `False`):
            Off, as released: the adaptive temperature samples away from T_base, at which TRL scores the rollouts.
        loss_type (`str`, *optional*, defaults to `"dapo"`):
            Token-mean aggregation.
        beta (`float`, *optional*, defaults to `0.0`):
            No reference KL.
        epsilon (`float`, *optional*, defaults to `0.2`) and epsilon_high (`float`, *optional*, defaults to `0.2`):
            Clip 0.2 / 0.2 as released (the paper reports 0.2 / 0.28).
        learning_rate (`float`, *optional*, defaults to `1e-6`):
            Learning rate of the released recipes (gradient clip 1.0 is TRL's default `max_grad_norm`).
        warmup_steps (`int`, *optional*, defaults to `10`):
            Warm-up steps of the released recipes.
        weight_decay (`float`, *optional*, defaults to `0.1`):
            Weight decay of the released recipes.
        temperature (`float`, *optional*, defaults to `1.0`):
            Base sampling temperature T_base.
    """

    hapo_tlga: bool = field(default=True, metadata={"help": "HAPO token-level group average advantages."})
    hapo_dar: bool = field(default=True, metadata={"help": "HAPO differential advantage redistribution."})
    hapo_adaptive_clip: bool = field(default=True, metadata={"help": "HAPO asymmetric adaptive clipping."})
    hapo_adaptive_temperature: bool = field(
        default=True, metadata={"help": "HAPO adaptive temperature sampling of training rollouts."}
    )
    vllm_importance_sampling_correction: bool = field(
        default=False, metadata={"help": "TRL's vLLM importance-sampling correction (off, as released HAPO)."}
    )
    loss_type: str = field(default="dapo", metadata={"help": "Token-mean aggregation."})
    beta: float = field(default=0.0, metadata={"help": "Reference KL coefficient (HAPO uses none)."})
    epsilon: float = field(default=0.2, metadata={"help": "Lower clip ε_L (released 0.2)."})
    epsilon_high: float | None = field(default=0.2, metadata={"help": "Upper clip ε_R (released 0.2, paper 0.28)."})
    learning_rate: float = field(default=1e-6, metadata={"help": "Learning rate of the released recipes."})
    warmup_steps: float = field(default=10, metadata={"help": "Warm-up steps of the released recipes."})
    weight_decay: float = field(default=0.1, metadata={"help": "Weight decay of the released recipes."})
    temperature: float = field(default=1.0, metadata={"help": "Base sampling temperature T_base."})

    def __post_init__(self) -> None:
        if self.steps_per_generation is None and self.generation_batch_size is None:
            self.steps_per_generation = RECIPE_UPDATES_PER_GENERATION * self.gradient_accumulation_steps
        super().__post_init__()
