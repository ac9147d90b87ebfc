"""One measured figure for the default demo run, repeated word for word by the README, the quickstart, the toy-kit
page and `trl-explore --help` / `trl-explore demo --help` (`trl_explore.cli.DEMO_TIME`); and the README says what to
do where PyTorch's CPU index cannot be reached."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from trl_explore.cli import DEMO_TIME, build_parser

ROOT = Path(__file__).resolve().parents[2]


def _flat(text: str) -> str:
    return " ".join(text.split())


def _help(*argv: str) -> str:
    parser = build_parser()
    if argv:
        parser = parser._subparsers._group_actions[0].choices[argv[0]]  # noqa: SLF001 (argparse has no public getter)
    return parser.format_help()


SOURCES = {
    "README.md": lambda: (ROOT / "README.md").read_text(),
    "docs/quickstart.md": lambda: (ROOT / "docs" / "quickstart.md").read_text(),
    "docs/toy.md": lambda: (ROOT / "docs" / "toy.md").read_text(),
    "trl-explore --help": lambda: _help(),
    "trl-explore demo --help": lambda: _help("demo"),
}


def test_the_figure_names_its_machine():
    assert re.fullmatch(r"\d+ min \d+ s on an idle \d+-core machine", DEMO_TIME)


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_place_repeats_the_one_figure(source):
    """Each place gives `DEMO_TIME` verbatim, and no other duration for the default run: every "N min N s" figure is
    the default run's, and the old "10 minutes" is gone."""
    text = _flat(SOURCES[source]())
    assert DEMO_TIME in text, source
    figures = set(re.findall(r"\d+ min \d+ s", text))
    assert figures <= {DEMO_TIME.split(" on ")[0]}, (source, figures)
    assert not re.search(r"(~|about |in )10 minutes", text), source


def test_readme_says_what_to_do_without_the_pytorch_index():
    """Right after the set-up block: the torch line's index may be unreachable; where the package index already
    serves CPU wheels, `pip install torch==2.13.0` alone."""
    text = (ROOT / "README.md").read_text()
    after = text.split("pip install -e . && trl-explore demo\n```\n", 1)[1].strip("\n").split("\n\n")[0]
    flat = _flat(after)
    assert "cannot reach that index" in flat and "already serves CPU wheels" in flat
    assert "run `pip install torch==2.13.0` alone instead of that line" in flat
