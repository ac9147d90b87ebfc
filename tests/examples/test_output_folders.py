"""No command deletes or overwrites a file it did not write (issue 25): the manifest rule of `trl_explore._output`,
then every command that writes a folder — detect (`trl-explore detect` and `examples/lastde_detect.py`),
`evaluate_math.py`, `answer_choice_mass.py` and a training example. (The demo's case is in tests/demo/test_demo.py,
`test_rerun_replaces_only_its_own_files`.) In each: a foreign file survives a re-run, and a foreign file where the
command would write is refused with one line naming it, before anything is written."""

from __future__ import annotations

import json

import pytest
from example_utils import load_example

from trl_explore._output import (
    MANIFEST_FILE,
    OutputFolderError,
    check_output_dir,
    folder_files,
    read_manifest,
    staged_output,
    writing_into,
)
from trl_explore.toy import make_tiny_model, make_tokenizer


# ------------------------------------------------------------------------------------------------- the rule itself
def test_a_rerun_replaces_and_prunes_only_its_own_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("mine")
    with writing_into(out, "cmd", ["a.txt", "b.txt"]):
        (out / "a.txt").write_text("1")
        (out / "b.txt").write_text("1")
    assert read_manifest(out) == {"cmd": ["a.txt", "b.txt"]}
    with writing_into(out, "cmd", ["a.txt", "b.txt"]):  # writes only a.txt: its own b.txt of the first run goes
        (out / "a.txt").write_text("2")
    assert folder_files(out) == ["a.txt", "mine.txt"]
    assert (out / "a.txt").read_text() == "2" and (out / "mine.txt").read_text() == "mine"
    assert read_manifest(out) == {"cmd": ["a.txt"]}


def test_a_foreign_file_in_the_way_is_refused_by_name(tmp_path):
    (tmp_path / "a.txt").write_text("mine")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.json").write_text("mine")
    refused = pytest.raises(OutputFolderError, match=r"would overwrite file\(s\) it did not write: a.txt;")
    with refused, writing_into(tmp_path, "cmd", ["a.txt"]):
        raise AssertionError("the block must not run")
    assert (tmp_path / "a.txt").read_text() == "mine" and not (tmp_path / MANIFEST_FILE).exists()
    check_output_dir(tmp_path, "cmd", ["*.json"])  # a pattern without "/" is for the top of the folder only
    with pytest.raises(OutputFolderError, match="is a file"):
        check_output_dir(tmp_path / "a.txt", "cmd", [])


def test_another_commands_files_are_foreign(tmp_path):
    with writing_into(tmp_path, "one", ["r.md"]):
        (tmp_path / "r.md").write_text("one")
    with pytest.raises(OutputFolderError, match="r.md"):
        check_output_dir(tmp_path, "two", ["r.md"])
    with writing_into(tmp_path, "two", ["s.md"]):
        (tmp_path / "s.md").write_text("two")
    assert read_manifest(tmp_path) == {"one": ["r.md"], "two": ["s.md"]}


def test_staged_output_moves_files_in_and_refuses_a_late_clash(tmp_path):
    out = tmp_path / "out"
    with staged_output(out, "cmd", ["report.md"]) as staging:
        (staging / "report.md").write_text("1")
    (out / "notes.txt").write_text("mine")
    late = pytest.raises(OutputFolderError, match=r"notes.txt; .* The results are in")  # an undeclared name: at the end
    with late, staged_output(out, "cmd", ["report.md"]) as staging:
        (staging / "notes.txt").write_text("theirs")
    assert (out / "notes.txt").read_text() == "mine" and (out / "report.md").read_text() == "1"
    with staged_output(out, "cmd", ["report.md"]) as staging:  # its own file is replaced, the foreign one stays
        (staging / "report.md").write_text("2")
    assert (out / "report.md").read_text() == "2" and (out / "notes.txt").read_text() == "mine"


