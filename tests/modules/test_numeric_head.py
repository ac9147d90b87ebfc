"""Tests for the numeric-token Fourier head (``trl_explore.modules.numeric_head``) and the training integration
(``trl_explore.trainers.fourier_integration``)."""

from __future__ import annotations

import math
import types

import pytest
import torch
from datasets import Dataset
from torch import nn

from trl_explore.metrics.smoothness import smoothness
from trl_explore.modules.fourier_head import FourierHead
from trl_explore.modules.numeric_head import (
    FourierNumericHead,
    attach_numeric_head,
    find_numeric_head,
    load_numeric_head_model,
    numeric_head_modules_to_save,
)
from trl_explore.toy import make_tiny_model, make_tokenizer
from trl_explore.trainers.fourier_integration import (
    FourierRegularizationMixin,
    add_fourier_regularization,
    collect_fourier_terms,
    fourier_metrics,
    fourier_regularization,
)


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer()


def _digit_ids(tokenizer) -> list[int]:
    return [tokenizer.convert_tokens_to_ids(str(d)) for d in range(10)]


def _model(tokenizer, seed: int = 0, tie: bool = True):
    return make_tiny_model(tokenizer, hidden_size=32, num_hidden_layers=1, seed=seed, tie_word_embeddings=tie)


def _randomise_fourier(head: FourierNumericHead, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in head.fourier.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)


# --------------------------------------------------------------------------------------------- head math
def test_hybrid_keeps_lm_head_outside_group_and_group_mass(tokenizer):
    """Hybrid: non-number logits are the LM head's bit for bit; logsumexp over the number group is the LM head's; the
    within-group distribution is the Fourier pmf renormalised: softmax(logits[ids]) = (P + eps) / (1 + m eps)."""
    model = _model(tokenizer)
    x = torch.randint(0, len(tokenizer), (2, 6))
    base = model(x).logits
    ids = _digit_ids(tokenizer)
    head = attach_numeric_head(model, ids, num_frequencies=4)
    _randomise_fourier(head)
    out = model(x).logits
    others = torch.ones(out.shape[-1], dtype=torch.bool)
    others[ids] = False
    assert out.shape == base.shape and out.dtype == base.dtype
    torch.testing.assert_close(out[..., others], base[..., others], rtol=0, atol=0)
    torch.testing.assert_close(torch.logsumexp(out[..., ids], -1), torch.logsumexp(base[..., ids], -1))
    hidden = model.model(x).last_hidden_state
    pmf = head.fourier(hidden).exp()
    torch.testing.assert_close(torch.softmax(out[..., ids], -1), pmf / pmf.sum(-1, keepdim=True))


def test_full_mode_outputs_only_number_tokens(tokenizer):
    model = _model(tokenizer)
    ids = _digit_ids(tokenizer)
    head = attach_numeric_head(model, ids, num_frequencies=3, mode="full")
    _randomise_fourier(head)
    x = torch.randint(0, len(tokenizer), (2, 5))
    probs = torch.softmax(model(x).logits, -1)
    assert probs[..., ids].sum(-1).sub(1).abs().max() < 1e-6
    pmf = head.fourier(model.model(x).last_hidden_state).exp()
    torch.testing.assert_close(probs[..., ids], pmf / pmf.sum(-1, keepdim=True))


def test_attach_unties_embeddings_and_records_config(tokenizer):
    model = _model(tokenizer, tie=True)
    assert model.lm_head.weight is model.model.embed_tokens.weight
    before = model.model.embed_tokens.weight.detach().clone()
    head = attach_numeric_head(model, _digit_ids(tokenizer), 5, regularization_gamma=1e-6)
    assert model.get_output_embeddings() is head and isinstance(head, nn.Linear)
    assert head.weight is not model.model.embed_tokens.weight
    assert model.config.tie_word_embeddings is False
    assert model.config.fourier_numeric_head["number_token_ids"] == _digit_ids(tokenizer)
    assert model.config.fourier_numeric_head["regularization_gamma"] == 1e-6
    with torch.no_grad():
        head.weight.add_(1.0)
    torch.testing.assert_close(model.model.embed_tokens.weight, before, rtol=0, atol=0)
    assert find_numeric_head(model)[0] == "lm_head"
    with pytest.raises(ValueError, match="already"):
        attach_numeric_head(model, _digit_ids(tokenizer), 5)


