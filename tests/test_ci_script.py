"""`.ci/run`: it runs the README's test command verbatim, skips no suite for lack of time, and a stage whose selection
collects no test fails (pytest's exit status 5 is not a pass)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CI = REPO / ".ci" / "run"


def _stage_function() -> str:
    text = CI.read_text()
    match = re.search(r"^stage\(\) \{.*?^\}$", text, flags=re.S | re.M)
    assert match, "no stage() function in .ci/run"
    return match.group(0)


def test_ci_runs_the_readme_test_command():
    """Every line of the README's test block (after creating the environment, which CI does itself) is a line of
    `.ci/run`, in the same order."""
    readme = (REPO / "README.md").read_text()
    block = re.search(r"\*\*Tests\*\*.*?```bash\n(.*?)```", readme, flags=re.S)
    assert block, "no test block in README.md"
    commands = [line for line in block.group(1).splitlines() if line.strip() and "venv" not in line]
    assert any("pytest" in c for c in commands) and any("pip install" in c for c in commands), commands
    ci_lines = CI.read_text().splitlines()
    positions = [ci_lines.index(c) for c in commands]  # ValueError names a README line missing from CI
    assert positions == sorted(positions)


def test_ci_runs_every_suite_whatever_the_time():
    text = CI.read_text()
    assert "skipping" not in text.lower() and "elapsed" not in text  # no time-gated block
    stages = re.findall(r'^\s*stage "([^"]+)" (.*)$', text, flags=re.M)
    assert [name for name, _ in stages] == [
        "other float paths (avx2, 1 thread)",
        "other float paths (default, 2 threads)",
        "multi-process",
        "reliability (slow)",
        "other slow suites",
    ]
    assert stages[2][1].startswith("-m distributed ")
    assert subprocess.run(["bash", "-n", str(CI)], capture_output=True).returncode == 0


def test_a_stage_that_collects_nothing_fails(tmp_path):
    """The stage function itself, on a selection matching no test (exit 5) and on a passing one (exit 0)."""
    (tmp_path / "test_one.py").write_text("def test_ok():\n    assert 1 + 1 == 2\n")
    script = f"""set -euo pipefail
start=$(date +%s)
python() {{ "{sys.executable}" "$@"; }}
{_stage_function()}
stage empty -p no:cacheprovider -m no_such_marker {tmp_path}
"""
    empty = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert empty.returncode == 5, empty.stdout + empty.stderr
    assert "no test collected" in empty.stderr
    ok = subprocess.run(
        ["bash", "-c", script.replace("-m no_such_marker ", "")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "=== empty: exit 0" in ok.stdout


def test_ci_reruns_the_parity_suites_on_other_float_paths():
    """docs/robustness.md: the numeric-parity folders run again with torch's AVX2 kernels on one thread and with its
    non-vectorised kernels on two threads (each stage's environment is the assignments before its `stage` call)."""
    text = CI.read_text()
    calls = re.findall(r"^((?:[A-Z_]+=\S+ )+)\\\n\s*stage \"(other float paths[^\"]*)\" (.*)$", text, flags=re.M)
    envs = {name: dict(a.split("=") for a in assignments.split()) for assignments, name, _ in calls}
    assert envs == {
        "other float paths (avx2, 1 thread)": {
            "ATEN_CPU_CAPABILITY": "avx2",
            "OMP_NUM_THREADS": "1",
            "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        },
        "other float paths (default, 2 threads)": {"ATEN_CPU_CAPABILITY": "default", "OMP_NUM_THREADS": "2"},
    }
    folders = re.search(r"^PARITY=\((.*)\)$", text, flags=re.M).group(1).split()
    assert {"tests/functional", "tests/kernels", "tests/trainers"} <= set(folders)
    assert all((REPO / f).is_dir() for f in folders), folders
    assert all('-m "not slow"' in args and '"${PARITY[@]}"' in args for _, _, args in calls)
