"""warm_start caching / atomicity, its tokenization parity with TRL's SFTTrainer, and evaluate_pass_rate."""

from __future__ import annotations

import importlib
import json
import time

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

from trl_explore.toy import (
    arithmetic_reward,
    countdown_reward,
    evaluate_pass_rate,
    make_arithmetic_dataset,
    make_countdown_dataset,
    make_tiny_model,
    make_tokenizer,
    warm_start,
    warm_start_path,
)
from trl_explore.toy.warm_start import METADATA_FILE, tokenize_prompt_completion

TINY = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "per_device_train_batch_size": 4}


@pytest.fixture
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.mark.parametrize("conversational", [False, True])
def test_tokenization_matches_sft_trainer(tmp_path, conversational: bool) -> None:
    """Our batched tokenization gives the same input_ids and labels as SFTTrainer's own preparation."""
    tok = make_tokenizer()
    ds = make_countdown_dataset(6, seed=0, conversational=conversational).select_columns(["prompt", "completion"])
    ours = tokenize_prompt_completion(ds, tok)
    args = SFTConfig(
        output_dir=str(tmp_path), use_cpu=True, completion_only_loss=True, report_to="none", max_length=512
    )
    trainer = SFTTrainer(model=make_tiny_model(tok), args=args, train_dataset=ds, processing_class=tok)
    theirs = trainer.train_dataset
    assert list(ours["input_ids"]) == list(theirs["input_ids"])
    assert list(ours["labels"]) == list(theirs["labels"])
    # The loss covers exactly the completion (plus eos / <|im_end|>\n), never the prompt.
    first = ours[0]
    n_prompt = sum(1 for label in first["labels"] if label == -100)
    completion = tok.decode(first["input_ids"][n_prompt:])
    assert completion.startswith("<think>")
    assert completion.endswith("<|endoftext|>" if not conversational else "<|im_end|>\n")


@pytest.mark.usefixtures("one_thread")
def test_warm_start_caches_atomically(tmp_path, monkeypatch) -> None:
    kwargs = {"task": "arithmetic", "max_steps": 2, "num_train_samples": 16, "num_eval_prompts": 2, **TINY}
    path = warm_start(cache_dir=tmp_path, **kwargs)
    assert path.parent == tmp_path and path.name.startswith("arithmetic-qwen2-")
    kw_no_eval = {k: v for k, v in kwargs.items() if k != "num_eval_prompts"}
    assert warm_start_path(cache_dir=tmp_path, **kw_no_eval) == path
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temp folders left behind
    meta = json.loads((path / METADATA_FILE).read_text())
    assert meta["settings"]["max_steps"] == 2 and meta["settings"]["task"] == "arithmetic"
    assert 0.0 <= meta["pass_rate"] <= 1.0
    model = AutoModelForCausalLM.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    assert model.config.hidden_size == 16
    assert tok.decode(tok("Compute (3+4)*2\n")["input_ids"]) == "Compute (3+4)*2\n"
    assert tok.pad_token_id == model.config.pad_token_id

    # Second call: cached, no training.
    ws = importlib.import_module(
        "trl_explore.toy.warm_start"
    )  # the module (trl_explore.toy.warm_start is the function)

    def boom(*args, **kwargs):
        raise AssertionError("retrained although cached")

    monkeypatch.setattr(ws, "_train", boom)
    stamp = (path / METADATA_FILE).stat().st_mtime_ns
    assert warm_start(cache_dir=tmp_path, **kwargs) == path
    assert (path / METADATA_FILE).stat().st_mtime_ns == stamp

    # Other settings -> other key.
    assert warm_start_path(cache_dir=tmp_path, **{**kw_no_eval, "seed": 1}) != path

    # An interrupted (re)build leaves the existing cache intact and no partial folder.
    def interrupted(settings, out_dir, *args, **kwargs):
        (out_dir / "model.safetensors").write_text("partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(ws, "_train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        warm_start(cache_dir=tmp_path, force=True, **kwargs)
    with pytest.raises(KeyboardInterrupt):
        warm_start(cache_dir=tmp_path, **{**kwargs, "seed": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    assert (path / METADATA_FILE).stat().st_mtime_ns == stamp
    AutoModelForCausalLM.from_pretrained(path)  # still loadable

    # force=True rebuilds and replaces.
    monkeypatch.undo()
    time.sleep(0.01)
    assert warm_start(cache_dir=tmp_path, force=True, **kwargs) == path
    assert (path / METADATA_FILE).stat().st_mtime_ns != stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]

    # A folder without its metadata (written last) is not a valid cache entry: it is rebuilt.
    (path / METADATA_FILE).unlink()
    assert warm_start(cache_dir=tmp_path, **kwargs) == path
    assert (path / METADATA_FILE).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_cache_dir_from_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TRL_EXPLORE_CACHE", str(tmp_path))
    path = warm_start_path("countdown")
    assert path.parent == tmp_path / "warm_start" and path.name.startswith("countdown-qwen2-")
    assert warm_start_path("countdown", arch="llama").name.startswith("countdown-llama-")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"task": "chess"}, "task"),
        ({"max_steps": 0}, "max_steps"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"num_train_samples": 0}, "num_train_samples"),
    ],
)
def test_warm_start_invalid(kwargs, match, tmp_path) -> None:
    with pytest.raises(ValueError, match=match):
        warm_start(cache_dir=tmp_path, **kwargs)