@pytest.mark.parametrize("bad,match", [([3], "at least 2"), ([3, 3], "distinct"), ([0, 10_000], "lie in")])
def test_invalid_number_ids(tokenizer, bad, match):
    with pytest.raises(ValueError, match=match):
        attach_numeric_head(_model(tokenizer), bad, 4)


@pytest.mark.parametrize("mode", ["hybrid", "full"])
def test_save_load_identical_logits(tokenizer, tmp_path, mode):
    model = _model(tokenizer)
    head = attach_numeric_head(model, _digit_ids(tokenizer), 6, mode=mode, regularization_gamma=1e-6)
    _randomise_fourier(head, seed=1)
    x = torch.randint(0, len(tokenizer), (3, 7))
    expected = model(x).logits
    model.save_pretrained(tmp_path)
    loaded = load_numeric_head_model(tmp_path)
    assert isinstance(loaded.lm_head, FourierNumericHead) and loaded.lm_head.mode == mode
    assert loaded.lm_head.fourier.regularization_gamma == 1e-6
    torch.testing.assert_close(loaded(x).logits, expected, rtol=0, atol=0)


def test_bf16_model_with_float32_fourier_part(tokenizer, tmp_path):
    """A bf16 model: logits stay bf16, the Fourier part stays float32 and save -> load is exact."""
    model = _model(tokenizer).to(torch.bfloat16)
    head = attach_numeric_head(model, _digit_ids(tokenizer), 4)
    _randomise_fourier(head)
    assert head.weight.dtype == torch.bfloat16 and head.fourier.linear.weight.dtype == torch.float32
    x = torch.randint(0, len(tokenizer), (2, 5))
    logits = model(x).logits
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits).all()
    model.save_pretrained(tmp_path)
    loaded = load_numeric_head_model(tmp_path, dtype=torch.bfloat16)
    assert loaded.lm_head.fourier.linear.weight.dtype == torch.float32
    torch.testing.assert_close(loaded(x).logits, logits, rtol=0, atol=0)


def test_load_without_head_config_raises(tokenizer, tmp_path):
    _model(tokenizer).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="fourier_numeric_head"):
        load_numeric_head_model(tmp_path)


def test_generation_unchanged_in_shape(tokenizer):
    model = _model(tokenizer)
    x = torch.randint(0, len(tokenizer), (2, 4))
    plain = model.generate(x, max_new_tokens=6, do_sample=False, min_new_tokens=6)
    attach_numeric_head(model, _digit_ids(tokenizer), 4)  # /100 init: the group's shape is ~uniform
    out = model.generate(x, max_new_tokens=6, do_sample=False, min_new_tokens=6)
    assert out.shape == plain.shape == (2, 10)
    torch.manual_seed(0)
    sampled = model.generate(x, max_new_tokens=6, do_sample=True, min_new_tokens=6)
    assert sampled.shape == (2, 10)


