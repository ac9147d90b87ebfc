"""Per-token statistics of texts under a causal LM (and a reference LM), for the zero-shot detectors.

One forward of the model's **backbone** per batch of texts (``model.base_model``: the final hidden states, never the
``[B, T, V]`` logits), then `trl_explore.kernels.detection_stats` over the texts' scored positions, packed together:
one ``[rows, V]`` logits tile per model at a time. Works for any Hugging Face causal LM with an output embedding
(tied or untied head, with a bias, a logit scale or a final soft-capping, read from the config as TRL's fused head
reads them), PEFT-wrapped or not.

Each text is scored on its own unpadded length: token ``t`` (``t >= 1``) is scored from the hidden state at
``t − 1`` of a right-padded batch, whose attention never reaches the padding. K samples per position (Lastde++ and
Fast-DetectGPT's sampling) are drawn from the reference distribution with uniforms drawn per text from a generator
seeded by ``(seed, the text's token ids)``: a text's samples do not depend on the batch it is scored in.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..kernels._tiled_head import TiledHead
from ..kernels.detection_stats import detection_stats

logger = logging.getLogger(__name__)

__all__ = ["TextStatistics", "TokenStatisticsScorer", "backbone_of", "lm_head_of"]


@dataclass
class TextStatistics:
    """What the detectors read from the scoring (and reference) model for one text: ``n`` scored tokens.

    Attributes:
        token_ids: ``[n + 1]`` the text's token ids (the first one is not scored).
        label_logprob: ``[n]`` ``log p(x_t | x_<t)``.
        label_rank: ``[n]`` long, 1 for the most likely token (tied logits: the scorer's ``rank_ties``).
        entropy: ``[n]`` entropy of p.
        expected_logp: ``[n]`` ``Σ_v q(v) log p(v)`` (q: the reference distribution, or p).
        expected_logp2: ``[n]`` ``Σ_v q(v) (log p(v))²``.
        sample_ids: ``[n, K]`` tokens drawn from q with the text's prefix fixed (``K = 0``: none).
        sample_logprobs: ``[n, K]`` their log-probabilities under p.
    """

    token_ids: Tensor
    label_logprob: Tensor
    label_rank: Tensor
    entropy: Tensor
    expected_logp: Tensor
    expected_logp2: Tensor
    sample_ids: Tensor
    sample_logprobs: Tensor

    @property
    def num_tokens(self) -> int:
        """Number of scored tokens ``n``."""
        return int(self.label_logprob.shape[0])

    @classmethod
    def empty(cls, token_ids: Sequence[int], num_samples: int) -> TextStatistics:
        """Statistics of a text with fewer than two tokens (nothing to score)."""
        f = torch.zeros(0, dtype=torch.float32)
        return cls(
            torch.tensor(list(token_ids), dtype=torch.long),
            f,
            torch.zeros(0, dtype=torch.long),
            f,
            f,
            f,
            torch.zeros((0, num_samples), dtype=torch.long),
            torch.zeros((0, num_samples), dtype=torch.float32),
        )


def _unwrap(model: Any) -> Any:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _logit_scale(config: Any) -> float:
    """The multiplier applied to the logits before soft-capping, from the config (the attributes TRL 1.16's fused LM
    head reads: ``logit_scale``, ``output_multiplier``, ``lm_head_multiplier``, ``1 / logits_scaling``)."""
    for name in ("logit_scale", "output_multiplier", "lm_head_multiplier"):
        value = getattr(config, name, None)
        if value is not None:
            return float(value)
    scaling = getattr(config, "logits_scaling", None)
    if scaling is not None:
        return float(scaling) if getattr(config, "model_type", None) == "hyperclovax" else 1.0 / float(scaling)
    return 1.0


def lm_head_of(model: Any) -> TiledHead:
    """The `TiledHead` of a causal LM: its output embedding's weight and bias, logit scale and final soft-capping."""
    model = _unwrap(model)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is None or not isinstance(getattr(head, "weight", None), Tensor):
        raise ValueError(f"`model` ({type(model).__name__}) has no output embedding (LM head) to score with.")
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    softcap = getattr(config, "final_logit_softcapping", None)
    bias = getattr(head, "bias", None)
    return TiledHead(
        head.weight,
        bias if isinstance(bias, Tensor) else None,
        _logit_scale(config),
        None if softcap is None else float(softcap),
    )


def backbone_of(model: Any) -> torch.nn.Module:
    """The module returning the final hidden states (``last_hidden_state``) of a causal LM: ``model.base_model``."""
    model = _unwrap(model)
    backbone = getattr(model, "base_model", None)
    if backbone is None or backbone is model:
        raise ValueError(
            f"`model` ({type(model).__name__}) must be a causal LM with a backbone (`base_model`), e.g. a "
            "`...ForCausalLM` from `AutoModelForCausalLM`."
        )
    return backbone


def _device_of(model: Any) -> torch.device:
    return next(_unwrap(model).parameters()).device


@contextlib.contextmanager
def _eval_mode(*models: Any) -> Iterator[None]:
    """Dropout off while scoring; each model's training flag restored afterwards."""
    flags = [(m, m.training) for m in models if m is not None]
    try:
        for m, _ in flags:
            m.eval()
        yield
    finally:
        for m, flag in flags:
            m.train(flag)


def text_seed(token_ids: Sequence[int], seed: int) -> int:
    """A 63-bit seed from ``seed`` and the token ids (stable across runs, platforms and batch layouts)."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(int(seed).to_bytes(8, "little", signed=True))
    digest.update(torch.tensor(list(token_ids), dtype=torch.int64).numpy().tobytes())
    return int.from_bytes(digest.digest(), "little") & (2**63 - 1)


class TokenStatisticsScorer:
    """Computes `TextStatistics` for token-id sequences in batches (see the module docstring).

    Args:
        model: the scoring causal LM.
        reference_model: the model q is taken from (Fast-DetectGPT / Lastde++'s sampling model); ``None``: q = p.
        num_samples: K samples per position (0: none).
        seed: seed of the per-text samples.
        pad_token_id: id used for right padding (any id: padded positions are never attended to nor scored).
        rank_ties: how logits tied with the label's count in its rank: ``"min"`` or ``"released"``
            (`trl_explore.kernels.detection_stats`).
    """

    def __init__(
        self,
        model: Any,
        reference_model: Any = None,
        num_samples: int = 0,
        seed: int = 0,
        pad_token_id: int = 0,
        rank_ties: str = "min",
    ) -> None:
        self.model, self.reference_model = model, reference_model
        self.num_samples, self.seed, self.pad_token_id = num_samples, seed, pad_token_id
        self.rank_ties = rank_ties
        self.device = _device_of(model)
        self.backbone, self.head = backbone_of(model), lm_head_of(model)
        self.reference_backbone = self.reference_head = None
        if reference_model is not None:
            self.reference_backbone = backbone_of(reference_model)
            head = lm_head_of(reference_model)
            if head.vocab_size != self.head.vocab_size:
                raise ValueError(
                    f"`reference_model` must share the scoring model's vocabulary: its head has {head.vocab_size} "
                    f"rows, the scoring model's {self.head.vocab_size}."
                )
            if head.weight.device != self.device:  # one copy of its head next to the scoring model, made once
                head = TiledHead(
                    head.weight.to(self.device),
                    None if head.bias is None else head.bias.to(self.device),
                    head.logit_scale,
                    head.softcap,
                )
            self.reference_head = head

    def _hidden(self, backbone: torch.nn.Module, ids: Tensor, mask: Tensor) -> Tensor:
        out = backbone(input_ids=ids, attention_mask=mask, use_cache=False)
        hidden = getattr(out, "last_hidden_state", None)
        if hidden is None:
            raise ValueError(f"the backbone {type(backbone).__name__} returned no `last_hidden_state`.")
        return hidden

    @torch.no_grad()
    def __call__(self, batch: Sequence[Sequence[int]], moments: bool = True) -> list[TextStatistics]:
        """Statistics of a batch of token-id sequences, each of at least 2 tokens (``moments=False``: no entropy
        and no moments under q — NaN — for the detectors that read only the labels' log-probs and ranks)."""
        lengths = [len(ids) for ids in batch]
        width = max(lengths)
        ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, row in enumerate(batch):
            ids[i, : len(row)] = torch.tensor(list(row), dtype=torch.long)
            mask[i, : len(row)] = 1
        scored = (mask[:, 1:] == 1).to(self.device)  # [B, T − 1] positions whose next token is scored
        labels = ids[:, 1:].to(self.device)[scored]  # [N]
        with _eval_mode(self.model, self.reference_model):
            hidden = self._hidden(self.backbone, ids.to(self.device), mask.to(self.device))
            hidden = hidden.to(self.device)[:, :-1][scored]  # [N, H]
            ref_hidden = None
            if self.reference_backbone is not None:
                ref_device = _device_of(self.reference_model)
                ref_hidden = self._hidden(self.reference_backbone, ids.to(ref_device), mask.to(ref_device))
                ref_hidden = ref_hidden.to(self.device)[:, :-1][scored]
            uniforms = None
            if self.num_samples:
                parts = []
                for row in batch:  # per-text uniforms: the samples do not depend on the batch
                    gen = torch.Generator().manual_seed(text_seed(row, self.seed))
                    parts.append(torch.rand((len(row) - 1, self.num_samples), generator=gen))
                uniforms = torch.cat(parts).to(self.device)
            stats = detection_stats(
                hidden,
                self.head,
                labels,
                reference_hidden=ref_hidden,
                reference_head=self.reference_head,
                uniforms=uniforms,
                moments=moments,
                rank_ties=self.rank_ties,
            )
        out, start = [], 0
        for row, n in zip(batch, lengths):
            sl = slice(start, start + n - 1)
            start += n - 1
            out.append(
                TextStatistics(
                    token_ids=torch.tensor(list(row), dtype=torch.long),
                    label_logprob=stats.label_logprob[sl].cpu(),
                    label_rank=stats.label_rank[sl].cpu(),
                    entropy=stats.entropy[sl].cpu(),
                    expected_logp=stats.expected_logp[sl].cpu(),
                    expected_logp2=stats.expected_logp2[sl].cpu(),
                    sample_ids=stats.sample_ids[sl].cpu(),
                    sample_logprobs=stats.sample_logprobs[sl].cpu(),
                )
            )
        return out
