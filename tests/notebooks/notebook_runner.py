"""Shared helpers of the notebook tests: run a notebook in smoke mode (``TRL_EXPLORE_SMOKE=1``: toy model, local data,
CPU) with nbclient in a working directory of its own, and read what it wrote."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
NOTEBOOK_FILES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
SOURCE_FILES = sorted(p.name for p in NOTEBOOKS.glob("*.py"))
CELL_TIMEOUT = 300  # seconds per cell; a smoke run takes well under a minute in total
RUNTIMES: dict[str, float] = {}


def execute(name: str, workdir: Path, env: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """Run `notebooks/<name>` in smoke mode with `workdir` as its working directory (plus `env`); return the executed
    notebook."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    env = {
        **(env or {}),
        "TRL_EXPLORE_SMOKE": "1",
        "MPLBACKEND": "Agg",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "WANDB_DISABLED": "true",
    }
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits the environment of this process
    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        RUNTIMES[name] = time.perf_counter() - start
        print(f"{name}: smoke run {RUNTIMES[name]:.1f} s")  # shown with `pytest -s`
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return nb


def stdout_of(nb: nbformat.NotebookNode) -> str:
    return "".join(
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream"
    )


def assert_png(path: Path) -> None:
    assert path.is_file(), f"{path.name} was not written"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    assert path.stat().st_size > 5_000, f"{path.name} is suspiciously small"


def read_summary(workdir: Path, name: str) -> dict:
    path = workdir / name
    assert path.is_file(), f"{name} was not written"
    return json.loads(path.read_text())
