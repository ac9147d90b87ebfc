"""`AnswerChoiceMassCallback`: the numbers of `answer_choice_mass`, CSV rows, logging inside SFT training, validation,
and a 2-process run that logs what one process logs."""

import csv
import json
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from transformers import TrainerCallback

from trl_explore.callbacks.answer_choice import AnswerChoiceMassCallback
from trl_explore.metrics import answer_choice_mass, draw_demos
from trl_explore.toy import make_multiple_choice_dataset, make_tiny_model, make_tokenizer

SCRIPT = Path(__file__).with_name("answer_choice_callback_script.py")


class _Recorder(TrainerCallback):
    """Stands for a logging integration: records what `on_log` hands on."""

    def __init__(self):
        self.logs = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.logs.append(dict(logs))


class _Args:
    def __init__(self, output_dir):
        self.output_dir = str(output_dir)
        self.process_index = 0


@pytest.fixture(scope="module")
def tiny():
    tok = make_tokenizer()
    return make_tiny_model(tok, seed=0), tok


def test_metrics_equal_the_function_and_csv(tiny, tmp_path):
    model, tok = tiny
    ds = make_multiple_choice_dataset(6, seed=1)
    cb = AnswerChoiceMassCallback(ds, format="string", num_shots=1, pmi=True, eval_steps=1, show_progress=False)
    row = cb.evaluate(model, tok, _Args(tmp_path), step=0)
    rows = ds.to_list()
    demos = draw_demos(rows, 6, 1, seed=0, exclude_self=True)
    r = answer_choice_mass(
        model,
        tok,
        ds["question"],
        ds["choices"],
        format="string",
        num_shots=1,
        demos=demos,
        pmi=True,
        answers=ds["answer"],
        show_progress=False,
    )
    s = r.summary()
    for key in ("mass", "all_token_mass", "accuracy", "first_token_accuracy", "pmi_accuracy"):
        assert row[key] == pytest.approx(s[key]), key
    assert row["sfc_resolved"] == pytest.approx(s["sfc_resolved"])
    with (tmp_path / "answer_choice_mass.csv").open() as f:
        written = list(csv.DictReader(f))
    assert list(written[0]) == [
        "step",
        "mass",
        "all_token_mass",
        "accuracy",
        "first_token_accuracy",
        "sfc_resolved",
        "pmi_accuracy",
        "seconds",
    ]
    assert float(written[0]["mass"]) == pytest.approx(s["mass"], abs=1e-6)


def test_instruction_and_shared_demonstrations(tiny, tmp_path):
    """demo_sampling="shared": every question gets the same two demonstrations, those of Python's
    ``random.Random(0).sample`` over the pool (the released draw); with a header the logged mass equals the function's
    with the same header and demonstrations."""
    import random

    model, tok = tiny
    ds = make_multiple_choice_dataset(4, seed=1)
    pool = make_multiple_choice_dataset(5, seed=2).to_list()
    cb = AnswerChoiceMassCallback(
        ds, num_shots=2, demos=pool, demo_sampling="shared", instruction="Answer.", show_progress=False
    )
    shared = [pool[j] for j in random.Random(0).sample(range(5), 5)[:2]]
    assert cb.demos == [shared] * 4
    row = cb.evaluate(model, tok, _Args(tmp_path), step=0)
    r = answer_choice_mass(
        model,
        tok,
        ds["question"],
        ds["choices"],
        num_shots=2,
        demos=[shared] * 4,
        answers=ds["answer"],
        instruction="Answer.",
        show_progress=False,
    )
    assert row["mass"] == pytest.approx(r.summary()["mass"])
    plain = answer_choice_mass(
        model,
        tok,
        ds["question"],
        ds["choices"],
        num_shots=2,
        demos=[shared] * 4,
        answers=ds["answer"],
        show_progress=False,
    )
    assert row["mass"] != pytest.approx(plain.summary()["mass"])  # the header is in the prompt
    with pytest.raises(ValueError, match="demo_sampling"):
        AnswerChoiceMassCallback(ds, demo_sampling="all")


