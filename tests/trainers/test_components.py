"""The component protocol of `ExploreGRPOTrainer`: registry, phases, per-token bounds, metrics, TRL's entropy bonus on
the own loss path, sampling-time logits processors (plain and tool-calling generation), and the drop-in config."""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace

import pytest
import torch
from grpo_helpers import (
    LOSS_CASES,
    build_trainer,
    const_reward,
    fixed_batch,
    loss_and_grads,
    tiny_model,
    tiny_tokenizer,
)
from trl import GRPOConfig, GRPOTrainer

from trl_explore.trainers import (
    ExploreComponent,
    ExploreGRPOConfig,
    ExploreGRPOTrainer,
    LossContext,
    LpRegConfig,
    LpRegGRPOTrainer,
    Metric,
    RelativeNegativeConfig,
    RelativeNegativeGRPOTrainer,
    register_component,
    registered_components,
    unregister_component,
)
from trl_explore.trainers.components import GenerationContext, SharedSlot, SharedValues

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CASES = LOSS_CASES


def _register(cls):
    """Register ``cls`` for one test (the fixture below removes it)."""
    register_component(cls)
    _REGISTERED.append(cls.name)
    return cls


_REGISTERED: list[str] = []


@pytest.fixture(autouse=True)
def _clean_registry():
    yield
    while _REGISTERED:
        unregister_component(_REGISTERED.pop())


def _identity_component(**attrs):
    """A loss-editing component that changes nothing: forces the explore loss path."""
    namespace = {"name": "test_identity", "edits_loss": True, "enabled": classmethod(lambda cls, args: True)}
    namespace.update(attrs)
    return _register(type("_Identity", (ExploreComponent,), namespace))


def _pair(tmp_path, **overrides):
    tok = tiny_tokenizer()
    trl = build_trainer(GRPOTrainer, GRPOConfig, tmp_path / "trl", model=tiny_model(tok), **overrides)
    ours = build_trainer(ExploreGRPOTrainer, ExploreGRPOConfig, tmp_path / "ours", model=tiny_model(tok), **overrides)
    return trl, ours


def _assert_equal(trl, ours, inputs, rtol=0.0, atol=0.0):
    """Exact by default: the own loss path with an identity component runs TRL's `_compute_loss` operations in TRL's
    order on the same shapes (`_explore_compute_loss`), which round identically on every float path."""
    loss_a, grads_a = loss_and_grads(trl, inputs)
    loss_b, grads_b = loss_and_grads(ours, inputs)
    torch.testing.assert_close(loss_b, loss_a, rtol=rtol, atol=atol)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 0
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], rtol=rtol, atol=atol, msg=name)


# ---------------------------------------------------------------------------------------------------------- registry
def test_builtin_components_registered_in_order():
    names = [c.name for c in registered_components()]
    assert names[:2] == ["lp_reg", "relative_negative"]


def test_registry_refuses_bad_components():
    class NoName(ExploreComponent):
        pass

    with pytest.raises(ValueError, match="name"):
        register_component(NoName)
    with pytest.raises(TypeError, match="ExploreComponent"):
        register_component(object)

    class BadOrder(ExploreComponent):
        name = "test_bad_order"
        order = {"advantage": 1}

    with pytest.raises(ValueError, match="unknown phases"):
        register_component(BadOrder)

    class Clash(ExploreComponent):
        name = "lp_reg"

    with pytest.raises(ValueError, match="already registered"):
        register_component(Clash)


def test_phase_order_declared_then_registration(tmp_path):
    calls = []

    def make(name, order):
        def advantages(self, ctx):
            calls.append(name)

        return _register(
            type(
                name,
                (ExploreComponent,),
                {"name": name, "order": order, "advantages": advantages, "enabled": classmethod(lambda c, a: True)},
            )
        )

    make("test_late", {"advantages": 200})
    make("test_default", {})
    make("test_early", {"advantages": 5})
    trainer = build_trainer(ExploreGRPOTrainer, ExploreGRPOConfig, tmp_path)
    trainer._last_rewards_per_func = torch.tensor([[1.0], [0.0], [0.0], [1.0]])
    trainer.model.train()
    trainer._run_generation_phases(fixed_batch(len(trainer.processing_class)))
    assert calls == ["test_early", "test_default", "test_late"]