# ----------------------------------------------------------------------------------------------------------------------
# evaluate_pass_rate
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("one_thread")
def test_evaluate_pass_rate_contract(tmp_path) -> None:
    tok = make_tokenizer()
    model = make_tiny_model(tok, hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
    ds = make_countdown_dataset(3, seed=0)
    seen = {}

    def half(prompts, completions, completion_ids, target, numbers, **kwargs):
        seen.update(prompts=prompts, completions=completions, ids=completion_ids, target=target, kwargs=kwargs)
        return [1.0 if i % 2 == 0 else 0.0 for i in range(len(completions))]

    rate = evaluate_pass_rate(model, ds, half, num_samples_per_prompt=4, tokenizer=tok, max_new_tokens=5, batch_size=5)
    assert rate == 0.5  # 6 of 12 completions pass
    assert seen["prompts"] == [p for p in ds["prompt"] for _ in range(4)]  # grouped like TRL's GRPO sampler
    assert seen["target"] == [t for t in ds["target"] for _ in range(4)]
    assert set(seen["kwargs"]) == {"solution", "num_solutions"}  # every other column, never prompt/completion
    assert all(isinstance(c, str) for c in seen["completions"])
    assert all(1 <= len(ids) <= 5 for ids in seen["ids"])

    # None scores are left out; a threshold below 1 counts partial rewards.
    assert (
        evaluate_pass_rate(
            model,
            ds,
            lambda completions, **k: [None, 0.6] * (len(completions) // 2),
            num_samples_per_prompt=2,
            tokenizer=tok,
            max_new_tokens=2,
        )
        == 0.0
    )
    assert (
        evaluate_pass_rate(
            model,
            ds,
            lambda completions, **k: [None, 0.6] * (len(completions) // 2),
            num_samples_per_prompt=2,
            tokenizer=tok,
            max_new_tokens=2,
            success_threshold=0.5,
        )
        == 1.0
    )

    # Same seed -> same samples; the global RNG is left alone.
    torch.manual_seed(5)
    expected = torch.rand(1)
    torch.manual_seed(5)
    a = evaluate_pass_rate(model, ds, countdown_reward, tokenizer=tok, max_new_tokens=8)
    assert torch.equal(torch.rand(1), expected)
    assert a == evaluate_pass_rate(model, ds, countdown_reward, tokenizer=tok, max_new_tokens=8)

    # From a directory, and with conversational prompts (completions come back as assistant messages).
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    conv = make_arithmetic_dataset(2, seed=0, conversational=True)
    kinds = []

    def record(completions, **kwargs):
        kinds.extend(c[0]["role"] for c in completions)
        return arithmetic_reward(completions, **kwargs)

    assert evaluate_pass_rate(tmp_path, conv, record, num_samples_per_prompt=2, max_new_tokens=4) == 0.0
    assert kinds == ["assistant"] * 4

    with pytest.raises(ValueError, match="tokenizer"):
        evaluate_pass_rate(model, ds, countdown_reward)
    with pytest.raises(ValueError, match="num_samples_per_prompt"):
        evaluate_pass_rate(model, ds, countdown_reward, num_samples_per_prompt=0, tokenizer=tok)


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_warm_start_arithmetic_reaches_nonzero_pass_rate(tmp_path_factory) -> None:
    """The default arithmetic warm start solves some held-out problems (sampling at temperature 1), not all."""
    cache = tmp_path_factory.mktemp("warm_start_cache")
    start = time.perf_counter()
    path = warm_start("arithmetic", cache_dir=cache)
    elapsed = time.perf_counter() - start
    meta = json.loads((path / METADATA_FILE).read_text())
    held_out = make_arithmetic_dataset(64, seed=12345)
    rate = evaluate_pass_rate(path, held_out, arithmetic_reward, num_samples_per_prompt=4)
    print(f"arithmetic warm start: {elapsed:.0f}s, pass@1 {rate:.3f} (metadata {meta['pass_rate']:.3f})")
    assert rate > 0.0
    assert rate < 0.95


def test_warm_start_console_has_a_progress_bar_and_no_metrics_dicts(tmp_path, capsys) -> None:
    """transformers' `ProgressCallback` / `PrinterCallback` print a metrics dict at every log; the warm start shows
    its own progress bar instead (also when transformers' progress bars are disabled, as the demo does)."""
    import transformers

    kwargs = {"task": "arithmetic", "max_steps": 4, "num_train_samples": 16, "num_eval_prompts": 0, **TINY}
    transformers.logging.disable_progress_bar()
    try:
        warm_start(cache_dir=tmp_path, **kwargs)
    finally:
        transformers.logging.enable_progress_bar()
    console = capsys.readouterr()
    text = console.out + console.err
    assert "warm start (SFT)" in text and "4/4" in text
    assert "'loss'" not in text and "'grad_norm'" not in text
