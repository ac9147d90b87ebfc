"""`SPEARConfig`: `ExploreGRPOConfig` with SPEAR's self-imitation replay, its curriculum and replay Clip-Cov on
(arXiv 2509.22601), and the Dr.BoT recipe."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .explore_grpo_config import ExploreGRPOConfig


@dataclass
class SPEARConfig(ExploreGRPOConfig):
    r"""
    Configuration class for [`SPEARGRPOTrainer`]: [`ExploreGRPOConfig`] with SPEAR's self-imitation replay (and its
    cosine warm-up `γ(t)`) and Clip-Cov on the replayed rows. The tool-call reward curriculum `μ(t)` is a reward
    function: pass [`~trl_explore.rewards.toolcall_reward`] among the trainer's `reward_funcs`.

    Parameters whose defaults differ from [`ExploreGRPOConfig`]:
        sil (`bool`, *optional*, defaults to `True`):
            Self-imitation replay on.
        clip_cov_replay_ratio (`float`, *optional*, defaults to `0.02`):
            Clip-Cov on the replayed rows (band `(clip_cov_replay_lb, clip_cov_replay_ub) = (1, 40)`, SPEAR's math
            setting; agents: `(2, 60)`). On-policy Clip-Cov stays off (`clip_cov_ratio=0`; the paper's on-policy value
            is `2e-4`).

    Presets (classmethods returning a config; keyword arguments override any field):
        - [`~SPEARConfig.dr_bot_recipe`]: the Dr.BoT baseline settings, with SPEAR on top (`sil=False` for the
          baseline alone).
    """

    sil: bool = field(default=True, metadata={"help": "Turn SPEAR's self-imitation replay on."})
    clip_cov_replay_ratio: float = field(
        default=0.02, metadata={"help": "Clip-Cov fraction of replayed tokens (SPEAR 0.02)."}
    )

    @classmethod
    def dr_bot_defaults(cls) -> dict[str, Any]:
        """Dr.BoT, SPEAR's strong GRPO baseline (Sec. 4.1), in TRL 1.16 terms.

        From TRL: no KL (`beta=0`), clip-higher (`epsilon=0.2`, `epsilon_high=0.28`), no std normalisation
        (`scale_rewards="none"`), Dr.GRPO aggregation (`loss_type="dr_grpo"`), overlong completions masked
        (`mask_truncated_completions=True`). From the Dr.BoT component: incomplete and repetitive (a 20-gram repeated
        at least 10 times) completions masked, and only the top 75% of groups by reward std kept
        (`group_std_keep_ratio=0.75`).
        """
        return dict(
            beta=0.0,
            epsilon=0.2,
            epsilon_high=0.28,
            scale_rewards="none",
            loss_type="dr_grpo",
            mask_truncated_completions=True,
            mask_incomplete_completions=True,
            mask_repetitive_completions=True,
            repetition_ngram_size=20,
            repetition_min_count=10,
            group_std_keep_ratio=0.75,
        )

    @classmethod
    def dr_bot_recipe(cls, **overrides: Any) -> SPEARConfig:
        """`dr_bot_defaults` with this config's SPEAR settings (replay, `γ(t)`, replay Clip-Cov); keyword arguments
        override any field. ``SPEARConfig.dr_bot_recipe(sil=False, clip_cov_replay_ratio=0.0)`` is the plain Dr.BoT
        baseline."""
        kwargs = cls.dr_bot_defaults()
        kwargs.update(overrides)
        return cls(**kwargs)
