"""Tests for the numeric-token Fourier head (``trl_explore.modules.numeric_head``): the module, its projection for
TRL's fused LM head (``numeric_head_projection``), and collecting the Fourier heads' regulariser with hooks
(``collect_fourier_terms``). The trainer is tested in ``tests/trainers/test_fourier_head_trainer.py``."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from torch import nn

from trl_explore.kernels.fused_head import fused_head
from trl_explore.metrics.smoothness import smoothness
from trl_explore.modules.fourier_head import FourierHead, collect_fourier_terms
from trl_explore.modules.numeric_head import (
    FourierNumericHead,
    attach_numeric_head,
    find_numeric_head,
    load_numeric_head_model,
    numeric_head_modules_to_save,
    numeric_head_projection,
)
from trl_explore.toy import make_tiny_model, make_tokenizer

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


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
    # exact: the hybrid head takes the LM head's logits (the same matmul) and only overwrites the number columns
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
    head = attach_numeric_head(model, _digit_ids(tokenizer), 4, regularization_gamma=1e-6)
    assert model.get_output_embeddings() is head and isinstance(head, nn.Linear)
    assert head.weight is not model.model.embed_tokens.weight
    assert model.config.tie_word_embeddings is False
    assert model.config.fourier_numeric_head["number_token_ids"] == _digit_ids(tokenizer)
    assert model.config.fourier_numeric_head["regularization_gamma"] == 1e-6
    with torch.no_grad():
        head.weight.add_(1.0)
    torch.testing.assert_close(model.model.embed_tokens.weight, before, rtol=0, atol=0)  # untouched storage
    assert find_numeric_head(model)[0] == "lm_head"
    with pytest.raises(ValueError, match="already"):
        attach_numeric_head(model, _digit_ids(tokenizer), 4)


def test_numeric_head_refuses_frequencies_above_nyquist(tokenizer):
    """10 digit tokens are 10 bins: N < 10 / 2, so N = 4 is the largest; N = 5 is refused in one line naming both."""
    with pytest.raises(ValueError, match=r"`num_frequencies`=5 must be < `len\(number_token_ids\)` / 2 = 5") as err:
        attach_numeric_head(_model(tokenizer), _digit_ids(tokenizer), 5)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("bad,match", [([3], "at least 2"), ([3, 3], "distinct"), ([0, 10_000], "lie in")])
def test_invalid_number_ids(tokenizer, bad, match):
    with pytest.raises(ValueError, match=match):
        attach_numeric_head(_model(tokenizer), bad, 4)


@pytest.mark.parametrize("mode", ["hybrid", "full"])
def test_save_load_identical_logits(tokenizer, tmp_path, mode):
    model = _model(tokenizer)
    head = attach_numeric_head(model, _digit_ids(tokenizer), 3, mode=mode, regularization_gamma=1e-6)
    _randomise_fourier(head, seed=1)
    x = torch.randint(0, len(tokenizer), (3, 7))
    expected = model(x).logits
    model.save_pretrained(tmp_path)
    loaded = load_numeric_head_model(tmp_path)
    assert isinstance(loaded.lm_head, FourierNumericHead) and loaded.lm_head.mode == mode
    assert loaded.lm_head.fourier.regularization_gamma == 1e-6
    torch.testing.assert_close(loaded(x).logits, expected, rtol=0, atol=0)  # same weights, same forward


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
    torch.testing.assert_close(loaded(x).logits, logits, rtol=0, atol=0)  # same weights, same forward


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
        with collect_fourier_terms(peft_model) as terms:
            logits = peft_model(input_ids=x).logits
        loss = nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        reg = terms.regularization()  # only the active copy ran: the frozen original adds nothing
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
    # exact: the same saved weights through the same forward, in one process
    torch.testing.assert_close(reloaded(input_ids=x).logits, expected, rtol=0, atol=0)


# --------------------------------------------------------------------------------------------- regularisation hooks
def test_collect_sums_heads_and_leaves_no_state():
    """Every head run in the block contributes ``gamma · ∫|f'|²`` of its input (its own gamma, or the override);
    gamma-0 heads add nothing; nothing is stored on the heads (their attributes are the same before and after), the
    hooks are gone after the block, and a head deep-copies and pickles like any module."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), FourierHead(8, 10, 3, regularization_gamma=0.5))
    other = FourierHead(4, 6, 2, regularization_gamma=0.25)
    container = nn.ModuleDict({"a": model, "b": other, "c": FourierHead(4, 6, 2)})  # gamma 0 head is skipped
    x = torch.randn(3, 4)
    state_before = {name: sorted(vars(m)) for name, m in container.named_modules()}
    with collect_fourier_terms(container) as terms:
        assert terms.regularization() is None  # no forward yet
        model(x), other(x), container["c"](x)
    expected = model[1].regularization(model[0](x)) + other.regularization(x)
    torch.testing.assert_close(terms.regularization(), expected)
    assert terms.smoothness() > 0
    with collect_fourier_terms(container, gamma=1.0) as override:
        model(x), other(x), container["c"](x)
    want = (
        model[1].regularization(model[0](x), 1.0) + other.regularization(x, 1.0) + container["c"].regularization(x, 1.0)
    )
    torch.testing.assert_close(override.regularization(), want)
    assert {name: sorted(vars(m)) for name, m in container.named_modules()} == state_before
    assert all(not m._forward_hooks for m in container.modules())
    copied = copy.deepcopy(other)
    torch.testing.assert_close(copied(x), other(x))
    restored = pickle.loads(pickle.dumps(other))
    torch.testing.assert_close(restored(x), other(x))
    with collect_fourier_terms(nn.Linear(2, 2)) as none:
        pass
    assert none.regularization() is None and none.smoothness() is None
    with pytest.raises(ValueError, match="gamma"), collect_fourier_terms(container, gamma=-1.0):
        pass


