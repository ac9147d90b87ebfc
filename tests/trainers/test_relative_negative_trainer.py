"""`RelativeNegativeGRPOTrainer` / the relative-negative component: TRL parity, masking, denominators, training runs."""

from __future__ import annotations

import copy
import csv
import math

import pytest
import torch
from grpo_helpers import build_trainer, const_reward, fixed_batch, loss_and_grads, tiny_model, tiny_tokenizer
from trl import GRPOConfig, GRPOTrainer

from trl_explore.trainers import (
    ExploreGRPOConfig,
    ExploreGRPOTrainer,
    RelativeNegativeComponent,
    RelativeNegativeConfig,
    RelativeNegativeGRPOTrainer,
)
from trl_explore.trainers.components import KEEP_KEY as SAMPLE_MASK_KEY

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

RNG_METRICS = ("rng/frac_negative_tokens", "rng/frac_mixed_groups", "rng/max_prob_sampled")
MODES = ("grpo", "grpo_n", "gspo_n", "nsr", "psr", "w_reinforce")


def _ours(tmp_path, **overrides):
    return build_trainer(
        RelativeNegativeGRPOTrainer,
        RelativeNegativeConfig,
        tmp_path / "ours",
        model=tiny_model(tiny_tokenizer()),
        **overrides,
    )


def _trl(tmp_path, **overrides):
    return build_trainer(GRPOTrainer, GRPOConfig, tmp_path / "trl", model=tiny_model(tiny_tokenizer()), **overrides)


def _generated(trainer, inputs, rewards):
    """Run the generation phases as after TRL's generation: ``rewards`` [N] stand for the gathered rewards of the
    single reward function."""
    trainer.model.train()
    trainer._last_rewards_per_func = torch.tensor(rewards, dtype=torch.float32).unsqueeze(1)
    return trainer._run_generation_phases(copy.deepcopy(inputs))


def _assert_same(loss_a, grads_a, loss_b, grads_b, rtol=1e-6, atol=1e-7):
    torch.testing.assert_close(loss_b, loss_a, rtol=rtol, atol=atol)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 0
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], rtol=10 * rtol, atol=atol, msg=name)


# ------------------------------------------------------------------------------------------------------ config
CPU = dict(use_cpu=True, bf16=False, report_to="none")


def test_defaults_and_component_registration(tmp_path):
    """ExploreGRPOConfig's default is TRL's GRPO (component off); the drop-in turns GRPO-N on."""
    assert ExploreGRPOConfig(output_dir=str(tmp_path), **CPU).advantage_mode == "grpo"
    base = build_trainer(ExploreGRPOTrainer, ExploreGRPOConfig, tmp_path / "base")
    assert base.components == []
    ours = _ours(tmp_path)
    assert ours.args.advantage_mode == "grpo_n" and isinstance(ours.components[0], RelativeNegativeComponent)
    assert ours.args.positive_weight == 0.1 and ours.args.correct_threshold == 1.0
    assert ours.args.negative_normalization == "all_tokens"


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"advantage_mode": "rloo"}, "advantage_mode"),
        ({"negative_normalization": "some"}, "negative_normalization"),
        ({"positive_weight": -0.5}, "positive_weight"),
        ({"positive_weight": math.inf}, "positive_weight"),
        ({"correct_threshold": math.nan}, "correct_threshold"),
        ({"advantage_mode": "nsr", "loss_type": "cispo"}, "loss_type"),
        ({"positive_weight": True}, "positive_weight"),
        ({"rng_metrics": "yes"}, "rng_metrics"),
    ],
)
def test_invalid_config_raises(tmp_path, overrides, match):
    with pytest.raises(ValueError, match=match):
        ExploreGRPOConfig(output_dir=str(tmp_path), **CPU, **overrides)


