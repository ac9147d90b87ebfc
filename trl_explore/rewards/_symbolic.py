"""Symbolic equivalence of two normalised leaves with latex2sympy2 + sympy. Imported only inside worker processes.

Security: the only thing that turns text into an expression is latex2sympy2's ANTLR LaTeX grammar, which builds sympy
objects node by node (``sympy.Add(..., evaluate=False)`` ...). No string ever reaches ``eval``/``exec``/sympy's string
parser here (latex2sympy2 calls sympy's string parser only for its ``variable_values`` argument, which we never
pass). Parsed trees are bounded (node count, estimated magnitude of every number, power and factorial) *before*
sympy evaluates anything, and the caller runs this module in a worker process that is killed at its deadline.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

import latex2sympy2
import sympy
from latex2sympy2 import latex2sympy

from ._normalize import Leaf, _split_top, leaf_equal_cheap

logger = logging.getLogger(__name__)

__all__ = ["SymbolicRefused", "check_bounds", "leaf_equal_symbolic", "parse_latex"]

MAX_NODES = 2000
_DECIMAL = re.compile(r"\d\.\d|(?<!\d)\.\d")
MAX_DIGITS = 10_000.0  # largest accepted estimated size (decimal digits) of any numeric sub-expression


_PARSER_ERRORS = (
    TypeError,
    AttributeError,
    ValueError,
    IndexError,
    KeyError,
    ZeroDivisionError,
    NotImplementedError,
    RecursionError,
    OverflowError,
)


class SymbolicRefused(Exception):
    """The expression could not be parsed, or is too large to evaluate safely."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_latex(text: str) -> Any:
    """Parse normalised LaTeX with latex2sympy2, with its module-level variable table reset first.

    latex2sympy2 keeps global state (``x := 3`` assignments are remembered across calls); resetting it keeps one
    answer from changing how the next one is read.

    Raises:
        SymbolicRefused: ``"parse_error"`` when latex2sympy2 rejects the text.
    """
    latex2sympy2.set_variances({})
    latex2sympy2.variances.clear()
    try:
        return latex2sympy(text)
    # Converter failures observed when fuzzing latex2sympy2 1.9.1 with 3000 random LaTeX token strings (TypeError
    # 8.5 %, AttributeError 0.2 %), plus the arithmetic / depth errors its eager sympy constructors can raise.
    except _PARSER_ERRORS as err:
        logger.debug("latex2sympy2 could not convert %r: %s: %s", text[:200], type(err).__name__, err)
        raise SymbolicRefused("parse_error") from err
    # latex2sympy2 reports every *syntax* error (88 % of the fuzz inputs) by raising the bare base class
    # `Exception(message)` from its ANTLR error listener, so no narrower class exists. We catch exactly that class and
    # re-raise any other type, which the worker then reports (and the parent counts) as a worker error.
    except Exception as err:  # noqa: BLE001 - see comment above
        if type(err) is not Exception:
            raise
        logger.debug("latex2sympy2 rejected %r: %s", text[:200], str(err).split("\n", 1)[0])
        raise SymbolicRefused("parse_error") from err


def _log10_int(n: int) -> float:
    """Upper bound on log10(|n|) (0 for |n| <= 1)."""
    n = abs(n)
    return 0.0 if n <= 1 else n.bit_length() * 0.30103


