"""Dry run of ``benchmarks/gpu/all.sh``: every command it would run is checked on this machine, nothing is run.

A GPU session is short and lent once; a misspelt flag found there costs the whole session. ``all.sh --dry-run`` writes
its commands (one JSON list per line: section name, then the argv) and this script checks each one:

- ``python <script> <args>``: the script is executed up to its argument parsing and stopped there (its
  ``argparse`` / ``HfArgumentParser`` parse must accept every flag, with no argument left over);
- scripts that launch further commands (``distributed_smoke.py``) are asked for their own ``--dry-run``.

    python benchmarks/gpu/check_commands.py commands.jsonl

Exit status 0 when every command parses, 1 otherwise (each failure is printed with its section and the parser's
message).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class _Parsed(Exception):
    """Raised in place of returning from the first complete argument parse: the script stops there."""


@contextlib.contextmanager
def _stop_after_parse():
    original = argparse.ArgumentParser.parse_known_args

    def parse_known_args(self, args=None, namespace=None):
        namespace, remaining = original(self, args, namespace)
        if remaining:
            self.error(f"unrecognized arguments: {' '.join(remaining)}")
        raise _Parsed

    argparse.ArgumentParser.parse_known_args = parse_known_args
    try:
        yield
    finally:
        argparse.ArgumentParser.parse_known_args = original


def parse_only(script: str | Path, args: Sequence[str]) -> str | None:
    """Run ``script`` as ``__main__`` with ``args`` until its command line is parsed; ``None`` when it parses, else
    the parser's error message (or the exception raised before parsing)."""
    script = Path(script)
    if not script.is_absolute():
        script = ROOT / script
    if not script.is_file():
        return f"no such script: {script}"
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [str(script), *args]
    sys.path.insert(0, str(script.parent))
    err = io.StringIO()
    try:
        with _stop_after_parse(), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            runpy.run_path(str(script), run_name="__main__")
    except _Parsed:
        return None
    except SystemExit as exit_:
        message = err.getvalue().strip().splitlines()
        return message[-1] if message else f"exited with status {exit_.code} before parsing"
    except Exception as exc:  # the check reports what stopped the script, whatever it is
        return f"{type(exc).__name__}: {exc}"
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    return "the script returned without parsing its command line"


def check_command(argv: Sequence[str]) -> list[str]:
    """Problems of one command of all.sh (empty when it is fine)."""
    if len(argv) < 2 or Path(argv[0]).name not in ("python", "python3"):
        return [f"not a python command: {' '.join(argv)}"]
    script, args = argv[1], list(argv[2:])
    if Path(script).name == "distributed_smoke.py":
        error = parse_only(script, args)
        if error is not None:
            return [error]
        sys.path.insert(0, str(ROOT / "benchmarks" / "gpu"))
        from distributed_smoke import dry_run

        return dry_run(args)
    error = parse_only(script, args)
    return [] if error is None else [error]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("commands", help="JSON lines written by all.sh --dry-run: [section, argv...]")
    args = parser.parse_args(argv)
    failures = 0
    lines = [json.loads(line) for line in Path(args.commands).read_text().splitlines() if line.strip()]
    if not lines:
        print("no commands to check")
        return 1
    for section, *command in lines:
        problems = check_command(command)
        failures += bool(problems)
        print(f"{'ok' if not problems else 'FAIL':4s} {section}" + "".join(f"\n     {p}" for p in problems))
    print(f"{len(lines) - failures}/{len(lines)} sections parse")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
