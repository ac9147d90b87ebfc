"""Faults every trainer family survives (docs/robustness.md): reward functions that raise, return None / NaN / ±inf
for some completions, non-numeric values, NaN for a whole batch; empty completions, completions cut at
`max_completion_length`, groups whose rewards are all equal, micro-batches whose every token is masked.

For each family: a clear error where the run must stop (an exception in a reward function, a non-numeric reward),
otherwise finite losses, gradients and parameters, and the skipped things counted in the `faults/*` metrics.
"""

from __future__ import annotations

import asyncio
import logging
import math

import numpy as np
import pytest
import torch
from families import (
    GRPO_FAMILIES,
    assert_finite_training,
    build_grpo,
    metric_values,
    parity_reward,
    train_logs,
)

from trl_explore.trainers._faults import (
    EMPTY_COMPLETIONS,
    EMPTY_MICRO_BATCHES,
    REWARD_NONFINITE,
    REWARD_SKIPPED,
    UNSCORABLE,
    check_reward_values,
    guard_reward_function,
    screen_rewards,
)

FAMILIES = sorted(GRPO_FAMILIES)
N = 4  # completions per generation batch on the one process (per_device_train_batch_size, one group of 4)


def families(offset: int) -> list:
    """Every family; one of them (rotating with ``offset``, so that each family and each case runs somewhere) in the
    default suite, the others marked slow (the whole matrix runs in CI's slow suite)."""
    chosen = FAMILIES[offset % len(FAMILIES)]
    return [f if f == chosen else pytest.param(f, marks=pytest.mark.slow) for f in FAMILIES]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _every_third(value: float | None):
    """A reward function giving ``value`` to completions 0, 3, 6, ... of each call and the parity reward elsewhere."""

    def reward(completions, **kwargs):
        base = parity_reward(completions)
        return [value if i % 3 == 0 else r for i, r in enumerate(base)]

    reward.__name__ = f"every_third_{value}"
    return reward


def _every_third_count(trainer) -> float:
    """Completions 0, 3, 6, ... of a generation batch of ``N · steps_per_generation`` (one process)."""
    return float(len(range(0, N * trainer.args.steps_per_generation, 3)))


def _generations(logs):
    """Log entries of the steps that generated (and scored) a batch."""
    return [e for e in logs if REWARD_SKIPPED in e]


# ------------------------------------------------------------------------------------------------ reward faults
@pytest.mark.parametrize("family", families(0))
def test_raising_reward_stops_with_its_own_error_named(tmp_path, family):
    """An exception in a reward function stops the run: the function's own exception, annotated with its name and the
    global step (Python >= 3.11 notes)."""

    def flaky_verifier(completions, **kwargs):
        raise ConnectionError("verifier unreachable")

    trainer = build_grpo(family, tmp_path, reward_funcs=flaky_verifier)
    with pytest.raises(ConnectionError, match="verifier unreachable") as info:
        trainer.train()
    notes = " ".join(getattr(info.value, "__notes__", []))
    assert "reward function 'flaky_verifier'" in notes and "global step 0" in notes


@pytest.mark.parametrize("family", families(1))
@pytest.mark.parametrize(
    ("output", "match"),
    [
        (["yes"] * N, r"'strings'.*non-numeric value for completion 0: 'yes' \(str\)"),
        ([0.5, [1.0], 0.0, 1.0], r"'strings'.*non-numeric value for completion 1: \[1.0\] \(list\)"),
        ("1.0", r"'strings' returned str; it must return a list"),
    ],
)
def test_non_numeric_reward_is_a_clear_type_error(tmp_path, family, output, match):
    def strings(completions, **kwargs):
        return output

    trainer = build_grpo(family, tmp_path, reward_funcs=strings)
    with pytest.raises(TypeError, match=match):
        trainer.train()


@pytest.mark.parametrize("family", families(2))
@pytest.mark.parametrize("value", [None, math.nan])
def test_skipped_rewards_train_and_are_counted(tmp_path, family, value):
    """None / NaN for some completions (TRL's "skip"): training goes on with finite numbers; with one reward function
    every skipped completion is unscorable, and both counts are logged."""
    trainer = build_grpo(family, tmp_path, reward_funcs=_every_third(value))
    logs = train_logs(trainer)
    assert_finite_training(trainer, logs)
    generations = _generations(logs)
    assert generations
    expected = _every_third_count(trainer)
    for entry in generations:
        assert entry[REWARD_SKIPPED] == entry[UNSCORABLE] == expected
        assert entry[REWARD_NONFINITE] == 0.0


