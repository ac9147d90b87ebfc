"""The griffe extension that renders TRL-grammar docstrings in the API reference (docs/_griffe/trl_docstrings.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("griffe")
PATH = Path(__file__).resolve().parents[2] / "docs" / "_griffe" / "trl_docstrings.py"
_spec = importlib.util.spec_from_file_location("trl_docstrings", PATH)
trl_docstrings = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(trl_docstrings)
normalize = trl_docstrings.normalize


def test_entry_under_a_section_keeps_the_type_only():
    text = "Args:\n    k (`int`, *optional*, defaults to `8`):\n        Completions per prompt.\n    x (`float`): y"
    assert normalize(text) == "Args:\n    k (int):\n        Completions per prompt.\n    x (float): y"


def test_types_with_or_and_brackets():
    text = "Args:\n    tokens (`list[str]` or `None`, *optional*, defaults to `None`):\n        d"
    assert normalize(text).splitlines()[1] == "    tokens (list[str] or None):"
    assert normalize("Args:\n    demos (*optional*):\n        d").splitlines()[1] == "    demos:"  # annotation shown


def test_block_without_a_header_gets_one():
    """The component mixins' form: a quoted intro, then the entries indented (raw text before the extension)."""
    text = "> Parameters of X.\n\n    lp_reg (`bool`, *optional*, defaults to `False`):\n        On."
    assert normalize(text) == "> Parameters of X.\n\nParameters:\n    lp_reg (bool):\n        On."
    text = "Parameters whose defaults differ from [`B`]:\n    beta (`float`, *optional*, defaults to `0.0`):\n        No KL."
    assert normalize(text) == (
        "Parameters whose defaults differ from [`B`]:\n\nParameters:\n    beta (float):\n        No KL."
    )


def test_entries_naming_several_fields_are_expanded():
    text = "Args:\n    a, b (`bool`, *optional*, defaults to `True`):\n        Both on.\n    c (`int`) and d (`str`):\n        Pair."
    assert normalize(text) == (
        "Args:\n    a (bool):\n        Both on.\n    b (bool):\n        Both on.\n    c (int):\n        Pair.\n"
        "    d (str):\n        Pair."
    )


def test_other_text_is_untouched():
    text = "Sum (`x`) of things: see below.\n\nReturns:\n    `float`: the value (a `Tensor` when batched).\n"
    assert normalize(text) == text.rstrip("\n")
