"""Tokenisation of one question: its prompt (plain text or chat template), the primary continuation of each choice,
the first-token ids PM sums over, the PMI premise and the generation context."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .prompts import SYMBOLS, _answer_text, _demo_text, _header, _question_text, unconditional_premise
from .validation import _placeholder


@dataclass
class _Prepared:
    """One question, tokenised: the prompt, the primary continuation per choice, PM's first-token ids, the premise."""

    context: list[int]
    continuations: list[list[int]]
    mass_ids: list[int]
    moved_prefix: str
    premise: list[int] | None = None
    premise_continuations: list[list[int]] | None = None
    generation_context: list[int] = field(default_factory=list)


def _split_encode(tokenizer: Any, context: str, continuations: Sequence[str], add_special: bool):
    """Token ids of `context` and of each continuation as it follows the context.

    The whole string ``context + continuation`` is encoded and split after the context's tokens (so tokenizers that
    add a prefix space, like SentencePiece, see the continuation in place); when the tokenizer merges across the
    boundary the continuation is encoded alone.
    """
    ctx = tokenizer(context, add_special_tokens=add_special)["input_ids"]
    wholes = tokenizer([context + c for c in continuations], add_special_tokens=add_special)["input_ids"]
    conts = []
    for text, whole in zip(continuations, wholes):
        if len(whole) > len(ctx) and whole[: len(ctx)] == ctx:
            conts.append(list(whole[len(ctx) :]))
        else:
            conts.append(list(tokenizer(text, add_special_tokens=False)["input_ids"]))
        if not conts[-1]:
            raise ValueError(f"the surface form {text!r} encodes to no token after the prompt.")
    return list(ctx), conts


def _render(
    tokenizer: Any,
    demos: Sequence[Mapping[str, Any]],
    prompt: str,
    format: str,
    chat: bool,
    instruction: str | None = None,
) -> str:
    """The prompt text: ``header + demonstrations + prompt`` (plain), or the chat template of the demonstrations as
    user / assistant turns and the prompt as the last user turn, the header opening the first user turn."""
    if not chat:
        return _header(instruction) + "".join(_demo_text(d, format) for d in demos) + prompt
    messages: list[dict[str, str]] = []
    for d in demos:
        messages.append({"role": "user", "content": _question_text(d["question"], d["choices"], format)})
        messages.append({"role": "assistant", "content": _answer_text(d["choices"], d["answer"], format)})
    messages.append({"role": "user", "content": prompt})
    messages[0]["content"] = _header(instruction) + messages[0]["content"]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _fill(template: str, format: str, choices: Sequence[str], i: int) -> str:
    value = SYMBOLS[i] if format == "enumerated" else choices[i]
    return template.replace(_placeholder(format), value)


def _prepare(
    tokenizer: Any,
    question: str,
    choices: Sequence[str],
    demos: Sequence[Mapping[str, Any]],
    format: str,
    surface_forms: Sequence[str],
    chat: bool,
    pmi: bool,
    instruction: str | None = None,
) -> _Prepared:
    """Tokenise one question (see `_Prepared`); moves a whitespace token shared by every choice's form into the
    prompt."""
    add_special = not chat  # a rendered chat template already holds its special tokens
    context = _render(tokenizer, demos, _question_text(question, choices, format), format, chat, instruction)
    forms = [[_fill(t, format, choices, i) for i in range(len(choices))] for t in surface_forms]  # [templates][m]
    ctx, conts = _split_encode(tokenizer, context, forms[0], add_special)
    generation_context = ctx
    moved = ""
    firsts = {c[0] for c in conts}
    if len(firsts) == 1:
        # Every choice starts with the same token. When that token is whitespace that all the forms begin with (" A",
        # " B" under a character-level tokenizer), it carries no choice: move it into the prompt, score the rest.
        shared = tokenizer.decode([conts[0][0]])
        if shared and not shared.strip() and all(f.startswith(shared) and len(f) > len(shared) for f in forms[0]):
            moved = shared
            forms = [[f[len(shared) :] if f.startswith(shared) else f for f in row] for row in forms]
            context += moved
            ctx, conts = _split_encode(tokenizer, context, forms[0], add_special)
    mass_ids = [c[0] for c in conts]
    for row in forms[1:]:
        mass_ids += [c[0] for c in _split_encode(tokenizer, context, row, add_special)[1]]
    prepared = _Prepared(ctx, conts, mass_ids, moved, generation_context=generation_context)
    if pmi:
        premise = _render(tokenizer, (), unconditional_premise(choices, format), format, chat) + moved
        prepared.premise, prepared.premise_continuations = _split_encode(tokenizer, premise, forms[0], add_special)
    return prepared