# ------------------------------------------------------------------------------------- own loss path equals TRL
@pytest.mark.parametrize(("loss_type", "is_level", "beta", "off_policy"), CASES)
def test_own_loss_path_bit_identical_to_trl(tmp_path, loss_type, is_level, beta, off_policy):
    """With a component that edits nothing, the own loss path gives TRL's loss and gradients bit for bit."""
    _identity_component()
    trl, ours = _pair(tmp_path, loss_type=loss_type, importance_sampling_level=is_level, beta=beta, epsilon_high=0.28)
    assert ours._uses_own_loss
    _assert_equal(trl, ours, fixed_batch(len(trl.processing_class), off_policy=off_policy, ref=beta != 0.0))
    for key in ("entropy", "clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean"):
        assert ours._metrics["train"][key] == trl._metrics["train"][key], key


@pytest.mark.parametrize(
    "overrides",
    [
        {"entropy_coef": 1e-2},
        {"entropy_coef": 1e-2, "top_entropy_quantile": 0.5},
        {"entropy_coef": 1e-3, "use_adaptive_entropy": True, "entropy_target": 10.0, "entropy_coef_delta": 1e-3},
        {"entropy_coef": 5e-3, "use_adaptive_entropy": True, "entropy_target": 0.0, "entropy_coef_delta": 1e-3},
    ],
)
def test_own_loss_path_carries_trl_entropy_bonus(tmp_path, overrides):
    """TRL's entropy bonus (static or adaptive, with the high-entropy mask) is reproduced on the own loss path: same
    loss and gradients over three micro-batches, same controller state and the same `policy_loss` / `entropy_coef`
    metrics."""
    _identity_component()
    trl, ours = _pair(tmp_path, loss_type="dapo", **overrides)
    for seed in range(3):
        _assert_equal(trl, ours, fixed_batch(len(trl.processing_class), seed=seed, off_policy=True))
        assert ours.entropy_coef == trl.entropy_coef and ours._last_world_entropy == trl._last_world_entropy
    for key in ("policy_loss", "entropy_coef"):
        assert ours._metrics["train"][key] == trl._metrics["train"][key] and len(trl._metrics["train"][key]) == 3
    if overrides.get("use_adaptive_entropy"):
        assert trl.entropy_coef != overrides["entropy_coef"], "the controller must have moved"


def test_lp_reg_with_entropy_bonus_equals_trl_when_nothing_selected(tmp_path):
    """Lp-Reg on (nothing selectable: every advantage positive) plus TRL's entropy bonus equals TRL with the bonus."""
    tok = tiny_tokenizer()
    common = dict(loss_type="dapo", entropy_coef=1e-2, epsilon=0.2, epsilon_high=0.28)
    trl = build_trainer(GRPOTrainer, GRPOConfig, tmp_path / "trl", model=tiny_model(tok), **common)
    ours = build_trainer(LpRegGRPOTrainer, LpRegConfig, tmp_path / "ours", model=tiny_model(tok), **common)
    inputs = fixed_batch(len(tok))
    inputs["advantages"] = inputs["advantages"].abs()
    _assert_equal(trl, ours, inputs, rtol=1e-6, atol=1e-7)
    assert ours._metrics["train"]["lp_reg/frac_selected"][-1] == 0.0


# ----------------------------------------------------------------------------------------------- prepare_loss
def _bounds_component(dtype):
    def prepare_loss(self, ctx):
        shape = ctx.per_token_logps.shape
        ctx.eps_low = torch.full(shape, self.trainer.epsilon_low, dtype=dtype)
        ctx.eps_high = torch.full(shape, self.trainer.epsilon_high, dtype=dtype)

    return _identity_component(name="test_bounds", prepare_loss=prepare_loss)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("loss_type", "is_level", "beta", "off_policy"), CASES[:4])
def test_per_token_bounds_equal_to_scalars_are_bit_identical(tmp_path, dtype, loss_type, is_level, beta, off_policy):
    """Per-token ε tensors holding the scalars give TRL's loss, gradients and clip metrics bit for bit."""
    _bounds_component(dtype)
    trl, ours = _pair(tmp_path, loss_type=loss_type, importance_sampling_level=is_level, epsilon_high=0.28)
    inputs = fixed_batch(len(trl.processing_class), off_policy=True)
    _assert_equal(trl, ours, inputs)
    for key in ("clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/low_min", "clip_ratio/high_max"):
        assert ours._metrics["train"][key] == trl._metrics["train"][key], key