def test_recipes(tmp_path):
    """NSR / W-REINFORCE presets: clip 0.2 both sides, no KL, 4 optimizer steps per generation batch."""
    nsr = RelativeNegativeConfig.nsr_recipe(output_dir=str(tmp_path), **CPU, gradient_accumulation_steps=2)
    assert (nsr.advantage_mode, nsr.negative_normalization) == ("nsr", "selected_tokens")
    assert (nsr.epsilon, nsr.epsilon_high, nsr.beta, nsr.num_iterations) == (0.2, 0.2, 0.0, 1)
    # an optimizer step every 2 micro-batches, 8 micro-batches per generation -> 4 optimizer steps
    assert nsr.steps_per_generation * nsr.num_iterations // nsr.gradient_accumulation_steps == 4
    assert nsr.loss_type == "dapo" and nsr.learning_rate == 1e-6 and nsr.lr_scheduler_type == "constant"
    w = RelativeNegativeConfig.w_reinforce_recipe(output_dir=str(tmp_path), **CPU, positive_weight=0.2)
    assert (w.advantage_mode, w.positive_weight, w.steps_per_generation) == ("w_reinforce", 0.2, 4)
    g = RelativeNegativeConfig.grpo_n_recipe(output_dir=str(tmp_path), **CPU, generation_batch_size=16)
    assert g.advantage_mode == "grpo_n" and g.generation_batch_size == 16


def test_gspo_n_sets_sequence_level(tmp_path):
    """gspo_n implies sequence-level importance sampling; a trainer whose args lost it refuses to start."""
    cfg = RelativeNegativeConfig(output_dir=str(tmp_path), **CPU, advantage_mode="gspo_n")
    assert cfg.importance_sampling_level == "sequence"
    trainer = _ours(tmp_path, advantage_mode="gspo_n")
    assert trainer.importance_sampling_level == "sequence"
    trainer.importance_sampling_level = "token"
    with pytest.raises(ValueError, match="sequence"):
        RelativeNegativeComponent(trainer)


# ------------------------------------------------------------------------------------------------------ parity
@pytest.mark.parametrize(
    ("loss_type", "is_level", "beta", "off_policy"),
    [("grpo", "token", 0.0, False), ("dapo", "sequence", 0.04, True), ("bnpo", "token", 0.0, True)],
)
def test_grpo_mode_equals_trl(tmp_path, loss_type, is_level, beta, off_policy):
    """advantage_mode="grpo" with the metrics on keeps TRL's own loss path (only its LM-head pass also yields the top
    probability) and equals TRL's GRPOTrainer."""
    common = dict(loss_type=loss_type, importance_sampling_level=is_level, beta=beta, epsilon_high=0.28)
    trl, ours = _trl(tmp_path, **common), _ours(tmp_path, advantage_mode="grpo", **common)
    assert not ours._uses_own_loss
    inputs = fixed_batch(len(trl.processing_class), off_policy=off_policy, ref=beta != 0.0)
    generated = _generated(ours, inputs, [1.0, 0.0, 0.0, 1.0])
    # exact: mode "grpo" leaves TRL's advantages untouched (no arithmetic on them)
    torch.testing.assert_close(generated["advantages"], inputs["advantages"], rtol=0, atol=0)
    _assert_same(*loss_and_grads(trl, inputs), *loss_and_grads(ours, generated))
    assert ours._metrics["train"]["rng/max_prob_sampled"][-1] > 0


def test_grpo_mode_entropy_bonus_equals_trl(tmp_path):
    """TRL's static entropy bonus (entropy_coef) is reproduced on the explore loss path."""
    trl, ours = _trl(tmp_path, entropy_coef=1e-2), _ours(tmp_path, advantage_mode="grpo", entropy_coef=1e-2)
    inputs = fixed_batch(len(trl.processing_class))
    _assert_same(*loss_and_grads(trl, inputs), *loss_and_grads(ours, _generated(ours, inputs, [1.0, 0, 0, 1.0])))


def test_max_prob_sampled_matches_full_softmax(tmp_path):
    """rng/max_prob_sampled = mean over valid completion tokens of max_v π(v | context) at the sampling temperature,
    taken from the fused statistics pass; checked against a plain full-vocabulary softmax of the same model."""
    ours = _ours(tmp_path, advantage_mode="grpo", temperature=0.7)
    inputs = fixed_batch(len(ours.processing_class))
    loss_and_grads(ours, _generated(ours, inputs, [1.0, 0, 0, 1.0]))
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
    mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
    with torch.no_grad():
        logits = ours.model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    t = inputs["completion_ids"].size(1)
    top = torch.softmax(logits[:, -t:] / 0.7, dim=-1).amax(-1)  # [B, T]
    valid = inputs["completion_mask"].float()
    expected = ((top * valid).sum() / valid.sum()).item()
    assert ours._metrics["train"]["rng/max_prob_sampled"][-1] == pytest.approx(expected, rel=1e-4)


