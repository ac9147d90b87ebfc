"""Rows of a generation batch as standalone records, and appending such rows to a batch.

A generation batch is TRL's ``_generate_and_score_completions`` output: a dict of tensors with one row per completion
(``prompt_ids`` / ``prompt_mask`` ``[B, P]`` left-padded; ``completion_ids``, ``completion_mask``, ``tool_mask``,
per-token log-probs ``[B, T]`` right-padded; per-row values ``[B]`` or ``[B, 1]``; scalars such as
``num_items_in_batch``). `take_row` copies one row to the CPU without its padding; `append_rows` pads a batch and
rows to common widths and concatenates them. Replay (SPEAR) stores rows this way and mixes them into a later batch.

Multimodal batches (image tensors, lists) are not supported: `take_row` and `append_rows` raise on them.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["PROMPT_KEYS", "append_rows", "completion_length", "take_row"]

# Left-padded [B, P] keys; every other [B, T] key is right-padded along the completion
PROMPT_KEYS = ("prompt_ids", "prompt_mask")
# Padding values of TRL's tensors (`_generate_and_score_completions`); other completion-shaped keys are padded with 0
_PAD_VALUES = {"prompt_mask": 0, "completion_mask": 0, "tool_mask": 1}


def completion_length(completion_mask: torch.Tensor) -> int:
    """Length of a right-padded completion row: one past its last position with ``completion_mask > 0`` (0 if none)."""
    positions = torch.nonzero(completion_mask > 0, as_tuple=False)
    return 0 if positions.numel() == 0 else int(positions.max()) + 1


def _kind(key: str, value: Any, width: int, batch: int) -> str:
    """How a batch entry is laid out: ``prompt``, ``completion`` (``[B, T]``), ``row`` (``[B]``), ``row2d``
    (``[B, 1]``) or ``scalar`` (0-d)."""
    if not isinstance(value, torch.Tensor):
        raise ValueError(
            f"Batch entry {key!r} is a {type(value).__name__}; only tensors can be moved between batches "
            "(multimodal batches are not supported)."
        )
    if value.dim() == 0:
        return "scalar"
    if value.size(0) != batch:
        raise ValueError(f"Batch entry {key!r} has {value.size(0)} rows, expected {batch}.")
    if key in PROMPT_KEYS:
        return "prompt"
    if value.dim() == 1:
        return "row"
    if value.dim() == 2 and value.size(1) == width:
        return "completion"
    if value.dim() == 2 and value.size(1) == 1:
        return "row2d"
    raise ValueError(
        f"Batch entry {key!r} of shape {tuple(value.shape)} is neither per row nor per completion token "
        "(multimodal batches are not supported)."
    )


def take_row(batch: dict[str, Any], index: int, skip: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """Row ``index`` of ``batch`` as CPU tensors without padding: prompt keys ``[P_i]``, completion keys ``[T_i]``,
    per-row keys 0-d (``[B]``) or ``[1]`` (``[B, 1]``). Scalars and the keys in ``skip`` are left out."""
    width = batch["completion_ids"].size(1)
    size = batch["completion_ids"].size(0)
    prompt_mask = batch["prompt_mask"][index]
    valid = torch.nonzero(prompt_mask > 0, as_tuple=False)
    prompt_start = int(valid.min()) if valid.numel() else prompt_mask.numel()
    length = completion_length(batch["completion_mask"][index])
    row: dict[str, torch.Tensor] = {}
    for key, value in batch.items():
        if key in skip:
            continue
        kind = _kind(key, value, width, size)
        if kind == "scalar":
            continue
        item = value[index].detach()
        if kind == "prompt":
            item = item[prompt_start:]
        elif kind == "completion":
            item = item[:length]
        row[key] = item.cpu().clone()
    return row


def _pad_value(key: str, pad_token_id: int) -> int:
    return pad_token_id if key in ("prompt_ids", "completion_ids") else _PAD_VALUES.get(key, 0)


def _round_up(n: int, multiple: int | None) -> int:
    return n if not multiple else -(-n // multiple) * multiple


def append_rows(
    batch: dict[str, Any],
    rows: list[dict[str, torch.Tensor]],
    pad_token_id: int,
    pad_to_multiple_of: int | None = None,
    fill_missing: dict[str, float] | None = None,
) -> dict[str, Any]:
    """``batch`` with ``rows`` appended at the end (a new dict; ``batch`` is not modified).

    Prompt keys are left-padded and completion keys right-padded to the widest of the batch and the rows (rounded up
    to ``pad_to_multiple_of``), with TRL's padding values (pad id, mask 0, ``tool_mask`` 1, others 0). Every row must
    hold exactly the batch's per-row keys; a key the rows carry but the batch lacks is allowed only when listed in
    ``fill_missing`` (its value for the batch's own rows, e.g. NaN behaviour log-probs, "current policy"). A row whose
    ``advantages`` is 0-d joins a batch of per-token advantages broadcast along its completion. Scalars (e.g.
    ``num_items_in_batch``) are kept as they are.
    """
    if not rows:
        return dict(batch)
    fill_missing = fill_missing or {}
    size = batch["completion_ids"].size(0)
    width = batch["completion_ids"].size(1)
    device = batch["completion_ids"].device
    kinds = {key: _kind(key, value, width, size) for key, value in batch.items()}
    batch_keys = {k for k, kind in kinds.items() if kind != "scalar"}
    for i, row in enumerate(rows):
        missing = batch_keys - set(row)
        extra = set(row) - batch_keys
        if missing or (extra - set(fill_missing)):
            raise ValueError(
                f"Row {i} does not match the batch: missing keys {sorted(missing)}, unknown keys "
                f"{sorted(extra - set(fill_missing))}."
            )
    out = dict(batch)
    for key in sorted(set(rows[0]) - batch_keys):  # keys only the rows carry: fill the batch's own rows
        template = rows[0][key]
        shape = (size, width) if template.dim() == 1 and key not in PROMPT_KEYS else (size, *template.shape)
        out[key] = torch.full(shape, fill_missing[key], dtype=template.dtype, device=device)
        kinds[key] = _kind(key, out[key], width, size)
    lengths = [int(r["completion_ids"].numel()) for r in rows]
    new_width = _round_up(max([width, *lengths]), pad_to_multiple_of)
    prompt_width = batch["prompt_ids"].size(1)
    new_prompt_width = _round_up(max([prompt_width, *(int(r["prompt_ids"].numel()) for r in rows)]), pad_to_multiple_of)
    for key, kind in kinds.items():
        if kind == "scalar":
            continue
        value = out[key]
        pad = _pad_value(key, pad_token_id)
        parts: list[torch.Tensor] = []
        if kind == "prompt":
            grow = new_prompt_width - value.size(1)
            parts.append(torch.nn.functional.pad(value, (grow, 0), value=pad) if grow else value)
            for r in rows:
                item = r[key].to(device=device, dtype=value.dtype)
                parts.append(torch.nn.functional.pad(item, (new_prompt_width - item.numel(), 0), value=pad)[None])
        elif kind == "completion":
            grow = new_width - value.size(1)
            parts.append(torch.nn.functional.pad(value, (0, grow), value=pad) if grow else value)
            for r, length in zip(rows, lengths):
                item = r[key].to(device=device, dtype=value.dtype)
                if item.dim() == 0:  # a per-row value joining per-token values (e.g. advantages): broadcast
                    item = item.expand(length)
                parts.append(torch.nn.functional.pad(item, (0, new_width - item.numel()), value=pad)[None])
        elif kind == "row":
            parts.append(value)
            parts.extend(r[key].to(device=device, dtype=value.dtype).reshape(1) for r in rows)
        else:  # row2d
            parts.append(value)
            parts.extend(r[key].to(device=device, dtype=value.dtype).reshape(1, 1) for r in rows)
        out[key] = torch.cat(parts, dim=0)
    return out