def _bound(expr: Any, budget: list[int]) -> float:
    """Upper bound on the number of decimal digits of any value ``expr`` (or a sub-expression) evaluates to."""
    budget[0] -= 1
    if budget[0] < 0:
        raise SymbolicRefused("too_many_nodes")
    if isinstance(expr, (list, tuple)):
        return max((_bound(e, budget) for e in expr), default=0.0)
    if isinstance(expr, sympy.MatrixBase):
        if expr.rows * expr.cols > 400:
            raise SymbolicRefused("too_large")
        return max((_bound(e, budget) for e in expr), default=0.0)
    if not isinstance(expr, sympy.Basic):
        return 0.0
    if isinstance(expr, sympy.Integer):
        return _log10_int(int(expr.p))
    if isinstance(expr, sympy.Rational):
        return max(_log10_int(int(expr.p)), _log10_int(int(expr.q)))
    if isinstance(expr, sympy.Float):
        mpf = expr._mpf_
        return abs(mpf[2] + mpf[3]) * 0.30103 if mpf[1] else 0.0
    if isinstance(expr, sympy.Pow):
        base, exponent = expr.args
        b = _bound(base, budget)
        e = _bound(exponent, budget)
        if base in (sympy.S.One, sympy.S.NegativeOne, sympy.S.Zero):
            return 1.0
        if e > 7:
            raise SymbolicRefused("too_large")
        return 10.0**e * max(b, 1.0)
    if isinstance(expr, (sympy.factorial, sympy.factorial2, sympy.subfactorial, sympy.gamma)):
        a = _bound(expr.args[0], budget)
        if a > 5:
            raise SymbolicRefused("too_large")
        n = 10.0**a
        return n * math.log10(n + 1.0) + 1.0
    if isinstance(expr, sympy.binomial):
        a = max(_bound(x, budget) for x in expr.args)
        if a > 5:
            raise SymbolicRefused("too_large")
        return 10.0**a * 0.30103 + 1.0
    args = expr.args
    if not args:
        return 1.0
    parts = [_bound(a, budget) for a in args]
    if isinstance(expr, sympy.Mul):
        return sum(parts)
    return max(parts) + math.log10(len(parts) + 1)


def check_bounds(expr: Any) -> None:
    """Raise :class:`SymbolicRefused` when ``expr`` has too many nodes or a number too large to evaluate quickly."""
    if _bound(expr, [MAX_NODES]) > MAX_DIGITS:
        raise SymbolicRefused("too_large")


def _has_float(expr: Any) -> bool:
    return isinstance(expr, sympy.Basic) and any(isinstance(a, sympy.Float) for a in sympy.preorder_traversal(expr))


def _numeric_close(a: Any, b: Any, rel_tol: float) -> bool | None:
    """Compare two closed-form numbers at 30 digits; `None` when either does not evaluate to a finite number."""
    va = sympy.N(a, 30)
    vb = sympy.N(b, 30)
    if not (va.is_number and vb.is_number) or va.has(sympy.zoo, sympy.nan) or vb.has(sympy.zoo, sympy.nan):
        return None
    if va.is_infinite or vb.is_infinite:
        return bool(va == vb)
    diff = abs(sympy.N(va - vb, 30))
    scale = max(abs(va), abs(vb))
    if not diff.is_number or not scale.is_number:
        return None
    return bool(diff <= rel_tol * scale) if scale != 0 else bool(diff == 0)


