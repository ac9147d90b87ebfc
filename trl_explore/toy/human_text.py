"""Real human-written English prose, offline, and machine text made from it by the detection papers' protocol.

Human side: the prose paragraphs of Python's own reference documentation, which ships with every CPython as
``pydoc_data.topics`` (the text ``help("topic")`` shows). Code samples, grammar rules and tables are dropped: a
paragraph is kept when none of its lines is indented or a ``>>>`` prompt, it has at least ``min_words`` words, it
starts with a capital letter and ends with a period, and at most 3 % of its characters are code punctuation
(``{}[]()=*:_<>|\\``). The set depends on the Python version (CPython 3.11 gives 197 paragraphs).

Machine side (Fast-DetectGPT's and Lastde's protocol, arXiv 2310.05130 §4 and arXiv 2410.06072 §4.1): the model
continues the first ``prefix_tokens`` tokens (30 in the papers) of each human text, sampled at temperature 1; the
continuation is generated to the human text's own token length, so both sides have the same length.
"""

from __future__ import annotations

import random
import re
from typing import Any

import torch

__all__ = ["human_prose_texts", "make_real_detection_texts"]

_CODE_CHARACTERS = set("{}[]()=*:_<>|\\")


def human_prose_texts(num_texts: int | None = None, *, min_words: int = 35, seed: int = 0) -> list[str]:
    """Prose paragraphs of Python's reference documentation (``pydoc_data.topics``), shuffled by ``seed``.

    Args:
        num_texts (`int`, *optional*): how many; all of them (197 on CPython 3.11) when `None`.
        min_words (`int`, *optional*, defaults to `35`): shortest paragraph kept, in whitespace-separated words.
        seed (`int`, *optional*, defaults to `0`): order of the returned paragraphs.

    Raises:
        `ValueError`: ``num_texts`` larger than the paragraphs available, or a non-positive count.
    """
    from pydoc_data.topics import topics

    paragraphs: list[str] = []
    seen: set[str] = set()
    for key in sorted(topics):
        for block in re.split(r"\n\s*\n", topics[key]):
            text = _prose(block, min_words)
            if text is not None and text not in seen:
                seen.add(text)
                paragraphs.append(text)
    random.Random(seed).shuffle(paragraphs)
    if num_texts is None:
        return paragraphs
    if isinstance(num_texts, bool) or not isinstance(num_texts, int) or num_texts < 1:
        raise ValueError(f"`num_texts` must be a positive integer, got {num_texts!r}.")
    if num_texts > len(paragraphs):
        raise ValueError(
            f"`num_texts` is {num_texts}, but this Python's documentation has {len(paragraphs)} prose paragraphs."
        )
    return paragraphs[:num_texts]


def _prose(block: str, min_words: int) -> str | None:
    """The block joined into one line when it is a prose paragraph, else `None`."""
    lines = block.split("\n")
    if any(line.startswith("   ") or line.lstrip().startswith(">>>") for line in lines):  # code, grammar, tables
        return None
    text = " ".join(line.strip() for line in lines).strip()
    if len(text.split()) < min_words or not text[0].isupper() or not text.endswith("."):
        return None
    if sum(ch in _CODE_CHARACTERS for ch in text) > 0.03 * len(text):
        return None
    return text


@torch.no_grad()
def make_real_detection_texts(
    model: Any,
    tokenizer: Any,
    num_texts: int = 150,
    *,
    prefix_tokens: int = 30,
    max_tokens: int = 128,
    seed: int = 0,
    temperature: float = 1.0,
    batch_size: int = 16,
    show_progress: bool = True,
) -> dict[str, list[str]]:
    """``{"human": [...], "machine": [...]}``: human prose and, for each text, the model's continuation of its first
    ``prefix_tokens`` tokens to the same token length (at most ``max_tokens``).

    Each human text is cut to at most ``max_tokens`` tokens (at a token boundary); the machine text is its first
    ``prefix_tokens`` tokens followed by ``n - prefix_tokens`` sampled tokens, where ``n`` is the human text's token
    count (EOS is suppressed until then, as the protocol asks for a continuation of the full length). Plain text, no
    chat template: the papers continue raw text.

    Args:
        model: a causal LM (the scoring model when white-box detection is measured).
        tokenizer: its tokenizer.
        num_texts (`int`, *optional*, defaults to `150`): texts per side.
        prefix_tokens (`int`, *optional*, defaults to `30`): tokens of the human text the model continues.
        max_tokens (`int`, *optional*, defaults to `128`): longest text, in tokens.
        seed (`int`, *optional*, defaults to `0`): which paragraphs and the sampling (the global torch RNG state is
            restored afterwards).
        temperature (`float`, *optional*, defaults to `1.0`): sampling temperature.
        batch_size (`int`, *optional*, defaults to `16`): texts per ``generate`` call.
        show_progress (`bool`, *optional*, defaults to `True`): a progress bar over the batches.
    """
    from tqdm.auto import tqdm

    if isinstance(prefix_tokens, bool) or not isinstance(prefix_tokens, int) or prefix_tokens < 1:
        raise ValueError(f"`prefix_tokens` must be a positive integer, got {prefix_tokens!r}.")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens <= prefix_tokens:
        raise ValueError(f"`max_tokens` must be an integer > prefix_tokens ({prefix_tokens}), got {max_tokens!r}.")
    if not temperature > 0:
        raise ValueError(f"`temperature` must be > 0, got {temperature!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
    paragraphs = human_prose_texts(None, seed=seed)
    encoded = [tokenizer(text, add_special_tokens=False)["input_ids"][:max_tokens] for text in paragraphs]
    usable = [ids for ids in encoded if len(ids) > prefix_tokens]
    if num_texts > len(usable):
        raise ValueError(
            f"`num_texts` is {num_texts}, but only {len(usable)} paragraphs are longer than {prefix_tokens} tokens."
        )
    usable = usable[:num_texts]
    device = next(model.parameters()).device
    rng_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    human, machine = [], []
    try:
        order = sorted(range(len(usable)), key=lambda i: len(usable[i]))  # similar lengths share a batch
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        for batch in tqdm(batches, desc="machine texts", disable=not show_progress):
            prefix = torch.tensor([usable[i][:prefix_tokens] for i in batch], device=device)
            lengths = [len(usable[i]) - prefix_tokens for i in batch]
            out = model.generate(
                input_ids=prefix,
                attention_mask=torch.ones_like(prefix),
                do_sample=True,
                temperature=temperature,
                top_k=0,
                top_p=1.0,
                max_new_tokens=max(lengths),
                min_new_tokens=max(lengths),
                pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
            )
            for row, i in enumerate(batch):
                ids = out[row, : prefix_tokens + lengths[row]].tolist()
                human.append(tokenizer.decode(usable[i], skip_special_tokens=True))
                machine.append(tokenizer.decode(ids, skip_special_tokens=True))
    finally:
        torch.random.set_rng_state(rng_state)
    return {"human": human, "machine": machine}