def test_peft_lora_skips_head_and_head_trains(tokenizer, tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model

    model = _model(tokenizer)
    head = attach_numeric_head(model, _digit_ids(tokenizer), 4, regularization_gamma=1e-6)
    x = torch.randint(0, len(tokenizer), (2, 6))
    model(x)  # a forward before wrapping must not break PEFT's deepcopy of the head
    config = LoraConfig(r=4, target_modules="all-linear", modules_to_save=numeric_head_modules_to_save(model))
    peft_model = get_peft_model(model, config)
    head_names = [n for n, _ in peft_model.named_modules() if ".lm_head" in n]
    assert head_names and not any("lora" in n for n in head_names)
    assert any("lora_A" in n for n, _ in peft_model.named_parameters())
    trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert any(n.endswith("modules_to_save.default.fourier.linear.weight") for n in trainable)
    assert not any("original_module" in n for n in trainable)

    active = [m for n, m in peft_model.named_modules() if n.endswith("modules_to_save.default")][0]
    before = active.fourier.linear.weight.detach().clone()
    opt = torch.optim.Adam([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):
        logits = peft_model(input_ids=x).logits
        loss = nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        reg = fourier_regularization(peft_model)
        assert reg is not None and reg.requires_grad
        opt.zero_grad()
        (loss + reg).backward()
        opt.step()
    assert not torch.equal(active.fourier.linear.weight, before)
    torch.testing.assert_close(head.fourier.linear.weight, before)  # the frozen original is untouched

    expected = peft_model(input_ids=x).logits
    peft_model.save_pretrained(tmp_path)
    base = _model(tokenizer)
    attach_numeric_head(base, _digit_ids(tokenizer), 4, regularization_gamma=1e-6)
    reloaded = PeftModel.from_pretrained(base, tmp_path)
    torch.testing.assert_close(reloaded(input_ids=x).logits, expected, rtol=0, atol=0)


# --------------------------------------------------------------------------------------------- regularisation hook
def test_fourier_regularization_sums_heads_and_none_without_heads():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), FourierHead(8, 10, 3, regularization_gamma=0.5))
    other = FourierHead(4, 6, 2, regularization_gamma=0.25)
    container = nn.ModuleDict({"a": model, "b": other, "c": FourierHead(4, 6, 2)})  # gamma 0 head is skipped
    assert fourier_regularization(container) is None  # no forward yet
    x = torch.randn(3, 4)
    model(x), other(x), container["c"](x)
    expected = model[1].regularization_loss + other.regularization_loss
    metrics = fourier_metrics(container)  # reads without consuming
    torch.testing.assert_close(fourier_regularization(container), expected)
    assert fourier_regularization(container) is None  # consumed: a head that does not run again adds nothing
    assert fourier_regularization(nn.Linear(2, 2)) is None
    assert math.isclose(metrics["fourier/regularization"], expected.item(), rel_tol=1e-6)
    assert metrics["fourier/smoothness"] > 0


def test_collect_averages_chunked_forwards():
    """Two chunks of one batch: the collected term is the mean of the two per-chunk terms (each a row mean)."""
    head = FourierHead(4, 8, 3, regularization_gamma=1.0)
    with torch.no_grad():
        head.linear.weight.normal_()
    x = torch.randn(6, 4)
    with collect_fourier_terms(head) as terms:
        head(x[:3])
        r1 = head.regularization_loss
        head(x[3:])
        r2 = head.regularization_loss
    torch.testing.assert_close(terms.regularization(), (r1 + r2) / 2)
    head(x)
    torch.testing.assert_close(terms.regularization(), (r1 + r2) / 2)  # hooks removed after the block
    torch.testing.assert_close(terms.smoothness(), smoothness(head(x).exp().detach()).mean().item())


class _FakeTrainer:
    """The bits of ``transformers.Trainer`` the one-liner touches."""

    def __init__(self, model, scaled=None):
        self.model = model
        self.logged = []
        self.loss_is_scaled_for_ga = scaled
        self.current_gradient_accumulation_steps = 4

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = nn.functional.cross_entropy(model(inputs["x"]), inputs["y"])
        return (loss, None) if return_outputs else loss

    def log(self, logs, start_time=None):
        self.logged.append(dict(logs))