def test_collect_averages_chunked_forwards():
    """Two chunks of one batch: the collected term is the mean of the two per-chunk terms (each a row mean)."""
    head = FourierHead(4, 8, 3, regularization_gamma=1.0)
    with torch.no_grad():
        head.linear.weight.normal_()
    x = torch.randn(6, 4)
    with collect_fourier_terms(head) as terms:
        head(x[:3])
        head(x[3:])
    r1, r2 = head.regularization(x[:3]), head.regularization(x[3:])
    torch.testing.assert_close(terms.regularization(), (r1 + r2) / 2)
    head(x)
    torch.testing.assert_close(terms.regularization(), (r1 + r2) / 2)  # hooks removed after the block
    torch.testing.assert_close(terms.smoothness(), smoothness(head(x).exp().detach()).mean().item())


# --------------------------------------------------------------------------------------------- fused LM head
def _fused_batch(tokenizer):
    batch = tokenizer(["x=0.31 bin:3", "x=0.77 bin:7"], return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    labels[:, :3] = -100  # a prompt
    return batch, labels


@pytest.mark.parametrize(
    ("mode", "temperature", "masked"), [("hybrid", 1.0, True), ("hybrid", 0.7, False), ("full", 1.0, True)]
)
def test_fused_head_through_numeric_head_equals_its_logits(tokenizer, mode, temperature, masked):
    """TRL's fused LM head (SFT: temperature 1, GRPO: the trainer's temperature) routed through
    `numeric_head_projection` gives the log-probabilities and entropies of the model's own logits (which the numeric
    head builds), values and gradients of every parameter (the Fourier part included); only labelled rows are
    projected with a label mask. TRL's own kernel would read `lm_head.weight` alone and differ."""
    from trl.trainer.utils import add_fused_lm_head

    model = _model(tokenizer)
    head = attach_numeric_head(model, _digit_ids(tokenizer), 4, mode=mode)
    _randomise_fourier(head)
    add_fused_lm_head(model, temperature=temperature, outputs=("log_probs", "entropy", "is_top1"))
    batch, labels = _fused_batch(tokenizer)
    if mode == "full":  # only number tokens have mass: score digit labels
        labels = labels.masked_fill(labels != -100, _digit_ids(tokenizer)[3])
    mask = labels[:, 1:] != -100
    with fused_head(projection=numeric_head_projection(model), label_mask=mask if masked else None):
        fused = model(**batch, labels=labels, fused_lm_head=True)
    grads = torch.autograd.grad(
        fused.log_probs.sum() + 0.5 * fused.entropy.sum(), list(model.parameters()), allow_unused=True
    )
    logits = model(**batch).logits[:, :-1].float() / temperature
    logp = torch.log_softmax(logits, -1)
    lp = logp.gather(-1, labels[:, 1:].clamp(min=0)[..., None])[..., 0].masked_fill(~mask, 0)
    ent = (-(logp.exp() * logp).sum(-1)).masked_fill(~mask, 0)
    torch.testing.assert_close(fused.log_probs, lp, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fused.entropy, ent, atol=1e-5, rtol=1e-5)
    assert torch.equal(fused.is_top1, (logp.argmax(-1) == labels[:, 1:]) & mask)
    want = torch.autograd.grad(lp.sum() + 0.5 * ent.sum(), list(model.parameters()), allow_unused=True)
    names = [n for n, _ in model.named_parameters()]
    assert any(g is not None and g.abs().sum() > 0 for n, g in zip(names, grads) if "fourier" in n)
    for name, a, b in zip(names, grads, want):
        if b is None or not b.any():
            assert a is None or not a.any(), name
            continue
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)
    with torch.no_grad():
        plain = model(**batch, labels=labels, fused_lm_head=True)  # outside the block: TRL's kernel, LM head only
    assert (plain.log_probs - lp.detach()).abs().max() > 1e-3


