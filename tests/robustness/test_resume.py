"""Save → resume for every trainer that carries state between steps (DESIGN principle 7, docs/robustness.md).

For each family: run A trains 4 steps and saves at step 2 (saving does not change training); run B resumes from A's
``checkpoint-2``. B's steps 3 and 4 log A's losses and gradient norms, and B's component state ends equal to A's. The
control: B resumed from a copy of the checkpoint without the state files logs a warning and *different* numbers, so
the equality is owed to the restored state. A killed run (SIGKILL mid-step) resuming from its last complete
checkpoint is in `test_killed_run_resumes`.
"""

from __future__ import annotations

import logging
import math
import shutil
from pathlib import Path

import pytest
import torch
from families import STATEFUL_FAMILIES, build_grpo, train_logs

STEPS = 4
SAVE_AT = 2


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _state_files(checkpoint: Path) -> list[Path]:
    names = ("explore_components.pt", "explore_components_rank0.pt", "entropy_ctrl_state.json")
    return [checkpoint / n for n in names if (checkpoint / n).exists()]


def _steps(logs, after: int = 0):
    """Per-step log entries of the steps after ``after`` (a resumed run's history starts with the checkpoint's)."""
    return {int(e["step"]): e for e in logs if int(e["step"]) > after}


def _component_states(trainer) -> dict:
    out = {c.name: c.state_dict() for c in trainer.components}
    out["entropy_coef"] = trainer.entropy_coef
    return out