def _capture_per_token_loss(trainer):
    """Record the per-token loss and mask the aggregation receives."""
    seen = {}
    original = trainer._aggregate

    def spy(per_token_loss, mask, inputs, mode):
        seen["loss"], seen["mask"] = per_token_loss.detach().clone(), mask.detach().clone()
        return original(per_token_loss, mask, inputs, mode)

    trainer._aggregate = spy
    return seen


@pytest.mark.parametrize("off_policy", [False, True])
def test_grpo_n_zeroes_positive_samples_and_keeps_negatives(tmp_path, off_policy):
    """fixed_batch advantages [1.0, -0.5, -1.5, 0.8] (TRL's): GRPO-N's per-token loss is 0 on samples 0 and 3 and
    equals GRPO's on samples 1 and 2; the loss equals TRL's on the batch with the positive advantages set to 0."""
    # the GRPO reference runs through the same explore loss path, on the batch before the generation phases
    grpo = _ours(tmp_path / "a", advantage_mode="grpo_n")
    grpo_n = _ours(tmp_path / "b", advantage_mode="grpo_n")
    inputs = fixed_batch(len(grpo.processing_class), off_policy=off_policy)
    seen_a, seen_b = _capture_per_token_loss(grpo), _capture_per_token_loss(grpo_n)
    loss_and_grads(grpo, inputs)
    generated = _generated(grpo_n, inputs, [1.0, 0, 0, 1.0])
    assert generated["advantages"].tolist() == [0.0, -0.5, -1.5, 0.0]
    assert generated[SAMPLE_MASK_KEY].tolist() == [False, True, True, False]
    loss_n, grads_n = loss_and_grads(grpo_n, generated)
    mask = inputs["completion_mask"].bool()
    assert (seen_a["loss"][[0, 3]][mask[[0, 3]]].abs() > 0).all(), "GRPO does train the positive samples"
    assert (seen_b["loss"][[0, 3]] == 0).all()
    # exact: rows 1 and 2 keep their advantages, so both trainers run the same per-token operations on them
    torch.testing.assert_close(seen_b["loss"][[1, 2]], seen_a["loss"][[1, 2]], rtol=0, atol=0)
    trl = _trl(tmp_path)
    clipped = dict(inputs, advantages=inputs["advantages"].clamp(max=0))
    _assert_same(*loss_and_grads(trl, clipped), loss_n, grads_n)
    metrics = grpo_n._metrics["train"]
    # negative samples 1, 2 hold 3 + 4 of the 5 + 3 + 4 + 5 = 17 valid tokens
    assert metrics["rng/frac_negative_tokens"][-1] == pytest.approx(7 / 17)
    assert metrics["rng/frac_mixed_groups"][-1] == 1.0


def _near_policy_old_logps(trainer, inputs, scale=0.1, seed=0):
    """Old log-probs within ~±0.1 of the current policy's, so that the importance ratios stay inside the clip range."""
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
    mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
    with torch.no_grad():
        logits = trainer.model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    t = inputs["completion_ids"].size(1)
    logps = torch.log_softmax(logits[:, -t:], dim=-1).gather(-1, inputs["completion_ids"].unsqueeze(-1)).squeeze(-1)
    noise = torch.randn(logps.shape, generator=torch.Generator().manual_seed(seed))
    return logps + scale * noise


def test_gspo_n_equals_trl_sequence_level(tmp_path):
    """gspo_n = TRL GRPO with importance_sampling_level="sequence" on the clipped (negative-only) advantages, and
    differs from token-level grpo_n (ratios inside the clip range, so the level matters for loss and gradients)."""
    ours = _ours(tmp_path, advantage_mode="gspo_n")
    trl = _trl(tmp_path, importance_sampling_level="sequence")
    inputs = fixed_batch(len(trl.processing_class))
    inputs["old_per_token_logps"] = _near_policy_old_logps(ours, inputs)
    generated = _generated(ours, inputs, [1.0, 0, 0, 1.0])
    clipped = dict(inputs, advantages=inputs["advantages"].clamp(max=0))
    loss_seq, grads_seq = loss_and_grads(ours, generated)
    _assert_same(*loss_and_grads(trl, clipped), loss_seq, grads_seq)
    token = _ours(tmp_path / "tok", advantage_mode="grpo_n")
    loss_token, grads_token = loss_and_grads(token, _generated(token, inputs, [1.0, 0, 0, 1.0]))
    assert not torch.allclose(loss_token, loss_seq), "sequence-level IS must matter"
    assert any(not torch.allclose(grads_token[n], grads_seq[n]) for n in grads_seq)