@pytest.mark.parametrize("scaled", [False, True])
def test_one_liner_adds_term_scales_for_accumulation_and_logs(scaled):
    """Loss = CE + reg; when the trainer does not divide the loss by the 4 accumulation steps itself (``scaled``),
    the term is divided by 4 so that the accumulated gradient holds it once."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), FourierHead(8, 5, 2, regularization_gamma=0.1))
    with torch.no_grad():
        model[1].linear.weight.normal_()
    inputs = {"x": torch.randn(4, 3), "y": torch.tensor([0, 1, 2, 4])}
    trainer = _FakeTrainer(model, scaled=scaled)
    plain = trainer.compute_loss(model, inputs)
    add_fourier_regularization(trainer)
    add_fourier_regularization(trainer)  # idempotent
    loss = trainer.compute_loss(model, inputs)
    reg = model[1].regularization_loss
    torch.testing.assert_close(loss, plain + (reg / 4 if scaled else reg))
    loss2, outputs = trainer.compute_loss(model, inputs, return_outputs=True)
    torch.testing.assert_close(loss2, loss)
    trainer.log({"loss": 1.0})
    logged = trainer.logged[-1]
    assert math.isclose(logged["fourier/regularization"], reg.item(), rel_tol=1e-6)
    assert logged["fourier/smoothness"] > 0
    trainer.log({"loss": 1.0})
    assert "fourier/regularization" not in trainer.logged[-1]  # window cleared after logging


def test_gamma_zero_leaves_loss_unchanged():
    """Degenerate equivalence: gamma = 0 -> the patched loss equals the plain loss exactly."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), FourierHead(8, 5, 2))
    inputs = {"x": torch.randn(4, 3), "y": torch.tensor([0, 1, 2, 4])}
    trainer = _FakeTrainer(model)
    plain = trainer.compute_loss(model, inputs)
    add_fourier_regularization(trainer)
    assert torch.equal(trainer.compute_loss(model, inputs), plain)


def _number_dataset(n: int = 16) -> Dataset:
    g = torch.Generator().manual_seed(0)
    rows = []
    for _ in range(n):
        v = torch.rand((), generator=g).item()
        rows.append({"prompt": f"x={v:.2f} bin:", "completion": str(min(int(v * 10), 9))})
    return Dataset.from_list(rows)


@pytest.mark.parametrize("style", ["one_liner", "mixin"])
def test_sft_trainer_integration(tokenizer, tmp_path, style):
    """Plain TRL SFTTrainer: the term is added and logged, the Fourier part trains, and TRL's fused LM-head forward
    goes through the numeric head."""
    from trl import SFTConfig, SFTTrainer

    model = _model(tokenizer)
    head = attach_numeric_head(model, _digit_ids(tokenizer), 4, regularization_gamma=1e-3)
    before = head.fourier.linear.weight.detach().clone()
    args = SFTConfig(
        output_dir=str(tmp_path),
        max_steps=3,
        per_device_train_batch_size=4,
        logging_steps=1,
        learning_rate=1e-2,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        max_length=32,
        dataloader_num_workers=0,
    )
    if style == "one_liner":
        trainer = add_fourier_regularization(
            SFTTrainer(model=model, args=args, train_dataset=_number_dataset(), processing_class=tokenizer)
        )
    else:
        from trl import SFTTrainer as _Base

        cls = types.new_class("FourierSFT", (FourierRegularizationMixin, _Base))
        trainer = cls(model=model, args=args, train_dataset=_number_dataset(), processing_class=tokenizer)
    trainer.train()
    logs = [h for h in trainer.state.log_history if "fourier/regularization" in h]
    assert len(logs) == 3 and all(h["fourier/regularization"] > 0 and h["fourier/smoothness"] > 0 for h in logs)
    assert not torch.equal(head.fourier.linear.weight, before)

    # the fused forward (TRL's training path) now scores labels with the numeric head's distribution
    batch = tokenizer(["x=0.31 bin:3", "x=0.77 bin:7"], return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    model.eval()
    with torch.no_grad():
        fused = model(**batch, labels=labels, fused_lm_head=True)
        logits = model(**batch).logits
    expected = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, labels[:, 1:].clamp(min=0)[..., None])[..., 0]
    expected = expected.masked_fill(labels[:, 1:] == -100, 0)
    torch.testing.assert_close(fused.log_probs, expected, atol=1e-5, rtol=1e-5)
    # ... which differs from what TRL's own fused kernel computes from lm_head.weight alone
    hidden = model.model(**batch).last_hidden_state[:, :-1]
    lm_only = torch.log_softmax(nn.functional.linear(hidden, head.weight).float(), -1)
    lm_only = lm_only.gather(-1, labels[:, 1:].clamp(min=0)[..., None])[..., 0].masked_fill(labels[:, 1:] == -100, 0)
    assert (lm_only - expected).abs().max() > 1e-3


