"""`LpRegConfig`: `ExploreGRPOConfig` with Lp-Reg on and the released recipe's defaults (arXiv 2510.03222)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .explore_grpo_config import ExploreGRPOConfig


@dataclass
class LpRegConfig(ExploreGRPOConfig):
    r"""
    Configuration class for [`LpRegGRPOTrainer`]: [`ExploreGRPOConfig`] with the Lp-Reg component on and the
    defaults of the released recipes (Qwen3-14B-Base / Qwen2.5-32B).

    Parameters whose defaults differ from [`ExploreGRPOConfig`]:
        lp_reg (`bool`, *optional*, defaults to `True`):
            Lp-Reg on.
        epsilon (`float`, *optional*, defaults to `1.0`):
            Lower clip `1 - epsilon = 0`: negative-advantage ratios are never clipped.
        epsilon_high (`float`, *optional*, defaults to `9.0`):
            Upper clip `1 + epsilon_high = 10`.
        beta (`float`, *optional*, defaults to `0.0`):
            No reference KL.
        loss_type (`str`, *optional*, defaults to `"dapo"`):
            Token-mean over all valid tokens of the global batch.
        temperature (`float`, *optional*, defaults to `1.0`):
            Sampling temperature of the recipes.
        top_p (`float`, *optional*, defaults to `1.0`):
            No nucleus truncation.
        learning_rate (`float`, *optional*, defaults to `1e-6`):
            Constant learning rate of the recipes (`lr_scheduler_type="constant"`, no warmup, weight decay 0,
            `max_grad_norm=1.0`).
        lr_scheduler_type (`str`, *optional*, defaults to `"constant"`):
            Constant schedule.
    """

    lp_reg: bool = field(default=True, metadata={"help": "Enable the Lp-Reg component."})
    epsilon: float = field(default=1.0, metadata={"help": "Lower clip: ratio >= 1 - epsilon = 0."})
    epsilon_high: float | None = field(default=9.0, metadata={"help": "Upper clip: ratio <= 1 + epsilon_high = 10."})
    beta: float = field(default=0.0, metadata={"help": "Reference KL coefficient (the recipes use none)."})
    loss_type: str = field(default="dapo", metadata={"help": "Token-mean aggregation over the global batch."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling threshold."})
    learning_rate: float = field(default=1e-6, metadata={"help": "Learning rate of the recipes."})
    lr_scheduler_type: str = field(default="constant", metadata={"help": "Learning-rate schedule of the recipes."})
