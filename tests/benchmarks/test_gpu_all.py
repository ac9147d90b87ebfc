"""benchmarks/gpu/all.sh, the one script a lent GPU runs, checked on a CPU: every command's flags parse, its
accelerate configs load, its CSV summary renders, and a broken flag is caught (the check can fail)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GPU = ROOT / "benchmarks" / "gpu"


@pytest.fixture
def check_commands(monkeypatch):
    monkeypatch.syspath_prepend(str(GPU))
    import check_commands

    return check_commands


def test_all_sh_dry_run_parses_every_command():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(["bash", str(GPU / "all.sh"), "--dry-run"], capture_output=True, text=True, env=env,
                         timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    sections = [line.split()[1] for line in run.stdout.splitlines() if line.startswith("ok ")]
    assert sections == ["kernels_check", "distributed_smoke", "lp_reg", "lp_reg_step", "rank_aware", "hapo", "spear",
                        "swireasoning", "answer_choice_mass", "lastde"]  # fmt: skip


def test_check_commands_catches_a_bad_flag_and_a_missing_script(check_commands, tmp_path):
    good = ["python", "benchmarks/hapo.py", "--device", "cuda", "--repeats", "3"]
    bad_flag = ["python", "benchmarks/hapo.py", "--no-such-flag", "3"]
    bad_type = ["python", "benchmarks/hapo.py", "--repeats", "three"]
    missing = ["python", "benchmarks/no_such_benchmark.py"]
    assert check_commands.check_command(good) == []
    assert "unrecognized arguments: --no-such-flag" in check_commands.check_command(bad_flag)[0]
    assert "invalid int value" in check_commands.check_command(bad_type)[0]
    assert "no such script" in check_commands.check_command(missing)[0]
    path = tmp_path / "commands.jsonl"
    path.write_text(json.dumps(["hapo", *good]) + "\n" + json.dumps(["typo", *bad_flag]) + "\n")
    assert check_commands.main([str(path)]) == 1
    path.write_text(json.dumps(["hapo", *good]) + "\n")
    assert check_commands.main([str(path)]) == 0


def test_smoke_log_parsing_and_summary_table(tmp_path):
    sys.path.insert(0, str(GPU))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from _common import append_rows, make_row
        from distributed_smoke import logged_losses
        from summarize import table
    finally:
        sys.path.remove(str(GPU))
        sys.path.remove(str(ROOT / "benchmarks"))
    text = "noise {'loss': 0.5, 'grad_norm': 1.0}\n{'loss': 'nan'}\n{'reward': 0.1}\n{'train_runtime': 3.0}"
    losses = logged_losses(text)
    assert losses[0] == 0.5 and len(losses) == 2 and losses[1] != losses[1]  # the NaN loss is kept, as NaN
    csv_path = tmp_path / "rows.csv"
    append_rows([make_row("lp_reg/step", "time", "s", 2.0, 4.0, {"vocab": 151936})], csv_path)
    with csv_path.open(newline="") as f:
        rendered = table(list(csv.DictReader(f)))
    assert "| lp_reg/step | time (s) | 2 | 4 | 0.5 | vocab=151936 |" in rendered