# NSR on rewards [1, 0, 0, 1]: advantages [0, -1, -1, 0]; incorrect samples 1, 2 hold 3 + 4 = 7 valid tokens of 17.
# On-policy the ratio is 1, so every kept token's loss is -A · 1 = 1; the helper uses 2 accumulation steps.
NSR_HAND = {
    # dapo: Σ loss / (num_items · accumulation / steps_per_generation), one process: 7 / (7 · 2) vs 7 / (17 · 2)
    ("dapo", "selected_tokens"): 7 / 14,
    ("dapo", "all_tokens"): 7 / 34,
    # bnpo: Σ loss / micro-batch tokens / accumulation
    ("bnpo", "selected_tokens"): 7 / 7 / 2,
    ("bnpo", "all_tokens"): 7 / 17 / 2,
    # grpo: mean over the 4 sequences of per-sequence means (0, 1, 1, 0), / accumulation - both options
    ("grpo", "selected_tokens"): 0.5 / 2,
    ("grpo", "all_tokens"): 0.5 / 2,
    # dr_grpo: Σ loss / (B · max_completion_length = 4 · 6) / accumulation - both options
    ("dr_grpo", "selected_tokens"): 7 / 24 / 2,
    ("dr_grpo", "all_tokens"): 7 / 24 / 2,
}


@pytest.mark.parametrize(("loss_type", "normalization"), sorted(NSR_HAND))
def test_nsr_denominators_hand_derived(tmp_path, loss_type, normalization):
    ours = _ours(tmp_path, advantage_mode="nsr", negative_normalization=normalization, loss_type=loss_type)
    inputs = fixed_batch(len(ours.processing_class))
    inputs["num_items_in_batch"] = inputs["completion_mask"].sum()  # this micro-batch is the whole generation
    generated = _generated(ours, inputs, [1.0, 0.0, 0.0, 1.0])
    assert generated["advantages"].tolist() == [0.0, -1.0, -1.0, 0.0]
    assert int(generated["num_items_in_batch"]) == (7 if normalization == "selected_tokens" else 17)
    loss, _ = loss_and_grads(ours, generated)
    assert loss.item() == pytest.approx(NSR_HAND[(loss_type, normalization)], rel=1e-6)


def test_nsr_selected_tokens_equals_trl_on_incorrect_subset(tmp_path):
    """NSR + selected_tokens (dapo) equals TRL's GRPO loss and gradients on the batch subset to the incorrect samples
    with advantage -1 — what the released code does — off-policy, so the clipping is exercised."""
    ours = _ours(tmp_path, advantage_mode="nsr", negative_normalization="selected_tokens")
    trl = _trl(tmp_path)
    inputs = fixed_batch(len(trl.processing_class), off_policy=True)
    generated = _generated(ours, inputs, [1.0, 0.0, 0.0, 1.0])
    rows = torch.tensor([1, 2])
    subset = {k: v[rows] for k, v in inputs.items() if k != "num_items_in_batch"}
    subset["advantages"] = torch.tensor([-1.0, -1.0])
    subset["num_items_in_batch"] = subset["completion_mask"].sum()
    _assert_same(*loss_and_grads(trl, subset), *loss_and_grads(ours, generated))


def test_w_reinforce_and_psr_advantages_and_unscorable(tmp_path):
    """W-REINFORCE: +λ / -1; PSR: +1 / dropped. An unscorable completion (NaN reward) gets 0 and is dropped."""
    w = _ours(tmp_path / "w", advantage_mode="w_reinforce", positive_weight=0.25)
    inputs = fixed_batch(len(w.processing_class))
    out = _generated(w, inputs, [1.0, 0.0, math.nan, 1.0])
    assert out["advantages"].tolist() == [0.25, -1.0, 0.0, 0.25]
    assert out[SAMPLE_MASK_KEY].tolist() == [True, True, False, True]
    p = _ours(tmp_path / "p", advantage_mode="psr")
    out = _generated(p, inputs, [1.0, 0.0, 0.0, 1.0])
    assert out["advantages"].tolist() == [1.0, 0.0, 0.0, 1.0]
    assert out[SAMPLE_MASK_KEY].tolist() == [True, False, False, True]