def _surrogate(ctx, delta=None):
    fake = SimpleNamespace(args=SimpleNamespace(delta=delta))
    return ExploreGRPOTrainer._clipped_surrogate(fake, ctx)


def _ctx(ratios, advantages, **kwargs):
    ratios = torch.tensor(ratios, dtype=torch.float32)
    logps = torch.zeros_like(ratios)
    return LossContext(
        model=None,
        inputs={},
        mode="train",
        mask=torch.ones_like(ratios),
        per_token_logps=logps,
        old_per_token_logps=-torch.log(ratios),
        advantages=torch.tensor(advantages, dtype=torch.float32),
        **kwargs,
    )


def test_surrogate_hand_derived_per_token_bounds_advantages_and_dual_clip():
    """ratios r = [0.5, 1.5, 4.0], per-token ε_low = [0.2, 0.2, 0.2], ε_high = [0.1, 0.6, 0.1]:

    * A = +1 per token: loss = -min(r, clip(r)) = -[0.5, min(1.5, 1.5), min(4, 1.1)] = [-0.5, -1.5, -1.1];
    * per-token A = [-1, -2, +0.5]: token 0: -min(-0.5, -0.8) = 0.8; token 1: -min(-3, -2.4) = 3; token 2:
      -min(2, 0.55) = -0.55;
    * dual clip c = 3 on the same: token 0 (A = -1) is capped at -c·A = 3 >= 0.8 and token 1 (A = -2) at 6 >= 3, both
      unchanged; a token with r = 4 and A = -1 has loss -min(-4, -0.8) = 4, capped at 3.
    """
    eps_low = torch.tensor([[0.2, 0.2, 0.2]], dtype=torch.float64)
    eps_high = torch.tensor([[0.1, 0.6, 0.1]], dtype=torch.float64)
    ctx = _ctx([[0.5, 1.5, 4.0]], [[1.0]], eps_low=eps_low, eps_high=eps_high)
    torch.testing.assert_close(_surrogate(ctx), torch.tensor([[-0.5, -1.5, -1.1]]))
    ctx = _ctx([[0.5, 1.5, 4.0]], [[-1.0, -2.0, 0.5]], eps_low=eps_low, eps_high=eps_high)
    torch.testing.assert_close(_surrogate(ctx), torch.tensor([[0.8, 3.0, -0.55]]))
    ctx.dual_clip = 3.0
    torch.testing.assert_close(_surrogate(ctx), torch.tensor([[0.8, 3.0, -0.55]]))
    ctx = _ctx([[4.0]], [[-1.0]], eps_low=0.2, eps_high=0.2)
    torch.testing.assert_close(_surrogate(ctx), torch.tensor([[4.0]]))
    ctx.dual_clip = 3.0
    torch.testing.assert_close(_surrogate(ctx), torch.tensor([[3.0]]))
    # TRL's delta clamps the unclipped ratio of every sign (a different thing): min(r, δ)
    ctx = _ctx([[4.0]], [[1.0]], eps_low=0.2, eps_high=9.0)
    torch.testing.assert_close(_surrogate(ctx, delta=2.0), torch.tensor([[-2.0]]))


def test_behaviour_logps_set_in_prepare_loss_move_the_ratio():
    ctx = _ctx([[2.0, 0.5]], [[1.0]])
    torch.testing.assert_close(ctx.coef_1, torch.tensor([[2.0, 0.5]]))
    ctx.old_per_token_logps = torch.zeros(1, 2)
    torch.testing.assert_close(ctx.coef_1, torch.ones(1, 2))
    ctx.importance_sampling_level = "sequence"
    ctx.old_per_token_logps = torch.tensor([[0.0, -math.log(4.0)]])  # log-ratios 0 and log 4: mean log 2
    torch.testing.assert_close(ctx.coef_1, torch.tensor([[2.0]]))


