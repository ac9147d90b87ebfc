"""What the home page and the toy-kit page promise: the home page lists every method page and every RL trainer, one
line each; the toy-kit page's list of demo outputs names the files the demo writes."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RL_TRAINERS = {  # page -> the drop-in trainer its line names
    "lp_reg": "LpRegGRPOTrainer",
    "relative_negative": "RelativeNegativeGRPOTrainer",
    "hapo": "HAPOGRPOTrainer",
    "spear": "SPEARGRPOTrainer",
}


def demo_outputs_section() -> str:
    """The toy-kit page's "What the run writes" section."""
    text = (ROOT / "docs" / "toy.md").read_text()
    start = text.index("### What the run writes\n")
    return text[start : text.index("\n### ", start + 1)]


def test_home_page_links_every_method_page():
    index = (ROOT / "docs" / "index.md").read_text()
    for page in sorted((ROOT / "docs" / "methods").glob("*.md")):
        assert f"(methods/{page.name})" in index, page.name


def test_home_page_lists_every_rl_trainer_on_its_own_line():
    import trl_explore.trainers as trainers

    lines = (ROOT / "docs" / "index.md").read_text().splitlines()
    for page, trainer in RL_TRAINERS.items():
        assert hasattr(trainers, trainer)
        [line] = [line for line in lines if f"(methods/{page}.md)" in line]
        assert re.match(r"\s+- \[", line) and f"`{trainer}`" in line, line


def test_demo_outputs_list_names_the_decoding_files():
    from trl_explore.demo.decoding import TRACE_PLOT
    from trl_explore.demo.report import CURVES_PNG, MECHANISMS_PNG, OVERVIEW_PNG, PASS_AT_K_PNG

    section = demo_outputs_section()
    for name in (
        TRACE_PLOT,
        "decoding.json",
        CURVES_PNG,
        MECHANISMS_PNG,
        OVERVIEW_PNG,
        PASS_AT_K_PNG,
        "metrics.csv",
        "summary.csv",
        "settings.json",
        "demo_report.md",
    ):
        assert f"`{name}`" in section, name
    assert "decoding section" in section
