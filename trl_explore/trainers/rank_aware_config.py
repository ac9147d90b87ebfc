"""Configuration of [`RankAwareSFTTrainer`] (rank-aware next-token prediction, arXiv 2512.22955)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from trl import SFTConfig

from .._device import resolve_precision
from .._validation import changed_fields, check_int, check_number

logger = logging.getLogger(__name__)

__all__ = ["RANK_AWARE_PRESETS", "RankAwareSFTConfig"]

# The settings the paper tests (spec "Settings tested in the paper"); each is a dict of `RankAwareSFTConfig` fields
RANK_AWARE_PRESETS: dict[str, dict[str, float | int]] = {
    "cross_entropy": {"rank_aware_beta": 0.0, "rank_aware_lambda_high": 0.0, "rank_aware_lambda_low": 0.0},
    "precision": {"rank_aware_beta": -0.25},
    "tail_suppression": {"rank_aware_lambda_low": -0.1, "rank_aware_top_k": 100},
    "head_preservation": {"rank_aware_lambda_high": 0.1, "rank_aware_top_k": 100},
    "diversity": {"rank_aware_beta": 0.5},
}


@dataclass
class RankAwareSFTConfig(SFTConfig):
    r"""
    Configuration class for [`RankAwareSFTTrainer`].

    [`RankAwareSFTConfig`] inherits every parameter of [`~trl.SFTConfig`] and adds the rank-aware reward shaping of
    "Diversity or Precision? A Deep Dive into Next Token Prediction" (arXiv 2512.22955). The per-token loss is

        L = − sg(w) · log p_x − λ_high · P(K \ {x}) − λ_low · P(tail),   w = p_x^(1 − (1 − p_x)^β),

    with K the top-k tokens of the detached distribution. The defaults `(β, λ_high, λ_low) = (0, 0, 0)` are exactly
    cross-entropy (the loss of [`~trl.SFTTrainer`]).

    Presets (the paper's settings, also in `RANK_AWARE_PRESETS`):

    - precision (paper's best): `rank_aware_beta=-0.25`
    - tail suppression: `rank_aware_lambda_low=-0.1`, `rank_aware_top_k=100`
    - head preservation: `rank_aware_lambda_high=0.1`, `rank_aware_top_k=100`
    - diversity: `rank_aware_beta=0.5`

    Parameters:
        rank_aware_beta (`float`, *optional*, defaults to `0.0`):
            β of the ground-truth reward `(1/π(x))^((1 − π(x))^β)`. `0.0` is cross-entropy; negative values concentrate
            probability mass (precision), positive values flatten the distribution (diversity). Must lie in
            `[-10, 10]`.
        rank_aware_top_k (`int`, *optional*, defaults to `100`):
            Size of the head set K (top-k of the detached next-token distribution) that separates the λ_high and
            λ_low negatives. Clipped to the vocabulary size. Must be `>= 1`.
        rank_aware_lambda_high (`float`, *optional*, defaults to `0.0`):
            Reward of the negatives inside the head set, K \ {x}. Positive values keep probability on plausible
            alternatives (head preservation). Must lie in `[-1, 1]`.
        rank_aware_lambda_low (`float`, *optional*, defaults to `0.0`):
            Reward of the tail negatives, V \ (K ∪ {x}). Negative values push probability out of the tail (tail
            suppression). Must lie in `[-1, 1]`.
    """

    rank_aware_beta: float = field(
        default=0.0,
        metadata={
            "help": "β of the ground-truth reward. 0 is cross-entropy, < 0 precision (paper's best: -0.25), > 0 "
            "diversity (0.5)."
        },
    )
    rank_aware_top_k: int = field(
        default=100,
        metadata={"help": "Size of the head set K (top-k of the detached next-token distribution)."},
    )
    rank_aware_lambda_high: float = field(
        default=0.0,
        metadata={"help": "Reward of the negatives inside the top-k head set (head preservation: 0.1)."},
    )
    rank_aware_lambda_low: float = field(
        default=0.0,
        metadata={"help": "Reward of the tail negatives outside the top-k head set (tail suppression: -0.1)."},
    )

    def __post_init__(self):
        resolve_precision(self)
        super().__post_init__()
        check_number(self, "rank_aware_beta", low=-10.0, high=10.0)
        check_int(self, "rank_aware_top_k", low=1)
        check_number(self, "rank_aware_lambda_high", low=-1.0, high=1.0)
        check_number(self, "rank_aware_lambda_low", low=-1.0, high=1.0)
        if (self.rank_aware_lambda_high, self.rank_aware_lambda_low) == (0.0, 0.0) and changed_fields(
            self, ["rank_aware_top_k"]
        ):
            logger.warning(
                "`rank_aware_top_k`=%s has no effect: the head set only separates the λ_high and λ_low negatives, "
                "and both are 0.",
                self.rank_aware_top_k,
            )
        if self.rank_aware_shaping and self.loss_type != "nll":
            raise ValueError(
                f"`loss_type` must be 'nll' while rank-aware shaping is on (rank_aware_beta={self.rank_aware_beta}, "
                f"rank_aware_lambda_high={self.rank_aware_lambda_high}, "
                f"rank_aware_lambda_low={self.rank_aware_lambda_low}): TRL's 'dft' multiplies each token's loss by "
                f"its probability, which would reweight the rank-aware loss; got {self.loss_type!r}."
            )
        if self.rank_aware_shaping and self.label_smoothing_factor != 0.0:
            raise ValueError(
                "`label_smoothing_factor` must be 0.0 while rank-aware shaping is on: label smoothing makes TRL compute "
                f"its own cross-entropy from the full logits, which would replace the rank-aware loss; got "
                f"{self.label_smoothing_factor!r}."
            )

    @property
    def rank_aware_shaping(self) -> bool:
        """Whether the loss differs from cross-entropy (any of β, λ_high, λ_low non-zero). Off, the trainer is TRL's
        `SFTTrainer` with its cross-entropy computed by the fused rank-aware kernel, and every `loss_type` TRL supports
        (`nll`, `dft`), label smoothing and `compute_loss_func` work as in TRL."""
        return (self.rank_aware_beta, self.rank_aware_lambda_high, self.rank_aware_lambda_low) != (0.0, 0.0, 0.0)
