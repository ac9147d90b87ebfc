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

This module cleans and parses; the other steps live in their own modules and are re-exported here (the names in
``__all__``): `Limits` / `screen` in `._screen`, the parsed structures and `node_key` in `._answer_nodes`, `compare` /
`leaf_equal_cheap` / `parse_number` in `._compare`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ._answer_nodes import Choice, Coll, Leaf, Matrix, Node, NormalizationError, Seq, node_key
from ._compare import compare, leaf_equal_cheap, parse_number
from ._screen import Limits, screen

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