def _expr_equal(a: Any, b: Any, rel_tol: float, approximate: bool = False) -> bool:
    """Equality of two sympy expressions / relations / matrices parsed from LaTeX.

    ``approximate``: a decimal literal was written (latex2sympy2 turns ``3.14`` into the exact ``157/50``), so
    closed-form numbers compare with the relative tolerance instead of exactly.
    """
    if isinstance(a, list) or isinstance(b, list):
        if not (isinstance(a, list) and isinstance(b, list)) or len(a) != len(b):
            return False
        return all(_expr_equal(x, y, rel_tol, approximate) for x, y in zip(a, b))
    if isinstance(a, sympy.MatrixBase) or isinstance(b, sympy.MatrixBase):
        if not (isinstance(a, sympy.MatrixBase) and isinstance(b, sympy.MatrixBase)) or a.shape != b.shape:
            return False
        return all(_expr_equal(x, y, rel_tol, approximate) for x, y in zip(a, b))
    if isinstance(a, sympy.Rel) or isinstance(b, sympy.Rel):
        if not (isinstance(a, sympy.Rel) and isinstance(b, sympy.Rel)):
            return False
        a = a.reversed if isinstance(a, (sympy.Gt, sympy.Ge)) else a
        b = b.reversed if isinstance(b, (sympy.Gt, sympy.Ge)) else b
        if type(a) is not type(b):
            return False
        da, db = a.lhs - a.rhs, b.lhs - b.rhs
        if isinstance(a, (sympy.Eq, sympy.Ne)):
            return _equations_equal(da, db, rel_tol, approximate)
        return _expr_equal(da, db, rel_tol, approximate)
    if not (isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr)):
        return bool(a == b)
    a = a.doit() if a.has(sympy.Derivative, sympy.Integral, sympy.Sum, sympy.Product) else a
    b = b.doit() if b.has(sympy.Derivative, sympy.Integral, sympy.Sum, sympy.Product) else b
    if a == b:
        return True
    numeric = not a.free_symbols and not b.free_symbols
    approximate = approximate or _has_float(a) or _has_float(b)
    if numeric and approximate:
        # a decimal approximation was written: relative tolerance on the values
        close = _numeric_close(a, b, rel_tol)
        if close is not None:
            return close
    diff = sympy.simplify(a - b)
    if diff == 0:
        return True
    if a.equals(b) is True:
        return True
    if numeric:
        # exact closed forms that simplify() could not reconcile (nested radicals ...): agree to 1e-20
        close = _numeric_close(a, b, 1e-20)
        return bool(close)
    return False


def _parse_side(text: str) -> Any:
    """Parse a leaf; an equation ``lhs = rhs`` is split and parsed side by side into an unevaluated ``Eq``.

    latex2sympy2 treats ``=`` as an *assignment*: ``x = 3`` stores ``x`` in its global table and returns ``3``, and
    ``2x + 3 = y`` calls ``sympy.solve``. Splitting first keeps both behaviours away from model text.
    """
    sides = _split_top(text, "=")
    if len(sides) == 1:
        return parse_latex(text)
    if len(sides) != 2 or not sides[0].strip() or not sides[1].strip():
        raise SymbolicRefused("parse_error")
    lhs, rhs = parse_latex(sides[0]), parse_latex(sides[1])
    if not (isinstance(lhs, sympy.Expr) and isinstance(rhs, sympy.Expr)):
        raise SymbolicRefused("parse_error")
    return sympy.Eq(lhs, rhs, evaluate=False)


def _equations_equal(da: Any, db: Any, rel_tol: float, approximate: bool) -> bool:
    """``da = 0`` and ``db = 0`` describe the same equation: ``da = c * db`` for a non-zero constant ``c``."""
    if _expr_equal(da, db, rel_tol, approximate) or _expr_equal(da, -db, rel_tol, approximate):
        return True
    if db == 0 or da == 0:
        return False
    ratio = sympy.simplify(da / db)
    return bool(ratio.is_number and ratio.is_zero is False and ratio.is_finite)


def leaf_equal_symbolic(a: Leaf, b: Leaf, rel_tol: float) -> bool:
    """Symbolic equality of two leaves (cheap check first). Raises :class:`SymbolicRefused` when refused."""
    cheap = leaf_equal_cheap(a, b, rel_tol)
    if cheap is not None:
        return cheap
    ea = _parse_side(a.text)
    eb = _parse_side(b.text)
    check_bounds(ea)
    check_bounds(eb)
    approximate = bool(_DECIMAL.search(a.text) or _DECIMAL.search(b.text))
    if _expr_equal(ea, eb, rel_tol, approximate):
        return True
    if a.percent != b.percent:
        scaled_a = ea / 100 if a.percent and isinstance(ea, sympy.Expr) else ea
        scaled_b = eb / 100 if b.percent and isinstance(eb, sympy.Expr) else eb
        return _expr_equal(scaled_a, scaled_b, rel_tol, approximate)
    return False
