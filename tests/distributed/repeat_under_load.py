"""Run a pytest selection several times in a row while other processes load every CPU core (docs/robustness.md).

    python tests/distributed/repeat_under_load.py --runs 10 --load 2 -- -m distributed tests -q

``--load N`` starts N busy-loop processes (one per core of a 2-core machine saturates it) before the first run and
ends them (by their process ids) after the last. The runs stop at the first failure. One line per run (exit status,
wall time, the pytest summary line), and a JSON summary with ``--out``. Exit status: 0 when every run passed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

_BUSY = "while True:\n    pass\n"


def _summary(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="runs in a row (default 10)")
    parser.add_argument("--load", type=int, default=2, help="busy-loop processes loading the machine (default 2)")
    parser.add_argument("--out", type=Path, default=None, help="write a JSON summary here")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after --: the pytest arguments")
    ns = parser.parse_args(argv)
    if ns.runs < 1 or ns.load < 0:
        parser.error(f"--runs must be >= 1 and --load >= 0, got {ns.runs} and {ns.load}")
    pytest_args = ns.pytest_args[1:] if ns.pytest_args[:1] == ["--"] else ns.pytest_args
    load = [subprocess.Popen([sys.executable, "-c", _BUSY]) for _ in range(ns.load)]
    results = []
    try:
        for run in range(1, ns.runs + 1):
            t0 = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *pytest_args],
                capture_output=True,
                text=True,
            )
            seconds = time.monotonic() - t0
            results.append({"run": run, "returncode": done.returncode, "seconds": round(seconds, 1)})
            print(f"run {run}/{ns.runs}: exit {done.returncode} in {seconds:.0f}s  {_summary(done.stdout)}", flush=True)
            if done.returncode != 0:
                print(done.stdout[-6000:], done.stderr[-3000:], sep="\n", flush=True)
                break
    finally:
        for proc in load:
            proc.kill()
            proc.wait()
    passed = len(results) == ns.runs and all(r["returncode"] == 0 for r in results)
    summary = {"pytest_args": pytest_args, "load_processes": ns.load, "runs": results, "all_passed": passed}
    if ns.out is not None:
        ns.out.write_text(json.dumps(summary, indent=2))
    print(f"{sum(r['returncode'] == 0 for r in results)}/{ns.runs} runs passed in a row under {ns.load} busy loops")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
