"""Dr.BoT's sample filters as a component (SPEAR's GRPO baseline, arXiv 2509.22601; math in
`trl_explore.functional.dr_bot`).

TRL already has most of Dr.BoT (``beta=0``, ``epsilon_high=0.28``, ``scale_rewards="none"``, ``loss_type="dr_grpo"``,
``mask_truncated_completions=True``); this component adds the masks for incomplete and repetitive completions and
the filter keeping the groups with the largest reward spread. Masked samples leave the loss through the base's shared
helper (`GenerationContext.drop_samples`) with the denominator chosen by ``dr_bot_normalization``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch

from ..._validation import changed_fields, check_bool, check_choice, check_int, check_number
from ...functional.dr_bot import repeated_ngram_mask, top_std_group_mask
from .base import (
    NEGATIVE_NORMALIZATIONS,
    OWN_LOSS_TYPES,
    ComponentArguments,
    ExploreComponent,
    GenerationContext,
    Metric,
    register_component,
)

logger = logging.getLogger(__name__)

__all__ = ["DrBoTArguments", "DrBoTComponent", "is_incomplete"]


def is_incomplete(completion: Any) -> bool:
    """Whether a conversational completion ended without an answer: its last message is a tool result, or an
    assistant turn that still asks for tools (TRL's tool loop stopped at ``max_tool_calling_iterations`` or could not
    fit the tool result). Plain-text completions are never incomplete (TRL's ``mask_truncated_completions`` covers
    truncation)."""
    if not isinstance(completion, list) or not completion:
        return False
    last = completion[-1]
    if not isinstance(last, dict):
        return False
    if last.get("role") == "tool":
        return True
    return last.get("role") == "assistant" and bool(last.get("tool_calls"))


@dataclass
class DrBoTArguments(ComponentArguments):
    r"""
    > Parameters of the Dr.BoT sample filters (SPEAR's baseline, arXiv 2509.22601). Each is off by default.

        mask_incomplete_completions (`bool`, *optional*, defaults to `False`):
            Drop completions that end without an answer: a tool result, or a tool call left unanswered when TRL's tool
            loop stopped. (TRL's `mask_truncated_completions` handles completions cut by `max_completion_length`.)
        mask_repetitive_completions (`bool`, *optional*, defaults to `False`):
            Drop completions in which some `repetition_ngram_size`-gram of model-generated tokens occurs at least
            `repetition_min_count` times.
        repetition_ngram_size (`int`, *optional*, defaults to `20`):
            n of the repeated n-gram (tokens).
        repetition_min_count (`int`, *optional*, defaults to `10`):
            Occurrences (`>= 2`, overlapping) that make a completion repetitive.
        group_std_keep_ratio (`float`, *optional*, defaults to `1.0`):
            Fraction in `(0, 1]` of the groups kept in the loss: the `⌈ratio · #groups⌉` groups with the largest
            reward standard deviation over the whole generation batch (all processes). `1.0`: off; Dr.BoT: `0.75`.
        dr_bot_normalization (`str`, *optional*, defaults to `"selected_tokens"`):
            How dropped samples count in the loss denominator: `"selected_tokens"` (their tokens leave the loss mask, as
            masking does) or `"all_tokens"` (only their policy-gradient term is zeroed).
    """

    mask_incomplete_completions: bool = field(
        default=False, metadata={"help": "Drop completions ending without an answer (pending tool call or result)."}
    )
    mask_repetitive_completions: bool = field(
        default=False, metadata={"help": "Drop completions with an n-gram repeated repetition_min_count times."}
    )
    repetition_ngram_size: int = field(default=20, metadata={"help": "n of the repeated n-gram."})
    repetition_min_count: int = field(default=10, metadata={"help": "Occurrences making a completion repetitive."})
    group_std_keep_ratio: float = field(
        default=1.0, metadata={"help": "Fraction of groups kept, by reward std (1.0: off; Dr.BoT 0.75)."}
    )
    dr_bot_normalization: str = field(
        default="selected_tokens",
        metadata={"help": "Denominator of dropped samples.", "choices": list(NEGATIVE_NORMALIZATIONS)},
    )

    def validate(self) -> None:
        check_bool(self, "mask_incomplete_completions")
        check_bool(self, "mask_repetitive_completions")
        check_int(self, "repetition_ngram_size", low=1)
        check_int(self, "repetition_min_count", low=2)
        check_number(self, "group_std_keep_ratio", low=0.0, high=1.0, low_open=True)
        check_choice(self, "dr_bot_normalization", NEGATIVE_NORMALIZATIONS)
        enabled = self.mask_incomplete_completions or self.mask_repetitive_completions or self.group_std_keep_ratio < 1
        ignored = (
            []
            if self.mask_repetitive_completions
            else changed_fields(self, ["repetition_ngram_size", "repetition_min_count"])
        )
        ignored += [] if enabled else changed_fields(self, ["dr_bot_normalization"])
        if ignored:
            logger.warning(
                "%s set but the Dr.BoT filter reading it is off (`mask_repetitive_completions` for the repetition "
                "settings, any filter for `dr_bot_normalization`): no effect.",
                ", ".join(f"`{f}`" for f in ignored),
            )
        if enabled and self.loss_type not in OWN_LOSS_TYPES:
            raise ValueError(
                f"`loss_type` must be one of {list(OWN_LOSS_TYPES)} with the Dr.BoT filters, got {self.loss_type!r}."
            )


@register_component
class DrBoTComponent(ExploreComponent):
    """Drops incomplete and repetitive completions and the groups with the least reward spread (``advantages``).

    Runs early in the ``advantages`` phase (order 30), so that later components (e.g. SPEAR's replay buffer, which
    stores only samples kept in the loss) see the filtered batch. The group filter reads the gathered rewards, so it is
    identical on every process.

    Metrics (``dr_bot/``): ``frac_incomplete``, ``frac_repetitive`` (of all samples, per generation),
    ``frac_groups_kept`` (groups kept by the std filter / groups).
    """

    name = "dr_bot"
    arguments = DrBoTArguments
    order = {"advantages": 30}
    edits_loss = True
    example_config = dict(group_std_keep_ratio=0.5)

    @classmethod
    def enabled(cls, args: Any) -> bool:
        return (
            bool(getattr(args, "mask_incomplete_completions", False))
            or bool(getattr(args, "mask_repetitive_completions", False))
            or getattr(args, "group_std_keep_ratio", 1.0) < 1.0
        )

    def advantages(self, ctx: GenerationContext) -> None:
        size = ctx.keep.numel()
        device = ctx.keep.device
        incomplete = torch.zeros(size, dtype=torch.bool, device=device)
        repetitive = torch.zeros(size, dtype=torch.bool, device=device)
        kept_groups = torch.tensor(1.0)
        if self.args.mask_incomplete_completions and ctx.completions is not None:
            incomplete = torch.tensor([is_incomplete(c) for c in ctx.completions], dtype=torch.bool, device=device)
        if self.args.mask_repetitive_completions:
            repetitive = repeated_ngram_mask(
                ctx.output["completion_ids"],
                ctx.loss_mask(),
                self.args.repetition_ngram_size,
                self.args.repetition_min_count,
            ).to(device)
        drop = incomplete | repetitive
        if self.args.group_std_keep_ratio < 1.0 and ctx.num_generations >= 2:
            keep, stats = top_std_group_mask(ctx.rewards, ctx.num_generations, self.args.group_std_keep_ratio)
            drop |= ~keep[ctx.process_slice].to(device)
            kept_groups = stats["num_kept"] / max(1, ctx.rewards.numel() // ctx.num_generations)
        ctx.drop_samples(drop, self.args.dr_bot_normalization)
        ctx.records[self.name] = (incomplete, repetitive, kept_groups)

    def generation_metrics(self, ctx: GenerationContext) -> dict[str, Metric]:
        if self.name not in ctx.records:
            return {}
        incomplete, repetitive, kept_groups = ctx.records[self.name]
        n = float(incomplete.numel())
        return {
            "frac_incomplete": Metric(incomplete.float().sum(), n),
            "frac_repetitive": Metric(repetitive.float().sum(), n),
            "frac_groups_kept": Metric(kept_groups, reduce="global"),
        }
