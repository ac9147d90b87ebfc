"""Table-driven validation of every config field that `trl_explore` defines, and of `FourierHead`'s arguments.

For each config class, every field declared by a `trl_explore` class (component mixins, the named configs' overrides
of TRL fields, the SFT configs, SwiReasoning, evaluation, demo and script settings) is fed a value of the wrong type,
NaN, +inf, -inf (numbers; for other kinds a value of another type) and each out-of-range value of the table below;
each must raise a `ValueError` whose message names the field. A completeness test makes sure the table lists exactly
the fields the classes define, so a new field cannot skip validation. Invalid combinations and settings a mode
ignores (warnings) are tested at the end.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass

import pytest

from trl_explore.demo.regime import ToyRegime
from trl_explore.demo.runner import DemoSettings
from trl_explore.detection.cli import LastdeDetectArguments
from trl_explore.evaluation import SamplingConfig
from trl_explore.generation import SwiReasoningConfig
from trl_explore.modules import FourierHead
from trl_explore.scripts import MathScriptArguments
from trl_explore.trainers import (
    ExploreGRPOConfig,
    HAPOConfig,
    LpRegConfig,
    RelativeNegativeConfig,
    SPEARConfig,
)
from trl_explore.trainers.components import BUILTIN_ARGUMENTS
from trl_explore.trainers.fourier_head_config import FourierSFTConfig
from trl_explore.trainers.rank_aware_config import RankAwareSFTConfig

NAN, INF = math.nan, math.inf
# every TrainingArguments built here repeats transformers' deprecation notice of `gradient_checkpointing`
pytestmark = pytest.mark.filterwarnings("ignore:.*gradient_checkpointing.*:FutureWarning")


@dataclass(frozen=True)
class Spec:
    """How a field is validated: its kind and the out-of-range values it must refuse."""

    kind: str  # number | int | bool | choice | str (non-empty) | text (any string) | list | dict
    out_of_range: tuple = ()
    optional: bool = False

    def bad_values(self) -> list:
        wrong_type = {
            "number": ["0.5", [0.5]],
            "int": [2.5, "3", True],
            "bool": ["yes", 1],
            "choice": [3, "not-a-choice"],
            "str": [3, ""],
            "text": [3, ["a"]],
            "list": ["12", 7],
            "dict": ["x", [1]],
        }[self.kind]
        non_finite = [NAN, INF, -INF] if self.kind in ("number", "int") else []
        missing = [] if self.optional else [None]
        return [*wrong_type, *non_finite, *missing, *self.out_of_range]


def num(*bad, optional=False):
    return Spec("number", bad, optional)


def integer(*bad, optional=False):
    return Spec("int", bad, optional)


BOOL, CHOICE, STR = Spec("bool"), Spec("choice"), Spec("str")
OPT_STR = Spec("str", optional=True)

# -------------------------------------------------------------------------------------------------- RL components
# The built-in components' fields are derived from `BUILTIN_ARGUMENTS` (the one tuple of built-in components): each
# field's kind from its type (`choices` metadata: a choice), plus the out-of-range values below (a new component's
# fields get the wrong-type / non-finite / None checks without an edit here).
COMPONENT_OUT_OF_RANGE: dict[str, tuple] = {
    "lp_reg_min_p": (0.0, -0.1, 1.5),
    "lp_reg_rho": (0.0, 1.0, -0.5),
    "lp_reg_beta": (-1.0,),
    "positive_weight": (-0.1,),
    "hapo_entropy_pivot": (0.0, 1.5),
    "hapo_clip_alpha": (-1.0,),
    "hapo_adv_beta": (-0.1, 1.5),
    "hapo_temperature_tau": (-0.1, 1.0),
    "hapo_tlga_fallback": (0.0, -1.0),
    "hapo_dual_clip": (1.0, 0.5),
    "clip_cov_ratio": (-0.1, 1.0),
    "clip_cov_lb": (100.0,),  # not below clip_cov_ub (5)
    "clip_cov_ub": (0.5,),  # not above clip_cov_lb (1)
    "clip_cov_replay_ratio": (-0.1, 1.0),
    "clip_cov_replay_lb": (50.0,),
    "clip_cov_replay_ub": (0.5,),
    "kl_cov_ratio": (-0.1, 1.0),
    "kl_cov_coef": (-1.0,),
    "kl_cov_replay_ratio": (-0.1, 1.0),
    "kl_cov_replay_coef": (-1.0,),
    "repetition_ngram_size": (0, -3),
    "repetition_min_count": (1, 0),
    "group_std_keep_ratio": (0.0, 1.5),
    "sil_buffer_size": (0,),
    "sil_trigger_factor": (0.0, -1.0),
    "sil_tolerate_steps": (0, 11),
    "sil_decay": (0.0, 1.5),
    "sil_baseline_size": (0,),
    "sil_loss_coef": (-1.0,),
    "sil_warmup_steps": (-1,),
}
_KINDS = {"bool": "bool", "int": "int", "float": "number", "str": "str"}


def field_spec(f: dataclasses.Field) -> Spec:
    """The `Spec` of a component field from its declared type (``X | None``: optional) and metadata."""
    type_name = str(f.type).replace(" ", "")
    optional = type_name.endswith("|None")
    kind = _KINDS[type_name.removesuffix("|None")]
    if "choices" in f.metadata:
        kind = "choice"
    return Spec(kind, COMPONENT_OUT_OF_RANGE.get(f.name, ()), optional)


# ExploreGRPOConfig's own field (the invalid-reward stop, issue 25)
EXPLORE_GRPO = {"max_invalid_reward_batches": integer(-1)}
COMPONENTS = {
    **{f.name: field_spec(f) for mixin in BUILTIN_ARGUMENTS for f in dataclasses.fields(mixin)},
    **EXPLORE_GRPO,
}
# TRL fields the named configs re-declare with their recipes' defaults
TRL_OVERRIDES = {
    "epsilon": num(-0.1),
    "epsilon_high": num(-0.1, optional=True),
    "beta": num(-0.1),
    "temperature": num(0.0, -1.0),
    "top_p": num(0.0, 1.5),
    "learning_rate": num(-1e-6),
    "lr_scheduler_type": CHOICE,
    "loss_type": CHOICE,
    "warmup_steps": num(-1.0),
    "weight_decay": num(-0.1),
    "vllm_importance_sampling_correction": BOOL,
}

TOY_REGIME = {
    "task": STR,
    "warm_start_steps": integer(0, optional=True),
    "steps": integer(0),
    "learning_rate": num(0.0, 1.5),
    "prompts_per_step": integer(0),
    "num_generations": integer(1),
    "steps_per_generation": integer(0),
    "max_completion_length": integer(0),
    "temperature": num(0.0, 11.0),
    "epsilon": num(0.0, 1.5),
    "eval_prompts": integer(0),
    "k": integer(0),
    "low_prob_threshold": num(0.0, 1.5),
    "train_data_seed": integer(-1),
    "eval_data_seed": integer(-1),
}

# ------------------------------------------------------------------------------------------------------- the table
TABLE: dict[type, dict[str, Spec]] = {
    ExploreGRPOConfig: COMPONENTS,
    LpRegConfig: {
        **COMPONENTS,
        **{
            k: TRL_OVERRIDES[k]
            for k in (
                "learning_rate",
                "lr_scheduler_type",
                "temperature",
                "top_p",
                "beta",
                "epsilon",
                "epsilon_high",
                "loss_type",
            )
        },
    },
    RelativeNegativeConfig: COMPONENTS,
    HAPOConfig: {
        **COMPONENTS,
        **{
            k: TRL_OVERRIDES[k]
            for k in (
                "learning_rate",
                "warmup_steps",
                "weight_decay",
                "temperature",
                "beta",
                "epsilon",
                "epsilon_high",
                "loss_type",
                "vllm_importance_sampling_correction",
            )
        },
    },
    SPEARConfig: COMPONENTS,
    RankAwareSFTConfig: {
        "rank_aware_beta": num(-10.5, 11.0),
        "rank_aware_top_k": integer(0, -5),
        "rank_aware_lambda_high": num(-1.5, 1.5),
        "rank_aware_lambda_low": num(-1.5, 1.5),
    },
    FourierSFTConfig: {
        "fourier_head_number_tokens": Spec("list", (["1"], ["1", "1"], [1, 2]), optional=True),
        "fourier_head_num_frequencies": integer(0, -1),
        "fourier_head_mode": CHOICE,
        "fourier_head_regularization_gamma": num(-1.0),
    },
    SwiReasoningConfig: {
        "alpha0": num(-0.1, 1.5),
        "beta0": num(-0.1, 1.5),
        "window_size": integer(0, optional=True),
        "max_switch_count": integer(0, optional=True),
        "think_token": STR,
        "end_think_token": STR,
        "convergence_string": OPT_STR,
        "termination_string": OPT_STR,
        "answer_budget": integer(-1, 0),  # 0: refused with answer_budget_from="switch" (the default)
        "answer_budget_from": CHOICE,
        "math_override": BOOL,
        "math_tokens": CHOICE,
        "math_token_ids": Spec("list", ([-1], [1.5]), optional=True),
        "start_mode": CHOICE,
        "initial_soft_weight": num(-0.1, 1.5),
        "initial_mix_token": OPT_STR,
        "do_sample": BOOL,
        "temperature": num(0.0, -1.0),
        "top_p": num(0.0, 1.5),
        "top_k": integer(-1, optional=True),
        "min_p": num(-0.1, 1.5, optional=True),
        "seed": integer(-1, optional=True),
    },
    SamplingConfig: {
        "num_samples": integer(0),
        "temperature": num(-0.5),
        "top_p": num(0.0, 1.5),
        "max_new_tokens": integer(0),
        "batch_size": integer(0),
        "system_prompt": Spec("text", optional=True),
        "use_chat_template": Spec("bool", optional=True),
        "seed": integer(-1),
        "extra": Spec("dict"),
    },
    ToyRegime: TOY_REGIME,
    DemoSettings: {
        **{k: v for k, v in TOY_REGIME.items() if k != "task"},
        "task": STR,  # a toy task, or a dataset with `model`
        "methods": Spec("list", (["not-a-method"],)),
        "seeds": integer(0),
        "seed": integer(-1),
        "output_dir": STR,
        "model": OPT_STR,
        "eval_every": integer(0, optional=True),
        "warm_start_seed": integer(-1),
        "workers": integer(0, optional=True),
        "show_progress": BOOL,
        "learning_rate": num(0.0, -1e-4, 2.0, optional=True),  # None: each method's own rate
        "float_path": CHOICE,
    },
    LastdeDetectArguments: {
        "model_name_or_path": STR,
        "data_files": Spec("list", optional=True),
        "human_files": Spec("list", optional=True),
        "machine_files": Spec("list", optional=True),
        "text_column": STR,
        "label_column": OPT_STR,
        "reference_model_name_or_path": OPT_STR,
        "methods": Spec("list", (["not-a-method"], [])),
        "n_samples": integer(1),
        "short_text": CHOICE,
        "rank_ties": CHOICE,
        "batch_size": integer(0),
        "max_length": integer(1),
        "limit": integer(0, optional=True),
        "dtype": CHOICE,
        "seed": integer(-1),
        "output_dir": STR,
    },
    MathScriptArguments: {
        "dataset_name": OPT_STR,
        "problem_column": STR,
        "solution_column": STR,
        "system_prompt": Spec("text", optional=True),
        "toy_samples": integer(0),
        "toy_warm_start_steps": integer(0, optional=True),
    },
}


#: values of the fields without a default (everything else keeps its default)
REQUIRED = {LastdeDetectArguments: {"model_name_or_path": "toy"}}


def _library_fields(cls: type) -> set[str]:
    """Fields of ``cls`` whose nearest declaration is in a `trl_explore` class."""
    names = set()
    for f in dataclasses.fields(cls):
        owner = next(k for k in cls.__mro__ if f.name in vars(k).get("__annotations__", {}))
        if owner.__module__.startswith("trl_explore"):
            names.add(f.name)
    return names


def _build(cls: type, **kwargs):
    from transformers import TrainingArguments

    if issubclass(cls, TrainingArguments):
        return cls(output_dir="unused-output-dir", report_to="none", **kwargs)
    return cls(**{**REQUIRED.get(cls, {}), **kwargs})


CASES = [
    pytest.param(cls, name, value, id=f"{cls.__name__}.{name}={value!r}")
    for cls, specs in TABLE.items()
    for name, spec in specs.items()
    for value in spec.bad_values()
]


def test_component_out_of_range_values_name_component_fields():
    assert set(COMPONENT_OUT_OF_RANGE) <= set(COMPONENTS)


@pytest.mark.parametrize("cls", list(TABLE), ids=lambda c: c.__name__)
def test_table_lists_every_library_field(cls):
    assert set(TABLE[cls]) == _library_fields(cls)


@pytest.mark.parametrize(
    "cls", [ExploreGRPOConfig, LpRegConfig, RelativeNegativeConfig, HAPOConfig, SPEARConfig], ids=lambda c: c.__name__
)
@pytest.mark.parametrize(
    ("name", "value"), [("max_completion_length", 0), ("max_completion_length", -3), ("top_k", -1), ("top_k", 1.5)]
)
def test_trl_generation_fields_refused_at_construction(cls, name, value):
    """Issue 25: `max_completion_length=0` was accepted (a later error named `max_new_tokens`)."""
    with pytest.raises(ValueError, match=f"`{name}` must be an integer"):
        _build(cls, **{name: value})


@pytest.mark.parametrize("cls", list(TABLE), ids=lambda c: c.__name__)
def test_defaults_are_valid(cls):
    _build(cls)


@pytest.mark.parametrize(("cls", "name", "value"), CASES)
def test_bad_value_raises_naming_the_field(cls, name, value):
    with pytest.raises(ValueError) as error:
        _build(cls, **{name: value})
    assert f"`{name}`" in str(error.value) or name in str(error.value), str(error.value)


# ------------------------------------------------------------------------------------------------------ FourierHead
FOURIER_HEAD = {
    "in_features": integer(0),
    "num_bins": integer(1, 0),
    "num_frequencies": integer(0),
    "regularization_gamma": num(-1.0),
    "eps": num(-1e-5),
    "exact_bin_integration": BOOL,
}


@pytest.mark.parametrize(
    ("name", "value"),
    [pytest.param(n, v, id=f"{n}={v!r}") for n, spec in FOURIER_HEAD.items() for v in spec.bad_values()],
)
def test_fourier_head_bad_argument(name, value):
    kwargs = {"in_features": 4, "num_bins": 8, "num_frequencies": 2} | {name: value}
    with pytest.raises(ValueError, match=f"`{name}`"):
        FourierHead(**kwargs)


def test_fourier_head_frequencies_above_nyquist_refused():
    """N < m / 2 (arXiv 2410.22269, §3.3): 1 frequency fits 4 bins, 2 (= 4 / 2) and 100 do not; the config's numeric
    head is checked at construction against its number tokens (10 digits: N <= 4)."""
    FourierHead(4, 4, 1)
    for n in (2, 100):
        with pytest.raises(ValueError, match=rf"`num_frequencies`={n} must be < `num_bins` / 2 = 2"):
            FourierHead(4, 4, n)
    digits = [str(d) for d in range(10)]
    _build(FourierSFTConfig, fourier_head_number_tokens=digits, fourier_head_num_frequencies=4)
    with pytest.raises(
        ValueError, match=r"`fourier_head_num_frequencies`=5 must be < `len\(fourier_head_number_tokens"
    ):
        _build(FourierSFTConfig, fourier_head_number_tokens=digits, fourier_head_num_frequencies=5)


# -------------------------------------------------------------------------------------- settings a mode ignores
@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (RelativeNegativeConfig, {"advantage_mode": "nsr", "positive_weight": 0.5}, "`positive_weight`"),
        (ExploreGRPOConfig, {"lp_reg_beta": 2.0}, "`lp_reg_beta` set but `lp_reg=False`"),
        (ExploreGRPOConfig, {"hapo_clip_alpha": 0.5}, "hapo_clip_alpha"),
        (ExploreGRPOConfig, {"clip_cov_lb": 2.0}, "`clip_cov_lb` set but `clip_cov_ratio=0`"),
        (ExploreGRPOConfig, {"kl_cov_coef": 0.5}, "`kl_cov_coef` set but `kl_cov_ratio=0`"),
        (ExploreGRPOConfig, {"repetition_ngram_size": 5}, "`repetition_ngram_size` set but"),
        (ExploreGRPOConfig, {"sil_decay": 0.5}, "`sil_decay` set but `sil=False`"),
        (RankAwareSFTConfig, {"rank_aware_top_k": 5}, "`rank_aware_top_k`=5 has no effect"),
        (FourierSFTConfig, {"fourier_head_num_frequencies": 8}, "`fourier_head_num_frequencies` set but"),
    ],
)
def test_ignored_setting_warns(caplog, cls, kwargs, message):
    with caplog.at_level(logging.WARNING, logger="trl_explore"):
        _build(cls, **kwargs)
    assert message in caplog.text


def test_used_settings_do_not_warn(caplog):
    with caplog.at_level(logging.WARNING, logger="trl_explore"):
        _build(RelativeNegativeConfig, advantage_mode="w_reinforce", positive_weight=0.5)
        _build(ExploreGRPOConfig, lp_reg=True, lp_reg_beta=2.0, clip_cov_ratio=0.1, clip_cov_lb=2.0)
        _build(RankAwareSFTConfig, rank_aware_top_k=5, rank_aware_lambda_low=-0.1)
        _build(FourierSFTConfig, fourier_head_number_tokens=["0", "1", "2"], fourier_head_num_frequencies=1)
        _build(SPEARConfig, sil_decay=0.5)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_script_argument_dataclass_of_an_example():
    """Example scripts validate their own dataclasses the same way (one per kind)."""
    from example_utils import load_example

    rng = load_example("rng_grpo")
    with pytest.raises(ValueError, match="`pass_at_k`"):
        rng.RngScriptArguments(pass_at_k=-1)
    with pytest.raises(ValueError, match="`pass_at_k_protocol`"):
        rng.RngScriptArguments(pass_at_k_protocol="greedy")
    fourier = load_example("fourier_head_sft")
    with pytest.raises(ValueError, match="`value_range`"):
        fourier.NumericDataArguments(value_range=[0.0, NAN])