# -------------------------------------------------------------------------------------------------- metrics
def test_metrics_phase_reductions(tmp_path):
    """mean = Σ value / Σ count (NaN when no count), max / min over processes, global as given; namespaced."""

    def generation_metrics(self, ctx):
        return {"gen_mean": Metric(3.0, 4.0), "global": Metric(0.25, reduce="global")}

    def loss_metrics(self, ctx):
        return {
            "mean": Metric.masked_mean(torch.tensor([[1.0, 2.0, 4.0]]), torch.tensor([[1, 1, 0]])),
            "empty": Metric(0.0, 0.0),
            "top": Metric(torch.tensor(7.0), reduce="max"),
            "bottom": Metric(-1.0, reduce="min"),
        }

    _identity_component(metric_namespace="probe", generation_metrics=generation_metrics, loss_metrics=loss_metrics)
    trainer = build_trainer(ExploreGRPOTrainer, ExploreGRPOConfig, tmp_path)
    trainer._last_rewards_per_func = torch.tensor([[1.0], [0.0], [0.0], [1.0]])
    trainer.model.train()
    batch = trainer._run_generation_phases(fixed_batch(len(trainer.processing_class)))
    loss_and_grads(trainer, batch)
    logged = trainer._metrics["train"]
    assert logged["probe/gen_mean"] == [0.75] and logged["probe/global"] == [0.25]
    assert logged["probe/mean"] == [1.5] and math.isnan(logged["probe/empty"][0])
    assert logged["probe/top"] == [7.0] and logged["probe/bottom"] == [-1.0]


@pytest.mark.parametrize("edits_loss", [True, False])
def test_after_loss_runs_before_loss_metrics_on_both_loss_paths(tmp_path, edits_loss):
    """`after_loss` sees the micro-batch's context (shared values included) before `loss_metrics`, on the own loss
    path and on TRL's (no loss-editing component); the generation batch gets `generation_metrics` only."""
    calls = []
    slot = SharedSlot("test_value", float)

    def after_loss(self, ctx):
        calls.append(("after_loss", type(ctx).__name__))
        ctx.shared.set(slot, 2.5)

    def loss_metrics(self, ctx):
        calls.append(("loss_metrics", type(ctx).__name__))
        return {"value": Metric(ctx.shared.get(slot), reduce="global")}

    def generation_metrics(self, ctx):
        calls.append(("generation_metrics", type(ctx).__name__))
        return {}

    _identity_component(
        metric_namespace="probe", edits_loss=edits_loss, after_loss=after_loss, loss_metrics=loss_metrics,
        generation_metrics=generation_metrics,
    )  # fmt: skip
    trainer = build_trainer(ExploreGRPOTrainer, ExploreGRPOConfig, tmp_path)
    trainer._last_rewards_per_func = torch.tensor([[1.0], [0.0], [0.0], [1.0]])
    trainer.model.train()
    batch = trainer._run_generation_phases(fixed_batch(len(trainer.processing_class)))
    loss_and_grads(trainer, batch)
    assert calls == [
        ("generation_metrics", "GenerationContext"), ("after_loss", "LossContext"), ("loss_metrics", "LossContext"),
    ]  # fmt: skip
    assert trainer._metrics["train"]["probe/value"] == [2.5]


def test_deprecated_metrics_override_still_runs_for_both_contexts(tmp_path):
    """A component written for the single `metrics` phase: registering it warns (FutureWarning) and its override is
    called with the generation batch's context and with each loss's."""

    class Legacy(ExploreComponent):
        name = "test_legacy_metrics"
        edits_loss = True

        @classmethod
        def enabled(cls, args):
            return True

        def metrics(self, ctx):
            return {"generation" if isinstance(ctx, GenerationContext) else "loss": Metric(1.0, reduce="global")}

    with pytest.warns(FutureWarning, match="overrides `metrics`, which is deprecated"):
        _register(Legacy)
    trainer = build_trainer(ExploreGRPOTrainer, ExploreGRPOConfig, tmp_path)
    trainer._last_rewards_per_func = torch.tensor([[1.0], [0.0], [0.0], [1.0]])
    trainer.model.train()
    batch = trainer._run_generation_phases(fixed_batch(len(trainer.processing_class)))
    loss_and_grads(trainer, batch)
    logged = trainer._metrics["train"]
    assert logged["test_legacy_metrics/generation"] == [1.0] and logged["test_legacy_metrics/loss"] == [1.0]


def test_shared_slots_are_typed_and_computed_once():
    values = SharedValues()
    slot = SharedSlot("test_scores", torch.Tensor)
    computed = []

    def compute():
        computed.append(1)
        return torch.ones(2)

    first = values.get_or_compute(slot, compute)
    assert values.get_or_compute(slot, compute) is first and computed == [1] and slot in values
    assert values.get(SharedSlot("test_other", int)) is None
    with pytest.raises(TypeError, match="test_other"):
        values.set(SharedSlot("test_other", int), "three")