def _assert_states_equal(a, b, path="state"):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), path
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (path, a.keys(), b.keys())
        for k in a:
            _assert_states_equal(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_states_equal(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), path
    else:
        assert a == b, (path, a, b)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Run A of each family, trained once for the module: ``{family: (trainer, logs, run dir)}``."""
    runs = {}

    def get(family: str):
        if family not in runs:
            out = tmp_path_factory.mktemp(f"a_{family}")
            trainer = build_grpo(family, out, max_steps=STEPS, save_strategy="steps", save_steps=SAVE_AT)
            runs[family] = (trainer, train_logs(trainer), out)
        return runs[family]

    return get


@pytest.mark.parametrize("family", [f for f in STATEFUL_FAMILIES if f != "all_stateful"])
def test_resume_continues_the_uninterrupted_run(tmp_path, uninterrupted, family):
    first, logs_a, out_a = uninterrupted(family)
    checkpoint = out_a / f"checkpoint-{SAVE_AT}"
    assert _state_files(checkpoint), "the checkpoint holds no state of the trainer's own"
    resumed = build_grpo(family, tmp_path, max_steps=STEPS)
    logs_b = train_logs_resumed(resumed, checkpoint)
    a, b = _steps(logs_a), _steps(logs_b, after=SAVE_AT)
    assert sorted(b) == list(range(SAVE_AT + 1, STEPS + 1))
    for step in b:
        for key in ("loss", "grad_norm"):
            assert b[step][key] == pytest.approx(a[step][key], rel=1e-5, abs=1e-7), (step, key)
    _assert_states_equal(_component_states(first), _component_states(resumed))


def train_logs_resumed(trainer, checkpoint: Path):
    trainer.train(resume_from_checkpoint=str(checkpoint))
    return [e for e in trainer.state.log_history if "loss" in e and "train_runtime" not in e]


@pytest.mark.parametrize("family", [f for f in STATEFUL_FAMILIES if f != "all_stateful"])
def test_resume_without_the_state_differs_and_warns(tmp_path, uninterrupted, family, caplog):
    """The control: the same resume from a checkpoint stripped of the trainer's state files logs other numbers (and,
    for the components, a warning that they start afresh)."""
    _, logs_a, out_a = uninterrupted(family)
    stripped = tmp_path / f"checkpoint-{SAVE_AT}"
    shutil.copytree(out_a / f"checkpoint-{SAVE_AT}", stripped)
    for path in _state_files(stripped):
        path.unlink()
    resumed = build_grpo(family, tmp_path / "run", max_steps=STEPS)
    with caplog.at_level(logging.WARNING, logger="trl_explore.trainers.explore_grpo_trainer"):
        logs_b = train_logs_resumed(resumed, stripped)
    a, b = _steps(logs_a), _steps(logs_b, after=SAVE_AT)
    assert sorted(b) == list(range(SAVE_AT + 1, STEPS + 1))
    assert any(
        not math.isclose(b[s][k], a[s][k], rel_tol=1e-5, abs_tol=1e-7) for s in b for k in ("loss", "grad_norm")
    ), "resuming without the saved state changed nothing: the equality above would prove nothing"
    if family != "adaptive_entropy_own_loss":  # TRL's controller restores silently (its own code)
        assert any("start afresh" in r.getMessage() for r in caplog.records)


def test_resume_from_a_checkpoint_with_the_state_in_the_shared_file(tmp_path, uninterrupted):
    """Checkpoints written before HAPO's temperature state became per process hold it in the shared file
    (``explore_components.pt``): such a checkpoint still resumes the uninterrupted run."""
    _, logs_a, out_a = uninterrupted("hapo_temperature")
    old = tmp_path / f"checkpoint-{SAVE_AT}"
    shutil.copytree(out_a / f"checkpoint-{SAVE_AT}", old)
    (old / "explore_components_rank0.pt").rename(old / "explore_components.pt")
    resumed = build_grpo("hapo_temperature", tmp_path / "run", max_steps=STEPS)
    a, b = _steps(logs_a), _steps(train_logs_resumed(resumed, old), after=SAVE_AT)
    assert sorted(b) == list(range(SAVE_AT + 1, STEPS + 1))
    for step in b:
        assert b[step]["loss"] == pytest.approx(a[step]["loss"], rel=1e-5, abs=1e-7), step


def test_resume_true_skips_a_half_written_checkpoint(tmp_path, caplog):
    """``resume_from_checkpoint=True`` takes the newest *complete* checkpoint: a folder a run killed while saving left
    without ``trainer_state.json`` is skipped with a warning (transformers would pick it and fail)."""
    trainer = build_grpo("clip_cov", tmp_path, max_steps=2, save_strategy="steps", save_steps=1)
    train_logs(trainer)
    partial = tmp_path / "checkpoint-7"
    partial.mkdir()
    shutil.copy(tmp_path / "checkpoint-2" / "config.json", partial / "config.json")
    resumed = build_grpo("clip_cov", tmp_path, max_steps=3, save_strategy="no")
    with caplog.at_level(logging.WARNING, logger="trl_explore.trainers._trl_compat"):
        resumed.train(resume_from_checkpoint=True)
    assert resumed.state.global_step == 3
    assert any("checkpoint-7" in r.getMessage() and "resuming from" in r.getMessage() for r in caplog.records)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="No valid checkpoint found"):
        build_grpo("clip_cov", empty, max_steps=1).train(resume_from_checkpoint=True)


def test_resolve_resume_checkpoint_takes_the_newest_complete_folder(tmp_path):
    """Folders are ordered by step number (checkpoint-10 after checkpoint-2), a folder is complete when it holds
    ``trainer_state.json`` and every required file (TRL's ``entropy_ctrl_state.json``, written after it), and anything
    but ``True`` passes through unchanged."""
    from trl_explore.trainers._trl_compat import ENTROPY_CONTROLLER_FILE, resolve_resume_checkpoint

    def folder(name, *files):
        (tmp_path / name).mkdir()
        for f in files:
            (tmp_path / name / f).write_text("{}")

    folder("checkpoint-1", "trainer_state.json", ENTROPY_CONTROLLER_FILE)
    folder("checkpoint-2", "trainer_state.json")  # killed between transformers' state and TRL's controller state
    folder("checkpoint-10", "config.json")  # killed while saving the model
    folder("checkpoint-x", "trainer_state.json")  # not a step folder
    (tmp_path / "checkpoint-11").write_text("a file, not a folder")
    assert resolve_resume_checkpoint(str(tmp_path), True) == str(tmp_path / "checkpoint-2")
    assert resolve_resume_checkpoint(str(tmp_path), True, (ENTROPY_CONTROLLER_FILE,)) == str(tmp_path / "checkpoint-1")
    for value in (None, False, "some/path"):
        assert resolve_resume_checkpoint(str(tmp_path), value) == value
    with pytest.raises(ValueError, match="No valid checkpoint found"):
        resolve_resume_checkpoint(str(tmp_path / "missing"), True)


@pytest.mark.parametrize("kind", ["rank_aware", "fourier"])
def test_sft_resume_continues_the_uninterrupted_run(tmp_path, kind):
    from test_faults import _sft_trainer

    def trainer(out, **kw):
        return _sft_trainer(kind, out, max_steps=STEPS, **kw)

    first = trainer(tmp_path / "a", save_strategy="steps", save_steps=SAVE_AT)
    first.train()
    second = trainer(tmp_path / "b")
    second.train(resume_from_checkpoint=str(tmp_path / "a" / f"checkpoint-{SAVE_AT}"))
    a = {e["step"]: e for e in first.state.log_history if "loss" in e and "train_runtime" not in e}
    b = {e["step"]: e for e in second.state.log_history if "loss" in e and "train_runtime" not in e and e["step"] > 2}
    assert sorted(b) == [3, 4]
    for step in b:
        assert b[step]["loss"] == pytest.approx(a[step]["loss"], rel=1e-5)


@pytest.mark.slow
def test_killed_run_resumes(tmp_path):
    """A training process SIGKILLed in the middle of step 4 (its completions being scored, checkpoint-3 on disk)
    resumes with ``resume_from_checkpoint=True`` from checkpoint-3 (a half-written checkpoint-4, as a kill during
    saving leaves it, is skipped) and logs the uninterrupted run's losses and gradient norms for steps 4 and 5. The
    trainer carries every kind of state at once (``all_stateful``)."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    script = Path(__file__).with_name("kill_resume_script.py")
    repo = Path(__file__).resolve().parents[2]
    env = {
        **os.environ, "OMP_NUM_THREADS": "1", "WANDB_DISABLED": "true", "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join([str(repo), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }  # fmt: skip

    def run(mode: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, str(script), mode, str(tmp_path)], env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"{mode} failed:\n{done.stderr[-4000:]}"
        return done

    run("full")
    victim = subprocess.Popen(
        [sys.executable, str(script), "killed", str(tmp_path)], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not (tmp_path / "ready").exists():
            assert victim.poll() is None, f"the training process ended before step 4:\n{victim.stderr.read()[-4000:]}"
            assert time.monotonic() < deadline, "the training process never reached step 4"
            time.sleep(0.2)
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.wait(timeout=60) == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            os.kill(victim.pid, signal.SIGKILL)
        victim.stderr.close()
    run_dir = tmp_path / "run"
    assert sorted(p.name for p in run_dir.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2", "checkpoint-3"]
    last = run_dir / "checkpoint-3"
    assert (last / "trainer_state.json").is_file()
    assert {p.name for p in _state_files(last)} == {"explore_components_rank0.pt", "entropy_ctrl_state.json"}
    # as a kill while saving would leave it: a checkpoint-4 folder without trainer_state.json
    (run_dir / "checkpoint-4").mkdir()
    shutil.copy(last / "config.json", run_dir / "checkpoint-4" / "config.json")
    resumed = run("resume")
    assert "Skipping incomplete checkpoints" in resumed.stderr and "checkpoint-4" in resumed.stderr
    full = json.loads((tmp_path / "full.json").read_text())
    after = json.loads((tmp_path / "resume.json").read_text())
    assert sorted(int(s) for s in after) == [1, 2, 3, 4, 5]
    for step in ("4", "5"):
        assert after[step] == pytest.approx(full[step], rel=1e-5, abs=1e-7), step