@pytest.mark.parametrize("family", families(3))
@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_infinite_rewards_are_skipped_warned_and_counted(tmp_path, family, value, caplog):
    """±inf is treated as None (it would make its group's advantages NaN or ±inf): finite training, a warning, the
    count in `faults/reward_nonfinite`."""
    trainer = build_grpo(family, tmp_path, reward_funcs=_every_third(value))
    with caplog.at_level(logging.WARNING, logger="trl_explore.trainers._faults"):
        logs = train_logs(trainer)
    assert_finite_training(trainer, logs)
    expected = _every_third_count(trainer)
    for entry in _generations(logs):
        assert entry[REWARD_NONFINITE] == entry[UNSCORABLE] == expected and entry[REWARD_SKIPPED] == 0.0
    assert any("+/-inf" in r.getMessage() and "every_third_" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("family", families(4))
def test_nan_for_the_whole_batch_warns_and_trains_on_nothing(tmp_path, family, caplog):
    """A reward that is NaN for every completion: a warning per generation batch, every completion counted as
    unscorable, all advantages 0 (so no policy gradient: loss and gradient norm 0)."""

    def broken(completions, **kwargs):
        return [math.nan] * len(completions)

    trainer = build_grpo(family, tmp_path, reward_funcs=broken)
    with caplog.at_level(logging.WARNING, logger="trl_explore.trainers._faults"):
        logs = train_logs(trainer)
    assert_finite_training(trainer, logs)
    for entry in _generations(logs):
        assert entry[UNSCORABLE] == entry[REWARD_SKIPPED] == float(N * trainer.args.steps_per_generation)
    for entry in logs:
        assert entry["loss"] == 0.0 and entry["grad_norm"] == 0.0
    warnings = [r for r in caplog.records if "Every completion of this generation batch" in r.getMessage()]
    assert len(warnings) == len(_generations(logs))


@pytest.mark.parametrize("family", families(5))
def test_all_equal_rewards_give_zero_advantages(tmp_path, family):
    """A group whose rewards are all equal has zero advantages: TRL's `frac_reward_zero_std` is 1, nothing is
    skipped, training stays finite."""

    def constant(completions, **kwargs):
        return [1.0] * len(completions)

    trainer = build_grpo(family, tmp_path, reward_funcs=constant)
    logs = train_logs(trainer)
    assert_finite_training(trainer, logs)
    for entry in _generations(logs):
        assert entry["frac_reward_zero_std"] == 1.0 and entry[UNSCORABLE] == 0.0


# ------------------------------------------------------------------------------------------------ completion faults
@pytest.mark.parametrize("family", families(6))
def test_empty_completions(tmp_path, family):
    """Every completion is just EOS (the first sampled token forced to EOS): the reward functions see empty text,
    training stays finite."""
    from trl_explore.toy import make_tokenizer

    tok = make_tokenizer()
    seen: list[str] = []

    def recording(completions, **kwargs):
        seen.extend(completions)
        return parity_reward(completions)

    others = [i for i in range(len(tok)) if i != tok.eos_token_id]
    trainer = build_grpo(family, tmp_path, reward_funcs=recording, generation_kwargs={"begin_suppress_tokens": others})
    logs = train_logs(trainer)
    assert_finite_training(trainer, logs)
    assert seen and set(seen) == {""}
    assert metric_values(logs, "completions/mean_length") and all(
        v == 1.0 for v in metric_values(logs, "completions/mean_length")
    )


@pytest.mark.parametrize("family", families(7))
def test_completions_cut_at_max_length(tmp_path, family):
    """Every completion is cut at `max_completion_length` (EOS suppressed): TRL's clipped ratio is 1, the cut
    completions still train (TRL's default `mask_truncated_completions=False`), nothing counted as empty."""
    from trl_explore.toy import make_tokenizer

    tok = make_tokenizer()
    trainer = build_grpo(
        family, tmp_path, max_completion_length=3, generation_kwargs={"suppress_tokens": [tok.eos_token_id]}
    )
    logs = train_logs(trainer)
    assert_finite_training(trainer, logs)
    for entry in _generations(logs):
        assert entry["completions/clipped_ratio"] == 1.0 and entry[EMPTY_COMPLETIONS] == 0.0


@pytest.mark.parametrize("family", families(8))
def test_micro_batch_with_every_token_masked(tmp_path, family):
    """Every completion is cut and `mask_truncated_completions=True` masks it: every micro-batch has no loss token.
    Loss and gradient are exactly 0 (no NaN from a 0/0), the empty completions and micro-batches are counted."""
    from trl_explore.toy import make_tokenizer

    tok = make_tokenizer()
    trainer = build_grpo(
        family, tmp_path, mask_truncated_completions=True, generation_kwargs={"suppress_tokens": [tok.eos_token_id]}
    )
    logs = train_logs(trainer)
    assert_finite_training(trainer, logs)
    for entry in logs:
        assert entry["loss"] == 0.0 and entry["grad_norm"] == 0.0
        assert entry[EMPTY_MICRO_BATCHES] == 1.0  # the one process's micro-batch (mean over the step's micro-batches)
    for entry in _generations(logs):
        assert entry[EMPTY_COMPLETIONS] == float(N * trainer.args.steps_per_generation)


# ------------------------------------------------------------------------------------------------------ SFT
def _sft_trainer(kind: str, tmp_path, **overrides):
    import warnings

    from datasets import Dataset

    from trl_explore.toy import make_tiny_model, make_tokenizer
    from trl_explore.trainers import FourierSFTConfig, FourierSFTTrainer, RankAwareSFTConfig, RankAwareSFTTrainer

    tok = make_tokenizer()
    data = Dataset.from_list([{"prompt": f"x=0.{i} bin:", "completion": str(i)} for i in range(8)])
    common = dict(
        output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=1, report_to="none", use_cpu=True,
        logging_steps=1, save_strategy="no", max_length=16,
    )  # fmt: skip
    common.update(overrides)
    model = make_tiny_model(tok, hidden_size=32, num_hidden_layers=1, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "rank_aware":
            args = RankAwareSFTConfig(**common, rank_aware_beta=0.3, rank_aware_top_k=5, rank_aware_lambda_high=0.1)
            return RankAwareSFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok)
        args = FourierSFTConfig(**common, fourier_head_number_tokens=[str(d) for d in range(10)])
        return FourierSFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok)