# ------------------------------------------------------------------------------------------------- each command
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("model")
    tok = make_tokenizer()
    make_tiny_model(tok, hidden_size=32, num_hidden_layers=1).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _one_error_line(capsys, name: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[1].startswith("(set TRL_EXPLORE_DEBUG=1")  # one line, then the debug hint
    assert "error:" in err[0] and name in err[0]
    return err[0]


def test_detect_keeps_foreign_files(model_dir, tmp_path, capsys):
    """`trl-explore detect` used to overwrite `lastde_detect_out/` silently: its own files are replaced, the user's
    stay, and one named like its output is refused before the model loads."""
    from trl_explore.cli import main as cli_main

    data = tmp_path / "texts.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in ("one two three four", "five six seven eight")))
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    argv = ["detect", "--model_name_or_path", str(model_dir), "--data_files", str(data), "--methods", "likelihood",
            "--output_dir", str(out)]  # fmt: skip
    for _ in range(2):
        assert cli_main(argv) == 0
        assert (out / "mine.txt").read_text() == "keep me" and (out / "scores.jsonl").is_file()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "scores.jsonl").write_text("my scores")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        cli_main([*argv[:-1], str(foreign)])
    assert exit_info.value.code == 2
    _one_error_line(capsys, "scores.jsonl")
    assert (foreign / "scores.jsonl").read_text() == "my scores"


def test_evaluate_math_keeps_foreign_files(quick_warm_start, tmp_path, capsys):
    script = load_example("evaluate_math")
    out = tmp_path / "eval"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    argv = ["--model_name_or_path", str(quick_warm_start), "--datasets", "toy-arithmetic", "--limit", "2",
            "--num_samples", "2", "--max_new_tokens", "4", "--output_dir", str(out)]  # fmt: skip
    for _ in range(2):
        script.run_example(script.make_parser(), script.main, argv)
        assert (out / "mine.txt").read_text() == "keep me" and (out / "summary.md").is_file()
    (out / "summary.md").unlink()
    record = json.loads((out / MANIFEST_FILE).read_text())
    record["commands"]["evaluate_math.py"].remove("summary.md")
    (out / MANIFEST_FILE).write_text(json.dumps(record))
    (out / "summary.md").write_text("my summary")  # now a foreign file where the script writes
    capsys.readouterr()
    with pytest.raises(SystemExit):
        script.run_example(script.make_parser(), script.main, argv)
    _one_error_line(capsys, "summary.md")
    assert (out / "summary.md").read_text() == "my summary"


def test_answer_choice_mass_keeps_foreign_files(model_dir, tmp_path, capsys):
    script = load_example("answer_choice_mass")
    out = tmp_path / "acm"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    argv = ["--model_name_or_path", str(model_dir), "--datasets", "toy-mc", "--limit", "2", "--shots", "0",
            "--formats", "enumerated", "--greedy_max_new_tokens", "1", "--output_dir", str(out)]  # fmt: skip
    for _ in range(2):
        script.run_example(script.make_parser(), script.main, argv)
        assert (out / "mine.txt").read_text() == "keep me" and (out / "results.md").is_file()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "results.csv").write_text("my table")
    capsys.readouterr()
    with pytest.raises(SystemExit):
        script.run_example(script.make_parser(), script.main, [*argv[:-1], str(foreign)])
    _one_error_line(capsys, "results.csv")
    assert (foreign / "results.csv").read_text() == "my table"


def test_training_example_keeps_foreign_files(toy_route_cache, tmp_path, capsys):
    """A training example writes into `output_dir` in place (transformers' Trainer): a foreign file survives two
    runs, and a foreign file that the trainer would overwrite (`config.json`) refuses the run before it loads."""
    script = load_example("rank_aware_sft")
    out = tmp_path / "run"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    argv = ["--model_name_or_path", "toy", "--dataset_name", "toy-arithmetic", "--max_steps", "2",
            "--per_device_train_batch_size", "4", "--report_to", "none", "--save_strategy", "no",
            "--output_dir", str(out)]  # fmt: skip
    for _ in range(2):
        script.run_example(script.make_parser(), script.main, argv)
        assert (out / "mine.txt").read_text() == "keep me" and (out / "config.json").is_file()
    assert "config.json" in read_manifest(out)["trl_explore training example"]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "config.json").write_text("{}")
    capsys.readouterr()
    with pytest.raises(SystemExit):
        script.run_example(script.make_parser(), script.main, [*argv[:-1], str(foreign)])
    _one_error_line(capsys, "config.json")
    assert (foreign / "config.json").read_text() == "{}"
