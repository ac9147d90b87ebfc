"""Helpers for the tests that run `examples/*.py` end to end on local files."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a module (registered in `sys.modules`: dataclasses resolve through it)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def local_model_and_questions(tmp_path: Path, num_rows: int) -> tuple[Path, Path]:
    """A tiny toy model + tokenizer saved under ``tmp_path/model`` and a ``question``/``answer`` JSONL file."""
    from trl_explore.toy import make_tiny_model, make_tokenizer

    tok = make_tokenizer()
    make_tiny_model(tok, hidden_size=32, num_hidden_layers=1).save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    rows = [{"question": f"What is {i}+{i}?", "answer": str(2 * i)} for i in range(num_rows)]
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    return tmp_path / "model", tmp_path / "train.jsonl"