@pytest.mark.parametrize("kind", ["rank_aware", "fourier"])
@pytest.mark.parametrize("num_items", [None, 0])
def test_sft_micro_batch_without_labels(tmp_path, kind, num_items):
    """A micro-batch whose every label is ignored (e.g. a collator that masked the whole completion): the loss is
    finite (0 for rank-aware; the Fourier regulariser alone), every gradient finite, and the empty micro-batch counted.
    (TRL's dataset preparation drops examples without a trainable token, so this comes from custom collation.)"""
    trainer = _sft_trainer(kind, tmp_path)
    trainer.current_gradient_accumulation_steps = 1
    ids = torch.randint(3, 200, (2, 8), generator=torch.Generator().manual_seed(0))
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.full_like(ids, -100)}
    model = trainer.model
    model.train()
    model.zero_grad(set_to_none=True)
    loss = trainer.compute_loss(model, inputs, num_items_in_batch=None if num_items is None else torch.tensor(0))
    loss.backward()
    assert torch.isfinite(loss)
    if kind == "rank_aware":
        assert loss.item() == 0.0
    for name, param in model.named_parameters():
        assert param.grad is None or torch.isfinite(param.grad).all(), name
    assert trainer._metrics["train"][EMPTY_MICRO_BATCHES] == [1.0]


@pytest.mark.parametrize("kind", ["rank_aware", "fourier"])
def test_sft_trains_and_counts_no_empty_micro_batch(tmp_path, kind):
    trainer = _sft_trainer(kind, tmp_path)
    trainer.train()
    logs = [e for e in trainer.state.log_history if "loss" in e and "train_runtime" not in e]
    assert logs and all(math.isfinite(e["loss"]) for e in logs)
    assert all(e[EMPTY_MICRO_BATCHES] == 0.0 for e in logs)


# ------------------------------------------------------------------------------------------------------ units
@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ([1, 0.5, None, True], [1.0, 0.5, None, 1.0]),
        ((0.25, -2), [0.25, -2.0]),
        (torch.tensor([1.0, 0.0]), [1.0, 0.0]),
        (np.array([0.5, 1.5]), [0.5, 1.5]),
        ([np.float32(0.5), np.int64(2), torch.tensor(3.0)], [0.5, 2.0, 3.0]),
        ([math.nan, math.inf], [math.nan, math.inf]),
    ],
)
def test_check_reward_values_accepts_numbers(output, expected):
    got = check_reward_values("f", output)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert (g is None and e is None) or (math.isnan(e) and math.isnan(g)) or g == e


@pytest.mark.parametrize(
    "output",
    [["1.0"], [{"r": 1}], [1.0, b"x"], [complex(1, 0)], 1.0, None, torch.ones(2, 2), "abc", {"a": 1.0}],
)
def test_check_reward_values_refuses_the_rest(output):
    with pytest.raises(TypeError, match="'f'"):
        check_reward_values("f", output)


def test_async_guard_checks_and_annotates():
    async def good(completions, **kwargs):
        return [1.0] * len(completions)

    async def bad(completions, **kwargs):
        raise ValueError("nope")

    guarded = guard_reward_function(good, "good", lambda: 7, is_async=True)
    assert asyncio.run(guarded(completions=["a", "b"])) == [1.0, 1.0]
    failing = guard_reward_function(bad, "bad", lambda: 7, is_async=True)
    with pytest.raises(ValueError, match="nope") as info:
        asyncio.run(failing(completions=["a"]))
    assert "reward function 'bad' at global step 7" in " ".join(getattr(info.value, "__notes__", []))


def test_screen_rewards_counts():
    """Hand-counted: 2 completions x 2 functions; completion 0 has inf in f and NaN in g (unscorable), completion 1
    has None (NaN) in g only."""
    rewards = torch.tensor([[math.inf, math.nan], [1.0, math.nan]])
    screened, screen = screen_rewards(rewards, ["f", "g"], warn=False)
    assert torch.isnan(screened[0]).all() and screened[1, 0] == 1.0
    assert screen.metrics() == {REWARD_SKIPPED: 2.0, REWARD_NONFINITE: 1.0, UNSCORABLE: 1.0}
