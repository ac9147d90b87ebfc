"""trl_explore: exploration-aware training of language models on top of Hugging Face TRL.

Public names are imported lazily so that ``import trl_explore`` stays light (no torch, transformers or TRL import
until a name that needs them is used).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
from ._version import __version__
from ._version import check_trl_version as _check_trl_version

# public name -> module that defines it (relative to this package)
_LAZY: dict[str, str] = {
    # rewards
    "math_accuracy_reward": "rewards.math",
    "make_math_reward": "rewards.math",
    "MathReward": "rewards.math",
    # functional math
    "pass_at_k": "functional.pass_at_k",
    # metrics
    "avg_at_k": "metrics.sampling",
    "maj_at_k": "metrics.sampling",
    # toy kit (also importable as trl_explore.toy)
    "warm_start": "toy.warm_start",
    "make_tokenizer": "toy.tokenizer",
    "make_tiny_model": "toy.models",
    "make_arithmetic_dataset": "toy.tasks",
    "make_countdown_dataset": "toy.tasks",
    "countdown_reward": "toy.tasks",
    "evaluate_pass_rate": "toy.evaluation",
    # modules
    "FourierHead": "modules.fourier_head",
    "RelativeNegativeConfig": "trainers.relative_negative_config",
    "RelativeNegativeGRPOTrainer": "trainers.relative_negative_trainer",
    "relative_negative_advantages": "functional.relative_negative",
    "RankAwareSFTConfig": "trainers.rank_aware_config",
    "RankAwareSFTTrainer": "trainers.rank_aware_trainer",
    "rank_aware_token_loss": "functional.rank_aware",
    "fused_rank_aware_loss": "kernels.rank_aware",
    "ExploreGRPOConfig": "trainers.explore_grpo_config",
    "ExploreGRPOTrainer": "trainers.explore_grpo_trainer",
    "LpRegConfig": "trainers.lp_reg_config",
    "HAPOConfig": "trainers.hapo_config",
    "HAPOGRPOTrainer": "trainers.hapo_trainer",
    "AdaptiveTemperatureLogitsProcessor": "generation.adaptive_temperature",
    "tlga_advantages": "functional.hapo",
    "hapo_entropy_scores": "functional.hapo",
    "LpRegGRPOTrainer": "trainers.lp_reg_trainer",
    "lp_reg_proxy_logps": "functional.lp_reg",
    "FourierNumericHead": "modules.numeric_head",
    "attach_numeric_head": "modules.numeric_head",
    "load_numeric_head_model": "modules.numeric_head",
    "numeric_head_modules_to_save": "modules.numeric_head",
    "FourierSFTConfig": "trainers.fourier_head_config",
    "FourierSFTTrainer": "trainers.fourier_head_trainer",
    "collect_fourier_terms": "modules.fourier_head",
    "smoothness": "metrics.smoothness",
    "kl_to_target": "metrics.smoothness",
    "PassAtKCallback": "callbacks.pass_at_k",
    "ExplorationDiagnosticsCallback": "callbacks.exploration",
    # decoding
    "SwiReasoningConfig": "generation.swireasoning_config",
    "SwiReasoningOutput": "generation.swireasoning",
    "swi_generate": "generation.swireasoning",
    "swireasoning_decoding": "generation.swireasoning",
    "answer_choice_mass": "metrics.answer_choice",
    "AnswerChoiceMassResult": "metrics.answer_choice",
    "AnswerChoiceMassCallback": "callbacks.answer_choice",
    "make_multiple_choice_dataset": "toy.multiple_choice",
    "SPEARConfig": "trainers.spear_config",
    "SPEARGRPOTrainer": "trainers.spear_trainer",
    "toolcall_reward": "rewards.toolcall",
    "clip_cov_mask": "functional.covariance",
    "kl_cov_penalty": "functional.covariance",
    # detection
    "LastdeDetector": "detection.detectors",
    "lastde_score": "functional.lastde",
}

__all__ = ["__version__", *sorted(_LAZY)]
__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)


_check_trl_version()

if TYPE_CHECKING:  # pragma: no cover
    from .callbacks.answer_choice import AnswerChoiceMassCallback
    from .detection.detectors import LastdeDetector
    from .functional.covariance import clip_cov_mask, kl_cov_penalty
    from .functional.lastde import lastde_score
    from .functional.pass_at_k import pass_at_k
    from .generation.swireasoning import SwiReasoningOutput, swi_generate, swireasoning_decoding
    from .generation.swireasoning_config import SwiReasoningConfig
    from .metrics.answer_choice import AnswerChoiceMassResult, answer_choice_mass
    from .metrics.sampling import avg_at_k, maj_at_k
    from .modules.fourier_head import FourierHead
    from .rewards.math import MathReward, make_math_reward, math_accuracy_reward
    from .rewards.toolcall import toolcall_reward
    from .toy.evaluation import evaluate_pass_rate
    from .toy.models import make_tiny_model
    from .toy.multiple_choice import make_multiple_choice_dataset
    from .toy.tasks import countdown_reward, make_arithmetic_dataset, make_countdown_dataset
    from .toy.tokenizer import make_tokenizer
    from .toy.warm_start import warm_start
    from .trainers.spear_config import SPEARConfig
    from .trainers.spear_trainer import SPEARGRPOTrainer
