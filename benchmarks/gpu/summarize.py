"""The rows of a benchmark CSV (``benchmarks/_common.py``'s columns) as one Markdown table, for the docs.

python benchmarks/gpu/summarize.py gpu_all.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path


def _number(text: str) -> str:
    try:
        value = float(text)
    except ValueError:
        return text
    return f"{value:.4g}"


def table(rows: list[dict[str, str]]) -> str:
    """A Markdown table: benchmark, metric, ours, baseline, ratio, settings."""
    lines = ["| benchmark | metric | value | baseline | ratio | settings |", "|---|---|---|---|---|---|"]
    for row in rows:
        try:
            config = json.loads(row.get("config") or "{}")
        except json.JSONDecodeError:
            config = {}
        settings = ", ".join(f"{k}={v}" for k, v in config.items() if k not in ("losses",))
        unit = f" ({row['unit']})" if row.get("unit") else ""
        lines.append(
            f"| {row['name']} | {row['metric']}{unit} | {_number(row['value'])} | {_number(row['baseline_value'])} "
            f"| {_number(row['ratio'])} | {settings} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", help="benchmark CSV")
    args = parser.parse_args(argv)
    path = Path(args.csv)
    if not path.is_file():
        print(f"no results: {path} does not exist")
        return 1
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    machines = sorted({row.get("machine", "") for row in rows} - {""})
    print(f"{len(rows)} rows; machine: {'; '.join(machines) or 'unknown'}")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
