"""Settings a trainer cannot honour are refused when it is built, each with its reason (docs/robustness.md):

* TRL's ``loss_type`` in {cispo, sapo, luspo, vespo} with any loss-editing component (config and trainer);
* components that add rows (SPEAR's replay) without the own loss path;
* components that change the sampling (HAPO's adaptive temperature) with transformers' continuous batching or a custom
  ``rollout_func``, and with vLLM's importance-sampling correction;
* Lp-Reg's ``forward_full`` KL under DeepSpeed ZeRO-3 or FSDP1 (FSDP2 accepted);
* rank-aware shaping with ``dft``, label smoothing or ``compute_loss_func``.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from families import build_grpo, parity_reward, prompts_dataset
from grpo_helpers import config_kwargs, tiny_model, tiny_tokenizer

from trl_explore.trainers import (
    ExploreComponent,
    ExploreGRPOConfig,
    ExploreGRPOTrainer,
    HAPOConfig,
    RankAwareSFTConfig,
    RankAwareSFTTrainer,
    register_component,
    unregister_component,
)
from trl_explore.trainers import _trl_compat as compat
from trl_explore.trainers.components import HapoTemperatureComponent, LpRegComponent

OTHER_LOSS_TYPES = ["cispo", "sapo", "luspo", "vespo"]
# each loss-editing component, switched on alone
LOSS_EDITING = {
    "lp_reg": dict(lp_reg=True),
    "grpo_n": dict(advantage_mode="grpo_n"),
    "gspo_n": dict(advantage_mode="gspo_n"),
    "nsr": dict(advantage_mode="nsr"),
    "psr": dict(advantage_mode="psr"),
    "w_reinforce": dict(advantage_mode="w_reinforce"),
    "hapo_dar": dict(hapo_dar=True),
    "hapo_adaptive_clip": dict(hapo_adaptive_clip=True),
    "clip_cov": dict(clip_cov_ratio=0.1),
    "clip_cov_replay": dict(clip_cov_replay_ratio=0.1),
    "kl_cov": dict(kl_cov_ratio=0.1),
    "dr_bot_group_filter": dict(group_std_keep_ratio=0.5),
    "dr_bot_repetitive": dict(mask_repetitive_completions=True),
    "spear": dict(sil=True),
}
# components that leave the loss to TRL: every loss type works with them
NOT_LOSS_EDITING = {
    "rng_metrics": dict(rng_metrics=True),
    "hapo_tlga": dict(hapo_tlga=True),
    "hapo_adaptive_temperature": dict(hapo_adaptive_temperature=True),
}


def _loss_type_kwargs(loss_type: str) -> dict:
    # TRL's LUSPO and VESPO are sequence-level losses
    return {
        "loss_type": loss_type,
        **({"importance_sampling_level": "sequence"} if loss_type in ("luspo", "vespo") else {}),
    }


@pytest.mark.parametrize("loss_type", OTHER_LOSS_TYPES)
@pytest.mark.parametrize("component", sorted(LOSS_EDITING))
def test_other_loss_types_refused_with_loss_editing_components(tmp_path, loss_type, component):
    with pytest.raises(ValueError, match="`loss_type` must be one of") as info:
        ExploreGRPOConfig(**config_kwargs(tmp_path, **_loss_type_kwargs(loss_type), **LOSS_EDITING[component]))
    assert repr(loss_type) in str(info.value)


@pytest.mark.parametrize("loss_type", OTHER_LOSS_TYPES)
@pytest.mark.parametrize("component", sorted(NOT_LOSS_EDITING))
def test_other_loss_types_accepted_with_components_that_leave_the_loss_to_trl(tmp_path, loss_type, component):
    args = ExploreGRPOConfig(**config_kwargs(tmp_path, **_loss_type_kwargs(loss_type), **NOT_LOSS_EDITING[component]))
    trainer = ExploreGRPOTrainer(
        model=tiny_model(), reward_funcs=parity_reward, args=args, train_dataset=prompts_dataset(),
        processing_class=tiny_tokenizer(),
    )  # fmt: skip
    assert trainer.components and not trainer._uses_own_loss


def _register(tmp_name: str, **attrs):
    namespace = {"name": tmp_name, "enabled": classmethod(lambda cls, args: True), **attrs}
    return register_component(type(f"_{tmp_name}", (ExploreComponent,), namespace))


@pytest.fixture
def registered():
    names: list[str] = []
    yield lambda name, **attrs: (names.append(name), _register(name, **attrs))[1]
    for name in names:
        unregister_component(name)


@pytest.mark.parametrize("loss_type", OTHER_LOSS_TYPES)
def test_trainer_refuses_other_loss_types_for_any_loss_editing_component(tmp_path, registered, loss_type):
    """The trainer's own check, for components whose config does not validate the loss type (a user component)."""
    registered("test_editing", edits_loss=True)
    args = ExploreGRPOConfig(**config_kwargs(tmp_path, **_loss_type_kwargs(loss_type)))
    with pytest.raises(ValueError, match=r"loss-editing components \['test_editing'\].*cispo, sapo, luspo and vespo"):
        ExploreGRPOTrainer(
            model=tiny_model(), reward_funcs=parity_reward, args=args, train_dataset=prompts_dataset(),
            processing_class=tiny_tokenizer(),
        )  # fmt: skip


