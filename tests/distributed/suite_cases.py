"""The configurations of the multi-process suite (`suite_script.py`, `test_multiprocess_suite.py`).

Every RL component alone, the combinations users run, the named drop-in trainers and the two SFT trainers, each
trained 3 optimizer steps on a global batch of 12 rows (3 prompts × 4 completions; the middle group spans both
processes in a 2-process run). ``compare`` says whether the method defines its loss on the global batch, so that a
1-process run on the same 12 rows logs the same losses and gradient norms; where it does not, ``why`` says what is
per process by design.

`HAND_CASES` are written here; `CASES` adds one generated case per built-in component
(`trl_explore.trainers.components.BUILTIN_COMPONENTS`) that no hand-written case turns on — by the component's own
`enabled` rule, with its `example_config` — so a new built-in component joins the suite without an edit here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

GLOBAL_BATCH = 12  # rows per optimizer step over all processes
NUM_GENERATIONS = 4
STEPS = 3


@dataclass(frozen=True)
class Case:
    name: str
    trainer: str  # class name in `trl_explore.trainers`
    config: str
    overrides: dict[str, Any] = field(default_factory=dict)
    compare: bool = True  # the loss equals a 1-process run on the same global batch
    why: str = ""  # why not, when compare is False
    kind: str = "grpo"  # "grpo" or "sft"


_BATCH_ALL = dict(hapo_stats_scope="batch_all")
_OFF_POLICY = dict(num_iterations=2)  # TRL computes old log-probs: the ratio moves on the reused batch
_HAPO_OFF = dict(hapo_tlga=False, hapo_dar=False, hapo_adaptive_clip=False, hapo_adaptive_temperature=False)

HAND_CASES: list[Case] = [
    # ---- Lp-Reg
    Case(
        "lp_reg", "LpRegGRPOTrainer", "LpRegConfig", dict(lp_reg_rho=0.2), compare=False,
        why="the default percentile (micro_batch_negative) is per process",
    ),
    Case("lp_reg_batch_all", "LpRegGRPOTrainer", "LpRegConfig", dict(lp_reg_rho=0.2, lp_reg_percentile_scope="batch_all")),
    Case(
        "lp_reg_batch_all_forward_full", "LpRegGRPOTrainer", "LpRegConfig",
        dict(lp_reg_rho=0.2, lp_reg_percentile_scope="batch_all", lp_reg_kl_estimator="forward_full", **_OFF_POLICY),
    ),
    # ---- relative-negative advantage modes
    Case("rng_metrics", "RelativeNegativeGRPOTrainer", "RelativeNegativeConfig", dict(advantage_mode="grpo", rng_metrics=True)),
    Case("grpo_n", "RelativeNegativeGRPOTrainer", "RelativeNegativeConfig", dict(advantage_mode="grpo_n")),
    Case("gspo_n", "RelativeNegativeGRPOTrainer", "RelativeNegativeConfig", dict(advantage_mode="gspo_n")),
    Case(
        "nsr", "RelativeNegativeGRPOTrainer", "RelativeNegativeConfig",
        dict(advantage_mode="nsr", negative_normalization="selected_tokens"),
    ),
    Case("psr", "RelativeNegativeGRPOTrainer", "RelativeNegativeConfig", dict(advantage_mode="psr")),
    Case("w_reinforce", "RelativeNegativeGRPOTrainer", "RelativeNegativeConfig", dict(advantage_mode="w_reinforce")),
    # ---- HAPO's parts, each alone (statistics over every process), and all four with the released per-process scope
    Case("hapo_tlga", "HAPOGRPOTrainer", "HAPOConfig", dict(steps_per_generation=1, **{**_HAPO_OFF, "hapo_tlga": True})),
    Case(
        "hapo_dar", "HAPOGRPOTrainer", "HAPOConfig",
        dict(steps_per_generation=1, **_OFF_POLICY, **_BATCH_ALL, **{**_HAPO_OFF, "hapo_dar": True}),
    ),
    Case(
        "hapo_adaptive_clip", "HAPOGRPOTrainer", "HAPOConfig",
        dict(steps_per_generation=1, **_OFF_POLICY, **_BATCH_ALL, **{**_HAPO_OFF, "hapo_adaptive_clip": True}),
    ),
    Case(
        "hapo_adaptive_temperature", "HAPOGRPOTrainer", "HAPOConfig",
        dict(steps_per_generation=1, **_BATCH_ALL, **{**_HAPO_OFF, "hapo_adaptive_temperature": True}),
    ),
    Case(
        "hapo_micro_batch", "HAPOGRPOTrainer", "HAPOConfig", dict(steps_per_generation=1, **_OFF_POLICY), compare=False,
        why="the released entropy statistics (hapo_stats_scope='micro_batch') are per process",
    ),
    # ---- Clip-Cov, KL-Cov, the Dr.BoT filters, SPEAR's replay
    Case(
        "clip_cov", "ExploreGRPOTrainer", "ExploreGRPOConfig", dict(clip_cov_ratio=0.2, clip_cov_lb=-1e9, clip_cov_ub=1e9),
        compare=False, why="the covariance is centred per micro-batch and the draw uses a per-process generator",
    ),
    Case(
        "kl_cov", "ExploreGRPOTrainer", "ExploreGRPOConfig", dict(kl_cov_ratio=0.2, **_OFF_POLICY), compare=False,
        why="the top-covariance tokens are chosen per micro-batch",
    ),
    Case(
        "dr_bot", "ExploreGRPOTrainer", "ExploreGRPOConfig",
        dict(
            group_std_keep_ratio=0.5, mask_repetitive_completions=True, repetition_ngram_size=2,
            repetition_min_count=2, mask_incomplete_completions=True,
        ),
    ),
    Case(
        "spear", "SPEARGRPOTrainer", "SPEARConfig",
        dict(sil_buffer_size=2, sil_trigger_factor=0.5, sil_warmup_steps=0, clip_cov_replay_lb=-1e9, clip_cov_replay_ub=1e9),
        compare=False, why="each process keeps and replays its own rows",
    ),
    Case(
        "spear_uneven_replay", "SPEARGRPOTrainer", "SPEARConfig",
        dict(sil_buffer_size=1, sil_trigger_factor=0.5, sil_warmup_steps=0, clip_cov_replay_lb=-1e9, clip_cov_replay_ub=1e9),
        compare=False, why="one replayed row: one process's micro-batch has a row more than the other's",
    ),
    # ---- combinations
    Case(
        "lp_reg_nsr", "ExploreGRPOTrainer", "ExploreGRPOConfig",
        dict(lp_reg=True, lp_reg_rho=0.2, lp_reg_percentile_scope="batch_all", advantage_mode="nsr"),
    ),
    Case(
        "hapo_lp_reg", "HAPOGRPOTrainer", "HAPOConfig",
        dict(steps_per_generation=1, **_OFF_POLICY, **_BATCH_ALL, lp_reg=True, lp_reg_rho=0.2, lp_reg_percentile_scope="batch_all"),
    ),
    Case(
        "spear_clip_cov", "SPEARGRPOTrainer", "SPEARConfig",
        dict(
            sil_buffer_size=2, sil_trigger_factor=0.5, sil_warmup_steps=0, clip_cov_ratio=0.2, clip_cov_lb=-1e9,
            clip_cov_ub=1e9, clip_cov_replay_lb=-1e9, clip_cov_replay_ub=1e9,
        ),
        compare=False, why="per-process replay buffers and Clip-Cov draws",
    ),
    # ---- SFT
    Case(
        "rank_aware", "RankAwareSFTTrainer", "RankAwareSFTConfig",
        dict(rank_aware_beta=0.3, rank_aware_top_k=5, rank_aware_lambda_high=0.1, rank_aware_lambda_low=-0.05), kind="sft",
    ),
    Case("fourier", "FourierSFTTrainer", "FourierSFTConfig", dict(fourier_head_number_tokens=[str(d) for d in range(10)]), kind="sft"),
]  # fmt: skip


def enabled_components(case: Case) -> set[str]:
    """Names of the built-in components the case's config turns on, by each component's own `enabled` rule applied to
    the config class's field defaults plus the case's overrides (no config is built: no `__post_init__`)."""
    import trl_explore.trainers as trainers
    from trl_explore.trainers.components import BUILTIN_COMPONENTS

    if case.kind != "grpo":
        return set()
    config = getattr(trainers, case.config)
    values = {
        f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
        for f in dataclasses.fields(config)
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    }
    args = SimpleNamespace(**{**values, **case.overrides})
    return {cls.name for cls in BUILTIN_COMPONENTS if cls.enabled(args)}


def component_cases(hand_cases: list[Case]) -> list[Case]:
    """One case per built-in component that no hand-written case turns on: `ExploreGRPOTrainer` with the component's
    `example_config` (so a new built-in component runs in this suite without an edit here)."""
    from trl_explore.trainers.components import BUILTIN_COMPONENTS

    covered = set().union(*(enabled_components(case) for case in hand_cases))
    return [
        Case(
            f"component_{cls.name}", "ExploreGRPOTrainer", "ExploreGRPOConfig", dict(cls.example_config),
            compare=False, why="a generated case (the component's example_config): one-process equality not claimed",
        )
        for cls in BUILTIN_COMPONENTS
        if cls.name not in covered
    ]  # fmt: skip


CASES: list[Case] = HAND_CASES + component_cases(HAND_CASES)
CASES_BY_NAME = {case.name: case for case in CASES}
assert len(CASES_BY_NAME) == len(CASES)

# Logged keys that are timings (not statistics): they differ between processes and runs
TIMING_KEYS = ("step_time", "train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos")
