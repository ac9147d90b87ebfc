"""`FourierSFTConfig` / `FourierSFTTrainer`: config validation, the regulariser added and logged (equal to the
formula), accumulation scaling, γ = 0 equals SFTTrainer, PEFT, save → load and deepcopy of the trained head."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from datasets import Dataset
from reference.fourier_reference import reference_regularization
from trl import SFTConfig, SFTTrainer

from trl_explore.kernels.fused_head import fused_head, shifted_label_mask
from trl_explore.modules.numeric_head import (
    FourierNumericHead,
    attach_numeric_head,
    find_numeric_head,
    load_numeric_head_model,
    numeric_head_projection,
)
from trl_explore.toy import make_tiny_model, make_tokenizer
from trl_explore.trainers.fourier_head_config import FourierSFTConfig
from trl_explore.trainers.fourier_head_trainer import FourierSFTTrainer

DIGITS = [str(d) for d in range(10)]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer()


def _dataset(n: int = 16) -> Dataset:
    g = torch.Generator().manual_seed(0)
    rows = []
    for _ in range(n):
        v = torch.rand((), generator=g).item()
        rows.append({"prompt": f"x={v:.2f} bin:", "completion": str(min(int(v * 10), 9))})
    return Dataset.from_list(rows)


def _args(cls, tmp_path, **kwargs):
    base = {
        "output_dir": str(tmp_path),
        "per_device_train_batch_size": 4,
        "report_to": "none",
        "use_cpu": True,
        "max_steps": 1,
        "logging_steps": 1,
        "save_strategy": "no",
        "max_length": 32,
        "seed": 0,
    }
    return cls(**{**base, **kwargs})


def _trainer(tokenizer, tmp_path, model=None, **kwargs):
    model = model if model is not None else make_tiny_model(tokenizer, hidden_size=32, num_hidden_layers=1, seed=0)
    peft_config = kwargs.pop("peft_config", None)
    args = _args(FourierSFTConfig, tmp_path, **{"fourier_head_number_tokens": DIGITS, **kwargs})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return FourierSFTTrainer(
            model=model, args=args, train_dataset=_dataset(), processing_class=tokenizer, peft_config=peft_config
        )


def _randomise_fourier(head: FourierNumericHead, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in head.fourier.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("fourier_head_number_tokens", ["1"], "at least 2"),
        ("fourier_head_number_tokens", ["1", "1"], "distinct"),
        ("fourier_head_number_tokens", "0123", "list of strings"),
        ("fourier_head_num_frequencies", 0, "fourier_head_num_frequencies"),
        ("fourier_head_num_frequencies", 2.5, "fourier_head_num_frequencies"),
        ("fourier_head_mode", "bins", "fourier_head_mode"),
        ("fourier_head_regularization_gamma", -1e-6, "fourier_head_regularization_gamma"),
        ("fourier_head_regularization_gamma", float("nan"), "fourier_head_regularization_gamma"),
    ],
)
def test_config_validation(tmp_path, field, value, match):
    with pytest.raises(ValueError, match=match):
        _args(FourierSFTConfig, tmp_path, **{field: value})


def test_config_defaults(tmp_path):
    args = _args(FourierSFTConfig, tmp_path)
    assert args.fourier_head_number_tokens is None and args.fourier_head_num_frequencies == 4
    assert args.fourier_head_mode == "hybrid" and args.fourier_head_regularization_gamma == 1e-6


def test_trainer_attaches_head_and_refuses_a_model_without_one(tokenizer, tmp_path):
    trainer = _trainer(tokenizer, tmp_path)
    head = find_numeric_head(trainer.model)[1]
    assert head.number_token_ids.tolist() == [tokenizer.convert_tokens_to_ids(d) for d in DIGITS]
    assert head.fourier.regularization_gamma == 1e-6 and head.mode == "hybrid"
    with pytest.raises(ValueError, match="no FourierHead"):
        FourierSFTTrainer(
            model=make_tiny_model(tokenizer, seed=0),
            args=_args(FourierSFTConfig, tmp_path),
            train_dataset=_dataset(),
            processing_class=tokenizer,
        )
    with pytest.raises(ValueError, match="not a single token"):
        _trainer(tokenizer, tmp_path, fourier_head_number_tokens=["10", "11", "12"], fourier_head_num_frequencies=1)
    # TRL's own config is accepted (Fourier fields at their defaults): the model brings its head
    model = make_tiny_model(tokenizer, hidden_size=32, num_hidden_layers=1, seed=0)
    attach_numeric_head(model, [tokenizer.convert_tokens_to_ids(d) for d in DIGITS], 3)
    plain = FourierSFTTrainer(
        model=model, args=_args(SFTConfig, tmp_path), train_dataset=_dataset(), processing_class=tokenizer
    )
    assert isinstance(plain.args, FourierSFTConfig) and plain.args.fourier_head_regularization_gamma == 1e-6


def test_logged_term_equals_formula_and_is_added(tokenizer, tmp_path):
    """On one batch: loss = SFT loss of the numeric head's distribution + γ · 2 · mean_rows Σ_k 2π²k²|c_k|² over the
    labelled positions (float64 reference from arXiv 2410.22269, Sec. 2-3), and `fourier_head/regularization` logs
    exactly that term."""
    gamma = 1e-3
    trainer = _trainer(tokenizer, tmp_path, fourier_head_regularization_gamma=gamma)
    model = trainer.model.train()
    head = find_numeric_head(model)[1]
    _randomise_fourier(head)
    batch = next(iter(trainer.get_train_dataloader()))
    inputs = trainer._prepare_inputs(dict(batch))
    num_items = shifted_label_mask(inputs).sum()
    trainer.current_gradient_accumulation_steps = 1
    loss = trainer.compute_loss(model, dict(inputs), num_items_in_batch=num_items)

    hidden = model.model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).last_hidden_state
    rows = hidden[:, :-1][shifted_label_mask(inputs)]  # the labelled positions TRL's fused head scores
    params = head.fourier.linear(rows).double()
    expected = reference_regularization(params, gamma)
    logged = trainer._metrics["train"]["fourier_head/regularization"][-1]
    assert logged == pytest.approx(expected.item(), rel=1e-4)
    assert trainer._metrics["train"]["fourier_head/smoothness"][-1] > 0

    logits = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits[:, :-1].float()
    labels = inputs["labels"][:, 1:]
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="sum")
    torch.testing.assert_close(loss.double(), ce.double() / num_items + expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("scaled", [False, True])
def test_term_scaled_for_gradient_accumulation(tokenizer, tmp_path, scaled):
    """With `num_items_in_batch` normalisation (the loss already divided over the 4 accumulation steps) the term is
    divided by 4, so the accumulated gradient holds it once; otherwise Trainer divides the whole loss itself."""
    trainer = _trainer(tokenizer, tmp_path, fourier_head_regularization_gamma=1e-2)
    trainer.model.train()
    _randomise_fourier(find_numeric_head(trainer.model)[1])
    trainer.current_gradient_accumulation_steps = 4
    inputs = trainer._prepare_inputs(dict(next(iter(trainer.get_train_dataloader()))))
    num_items = shifted_label_mask(inputs).sum() if scaled else None
    loss = trainer.compute_loss(trainer.model, dict(inputs), num_items_in_batch=num_items)
    reg = trainer._metrics["train"]["fourier_head/regularization"][-1]
    with fused_head(projection=numeric_head_projection(trainer.model), label_mask=shifted_label_mask(inputs)):
        plain = SFTTrainer.compute_loss(trainer, trainer.model, dict(inputs), num_items_in_batch=num_items)
    assert loss.item() == pytest.approx(plain.item() + (reg / 4 if scaled else reg), rel=1e-6)


def test_gamma_zero_is_sft_trainer_on_the_numeric_head(tokenizer, tmp_path):
    """γ = 0: the loss and gradients are those of SFTTrainer on the same model with the numeric head routed through
    TRL's fused head, and nothing is logged for the regulariser."""
    trainer = _trainer(tokenizer, tmp_path, fourier_head_regularization_gamma=0.0)
    trainer.model.train()
    _randomise_fourier(find_numeric_head(trainer.model)[1])
    inputs = trainer._prepare_inputs(dict(next(iter(trainer.get_train_dataloader()))))
    loss = trainer.compute_loss(trainer.model, dict(inputs))
    grads = torch.autograd.grad(loss, [p for p in trainer.model.parameters() if p.requires_grad])
    with fused_head(projection=numeric_head_projection(trainer.model), label_mask=shifted_label_mask(inputs)):
        plain = SFTTrainer.compute_loss(trainer, trainer.model, dict(inputs))
    want = torch.autograd.grad(plain, [p for p in trainer.model.parameters() if p.requires_grad])
    # exact: γ = 0 adds no term, both run SFTTrainer's loss through the same fused head on the same model
    assert torch.equal(loss, plain)
    for a, b in zip(grads, want):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert "fourier_head/regularization" not in trainer._metrics["train"]


