"""Command-line helpers shared by ``trl-explore`` (`trl_explore.cli`) and its subcommands' own entry points
(`trl_explore.demo.command`): a one-line-error parser, argument types, the one-line failure and the console log format.
A base module: it imports nothing of the package."""

from __future__ import annotations

import argparse
import logging
import sys


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block), pointing at --help."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def positive_float(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def fail(prog: str, err: BaseException) -> int:
    message = " ".join(str(err).split())  # one line, whatever the exception's text looks like
    sys.stderr.write(f"{prog}: error: {message}\n")
    return 2


class _ConsoleFormatter(logging.Formatter):
    """Plain messages for INFO, ``WARNING: ...`` above."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        return message if record.levelno <= logging.INFO else f"{record.levelname}: {message}"


def console_logging() -> None:
    """INFO and above to stderr: plain messages for INFO, ``WARNING: ...`` above."""
    handler = logging.StreamHandler()
    handler.setFormatter(_ConsoleFormatter("%(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
