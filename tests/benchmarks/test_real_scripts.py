"""Smoke tests of the real-model benchmark scripts (``benchmarks/real_*.py``, SmolLM2-135M-Instruct): each ``--quick``
run finishes, prints its table and appends its tidy rows. ``slow``: they load the real model (the cached folder of
`trl_explore.toy.pretrained_model_path`, built from the PyPI wheel on first use) and take a minute or more each on a
shared CPU. ``--help`` runs without the model and is fast."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ("real_detection", "real_answer_choice", "real_swireasoning", "real_model_sft")


def _run(args: list[str], timeout: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)


@pytest.mark.parametrize("script", SCRIPTS)
def test_help(script):
    run = _run([f"benchmarks/{script}.py", "--help"], timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "--quick" in run.stdout and "--seed" in run.stdout.replace("--sample_seeds", "--seed")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_real_detection_quick(tmp_path):
    out = tmp_path / "rows.csv"
    run = _run(["benchmarks/real_detection.py", "--quick", "--csv", str(out)], timeout=850)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for method in ("likelihood", "log_rank", "entropy", "fast_detectgpt", "lastde", "lastde++"):
        assert f"\n{method} " in run.stdout
    assert "lastde++ - fast_detectgpt" in run.stdout
    aurocs = [float(r["value"]) for r in _rows(out) if r["metric"] == "auroc"]
    assert len(aurocs) == 6 and all(0.0 <= a <= 1.0 for a in aurocs)


@pytest.mark.slow
def test_real_answer_choice_quick(tmp_path):
    out = tmp_path / "rows.csv"
    run = _run(["benchmarks/real_answer_choice.py", "--quick", "--csv", str(out)], timeout=850)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "(1) k=0 -> k=1 raises PM in" in run.stdout and "(3) SFC-resolved share" in run.stdout
    masses = [float(r["value"]) for r in _rows(out) if r["metric"] == "mass"]
    assert len(masses) == 4 and all(0.0 < m <= 1.0 for m in masses)  # 2 formats x k in {0, 1}


@pytest.mark.slow
def test_real_swireasoning_quick(tmp_path):
    out = tmp_path / "rows.csv"
    run = _run(["benchmarks/real_swireasoning.py", "--quick", "--csv", str(out)], timeout=850)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    decoders = {r["name"] for r in _rows(out) if r["metric"] == "accuracy"}
    assert decoders == {"real_swireasoning/greedy", "real_swireasoning/sampling", "real_swireasoning/swireasoning"}
    tokens = [float(r["value"]) for r in _rows(out) if r["metric"] == "mean_tokens"]
    assert all(1 <= t <= 24 for t in tokens)  # the --quick budget


@pytest.mark.slow
def test_real_model_sft_quick(tmp_path):
    """Both questions at the smoke sizes (seed 0, 2 steps per arm): the tables print, pass@k is a fraction and
    monotone in k (pass@k is increasing in k for every problem), the bin errors lie in [0, 9]."""
    out, js = tmp_path / "rows.csv", tmp_path / "sft.json"
    run = _run(["benchmarks/real_model_sft.py", "--quick", "--csv", str(out), "--json", str(js)], timeout=850)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "(a) rank-aware" in run.stdout and "(b) Fourier numeric head" in run.stdout
    assert "paired difference rank_aware - sft" in run.stdout and "paired difference fourier - sft" in run.stdout
    rows = _rows(out)
    passes = [float(r["value"]) for r in rows if r["name"] == "real_sft/rank_aware" and r["metric"].startswith("pass@")]
    assert len(passes) == 3 and all(0.0 <= p <= 1.0 for p in passes)  # --quick: n = 4 samples -> k in {1, 2, 4}
    assert passes == sorted(passes)
    errors = [float(r["value"]) for r in rows if r["name"] == "real_sft/fourier" and r["metric"].startswith("mae")]
    assert len(errors) == 2 and all(0.0 <= e <= 9.0 for e in errors)
    import json

    result = json.loads(js.read_text())
    assert set(result["a"]["per_seed"]) == {"sft", "rank_aware"} and set(result["b"]["per_seed"]) == {"sft", "fourier"}


def test_the_docs_page_commands_parse(monkeypatch):
    """Every ``python benchmarks/real_*.py ...`` command on `docs/real_model.md` parses with its script's arguments
    (the figures there are reproducible by the listed commands), and each of the three rows lists one."""
    import importlib
    import re
    import shlex

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    text = (ROOT / "docs" / "real_model.md").read_text()
    commands = re.findall(r"python benchmarks/(real_\w+)\.py([^\n`]*)", text)
    assert {name for name, _ in commands} >= set(SCRIPTS)
    for name, rest in commands:
        module = importlib.import_module(name)
        module.parse_args(
            shlex.split(rest, comments=True)
        )  # argparse exits (SystemExit) on an unknown or malformed flag