def test_trains_logs_saves_loads_and_deepcopies(tokenizer, tmp_path):
    """3 steps: the term is logged at every step, the Fourier part trains, the saved model reloads with identical
    logits, and a deep copy of the trained model gives the same logits."""
    # bf16=False: with bf16 autocast the trained model's forward stays wrapped in autocast, the reloaded one not
    trainer = _trainer(
        tokenizer, tmp_path, max_steps=3, learning_rate=1e-2, fourier_head_regularization_gamma=1e-3, bf16=False
    )
    head = find_numeric_head(trainer.model)[1]
    before = head.fourier.linear.weight.detach().clone()
    trainer.train()
    logs = [h for h in trainer.state.log_history if "fourier_head/regularization" in h]
    assert len(logs) == 3 and all(
        h["fourier_head/regularization"] > 0 and h["fourier_head/smoothness"] > 0 for h in logs
    )
    assert not torch.equal(head.fourier.linear.weight, before)
    trainer.save_model(str(tmp_path / "saved"))
    ids = tokenizer(["x=0.31 bin:", "x=0.77 bin:"], return_tensors="pt", padding=True)
    model = trainer.model.eval()
    with torch.no_grad():
        expected = model(**ids).logits  # exact below: the same weights through the same forward
        loaded = load_numeric_head_model(tmp_path / "saved").eval()
        torch.testing.assert_close(loaded(**ids).logits, expected, rtol=0, atol=0)
        torch.testing.assert_close(copy.deepcopy(model)(**ids).logits, expected, rtol=0, atol=0)


def test_peft_trains_the_head_in_full(tokenizer, tmp_path):
    peft = pytest.importorskip("peft")
    lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    trainer = _trainer(tokenizer, tmp_path, peft_config=lora, max_steps=2, learning_rate=1e-2)
    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert any(n.endswith("modules_to_save.default.fourier.linear.weight") for n in trainable)
    assert lora.modules_to_save is None  # the user's config is not mutated
    active = [m for n, m in trainer.model.named_modules() if n.endswith("modules_to_save.default")][0]
    before = active.fourier.linear.weight.detach().clone()
    trainer.train()
    assert not torch.equal(active.fourier.linear.weight, before)
    assert any("fourier_head/regularization" in h for h in trainer.state.log_history)