def test_components_do_not_dispatch_on_the_context_type():
    """No `isinstance(ctx, ...)` in the built-in components: each phase receives one kind of context."""
    import ast
    from pathlib import Path

    import trl_explore.trainers.components as package

    offenders = []
    for path in sorted(Path(package.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance" and node.args:
                target = node.args[0]
                if isinstance(target, ast.Name) and target.id == "ctx":
                    offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


def test_drop_samples_helper_and_token_recount(tmp_path):
    """`drop_samples`: all_tokens zeroes the policy term only; selected_tokens also shrinks the loss mask and
    recounts `num_items_in_batch` (17 valid tokens in the fixed batch, rows 0 and 3 hold 5 + 5)."""

    def advantages(self, ctx):
        ctx.drop_samples(torch.tensor([True, False, False, False]), "all_tokens")
        ctx.drop_samples(torch.tensor([False, False, False, True]), "selected_tokens")

    _identity_component(advantages=advantages)
    trainer = build_trainer(ExploreGRPOTrainer, ExploreGRPOConfig, tmp_path)
    trainer._last_rewards_per_func = torch.tensor([[1.0], [0.0], [0.0], [1.0]])
    trainer.model.train()
    inputs = fixed_batch(len(trainer.processing_class))
    out = trainer._run_generation_phases(copy.deepcopy(inputs))
    assert out["explore_keep"].tolist() == [False, True, True, False]
    assert out["explore_in_mask"].tolist() == [True, True, True, False]
    assert int(out["num_items_in_batch"]) == 17 - 5
    ctx = GenerationContext(trainer, "train", copy.deepcopy(inputs), 4, torch.zeros(4, 1), torch.ones(1))
    with pytest.raises(ValueError, match="normalization"):
        ctx.drop_samples(torch.zeros(4, dtype=torch.bool), "some")
    with pytest.raises(ValueError, match="shape"):
        ctx.drop_samples(torch.zeros(3, dtype=torch.bool))


# -------------------------------------------------------------------------------------------------- drop-in
def test_plain_grpo_config_is_upgraded(tmp_path, caplog):
    """`LpRegGRPOTrainer(args=GRPOConfig(...))` trains: the config becomes an `LpRegConfig` with Lp-Reg on, every
    field the user set kept (TRL's post-processed values included), with one INFO line."""
    import logging

    from grpo_helpers import config_kwargs, tiny_dataset

    tok = tiny_tokenizer()
    args = GRPOConfig(**config_kwargs(tmp_path, max_steps=2, learning_rate=1e-2, epsilon=0.3, steps_per_generation=2))
    with caplog.at_level(logging.INFO, logger="trl_explore.trainers.explore_grpo_trainer"):
        trainer = LpRegGRPOTrainer(
            model=tiny_model(tok),
            reward_funcs=const_reward,
            args=args,
            train_dataset=tiny_dataset(),
            processing_class=tok,
        )
    assert sum("upgrading the given GRPOConfig to LpRegConfig" in r.message for r in caplog.records) == 1
    assert isinstance(trainer.args, LpRegConfig) and trainer.args.lp_reg
    assert (trainer.args.epsilon, trainer.epsilon_high, trainer.args.learning_rate) == (0.3, 0.3, 1e-2)
    assert trainer.args.steps_per_generation == 2 and trainer.args.generation_batch_size == 8
    assert [c.name for c in trainer.components] == ["lp_reg"]
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    assert any(not torch.equal(before[n], p) for n, p in trainer.model.named_parameters())
    assert any("lp_reg/frac_selected" in entry for entry in trainer.state.log_history)

    rng = RelativeNegativeGRPOTrainer(
        model=tiny_model(tok),
        reward_funcs=const_reward,
        args=GRPOConfig(**config_kwargs(tmp_path / "r")),
        train_dataset=tiny_dataset(),
        processing_class=tok,
    )
    assert isinstance(rng.args, RelativeNegativeConfig) and rng.args.advantage_mode == "grpo_n"
    base = build_trainer(ExploreGRPOTrainer, GRPOConfig, tmp_path / "b")
    assert isinstance(base.args, ExploreGRPOConfig) and base.components == []


def test_wrong_args_type_raises(tmp_path):
    from grpo_helpers import tiny_dataset
    from transformers import TrainingArguments

    tok = tiny_tokenizer()
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    with pytest.raises(TypeError, match="GRPOConfig"):
        ExploreGRPOTrainer(model=tiny_model(tok), reward_funcs=const_reward, args=args, train_dataset=tiny_dataset())