def test_grpo_trainer_one_liner(tokenizer, tmp_path):
    """Plain TRL GRPOTrainer + the one-liner: the term is logged, the Fourier part trains, and the fused forward
    (GRPO's log-prob path, at the trainer's temperature) goes through the numeric head."""
    from trl import GRPOConfig, GRPOTrainer

    def digit_reward(completions, **kwargs):
        return [float(sum(ch.isdigit() for ch in str(c))) for c in completions]

    model = _model(tokenizer)
    head = attach_numeric_head(model, _digit_ids(tokenizer), 4, regularization_gamma=1e-2)
    before = head.fourier.linear.weight.detach().clone()
    args = GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=4,
        max_steps=2,
        learning_rate=1e-2,
        report_to="none",
        use_cpu=True,
        bf16=False,
        logging_steps=1,
        save_strategy="no",
        seed=0,
        temperature=0.7,
    )
    dataset = Dataset.from_dict({"prompt": [f"{i}+{i}=" for i in range(8)]})
    trainer = add_fourier_regularization(
        GRPOTrainer(
            model=model, reward_funcs=digit_reward, args=args, train_dataset=dataset, processing_class=tokenizer
        )
    )
    trainer.train()
    logs = [h for h in trainer.state.log_history if "fourier/regularization" in h]
    assert len(logs) == 2 and all(h["fourier/regularization"] > 0 and h["fourier/smoothness"] > 0 for h in logs)
    assert not torch.equal(head.fourier.linear.weight, before)

    ids = tokenizer(["1+1=2", "3+3=6"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        fused = model(input_ids=ids, labels=ids, fused_lm_head=True)
        logits = model(input_ids=ids).logits
    expected = torch.log_softmax(logits[:, :-1].float() / 0.7, -1).gather(-1, ids[:, 1:, None])[..., 0]
    torch.testing.assert_close(fused.log_probs, expected, atol=1e-5, rtol=1e-5)


def _example_module():
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "fourier_head_sft.py"
    spec = importlib.util.spec_from_file_location("_example_fourier_head_sft", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_example_main_on_toy_in_process(tmp_path):
    """The example's parser and ``main`` (offline toy, 2 steps): logs the Fourier metrics, saves a reloadable model."""
    from trl import ModelConfig, ScriptArguments, SFTConfig, TrlParser

    ex = _example_module()
    parser = TrlParser((ScriptArguments, SFTConfig, ModelConfig, ex.NumericHeadArguments))
    args = parser.parse_args_and_config(
        [
            "--toy",
            "--toy_samples",
            "16",
            "--output_dir",
            str(tmp_path),
            "--max_steps",
            "2",
            "--per_device_train_batch_size",
            "4",
            "--report_to",
            "none",
            "--use_cpu",
            "--logging_steps",
            "1",
            "--save_strategy",
            "no",
            "--num_frequencies",
            "3",
        ]
    )
    trainer = ex.main(*args)
    assert any("fourier/regularization" in h for h in trainer.state.log_history)
    loaded = load_numeric_head_model(tmp_path)
    assert isinstance(loaded.lm_head, FourierNumericHead) and loaded.lm_head.fourier.num_frequencies == 3
    with pytest.raises(ValueError, match="head_mode"):
        ex.NumericHeadArguments(head_mode="bins")


@pytest.mark.slow
def test_example_script_help_and_toy_run(tmp_path):
    """``examples/fourier_head_sft.py`` as a script: ``--help`` works and a 2-step offline toy run saves a reloadable
    model (two subprocesses, so slow on a shared CPU)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "examples" / "fourier_head_sft.py"
    help_run = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=300)
    assert help_run.returncode == 0 and "--num_frequencies" in help_run.stdout
    run = subprocess.run(
        [
            sys.executable,
            str(script),
            "--toy",
            "--toy_samples",
            "16",
            "--output_dir",
            str(tmp_path),
            "--max_steps",
            "2",
            "--per_device_train_batch_size",
            "4",
            "--report_to",
            "none",
            "--use_cpu",
            "--logging_steps",
            "1",
            "--save_strategy",
            "no",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "fourier/regularization" in run.stdout + run.stderr
    loaded = load_numeric_head_model(tmp_path)
    assert isinstance(loaded.lm_head, FourierNumericHead)