def test_logs_inside_sft_training(tiny, tmp_path):
    """Evaluates at steps 0, 2 (eval_steps) and 3 (end) and puts mc/mass, mc/accuracy, mc/sfc_resolved in the log
    history; SFT on the enumerated answers moves the mass."""
    from trl import SFTConfig, SFTTrainer

    model, tok = tiny
    model = make_tiny_model(tok, seed=0)  # trained below: a fresh copy
    train = make_multiple_choice_dataset(32, seed=2)
    train = Dataset.from_dict(
        {
            "prompt": [
                f"Question: {q}\nChoices:" + "".join(f"\n {'ABCD'[i]}: {c}" for i, c in enumerate(cs)) + "\nAnswer:"
                for q, cs in zip(train["question"], train["choices"])
            ],
            "completion": [f" {'ABCD'[a]}" for a in train["answer"]],
        }
    )
    held_out = make_multiple_choice_dataset(8, seed=3)
    cb = AnswerChoiceMassCallback(held_out, eval_steps=2, show_progress=False)
    args = SFTConfig(
        output_dir=str(tmp_path),
        max_steps=3,
        per_device_train_batch_size=8,
        learning_rate=5e-3,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
    )
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        seen = _Recorder()
        trainer = SFTTrainer(model=model, args=args, train_dataset=train, processing_class=tok, callbacks=[cb, seen])
        trainer.train()
    finally:
        torch.set_num_threads(previous)
    assert [row["step"] for row in cb.history] == [0, 2, 3]
    logged = [e for e in trainer.state.log_history if "mc/mass" in e and "loss" not in e]  # the evaluations' entries
    assert [e["step"] for e in logged] == [0, 2, 3]
    # the next training log hands the latest evaluation to the logging integrations (wandb, ...) that run after us
    assert [e["mc/mass"] for e in seen.logs if "mc/mass" in e] == [cb.history[0]["mass"], cb.history[1]["mass"]]
    for entry, row in zip(logged, cb.history):
        assert entry["mc/mass"] == row["mass"] and entry["mc/sfc_resolved"] == row["sfc_resolved"]
        assert entry["mc/accuracy"] == row["accuracy"]
    assert cb.history[-1]["mass"] != cb.history[0]["mass"]
    assert len((tmp_path / "answer_choice_mass.csv").read_text().splitlines()) == 4


def test_sharded_parameters_score_everything_on_every_rank(tiny, monkeypatch):
    """As rank 1 of 2 with ZeRO-3-style parameters (``ds_id``), the callback scores all questions and gathers nothing:
    every forward runs on every rank, so none waits for a peer that has no batch left."""
    model, tok = tiny
    ds = make_multiple_choice_dataset(5, seed=7)
    cb = AnswerChoiceMassCallback(ds, show_progress=False)
    alone = cb.measure(model, tok, None)
    assert not AnswerChoiceMassCallback.parameters_sharded(model)
    monkeypatch.setattr(AnswerChoiceMassCallback, "rank_and_world", staticmethod(lambda: (1, 2)))
    monkeypatch.setattr(AnswerChoiceMassCallback, "gather", classmethod(lambda cls, local: pytest.fail("gathered")))
    param = next(model.parameters())
    param.ds_id = 0
    try:
        assert AnswerChoiceMassCallback.parameters_sharded(model)
        assert cb.measure(model, tok, None) == pytest.approx(alone)
    finally:
        del param.ds_id


def test_validation():
    ds = make_multiple_choice_dataset(3)
    with pytest.raises(ValueError, match="columns"):
        AnswerChoiceMassCallback(Dataset.from_dict({"question": ["q"]}))
    with pytest.raises(ValueError, match="empty"):
        AnswerChoiceMassCallback([])
    with pytest.raises(ValueError, match="format"):
        AnswerChoiceMassCallback(ds, format="mcq")
    with pytest.raises(ValueError, match="eval_steps"):
        AnswerChoiceMassCallback(ds, eval_steps=0)
    with pytest.raises(ValueError, match="num_shots"):
        AnswerChoiceMassCallback(ds, num_shots=3)  # 2 other questions only
    with pytest.raises(ValueError, match="pmi"):
        AnswerChoiceMassCallback(ds, pmi="yes")
    with pytest.raises(ValueError, match=r"eval_dataset\[0\]\['answer'\]"):
        AnswerChoiceMassCallback([{"question": "q", "choices": ["a", "b"], "answer": 2}])


@pytest.mark.distributed
@pytest.mark.slow
def test_two_processes_log_the_one_process_numbers(tmp_path):
    from torchrun_launch import torchrun

    torchrun(SCRIPT, tmp_path, nproc=2, timeout=600, log_dir=tmp_path / "logs")
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0] == ranks[1]
    single = json.loads((tmp_path / "single.json").read_text())
    for key, value in single.items():
        assert ranks[0][key] == pytest.approx(value, abs=1e-6), key