def test_rows_added_without_the_own_loss_path_refused(tmp_path, registered):
    registered("test_adds_rows", adds_rows=True)
    with pytest.raises(ValueError, match=r"\['test_adds_rows'\] add rows.*enable a loss-editing component"):
        build_grpo("explore_plain", tmp_path)


def test_sampling_components_refuse_continuous_batching(tmp_path):
    """HAPO's adaptive temperature passes a logits processor to generation; transformers' continuous batching takes
    none. Both spellings of the switch are refused when the trainer is built (the deprecated one by the config)."""
    with pytest.raises(ValueError, match="continuous batching"):
        build_grpo("hapo", tmp_path, use_transformers_continuous_batching=True)
    with pytest.raises(ValueError, match="use_transformers_paged"):
        build_grpo("hapo", tmp_path, use_transformers_paged=True)
    # without a sampling component, continuous batching is TRL's business
    trainer = build_grpo("hapo", tmp_path, use_transformers_continuous_batching=True, hapo_adaptive_temperature=False)
    assert compat.generation_backend(trainer) == "transformers_continuous_batching"


def test_sampling_components_refuse_a_custom_rollout_func(tmp_path, monkeypatch):
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    tokenizer = tiny_tokenizer()
    args = HAPOConfig(**config_kwargs(tmp_path, steps_per_generation=1))

    def rollout(prompts, trainer):  # never called: the trainer is refused first
        raise AssertionError

    with pytest.raises(ValueError, match="rollout_func.*would ignore them"):
        ExploreGRPOTrainer(
            model=tiny_model(tokenizer), reward_funcs=parity_reward, args=args, train_dataset=prompts_dataset(),
            processing_class=tokenizer, rollout_func=rollout,
        )  # fmt: skip


def test_adaptive_temperature_refuses_vllm_importance_sampling_correction(tmp_path):
    """(vLLM is not installed here: the component is built on a stand-in trainer with TRL's two attributes.)"""
    args = HAPOConfig(**config_kwargs(tmp_path))
    for correction, refused in ((True, True), (False, False)):
        trainer = SimpleNamespace(args=args, use_vllm=True, vllm_importance_sampling_correction=correction)
        if refused:
            with pytest.raises(ValueError, match="vllm_importance_sampling_correction=False"):
                HapoTemperatureComponent(trainer)
        else:
            assert HapoTemperatureComponent(trainer).stats is None
    # without vLLM the correction flag is TRL's default and irrelevant
    assert HapoTemperatureComponent(
        SimpleNamespace(args=args, use_vllm=False, vllm_importance_sampling_correction=True)
    )


@pytest.mark.parametrize(
    ("sharding", "refused"),
    [("deepspeed_zero3", "DeepSpeed ZeRO-3"), ("fsdp1", "FSDP1"), ("fsdp2", None), (None, None)],
)
def test_lp_reg_forward_full_under_sharding(tmp_path, monkeypatch, sharding, refused):
    monkeypatch.setattr(compat, "parameter_sharding", lambda trainer: sharding)
    args = ExploreGRPOConfig(**config_kwargs(tmp_path, lp_reg=True, lp_reg_kl_estimator="forward_full"))
    trainer = SimpleNamespace(args=args)
    if refused:
        with pytest.raises(ValueError, match=f"not supported with {refused}.*FSDP2"):
            LpRegComponent(trainer)
    else:
        assert LpRegComponent(trainer).token_stats().keep_hidden
    args.lp_reg_kl_estimator = "k3_sampled"  # the default estimator works under every sharding
    assert not LpRegComponent(trainer).token_stats().keep_hidden


def test_parameter_sharding_reads_fsdp_version():
    plugin = SimpleNamespace(fsdp_version=2)
    trainer = SimpleNamespace(
        is_fsdp_enabled=True, accelerator=SimpleNamespace(state=SimpleNamespace(fsdp_plugin=plugin))
    )
    assert compat.parameter_sharding(trainer) == "fsdp2"
    plugin.fsdp_version = 1
    assert compat.parameter_sharding(trainer) == "fsdp1"
    assert compat.parameter_sharding(SimpleNamespace(is_fsdp_enabled=False)) is None


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (dict(loss_type="dft"), "`loss_type` must be 'nll' while rank-aware shaping is on"),
        (dict(label_smoothing_factor=0.1), "`label_smoothing_factor` must be 0.0 while rank-aware shaping is on"),
    ],
)
def test_rank_aware_shaping_refuses_loss_replacements(tmp_path, overrides, match):
    with pytest.raises(ValueError, match=match):
        RankAwareSFTConfig(output_dir=str(tmp_path), rank_aware_beta=0.3, use_cpu=True, report_to="none", **overrides)
    # with shaping off the same settings are TRL's
    RankAwareSFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none", **overrides)


def test_rank_aware_shaping_refuses_compute_loss_func(tmp_path):
    from datasets import Dataset

    tok = tiny_tokenizer()
    args = RankAwareSFTConfig(output_dir=str(tmp_path), rank_aware_beta=0.3, use_cpu=True, report_to="none")
    data = Dataset.from_list([{"prompt": "1+1=", "completion": "2"}] * 4)
    with pytest.raises(ValueError, match="`compute_loss_func` is not supported by `RankAwareSFTTrainer`"):
        RankAwareSFTTrainer(
            model=tiny_model(tok), args=args, train_dataset=data, processing_class=tok,
            compute_loss_func=lambda outputs, labels, num_items_in_batch=None: torch.tensor(0.0),
        )  # fmt: skip