# ------------------------------------------------------------------------------------------------------ training
def _train(tmp_path, mode, callbacks=None):
    tok = tiny_tokenizer()
    trainer = build_trainer(
        RelativeNegativeGRPOTrainer,
        RelativeNegativeConfig,
        tmp_path,
        model=tiny_model(tok),
        max_steps=5,
        learning_rate=1e-2,
        advantage_mode=mode,
        negative_normalization="selected_tokens" if mode == "nsr" else "all_tokens",
    )
    for callback in callbacks or []:
        trainer.add_callback(callback)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    changed = any(not torch.equal(before[n], p) for n, p in trainer.model.named_parameters())
    logs = [e for e in trainer.state.log_history if "rng/frac_mixed_groups" in e]
    return trainer, logs, changed


@pytest.mark.parametrize("mode", MODES)
def test_five_steps_log_rng_metrics(tmp_path, mode):
    """Five steps per mode: every step logs the rng/* metrics; parameters change unless the mode had no signal."""
    callbacks = []
    if mode == "nsr":
        from datasets import Dataset

        from trl_explore.callbacks.pass_at_k import PassAtKCallback

        held_out = Dataset.from_dict({"prompt": ["1+1=", "2+2="]})
        callbacks.append(PassAtKCallback(held_out, const_reward, k=4, eval_steps=5, show_progress=False))
    trainer, logs, changed = _train(tmp_path, mode, callbacks)
    assert len(logs) == 5
    for entry in logs:
        for key in RNG_METRICS:
            assert key in entry and math.isfinite(entry[key]), key
        assert 0.0 <= entry["rng/frac_negative_tokens"] <= 1.0 and 0.0 <= entry["rng/frac_mixed_groups"] <= 1.0
        assert 0.0 < entry["rng/max_prob_sampled"] <= 1.0
    assert changed, "five steps at lr 1e-2 must move the parameters"
    if mode in ("grpo_n", "gspo_n", "nsr", "w_reinforce"):
        assert any(e["rng/frac_negative_tokens"] > 0 for e in logs)
    if mode == "psr":
        assert all(e["rng/frac_negative_tokens"] == 0.0 for e in logs), "PSR has no negative advantages"
    if mode == "nsr":
        with open(tmp_path / "pass_at_k.csv") as f:
            rows = list(csv.DictReader(f))
        assert {int(r["step"]) for r in rows} == {0, 5} and {int(r["k"]) for r in rows} == {1, 2, 4}
        assert all(0.0 <= float(r["pass_at_k"]) <= 1.0 for r in rows)


def test_nsr_recipe_trains_off_policy(tmp_path):
    """The NSR preset with TRL's knobs: 4 micro-batches per generation (one optimizer step each), old log-probs from
    TRL, the keep mask buffered and split with the batch; the sliced mask matches each micro-batch's advantages."""
    tok = tiny_tokenizer()
    args = RelativeNegativeConfig.nsr_recipe(
        output_dir=str(tmp_path),
        **CPU,
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=6,
        max_steps=4,
        learning_rate=1e-2,
        logging_steps=1,
        save_strategy="no",
        gradient_checkpointing=False,
    )
    from grpo_helpers import tiny_dataset

    trainer = RelativeNegativeGRPOTrainer(
        model=tiny_model(tok),
        reward_funcs=const_reward,
        args=args,
        train_dataset=tiny_dataset(16),
        processing_class=tok,
    )
    assert args.steps_per_generation == 4 and trainer._computes_old_logps()
    trainer.train()
    assert len(trainer._buffered_inputs) == 4
    for batch in trainer._buffered_inputs:
        assert "old_per_token_logps" in batch and batch[SAMPLE_MASK_KEY].shape == (4,)
        assert (batch[SAMPLE_MASK_KEY] == (batch["advantages"] < 0)).all()
    logs = [e for e in trainer.state.log_history if "rng/max_prob_sampled" in e]
    assert len(logs) == 4