def test_numeric_head_projection_errors(tokenizer):
    with pytest.raises(ValueError, match="no FourierNumericHead"):
        numeric_head_projection(_model(tokenizer))
    model = _model(tokenizer)
    head = attach_numeric_head(model, _digit_ids(tokenizer), 3)
    projection = numeric_head_projection(model)
    with pytest.raises(ValueError, match="belongs to no FourierNumericHead"):
        projection(head.weight.detach().clone(), None, 1.0, None)


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
    from trl import ModelConfig, ScriptArguments, TrlParser

    from trl_explore.trainers.fourier_head_config import FourierSFTConfig

    ex = _example_module()
    parser = TrlParser((ScriptArguments, FourierSFTConfig, ModelConfig, ex.NumericDataArguments))
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
            "--fourier_head_num_frequencies",
            "3",
        ]
    )
    trainer = ex.main(*args)
    assert any("fourier_head/regularization" in h for h in trainer.state.log_history)
    loaded = load_numeric_head_model(tmp_path)
    assert isinstance(loaded.lm_head, FourierNumericHead) and loaded.lm_head.fourier.num_frequencies == 3
    with pytest.raises(ValueError, match="value_range"):
        ex.NumericDataArguments(value_range=[1.0, 0.0])


@pytest.mark.slow
def test_example_script_help_and_toy_run(tmp_path):
    """``examples/fourier_head_sft.py`` as a script: ``--help`` works and a 2-step offline toy run saves a reloadable
    model (two subprocesses, so slow on a shared CPU)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "examples" / "fourier_head_sft.py"
    help_run = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=300)
    assert help_run.returncode == 0 and "--fourier_head_num_frequencies" in help_run.stdout
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
    assert "fourier_head/regularization" in run.stdout + run.stderr
    loaded = load_numeric_head_model(tmp_path)
    assert isinstance(loaded.lm_head, FourierNumericHead)


def test_token_statistics_compose_with_the_numeric_head(tokenizer):
    """A GRPO component's token-statistics block nested in a numeric-head block: the statistics (and the rows kept
    for full-vocabulary terms, `project_rows`) are those of the numeric head's distribution."""
    from trl.trainer.utils import add_fused_lm_head

    from trl_explore.kernels.fused_head import fused_token_stats, project_rows
    from trl_explore.kernels.token_stats import TokenStatsRequest

    model = _model(tokenizer)
    _randomise_fourier(attach_numeric_head(model, _digit_ids(tokenizer), 4))
    add_fused_lm_head(model, temperature=0.8, outputs=("log_probs", "entropy"))
    batch, labels = _fused_batch(tokenizer)
    request = TokenStatsRequest(min_p=0.05, keep_hidden=True)
    with fused_head(projection=numeric_head_projection(model)), fused_token_stats(request):
        out = model(**batch, labels=labels, fused_lm_head=True)
    (call,) = request.calls
    logits = model(**batch).logits[:, :-1].float()
    mask = labels[:, 1:] != -100
    logp = torch.log_softmax(logits / 0.8, -1)
    want = logp.gather(-1, labels[:, 1:].clamp(min=0)[..., None])[..., 0]
    torch.testing.assert_close(out.log_probs, want.masked_fill(~mask, 0), atol=1e-5, rtol=1e-5)
    # CPU: every position is scored, in row-major order
    torch.testing.assert_close(call.stats["logprobs"].view(mask.shape)[mask], want[mask], atol=1e-5, rtol=1e-5)
    kept = call.stats["max_logp"].view(mask.shape)
    torch.testing.assert_close(kept, logp.max(-1).values, atol=1e-5, rtol=1e-5)
    rows = project_rows(call, call.hidden[:4])
    torch.testing.assert_close(rows, logits.reshape(-1, logits.shape[-1])[:4], atol=1e-5, rtol=1e-5)
