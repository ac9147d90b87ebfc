"""`compare_decoding` (SwiReasoning vs plain sampling at the same budgets) and `plot_traces`."""

from __future__ import annotations

import pytest
import torch

from trl_explore.generation import SwiReasoningConfig, swi_generate
from trl_explore.generation.swireasoning_eval import PLAIN, compare_decoding, plot_traces
from trl_explore.toy import make_tiny_model, make_tokenizer

TOK = make_tokenizer()
PROMPTS = ["Compute (3+4)*2\n", "x=1\n", "Use 3 5 7 to make 22\n"]


def tiny():
    return make_tiny_model(TOK, hidden_size=32, num_hidden_layers=2, initializer_range=0.2)


def aligned_reward(prompts, completions, tag, **kwargs):
    """1.0 when the per-prompt column reached the sample of its own prompt (prompt-major layout), None for tag 2."""
    return [None if t == 2 else float(PROMPTS[t] == p) for p, t in zip(prompts, tag)]


def test_rows_columns_and_token_counts():
    model = tiny()
    configs = {"swi": SwiReasoningConfig(window_size=4), "swi-capped": SwiReasoningConfig(max_switch_count=1)}
    result = compare_decoding(
        model,
        TOK,
        PROMPTS,
        aligned_reward,
        {"tag": [0, 1, 2]},
        swi_configs=configs,
        budgets=[6, 20],
        num_samples=2,
        batch_size=2,
        seed=3,
        progress=False,
    )
    assert [(r["decoder"], r["budget"]) for r in result.rows] == [
        (PLAIN, 6),
        ("swi", 6),
        ("swi-capped", 6),
        (PLAIN, 20),
        ("swi", 20),
        ("swi-capped", 20),
    ]
    for r in result.rows:
        assert r["accuracy"] == 1.0 and r["num_graded"] == 4  # columns aligned; the None-scored prompt left out
        assert 1 <= r["mean_tokens"] <= r["budget"] and 0.0 <= r["truncated"] <= 1.0
    # SwiReasoning rows pool the outputs of their batches
    outputs = result.outputs[("swi", 20)]
    assert [len(o.texts) for o in outputs] == [4, 2]  # 2 prompts x 2 samples per batch
    steps = sum(sum(o.num_generated_tokens) for o in outputs)
    row = next(r for r in result.rows if (r["decoder"], r["budget"]) == ("swi", 20))
    assert row["mean_tokens"] == pytest.approx(steps / 6)
    assert row["latent_share"] == pytest.approx(sum(t.count(0) for o in outputs for t in o.mode_trace) / steps)
    assert row["switches"] == pytest.approx(sum(sum(o.switch_count) for o in outputs) / 6)
    # the same seed per batch as a direct call: batch 1 uses seed 3 + 1
    direct = swi_generate(
        model,
        TOK,
        [PROMPTS[2]] * 2,
        SwiReasoningConfig(window_size=4, seed=4, top_k=None),
        20,
        add_special_tokens=False,
    )
    assert direct.texts == outputs[1].texts


def test_plain_sampling_counts_tokens_up_to_eos():
    """Greedy plain decoding: the completion and the count match `model.generate` (eos included in the count)."""
    model = tiny()
    result = compare_decoding(
        model,
        TOK,
        PROMPTS,
        lambda completions, **kw: [0.0] * len(completions),
        include_plain=True,
        swi_configs={},
        budgets=[30],
        temperature=0.0,
        progress=False,
    )
    enc = TOK(PROMPTS, return_tensors="pt", padding=True)
    gen = model.generate(**enc, do_sample=False, max_new_tokens=30)[:, enc["input_ids"].shape[1] :]
    counts = []
    for row in gen.tolist():
        stop = next((i for i, t in enumerate(row) if t in (1, 3)), None)
        counts.append(30 if stop is None else stop + 1)
    assert result.rows[0]["mean_tokens"] == pytest.approx(sum(counts) / 3)
    assert result.rows[0]["truncated"] == pytest.approx(sum(c == 30 for c in counts) / 3)
    assert result.completions[(PLAIN, 30)] == [
        TOK.decode(r[:c], skip_special_tokens=True) for r, c in zip(gen.tolist(), counts)
    ]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"budgets": []}, "budgets"),
        ({"budgets": [0]}, "budgets"),
        ({"budgets": [2.5]}, "budgets"),
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"temperature": 0.0, "num_samples": 2}, "greedy"),
        ({"num_samples": 0}, "num_samples"),
        ({"batch_size": 0}, "batch_size"),
        ({"swi_configs": {PLAIN: SwiReasoningConfig()}}, "sampling"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        compare_decoding(tiny(), TOK, PROMPTS, aligned_reward, {"tag": [0, 1, 2]}, progress=False, **kwargs)


def test_column_length_and_prompts_are_checked():
    with pytest.raises(ValueError, match="reward column 'tag'"):
        compare_decoding(tiny(), TOK, PROMPTS, aligned_reward, {"tag": [0]}, progress=False)
    with pytest.raises(ValueError, match="prompts"):
        compare_decoding(tiny(), TOK, "one prompt", aligned_reward, progress=False)


def test_reward_with_the_wrong_number_of_scores():
    with pytest.raises(ValueError, match="scores"):
        compare_decoding(tiny(), TOK, PROMPTS, lambda completions, **kw: [1.0], budgets=[3], progress=False)


def test_markdown_table():
    result = compare_decoding(tiny(), TOK, PROMPTS[:2], aligned_reward, {"tag": [0, 1]}, budgets=[5], progress=False)
    table = result.markdown()
    assert table.splitlines()[0].startswith("| decoder | budget | accuracy |")
    assert "| sampling | 5 |" in table and "| swireasoning | 5 |" in table and "| — |" in table


def test_plot_traces(tmp_path):
    out = swi_generate(tiny(), TOK, PROMPTS, SwiReasoningConfig(window_size=2, seed=0), 24)
    path = plot_traces(out, tmp_path / "traces.png", title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000
    with pytest.raises(ValueError, match="rows"):
        plot_traces(out, tmp_path / "x.png", rows=[])
    assert torch.is_tensor(out.sequences)
