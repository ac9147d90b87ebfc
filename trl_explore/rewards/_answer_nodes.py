"""Parsed answers: the structures `parse_answer` builds and `compare` walks, and their canonical key.

Pure Python, no sympy (see `trl_explore.rewards._normalize` for the pipeline).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Choice", "Coll", "Leaf", "Matrix", "Node", "NormalizationError", "Seq", "node_key"]


class NormalizationError(ValueError):
    """The answer cannot be turned into a comparable structure (unbalanced brackets, too many items...)."""


# ----------------------------------------------------------------------------------------------------------------------
# structures
# ----------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    """A scalar answer.

    Attributes:
        text: normalised LaTeX with single spaces (what the symbolic parser receives).
        key: whitespace-free text for exact comparison (lower-cased for word answers).
        percent: the answer carried a percent sign (``50\\%``).
        is_text: a word answer (``\\text{Monday}``, ``even``) compared as a case-insensitive string only.
    """

    text: str
    key: str
    percent: bool = False
    is_text: bool = False


@dataclass(frozen=True)
class Seq:
    """An ordered bracketed sequence: a tuple / point ``(1,2)`` or an interval ``[1,2)``; brackets must match."""

    open: str
    close: str
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Coll:
    """An unordered collection: ``set`` (``\\{1,2\\}``), ``list`` (``1, 2`` or ``1 or 2``), ``union`` (``A \\cup B``)."""

    kind: str
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Matrix:
    """A matrix (``pmatrix``, ``bmatrix``, ``matrix``, ``array`` ...) as rows of leaves."""

    rows: tuple[tuple[Node, ...], ...]


@dataclass(frozen=True)
class Choice:
    """A multiple-choice letter (``(B)``, ``B``, ``\\text{(B)}``)."""

    letter: str
    rest: Node | None = None


Node = Leaf | Seq | Coll | Matrix | Choice


def node_key(node: Node) -> str:
    """Canonical string of a parsed answer (equal keys mean equal answers; used for exact match and majority vote)."""
    if isinstance(node, Leaf):
        return node.key + ("%" if node.percent else "")
    if isinstance(node, Seq):
        return node.open + ",".join(node_key(x) for x in node.items) + node.close
    if isinstance(node, Coll):
        kind = "set" if node.kind in ("set", "list") else node.kind
        return kind + "{" + ",".join(sorted(node_key(x) for x in node.items)) + "}"
    if isinstance(node, Matrix):
        return "matrix[" + ";".join(",".join(node_key(x) for x in row) for row in node.rows) + "]"
    return "choice:" + node.letter
