"""The trainer families the robustness suites (faults, resume, incompatible settings) run: each named GRPO trainer
with its paper's components, `ExploreGRPOTrainer` with the other components together, and builders on the toy kit.

Sizes are tiny (1-layer toy model, 8-row generation batches, 6-token completions) so that a family trains a step in
well under a second on one CPU thread; the LM head is sharpened (``peaky``) so that min-p filtering, the entropy
scores and the covariance selections all bite.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "trainers"))

from grpo_helpers import config_kwargs, peaky_model, tiny_tokenizer  # noqa: E402

from trl_explore.trainers import (  # noqa: E402
    ExploreGRPOConfig,
    ExploreGRPOTrainer,
    HAPOConfig,
    HAPOGRPOTrainer,
    LpRegConfig,
    LpRegGRPOTrainer,
    RelativeNegativeConfig,
    RelativeNegativeGRPOTrainer,
    SPEARConfig,
    SPEARGRPOTrainer,
)

# name -> (trainer class, config class, config overrides)
GRPO_FAMILIES: dict[str, tuple[type, type, dict[str, Any]]] = {
    # no component: TRL's loss, the trainer's reward guard and fault counts
    "explore_plain": (ExploreGRPOTrainer, ExploreGRPOConfig, {}),
    # the components without a named trainer, together: TLGA advantages, the Dr.BoT filters, Clip-Cov and KL-Cov
    "explore_components": (
        ExploreGRPOTrainer,
        ExploreGRPOConfig,
        dict(
            hapo_tlga=True,
            group_std_keep_ratio=0.5,
            mask_repetitive_completions=True,
            repetition_ngram_size=2,
            repetition_min_count=2,
            clip_cov_ratio=0.2,
            clip_cov_lb=-1e9,
            clip_cov_ub=1e9,
            kl_cov_ratio=0.2,
        ),
    ),
    "lp_reg": (LpRegGRPOTrainer, LpRegConfig, dict(lp_reg_rho=0.2, lp_reg_percentile_scope="batch_all")),
    "relative_negative_nsr": (
        RelativeNegativeGRPOTrainer,
        RelativeNegativeConfig,
        dict(advantage_mode="nsr", negative_normalization="selected_tokens"),
    ),
    # GRPO-N on unscaled advantages: the mode in which an infinite reward used to reach the loss
    "relative_negative_grpo_n": (
        RelativeNegativeGRPOTrainer,
        RelativeNegativeConfig,
        dict(advantage_mode="grpo_n", scale_rewards="none"),
    ),
    "hapo": (HAPOGRPOTrainer, HAPOConfig, dict(steps_per_generation=2)),
    "spear": (
        SPEARGRPOTrainer,
        SPEARConfig,
        dict(sil_buffer_size=1, sil_trigger_factor=0.5, sil_warmup_steps=0, clip_cov_replay_lb=-1e9),
    ),
}


# Trainers that carry state between steps (besides the model, optimizer, scheduler and RNG states transformers saves):
# name -> (trainer class, config class, config overrides, what the state is)
_ADAPTIVE_ENTROPY = dict(use_adaptive_entropy=True, entropy_coef=0.05, entropy_coef_delta=0.05, entropy_target=10.0)
STATEFUL_FAMILIES: dict[str, tuple[type, type, dict[str, Any], str]] = {
    "hapo_temperature": (
        HAPOGRPOTrainer,
        HAPOConfig,
        dict(steps_per_generation=1, num_iterations=2, warmup_steps=0),
        "HAPO's adaptive-temperature entropy statistics (per process)",
    ),
    "spear": (
        SPEARGRPOTrainer,
        SPEARConfig,
        dict(sil_buffer_size=1, sil_trigger_factor=0.5, sil_warmup_steps=0, clip_cov_replay_lb=-1e9),
        "SPEAR's replay buffer, pending rows, reward baseline and generation counter (per process)",
    ),
    "clip_cov": (
        ExploreGRPOTrainer,
        ExploreGRPOConfig,
        dict(clip_cov_ratio=0.3, clip_cov_lb=-1e9, clip_cov_ub=1e9, per_device_train_batch_size=8),
        "Clip-Cov's random generator (per process)",
    ),
    "adaptive_entropy_own_loss": (
        LpRegGRPOTrainer,
        LpRegConfig,
        dict(lp_reg_rho=0.2, **_ADAPTIVE_ENTROPY),
        "TRL's adaptive entropy controller (entropy_coef), on the explore loss path",
    ),
    # everything stateful at once (the killed-run test)
    "all_stateful": (
        ExploreGRPOTrainer,
        ExploreGRPOConfig,
        dict(
            hapo_adaptive_temperature=True,
            hapo_tlga=True,
            sil=True,
            sil_buffer_size=1,
            sil_trigger_factor=0.5,
            sil_warmup_steps=0,
            clip_cov_ratio=0.3,
            clip_cov_lb=-1e9,
            clip_cov_ub=1e9,
            lp_reg=True,
            lp_reg_rho=0.2,
            **_ADAPTIVE_ENTROPY,
        ),
        "all of the above",
    ),
}


def prompts_dataset(n: int = 8) -> Dataset:
    return Dataset.from_dict({"prompt": [f"{i}+{i}=" for i in range(n)]})


def parity_reward(completions: list[Any], **kwargs: Any) -> list[float]:
    """1.0 for completions of odd text length, else 0.0 (deterministic, mixed within a group)."""
    return [float(len(str(c)) % 2) for c in completions]


def build_grpo(
    family: str,
    output_dir: str | Path,
    reward_funcs: Any = parity_reward,
    dataset: Dataset | None = None,
    **overrides: Any,
):
    """A trainer of ``family`` on the peaky toy model (seed 0), 2 steps, learning rate 1e-2 unless overridden."""
    trainer_cls, config_cls, family_overrides = (
        GRPO_FAMILIES[family] if family in GRPO_FAMILIES else STATEFUL_FAMILIES[family][:3]
    )
    tokenizer = tiny_tokenizer()
    kwargs = {"max_steps": 2, "learning_rate": 1e-2, **family_overrides, **overrides}
    args = config_cls(**config_kwargs(Path(output_dir), **kwargs))
    return trainer_cls(
        model=peaky_model(tokenizer),
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=dataset if dataset is not None else prompts_dataset(),
        processing_class=tokenizer,
    )


def train_logs(trainer) -> list[dict[str, Any]]:
    """``trainer.train()``, then its per-step log entries (those with a loss)."""
    trainer.train()
    return [e for e in trainer.state.log_history if "loss" in e and "train_runtime" not in e]


def assert_finite_training(trainer, logs: list[dict[str, Any]]) -> None:
    """Every logged loss and gradient norm is a finite number and every parameter is finite."""
    assert logs, "no training step was logged"
    for entry in logs:
        for key in ("loss", "grad_norm"):
            value = entry.get(key)
            assert isinstance(value, float) and torch.isfinite(torch.tensor(value)), (key, entry)
    for name, param in trainer.model.named_parameters():
        assert torch.isfinite(param).all(), name


def metric_values(logs: list[dict[str, Any]], key: str) -> list[float]:
    return [e[key] for e in logs if key in e]
