"""Comparison of parsed answers: the cheap numeric test of two leaves (no sympy) and the structural comparison.

Three-valued: `True`, `False`, or `None` when a symbolic check (`trl_explore.rewards._symbolic`, in a worker) must
decide (see `trl_explore.rewards._normalize` for the pipeline).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from fractions import Fraction

from ._answer_nodes import Choice, Coll, Leaf, Matrix, Node, Seq, node_key

__all__ = ["compare", "leaf_equal_cheap", "parse_number"]


# ----------------------------------------------------------------------------------------------------------------------
# cheap numeric comparison
# ----------------------------------------------------------------------------------------------------------------------

_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_PLAIN = re.compile(rf"^(?P<num>{_NUM})(?:e(?P<exp>[+-]?\d{{1,3}}))?$", re.IGNORECASE)
_SCI = re.compile(rf"^(?P<num>{_NUM})(?:\\times|\\cdot|\*)10\^\{{?(?P<exp>[+-]?\d{{1,3}})\}}?$")
_POW10 = re.compile(r"^(?P<sign>[+-]?)10\^\{?(?P<exp>[+-]?\d{1,3})\}?$")
_FRAC = re.compile(rf"^(?P<sign>[+-]?)\\frac\{{(?P<a>{_NUM})\}}\{{(?P<b>{_NUM})\}}$")
_SLASH = re.compile(rf"^(?P<a>{_NUM})/(?P<b>{_NUM})$")


def parse_number(key: str) -> tuple[Fraction, bool] | None:
    """Parse a whitespace-free leaf key that is a plain number: ``42``, ``-0.5``, ``1.5e3``, ``2\\times10^{3}``,
    ``10^{-2}``, ``\\frac{3}{4}``, ``-\\frac{1}{2}``, ``3/4``. Returns ``(value, is_integer_literal)`` or `None`."""
    if len(key) > 600:
        return None
    m = _PLAIN.match(key)
    if m:
        value = Fraction(m.group("num"))
        if m.group("exp"):
            value *= Fraction(10) ** int(m.group("exp"))
            return value, False
        return value, "." not in m.group("num")
    m = _SCI.match(key)
    if m:
        return Fraction(m.group("num")) * Fraction(10) ** int(m.group("exp")), False
    m = _POW10.match(key)
    if m:
        value = Fraction(10) ** int(m.group("exp"))
        return (-value if m.group("sign") == "-" else value), False
    m = _FRAC.match(key) or _SLASH.match(key)
    if m:
        den = Fraction(m.group("b"))
        if den == 0:
            return None
        value = Fraction(m.group("a")) / den
        if m.groupdict().get("sign") == "-":
            value = -value
        return value, False
    return None


def _close(a: Fraction, b: Fraction, exact: bool, rel_tol: float) -> bool:
    if a == b:
        return True
    if exact:
        return False
    scale = max(abs(a), abs(b))
    return abs(a - b) <= Fraction(rel_tol) * scale


def leaf_equal_cheap(a: Leaf, b: Leaf, rel_tol: float) -> bool | None:
    """Decide two leaves without sympy when possible: `True`/`False`, or `None` when a symbolic check is needed.

    Two integer literals must be equal exactly; when either side is a decimal, fraction or power of ten the relative
    tolerance ``|a - b| <= rel_tol * max(|a|, |b|)`` applies. A side with a percent sign also matches its value / 100
    (``50\\%`` equals ``50`` and ``0.5``). Word answers compare as case-insensitive strings.
    """
    if a.key == b.key:
        return True
    if a.is_text or b.is_text:
        return False
    na, nb = parse_number(a.key), parse_number(b.key)
    if na is None or nb is None:
        return None
    exact = na[1] and nb[1]
    candidates_a = [na[0]] + ([na[0] / 100] if a.percent and not b.percent else [])
    candidates_b = [nb[0]] + ([nb[0] / 100] if b.percent and not a.percent else [])
    for x in candidates_a:
        for y in candidates_b:
            # a value divided by 100 is no longer an integer literal
            if _close(x, y, exact and x is na[0] and y is nb[0], rel_tol):
                return True
    return False


# ----------------------------------------------------------------------------------------------------------------------
# structural comparison (three-valued: True, False, or None = undecided without a symbolic check)
# ----------------------------------------------------------------------------------------------------------------------

LeafEq = Callable[[Leaf, Leaf], "bool | None"]


def _and(results: Sequence[Callable[[], bool | None]]) -> bool | None:
    undecided = False
    for fn in results:
        r = fn()
        if r is False:
            return False
        if r is None:
            undecided = True
    return None if undecided else True


def _perfect_matching(n: int, edge: Callable[[int, int], bool]) -> bool:
    match_of_right = [-1] * n

    def augment(i: int, seen: list[bool]) -> bool:
        for j in range(n):
            if not seen[j] and edge(i, j):
                seen[j] = True
                if match_of_right[j] == -1 or augment(match_of_right[j], seen):
                    match_of_right[j] = i
                    return True
        return False

    return all(augment(i, [False] * n) for i in range(n))


def _unordered(p: Sequence[Node], g: Sequence[Node], leaf_eq: LeafEq) -> bool | None:
    if len(p) != len(g):
        return False
    n = len(p)
    memo: dict[tuple[int, int], bool | None] = {}

    def res(i: int, j: int) -> bool | None:
        if (i, j) not in memo:
            memo[(i, j)] = compare(p[i], g[j], leaf_eq)
        return memo[(i, j)]

    if _perfect_matching(n, lambda i, j: res(i, j) is True):
        return True
    if not _perfect_matching(n, lambda i, j: res(i, j) is not False):
        return False
    return None


def _vector(node: Node) -> tuple[Node, ...] | None:
    """A single-row / single-column matrix or a parenthesised tuple, as a flat vector."""
    if isinstance(node, Matrix):
        if len(node.rows) == 1:
            return node.rows[0]
        if all(len(r) == 1 for r in node.rows):
            return tuple(r[0] for r in node.rows)
        return None
    if isinstance(node, Seq) and node.open == "(" and node.close == ")":
        return node.items
    return None


def compare(pred: Node, gold: Node, leaf_eq: LeafEq) -> bool | None:
    """Compare two parsed answers; ``leaf_eq`` decides scalar pairs (cheap or symbolic).

    Tuples and intervals are ordered and their brackets must match; sets, comma lists and unions are unordered;
    matrices compare element-wise with equal shapes (a one-column/one-row matrix also equals a tuple); a choice letter
    matches the same letter (with or without parentheses / ``\\text{}``).
    """
    if node_key(pred) == node_key(gold):
        return True
    if isinstance(gold, Choice):
        if isinstance(pred, Choice):
            return pred.letter == gold.letter
        if isinstance(pred, Leaf) and re.fullmatch(r"[A-J]", pred.text):
            return pred.text == gold.letter
        return False
    if isinstance(pred, Choice):
        if pred.rest is not None:
            return compare(pred.rest, gold, leaf_eq)
        return isinstance(gold, Leaf) and gold.text == pred.letter
    if isinstance(pred, Matrix) and isinstance(gold, Matrix):
        if len(pred.rows) != len(gold.rows) or any(len(a) != len(b) for a, b in zip(pred.rows, gold.rows)):
            return False
        return _and(
            [lambda a=a, b=b: compare(a, b, leaf_eq) for ra, rb in zip(pred.rows, gold.rows) for a, b in zip(ra, rb)]
        )
    if isinstance(pred, Matrix) or isinstance(gold, Matrix):
        vp, vg = _vector(pred), _vector(gold)
        if vp is None or vg is None or len(vp) != len(vg):
            return False
        return _and([lambda a=a, b=b: compare(a, b, leaf_eq) for a, b in zip(vp, vg)])
    if isinstance(pred, Seq) and isinstance(gold, Seq):
        if pred.open != gold.open or pred.close != gold.close or len(pred.items) != len(gold.items):
            return False
        return _and([lambda a=a, b=b: compare(a, b, leaf_eq) for a, b in zip(pred.items, gold.items)])
    if isinstance(pred, Coll) and isinstance(gold, Coll):
        compatible = {pred.kind, gold.kind} <= {"set", "list"} or pred.kind == gold.kind
        if not compatible:
            return False
        return _unordered(pred.items, gold.items, leaf_eq)
    if isinstance(pred, Leaf) and isinstance(gold, Leaf):
        return leaf_eq(pred, gold)
    return False
