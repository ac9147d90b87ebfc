"""A griffe extension that renders TRL-grammar docstrings (what `transformers` and TRL write, and this library follows)
cleanly in the API reference.

TRL documents a parameter as ``name (`float`, *optional*, defaults to `0.02`):`` followed by an indented description,
often without a Google section header (``> Parameters of ...``) or under a sentence such as ``Parameters whose defaults
differ from ...:``. The Google parser of mkdocstrings then either shows the block as raw text or puts the whole
parenthesis, backticks and asterisks included, into the table's type column. Before parsing, this extension rewrites
each such entry to Google style, ``name (float):``, expands entries that document several names at once
(``a, b (`bool`, ...):``, ``a (...) and b (...):``) into one entry per name, and inserts a ``Parameters:`` header above
a block of entries that has none. The default value is left to the Default column (read from the signature).

Enabled in mkdocs.yml (``extensions: [docs/_griffe/trl_docstrings.py]``); `normalize` is unit-tested in tests/docs.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

__all__ = ["TRLDocstrings", "normalize"]

_NAME = r"[A-Za-z_]\w*"
# one parenthesised spec: a backticked type first (or only `*optional*`), then "*optional*" / "defaults to ..." parts
_SPEC = r"\((?P<spec>(?:`[^`]+`|\*optional\*)[^()]*?(?:\([^()]*\)[^()]*?)*)\)"
_ENTRY = re.compile(rf"(?P<names>{_NAME}(?:\s*,\s*{_NAME})*)\s*{_SPEC}")
_HEADER = re.compile(r"^(?P<indent>[ \t]*)(?P<body>.+?):\s*(?P<tail>.*)$")
_SECTION = re.compile(
    r"^\s*(Args|Arguments|Parameters|Params|Attributes|Other Parameters|Keyword Args|Keyword Arguments)\s*:\s*$"
)


def _type_of(spec: str) -> str:
    """``"`int` or `None`, *optional*, defaults to `None`"`` -> ``"int or None"``."""
    head = re.split(r",\s*(?:\*optional\*|optional\b|defaults? to\b)", spec, maxsplit=1)[0]
    if head.strip() == "*optional*":
        return ""
    return re.sub(r"`([^`]*)`", r"\1", head).strip().rstrip(",")


def _parse_header(line: str) -> tuple[str, list[tuple[str, str]], str] | None:
    """``(indent, [(name, type), ...], text after the colon)`` of a TRL-grammar entry line, else ``None``."""
    match = _HEADER.match(line)
    if not match:
        return None
    body = match["body"]
    entries: list[tuple[str, str]] = []
    position = 0
    for part in _ENTRY.finditer(body):
        between = body[position : part.start()].strip()
        if between not in ("", "and", ",", ", and"):
            return None
        for name in re.split(r"\s*,\s*", part["names"]):
            entries.append((name, _type_of(part["spec"])))
        position = part.end()
    if not entries or body[position:].strip():
        return None
    return match["indent"], entries, match["tail"]


def normalize(text: str) -> str:
    """Rewrite the TRL-grammar parameter entries of a (cleaned) docstring to Google style; other text is kept."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    under_section: dict[int, bool] = {}
    while i < len(lines):
        line = lines[i]
        parsed = _parse_header(line)
        if parsed is None:
            stripped = line.strip()
            if stripped:
                indent = len(line) - len(line.lstrip())
                under_section = {k: v for k, v in under_section.items() if k <= indent}
                under_section[indent] = bool(_SECTION.match(line))
            out.append(line)
            i += 1
            continue
        indent, entries, tail = parsed
        width = len(indent)
        # the description: the following lines indented deeper than the entry (blank lines inside included)
        j = i + 1
        description: list[str] = []
        while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > width):
            description.append(lines[j])
            j += 1
        while description and not description[-1].strip():
            description.pop()
            j -= 1
        parent = max((k for k in under_section if k < width), default=None)
        if parent is None or not under_section[parent]:
            header_indent = " " * max(width - 4, 0)
            if out and out[-1].strip():
                out.append("")
            out.append(f"{header_indent}Parameters:")
            under_section = {k: v for k, v in under_section.items() if k < width}
            under_section[max(width - 4, 0)] = True
        for name, type_text in entries:
            typed = f" ({type_text})" if type_text else ""  # no type written: the signature's annotation is shown
            out.append(f"{indent}{name}{typed}:" + (f" {tail}" if tail else ""))
            out.extend(description)
        i = j
    return "\n".join(out)


class TRLDocstrings(griffe.Extension):
    """Normalize every loaded object's docstring with `normalize`."""

    def on_instance(self, *, node: Any, obj: griffe.Object, agent: Any, **kwargs: Any) -> None:
        if obj.docstring is not None and "`" in obj.docstring.value:
            obj.docstring.value = normalize(obj.docstring.value)
