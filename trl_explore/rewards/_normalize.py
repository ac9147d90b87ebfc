"""Answer screening, normalisation, structure parsing and the cheap (no-sympy) comparison.

Pure Python: nothing here imports sympy or latex2sympy2, and nothing evaluates text. The same functions run in the
trainer process (deciding exact and plain-numeric matches without touching the worker pool) and inside the
verification workers (where undecided leaves go to :mod:`trl_explore.rewards._symbolic`).

Pipeline for one extracted answer::

    screen (size / depth / huge-number / power-tower / factorial-chain limits)
      -> clean (unicode, math delimiters, \\left/\\right, \\dfrac, spacing, degrees, dollars)
      -> parse_answer: Choice | Matrix | Seq (tuple / interval: brackets matter) | Coll (set / list / union: unordered)
         | Leaf (units, \\text{}, percent, x= prefix, thousands separators, \\frac12 shorthand removed)
      -> compare(pred, gold, leaf_eq): exact key -> numeric (relative tolerance) -> leaf_eq (symbolic, in a worker)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "Choice",
    "Coll",
    "Leaf",
    "Limits",
    "Matrix",
    "Node",
    "NormalizationError",
    "Seq",
    "compare",
    "leaf_equal_cheap",
    "node_key",
    "parse_answer",
    "parse_number",
    "screen",
]


class NormalizationError(ValueError):
    """The answer cannot be turned into a comparable structure (unbalanced brackets, too many items...)."""


# ----------------------------------------------------------------------------------------------------------------------
# limits (checked on the raw extracted answer, before anything else looks at it)
# ----------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """Size limits applied to an extracted answer before any parsing.

    Attributes:
        max_chars: longest accepted answer.
        max_depth: deepest accepted nesting of ``{}``, ``()`` and ``[]`` together.
        max_number_digits: longest accepted run of digits in one number literal.
        max_power_nesting: deepest accepted nesting of superscripts (``2^{2^{2}}`` nests 3 deep).
        max_power_digits: largest accepted estimated size, in decimal digits, of ``<number>^<number>`` literals.
        max_factorial_arg: largest accepted integer literal directly followed by ``!``.
        max_items: most items accepted in a tuple / set / list / matrix.
    """

    max_chars: int = 2000
    max_depth: int = 50
    max_number_digits: int = 400
    max_power_nesting: int = 3
    max_power_digits: int = 10_000
    max_factorial_arg: int = 1000
    max_items: int = 64


_DIGIT_RUN = re.compile(r"\d+")
# These run on the raw answer, before whitespace is collapsed, so each gap between two tokens is ONE character class
# (``[\s})\]]*``, not ``\s*[})\]]*\s*``: adjacent quantifiers over the same characters backtrack polynomially on
# long runs of spaces), and a number only starts where a digit run starts (``(?<!\d)``).
_FACTORIAL_CHAIN = re.compile(r"![\s})\]]*!")
_FACTORIAL_ARG = re.compile(r"(?<!\d)(\d+)[\s})\]]*!")
_INT_POWER = re.compile(r"(?<!\d)(\d+(?:\.\d+)?)[\s})\]]*\^[\s{(]*(\d+)")
# latex2sympy2 builds these matrices eagerly while parsing (``\operatorname{eye}(10^9)`` allocates); ``:=``
# (definition notation) is no answer
_BLOCKED_COMMANDS = re.compile(
    r"\\operatorname\s*\{\s*(?:eye|zeros|ones|diag|hstack|vstack|orth\w*|rank|rref|nullspace|inverse)\s*\}|:="
)


def _superscript_nesting(text: str) -> int:
    """Deepest nesting of superscripts, counting ``^{...}`` groups and unbraced ``^x^y`` chains."""
    best = 0
    stack: list[bool] = []  # for each open brace: does it open a superscript group?
    pending_sup = False
    chain = 0  # unbraced superscripts in a row (``2^2^2``)
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "^":
            pending_sup = True
            i += 1
            continue
        if ch.isspace():
            i += 1
            continue
        if ch == "{":
            stack.append(pending_sup)
            pending_sup = False
            chain = 0
        elif ch == "}":
            if stack:
                stack.pop()
        elif pending_sup:
            pending_sup = False
            chain += 1
            best = max(best, sum(stack) + chain)
            i += 1
            continue
        else:
            if not ch.isalnum():
                chain = 0
        best = max(best, sum(stack))
        i += 1
    return best


def screen(text: str, limits: Limits) -> str | None:
    """Return why ``text`` is refused before parsing (``"too_long"``, ``"too_deep"``, ``"huge_number"``,
    ``"power_tower"``, ``"huge_power"``, ``"factorial_chain"``, ``"huge_factorial"``, ``"blocked_command"``), or
    `None` when it passes. Linear time in ``len(text)``."""
    if len(text) > limits.max_chars:
        return "too_long"
    depth = 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "{([":
            depth += 1
            if depth > limits.max_depth:
                return "too_deep"
        elif ch in "})]":
            depth = max(0, depth - 1)
        i += 1
    for m in _DIGIT_RUN.finditer(text):
        if m.end() - m.start() > limits.max_number_digits:
            return "huge_number"
    if _superscript_nesting(text) > limits.max_power_nesting:
        return "power_tower"
    for m in _INT_POWER.finditer(text):
        base = float(m.group(1)) if len(m.group(1)) < 300 else math.inf
        exponent_digits = len(m.group(2))
        if exponent_digits > 12:
            return "huge_power"
        digits = int(m.group(2)) * math.log10(base) if base > 1 else 0.0
        if digits > limits.max_power_digits:
            return "huge_power"
    if _FACTORIAL_CHAIN.search(text):
        return "factorial_chain"
    for m in _FACTORIAL_ARG.finditer(text):
        if len(m.group(1)) > 12 or int(m.group(1)) > limits.max_factorial_arg:
            return "huge_factorial"
    if _BLOCKED_COMMANDS.search(text):
        return "blocked_command"
    return None


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


# ----------------------------------------------------------------------------------------------------------------------
# cleaning
# ----------------------------------------------------------------------------------------------------------------------

_UNICODE = {
    "\u2212": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u00d7": "\\times ",
    "\u22c5": "\\cdot ",
    "\u00b7": "\\cdot ",
    "\u03c0": "\\pi ",
    "\u221e": "\\infty ",
    "\u221a": "\\sqrt",
    "\u00b0": "^\\circ",
    "\u2264": "\\leq ",
    "\u2265": "\\geq ",
    "\u2260": "\\neq ",
    "\u222a": "\\cup ",
    "\u2229": "\\cap ",
    "\u2205": "\\emptyset ",
    "\u00a0": " ",
    "\u2009": " ",
    "\u202f": " ",
}
_ROW_BREAK = "\x00"
_UNICODE_RE = re.compile("|".join(map(re.escape, _UNICODE)))

_SIZE_CMDS = re.compile(r"\\(?:left|right|[bB]igg?[lrm]?)(?![a-zA-Z])\s*")
_NULL_DELIMS = re.compile(r"\\(?:left|right|[bB]igg?[lrm]?)\s*\.")
_STYLE_CMDS = re.compile(r"\\(?:displaystyle|textstyle|scriptstyle|limits|nolimits)(?![a-zA-Z])")
_DIGIT_THIN_SPACE = re.compile(r"(\d)\s*(?:\\[,;:! ]|~|\{,\})\s*(?=\d)")
_SPACING = re.compile(r"\\(?:[,;: ]|quad|qquad|hspace\*?\{[^{}]*\}|enspace|thinspace)(?![a-zA-Z])|~")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\degree(?![a-zA-Z])|\^\s*\{\s*\\text\{\s*o\s*\}\s*\}")
_FRAC_VARIANTS = re.compile(r"\\[dtc]frac(?![a-zA-Z])")
_RELATION_ALIASES = [
    (re.compile(r"\\le(?![a-zA-Z])"), r"\\leq"),
    (re.compile(r"\\ge(?![a-zA-Z])"), r"\\geq"),
    (re.compile(r"\\ne(?![a-zA-Z])"), r"\\neq"),
    (re.compile(r"\\leqslant(?![a-zA-Z])"), r"\\leq"),
    (re.compile(r"\\geqslant(?![a-zA-Z])"), r"\\geq"),
    (re.compile(r"\\lt(?![a-zA-Z])"), "<"),
    (re.compile(r"\\gt(?![a-zA-Z])"), ">"),
]
_CONNECTOR_TEXT = re.compile(r"\\(?:text|textnormal|mbox|mathrm|textrm)\s*\{\s*(or|and)\s*\}", re.IGNORECASE)
_EMPTY_SET = re.compile(r"\\(?:emptyset|varnothing)(?![a-zA-Z])|\\\{\s*\\\}")


def _clean(text: str) -> str:
    """Answer-wide cleanup that does not depend on structure."""
    s = _UNICODE_RE.sub(lambda m: _UNICODE[m.group(0)], text)
    s = s.replace("\\\\", _ROW_BREAK)  # protect LaTeX row breaks from the single-backslash rules below
    s = s.replace("\\$", " ").replace("$", " ")
    s = s.replace("\\(", " ").replace("\\)", " ").replace("\\[", " ").replace("\\]", " ")
    s = re.sub(r"\s+", " ", s)
    s = _NULL_DELIMS.sub("", s)
    s = _SIZE_CMDS.sub("", s)
    s = _STYLE_CMDS.sub("", s)
    s = s.replace("\\!", "")
    s = _DIGIT_THIN_SPACE.sub(r"\1", s)
    s = s.replace("{,}", ",")
    s = _SPACING.sub(" ", s)
    s = _DEGREES.sub("", s)
    s = _FRAC_VARIANTS.sub(r"\\frac", s)
    for pattern, repl in _RELATION_ALIASES:
        s = pattern.sub(repl, s)
    s = s.replace("\\%", "%")
    s = _CONNECTOR_TEXT.sub(lambda m: f" {m.group(1).lower()} ", s)
    s = re.sub(r"\s+", " ", s)
    return s.replace(_ROW_BREAK, "\\\\").strip()


# ----------------------------------------------------------------------------------------------------------------------
# brace-aware helpers
# ----------------------------------------------------------------------------------------------------------------------

_OPEN = "{(["
_CLOSE = "})]"


def _matching_close(s: str, start: int) -> int:
    """Index of the bracket closing the one at ``s[start]`` (``(``/``[`` close with either ``)`` or ``]`` so that
    intervals work; ``\\{`` pairs with ``\\}``), or -1."""
    depth = 0
    i, n = start, len(s)
    while i < n:
        ch = s[i]
        if ch == "\\" and i + 1 < n:
            nxt = s[i + 1]
            if nxt == "{":
                depth += 1
            elif nxt == "}":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 2
            continue
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
            if depth == 0:
                return i
        if depth < 0:
            return -1
        i += 1
    return -1


def _split_top(s: str, sep: str) -> list[str]:
    """Split on ``sep`` (a single character or a command like ``\\cup``) outside every bracket group."""
    parts: list[str] = []
    depth = 0
    last = 0
    i, n = 0, len(s)
    is_cmd = sep.startswith("\\")
    while i < n:
        ch = s[i]
        if ch == "\\" and i + 1 < n:
            if is_cmd and depth == 0 and s.startswith(sep, i) and not s[i + len(sep) : i + len(sep) + 1].isalpha():
                parts.append(s[last:i])
                i += len(sep)
                last = i
                continue
            nxt = s[i + 1]
            if nxt == "{":
                depth += 1
            elif nxt == "}":
                depth -= 1
            i += 2
            continue
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        elif not is_cmd and ch == sep and depth == 0:
            parts.append(s[last:i])
            last = i + 1
        i += 1
    parts.append(s[last:])
    return parts


_TEXT_CMDS = (
    "text",
    "textbf",
    "textit",
    "textrm",
    "textnormal",
    "textsf",
    "texttt",
    "mathrm",
    "mathbf",
    "mathit",
    "mathsf",
    "mathtt",
    "mbox",
    "hbox",
    "boxed",
    "fbox",
    "emph",
    "mathnormal",
)
_TEXT_CMD_RE = re.compile(r"\\(" + "|".join(_TEXT_CMDS) + r")\s*\{")


def _unwrap_text(s: str) -> str:
    """Replace ``\\text{X}``-like commands by their content (brace-matched, any nesting)."""
    for _ in range(len(s)):  # bounded: each round removes one command
        m = _TEXT_CMD_RE.search(s)
        if m is None:
            return s
        open_idx = m.end() - 1
        close = _matching_close(s, open_idx)
        if close == -1:
            raise NormalizationError("unbalanced braces in a text command")
        s = s[: m.start()] + s[open_idx + 1 : close] + s[close + 1 :]
    return s


def _whole_group(s: str, open_ch: str) -> bool:
    """Whether ``s`` is one bracket group opened by its first character (``{``, ``(`` or ``[``)."""
    return bool(s) and s[0] == open_ch and _matching_close(s, 0) == len(s) - 1


def _whole_text_command(s: str) -> str | None:
    m = _TEXT_CMD_RE.match(s)
    if m is None:
        return None
    close = _matching_close(s, m.end() - 1)
    if close != len(s) - 1:
        return None
    return s[m.end() : close]


# ----------------------------------------------------------------------------------------------------------------------
# leaves
# ----------------------------------------------------------------------------------------------------------------------

_VAR_PREFIX = re.compile(
    r"^\s*(?P<var>[a-zA-Z]|\\(?:alpha|beta|gamma|delta|theta|lambda|mu|phi|varphi|psi|omega|sigma|rho|tau))"
    r"(?:_\{?[a-zA-Z0-9]+\}?)?(?:\s*\([a-z]\))?\s*(?:=|\\in(?![a-zA-Z])|\\approx(?![a-zA-Z]))\s*(?P<rest>.+)$"
)
_UNIT_WORDS = (
    r"(?:square|sq\.?|cubic|cu\.?)?\s*(?:units?|cm|mm|km|meters?|metres?|centimeters?|millimeters?|kilometers?|"
    r"inch(?:es)?|feet|foot|ft|yards?|yd|miles?|mph|kph|km/h|m/s|degrees?|deg|radians?|rad|dollars?|cents?|"
    r"euros?|pounds?|lbs?|kg|grams?|kilograms?|ounces?|oz|liters?|litres?|ml|hours?|hrs?|minutes?|mins?|seconds?|"
    r"secs?|days?|weeks?|months?|years?|people|persons?|students?|ways?|times|apples?|books?|marbles?|coins?|"
    r"points?|steps?|pages?|boxes|balls?|cookies?|cups?|pieces?)"
)
_TEXT_UNIT = re.compile(
    r"^(?P<value>.*\S)\s*\\(?:text|textnormal|mbox|mathrm|textrm|rm)\s*\{\s*(?P<unit>[A-Za-z][A-Za-z./ ]*)\s*\}"
    r"\s*(?:\^\s*\{?\s*[23]\s*\}?)?\s*$"
)
_BARE_UNIT = re.compile(
    r"^(?P<value>.*[\d}])\s*" + _UNIT_WORDS + r"\s*(?:\^\s*\{?\s*[23]\s*\}?)?\.?\s*$", re.IGNORECASE
)
_PERCENT_WORD = re.compile(r"\s*(?:%|percent|per\s*cent)\s*$", re.IGNORECASE)
_FRAC_SHORT = [
    (re.compile(r"\\frac\s*(\d)\s*(\d)"), r"\\frac{\1}{\2}"),
    (re.compile(r"\\frac\s*(\d)\s*\{"), r"\\frac{\1}{"),
    (re.compile(r"\\frac\s*\{([^{}]*)\}\s*(\d)"), r"\\frac{\1}{\2}"),
    (re.compile(r"\\frac\s*([a-zA-Z])\s*([a-zA-Z0-9])"), r"\\frac{\1}{\2}"),
    (re.compile(r"\\sqrt\s*(\d)"), r"\\sqrt{\1}"),
    (re.compile(r"\\sqrt\s*([a-zA-Z])(?![a-zA-Z])"), r"\\sqrt{\1}"),
]
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_INFINITY = re.compile(r"^(?P<sign>[+-]?)\s*(?:\\infty|\\inf|inf|infinity|\\infinity)$", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][A-Za-z' -]*")
_SHORT_WORDS = frozenset({"yes", "no", "odd", "even", "none", "all", "true", "false", "neither", "both"})


def _strip_outer(s: str) -> str:
    """Drop wrapping ``{...}`` and ``(...)`` groups that span the whole string."""
    for _ in range(len(s)):
        s = s.strip()
        if len(s) >= 2 and (_whole_group(s, "{") or (_whole_group(s, "(") and s[-1] == ")")):
            s = s[1:-1]
            continue
        return s
    return s


def _strip_var_prefix(s: str) -> str:
    m = _VAR_PREFIX.match(s)
    if m is None:
        return s
    rest = m.group("rest")
    if "=" in rest:
        return s
    return rest.strip()


def _make_leaf(raw: str) -> Leaf:
    s = raw.strip().rstrip(".;,").strip()
    s = _strip_var_prefix(s)
    percent = False
    if _PERCENT_WORD.search(s):
        percent = True
        s = _PERCENT_WORD.sub("", s)
    for _ in range(3):
        m = _TEXT_UNIT.match(s) or _BARE_UNIT.match(s)
        if m is None:
            break
        s = m.group("value").strip()
        if _PERCENT_WORD.search(s):
            percent = True
            s = _PERCENT_WORD.sub("", s)
    s = s.strip()
    was_text = _whole_text_command(s) is not None
    s = _unwrap_text(s).strip().rstrip(".").strip()
    if _PERCENT_WORD.search(s):
        percent = True
        s = _PERCENT_WORD.sub("", s)
    for pattern, repl in _FRAC_SHORT:
        s = pattern.sub(repl, s)
    s = _strip_outer(s)
    s = _strip_var_prefix(s)
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    if s.startswith("+"):
        s = s[1:].lstrip()
    inf = _INFINITY.match(s)
    if inf:
        s = ("-" if inf.group("sign") == "-" else "") + "\\infty"
    text = re.sub(r"\s+", " ", s).strip()
    if not text:
        raise NormalizationError("empty answer")
    key = text.replace(" ", "")
    is_word = bool(_WORD.fullmatch(text)) and (
        was_text or re.search(r"[A-Za-z]{4,}", text) is not None or text.lower() in _SHORT_WORDS
    )
    if is_word:
        key = key.lower()
    return Leaf(text=text, key=key, percent=percent, is_text=is_word)


# ----------------------------------------------------------------------------------------------------------------------
# structure parsing
# ----------------------------------------------------------------------------------------------------------------------

_CHOICE = re.compile(r"^\(?\s*(?P<letter>[A-J])\s*\)(?:\s+(?P<rest>.+))?$|^(?P<single>[A-J])[.:]?$")
_MATRIX = re.compile(
    r"^\\begin\{(?P<env>[pbBvV]?matrix|smallmatrix|array)\}(?:\{[^{}]*\})?(?P<body>.*)\\end\{(?P=env)\}$", re.DOTALL
)
_OTHER_LETTER = re.compile(r"(?<![A-Za-z\\])[A-J](?![A-Za-z])")
_OR_AND = re.compile(r"\s*,?\s+(?:or|and)\s+")


def _parse_node(s: str, limits: Limits, top: bool) -> Node:
    s = s.strip().rstrip(".;").strip()
    if not s:
        raise NormalizationError("empty answer")
    inner_text = _whole_text_command(s)
    if inner_text is not None and _CHOICE.match(inner_text.strip()):
        s = inner_text.strip()
    if top:
        m = _CHOICE.match(s) or _CHOICE.match(_unwrap_text(s).strip())
        # "(B) 12" is choice B; "(B) or (C)" names several letters and is no single choice
        if m and not (m.group("rest") and _OTHER_LETTER.search(m.group("rest"))):
            letter = m.group("letter") or m.group("single")
            rest = m.group("rest")
            return Choice(letter, _parse_node(rest, limits, top=False) if rest else None)
    s = _strip_outer_braces(s)
    m = _MATRIX.match(s)
    if m:
        rows = [r for r in re.split(r"\\\\(?:\[[^\]]*\])?", m.group("body")) if r.strip() and r.strip() != "\\hline"]
        parsed = tuple(tuple(_parse_node(c, limits, top=False) for c in _split_top(r, "&")) for r in rows)
        if not parsed or sum(len(r) for r in parsed) > limits.max_items:
            raise NormalizationError("empty or oversized matrix")
        return Matrix(parsed)
    if _EMPTY_SET.fullmatch(s):
        return Coll("set", ())
    parts = _split_top(s, "\\cup")
    if len(parts) > 1:
        return Coll("union", _items(parts, limits))
    if s.startswith("\\{") and s.endswith("\\}") and _matching_close(s, 0) == len(s) - 1:
        inner = s[2:-2].strip()
        if not inner:
            return Coll("set", ())
        return Coll("set", _items(_split_top(inner, ","), limits))
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and _matching_close(s, 0) == len(s) - 1:
        items = _split_top(s[1:-1], ",")
        if len(items) >= 2:
            return Seq(s[0], s[-1], _items(items, limits))
    if _THOUSANDS.match(s.replace(" ", "")) and " " not in s:
        return _make_leaf(s)
    if re.search(r"[\d=]", s):
        s = _OR_AND.sub(",", s)
    items = _split_top(s, ",")
    if len(items) >= 2:
        prefixed = [_VAR_PREFIX.match(x) for x in items]
        if all(prefixed):
            names = [m.group("var") for m in prefixed]  # type: ignore[union-attr]
            if len(set(names)) == len(names):
                ordered = [x for _, x in sorted(zip(names, items), key=lambda t: t[0])]
                return Seq("(", ")", _items(ordered, limits))
        return Coll("list", _items(items, limits))
    stripped = _strip_var_prefix(s)
    if stripped != s:
        return _parse_node(stripped, limits, top=False)
    return _make_leaf(s)


def _strip_outer_braces(s: str) -> str:
    for _ in range(len(s)):
        s = s.strip()
        if len(s) >= 2 and _whole_group(s, "{"):
            s = s[1:-1]
            continue
        return s
    return s


def _items(parts: Sequence[str], limits: Limits) -> tuple[Node, ...]:
    if len(parts) > limits.max_items:
        raise NormalizationError(f"more than {limits.max_items} items")
    if any(not p.strip() for p in parts):
        raise NormalizationError("empty item")
    return tuple(_parse_node(p, limits, top=False) for p in parts)


def parse_answer(raw: str, limits: Limits | None = None) -> Node:
    """Normalise an extracted answer into a comparable structure.

    Raises:
        NormalizationError: when the answer is empty, unbalanced or oversized. Callers :func:`screen` first.
    """
    limits = limits or Limits()
    return _parse_node(_clean(raw), limits, top=True)


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
