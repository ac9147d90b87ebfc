"""What a new user meets: every example's ``--help`` explains the script before TRL's options, mistakes end a script
with one ``error:`` line, trainers take a `pathlib.Path` model and refuse empty or column-less datasets, and settings
that cannot act get a warning."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from datasets import Dataset
from example_utils import EXAMPLES, load_example

TRAINING_EXAMPLES = ["lpreg_grpo", "rng_grpo", "hapo_grpo", "spear_grpo", "rank_aware_sft", "fourier_head_sft"]
ALL_EXAMPLES = [*TRAINING_EXAMPLES, "evaluate_math", "answer_choice_mass", "lastde_detect"]
pytestmark = pytest.mark.filterwarnings("ignore:.*gradient_checkpointing.*:FutureWarning")


@pytest.mark.parametrize("name", ALL_EXAMPLES)
def test_help_explains_the_script_first(name):
    example = load_example(name)
    text = example.make_parser().format_help()
    first_line = example.__doc__.strip().splitlines()[0]
    assert first_line in text and "--model_name_or_path toy" in text  # purpose, then the offline command
    script = text.index("script options:")
    assert text.index(first_line) < script
    assert "toy" in text[:script]
    if name in TRAINING_EXAMPLES:
        # launch commands (GPU LoRA, multi-GPU) and the multi-process CPU command come before the options
        for command in ("accelerate launch --config_file examples/accelerate_configs/", "torchrun --nproc_per_node 2"):
            assert -1 < text.index(command) < script, command
        method = text.index("(trl_explore):")
        training = text.index("training options (TRL")
        assert script < method < training and text.index("model options") < training
        assert "pip install deepspeed" in text or 'pip install -e ".[deepspeed]"' in text


@pytest.mark.parametrize("name", ALL_EXAMPLES)
def test_every_own_option_has_help_and_default(name):
    parser = load_example(name).make_parser()
    own = [g for g in parser._action_groups if g.title == "script options" or "(trl_explore)" in (g.title or "")]
    assert own
    for group in own:
        for action in group._group_actions:
            assert action.help, f"{action.option_strings} has no help text"
    text = parser.format_help()
    assert "(default:" in text


def test_choices_and_negations_read_right():
    text = load_example("rng_grpo").make_parser().format_help()
    assert "--advantage_mode {grpo,grpo_n,gspo_n,nsr,psr,w_reinforce}" in text
    lp = load_example("lpreg_grpo").make_parser()
    negation = lp._option_string_actions["--no_lp_reg"]
    assert negation.help.startswith("Turn `lp_reg` off")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--output_dir", "x", "--lp_reg_beta", "inf"], "`lp_reg_beta` must be a finite number >= 0, got inf"),
        (["--output_dir", "x", "--temperature", "nan"], "`temperature` must be a finite number > 0"),
        (["--output_dir", "x", "--model_name_or_path", "./no/such/model", "--dataset_name", "d.jsonl"],
         "no such folder"),
        (["--output_dir", "x", "--model_name_or_path", "Qwen/Qwen2.5-0.5B"], "--dataset_name is required"),
        (["--output_dir", "x", "--dataset_name", "toy-arithmetic"], "--model_name_or_path is required"),
        (["--output_dir", "x", "--model_name_or_path", "toy", "--dataset_name", "missing.jsonl"],
         "Dataset 'missing.jsonl' not found"),
        (["--output_dir", "x", "--model_name_or_path", "toy", "--load_in_4bit"], "add --use_peft"),
    ],
)  # fmt: skip
def test_mistakes_end_with_one_error_line(argv, message, capsys, monkeypatch):
    """The example stops before loading anything heavy: one line on stderr, exit status 2, no traceback."""
    from trl_explore.scripts import run_example

    monkeypatch.delenv("TRL_EXPLORE_DEBUG", raising=False)
    example = load_example("lpreg_grpo")
    with pytest.raises(SystemExit) as stop:
        run_example(example.make_parser(), example.main, argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert [line for line in err.splitlines() if "error:" in line] == [
        next(li for li in err.splitlines() if message in li)
    ]


def test_dataset_without_the_columns_and_empty_dataset(tmp_path, capsys, monkeypatch):
    from trl_explore.scripts import run_example

    monkeypatch.delenv("TRL_EXPLORE_DEBUG", raising=False)
    example = load_example("lpreg_grpo")
    data = tmp_path / "train.jsonl"
    data.write_text('{"question": "1+1", "answer": "2"}\n')
    model = tmp_path / "model"
    model.mkdir()
    argv = ["--output_dir", str(tmp_path / "out"), "--model_name_or_path", str(model), "--dataset_name", str(data)]
    with pytest.raises(SystemExit):
        run_example(example.make_parser(), example.main, argv)
    assert "Column 'problem' not found; the dataset has ['question', 'answer']" in capsys.readouterr().err
    data.write_text("")
    empty = tmp_path / "empty.csv"
    empty.write_text("problem,solution\n")
    argv[-1] = str(empty)
    with pytest.raises(SystemExit):
        run_example(example.make_parser(), example.main, argv)
    assert "is empty" in capsys.readouterr().err
    monkeypatch.setenv("TRL_EXPLORE_DEBUG", "1")
    with pytest.raises(ValueError, match="is empty"):  # the traceback on request
        run_example(example.make_parser(), example.main, argv)


# ------------------------------------------------------------------------------------------------------- trainers
@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from trl_explore.toy import make_tiny_model, make_tokenizer

    path = tmp_path_factory.mktemp("tiny")
    tokenizer = make_tokenizer()
    make_tiny_model(tokenizer, hidden_size=32, num_hidden_layers=1).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _grpo_args(tmp_path, **kwargs):
    from trl_explore.trainers import ExploreGRPOConfig

    defaults = dict(
        output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=4, num_generations=4,
        max_completion_length=4, report_to="none", save_strategy="no",
    )  # fmt: skip
    return ExploreGRPOConfig(**{**defaults, **kwargs})


def test_grpo_trainer_takes_a_path_and_refuses_bad_datasets(tiny_model_dir, tmp_path):
    from trl_explore.trainers import ExploreGRPOTrainer

    def reward(completions, **kwargs):
        return [float(len(c)) for c in completions]

    good = Dataset.from_dict({"prompt": ["a", "b", "c", "d"]})
    trainer = ExploreGRPOTrainer(model=Path(tiny_model_dir), reward_funcs=reward, args=_grpo_args(tmp_path),
                                 train_dataset=good)  # fmt: skip
    assert trainer.args.bf16 is False and trainer.model.config.name_or_path == str(tiny_model_dir)
    with pytest.raises(ValueError, match=r"train_dataset needs the column\(s\) \['prompt'\]; it has \['question'\]"):
        ExploreGRPOTrainer(Path(tiny_model_dir), reward, _grpo_args(tmp_path), Dataset.from_dict({"question": ["a"]}))
    with pytest.raises(ValueError, match="train_dataset is empty"):
        ExploreGRPOTrainer(model=str(tiny_model_dir), reward_funcs=reward, args=_grpo_args(tmp_path),
                           train_dataset=good.select([]))  # fmt: skip
    with pytest.raises(ValueError, match=r"eval_dataset\['x'\] is empty"):
        ExploreGRPOTrainer(model=str(tiny_model_dir), reward_funcs=reward, args=_grpo_args(tmp_path),
                           train_dataset=good, eval_dataset={"x": good.select([])})  # fmt: skip


def test_environment_factory_datasets_need_no_prompt_column():
    """With an `environment_factory`, TRL routes rows by their `environment` column and the environment supplies the
    conversation (TRL's own suite: test_environment_owned_reward_mixed_environments): no `prompt` column is required,
    an empty dataset is still refused."""
    from trl_explore.trainers._inputs import check_grpo_datasets
    from trl_explore.trainers.explore_grpo_trainer import _check_datasets

    routed = Dataset.from_dict({"environment": ["scored", "plain"]})
    check_grpo_datasets(routed, None, needs_prompt=False)
    with pytest.raises(ValueError, match=r"needs the column\(s\) \['prompt'\]"):
        check_grpo_datasets(routed, None)
    with pytest.raises(ValueError, match="train_dataset is empty"):
        check_grpo_datasets(routed.select([]), None, needs_prompt=False)
    _check_datasets(routed, None, environment_factory={"plain": object})
    with pytest.raises(ValueError, match=r"\['prompt'\]"):
        _check_datasets(routed, None, environment_factory=None)


def test_sft_trainers_take_a_path_and_refuse_bad_datasets(tiny_model_dir, tmp_path, caplog):
    from trl_explore.trainers.fourier_head_config import FourierSFTConfig
    from trl_explore.trainers.fourier_head_trainer import FourierSFTTrainer
    from trl_explore.trainers.rank_aware_config import RankAwareSFTConfig
    from trl_explore.trainers.rank_aware_trainer import RankAwareSFTTrainer

    common = dict(output_dir=str(tmp_path), max_steps=1, report_to="none", save_strategy="no")
    text = Dataset.from_dict({"text": ["1+1=2", "2+2=4"]})
    with caplog.at_level(logging.WARNING, logger="trl_explore"):
        trainer = RankAwareSFTTrainer(
            Path(tiny_model_dir),
            RankAwareSFTConfig(rank_aware_top_k=100_000, rank_aware_lambda_low=-0.1, **common),
            train_dataset=text,
        )
    assert "`rank_aware_top_k`=100000 >= the vocabulary size" in caplog.text
    assert trainer.args.bf16 is False
    with pytest.raises(ValueError, match=r"train_dataset needs one of the columns \['text', 'messages'"):
        RankAwareSFTTrainer(str(tiny_model_dir), RankAwareSFTConfig(**common),
                            train_dataset=Dataset.from_dict({"body": ["x"]}))  # fmt: skip
    with pytest.raises(ValueError, match="train_dataset is empty"):
        FourierSFTTrainer(Path(tiny_model_dir), FourierSFTConfig(fourier_head_number_tokens=list("0123456789"), **common),
                          train_dataset=text.select([]))  # fmt: skip


def test_threshold_above_every_reward_warns_once(caplog):
    from trl_explore.trainers.components.relative_negative import RelativeNegativeComponent

    args = SimpleNamespace(advantage_mode="nsr", correct_threshold=5.0)
    component = RelativeNegativeComponent(SimpleNamespace(args=args, importance_sampling_level="token"))
    with caplog.at_level(logging.WARNING, logger="trl_explore"):
        component._warn_if_threshold_unreached(torch.tensor([0.0, 0.0]))  # nothing solved yet: no alarm
        assert not caplog.records
        component._warn_if_threshold_unreached(torch.tensor([0.0, 1.0, 0.5]))
        component._warn_if_threshold_unreached(torch.tensor([0.0, 1.0]))
    assert len(caplog.records) == 1 and "`correct_threshold`=5.0" in caplog.text
    reached = RelativeNegativeComponent(SimpleNamespace(args=SimpleNamespace(advantage_mode="nsr", correct_threshold=1.0),
                                                        importance_sampling_level="token"))  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="trl_explore"):
        reached._warn_if_threshold_unreached(torch.tensor([0.0, 1.0]))
    assert len(caplog.records) == 1


def test_examples_folder_is_complete():
    """Every example script is covered by the help and toy-route tests (a new one must be added to them)."""
    from test_toy_routes import TESTED_EXAMPLES

    scripts = {p.stem for p in EXAMPLES.glob("*.py")}
    assert scripts == set(ALL_EXAMPLES) == TESTED_EXAMPLES
