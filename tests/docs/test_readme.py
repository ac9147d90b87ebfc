"""The README's "Swap the trainer" snippet runs as written on an offline CPU machine (no `use_cpu`, no Hub), and the
real-model snippet after it is the same code with a real model and dataset. The snippets are read from README.md, so
the test and the README cannot drift apart."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _python_blocks(section: str, page: str = "README.md") -> list[str]:
    text = (ROOT / page).read_text()
    start = text.index(f"## {section}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start : end if end != -1 else None], flags=re.S)


def test_offline_snippet_runs_as_written(toy_route_cache, tmp_path, monkeypatch):
    offline, real = _python_blocks("Swap the trainer")[:2]
    assert "toy_model_path" in offline and "use_cpu" not in offline
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(offline, "README.md: Swap the trainer (offline)", "exec"), namespace)  # the snippet, verbatim
    trainer = namespace["trainer"]
    assert trainer.state.global_step == 10 and trainer.args.bf16 is False
    rewards = [e["reward"] for e in trainer.state.log_history if "reward" in e]
    assert len(rewards) == 10 and sum(rewards) > 0
    assert any("lp_reg/kept_mass" in e for e in trainer.state.log_history)
    # the real-model snippet differs only in where the model and the dataset come from
    tail = lambda block: block[block.index("args = LpRegConfig") :].splitlines()[-2:]  # noqa: E731
    assert tail(offline) == tail(real)
    assert "from trl_explore.trainers import LpRegConfig, LpRegGRPOTrainer" in real


def test_quickstart_shows_the_same_snippets():
    assert _python_blocks("Swap the trainer", "docs/quickstart.md")[:2] == _python_blocks("Swap the trainer")[:2]
