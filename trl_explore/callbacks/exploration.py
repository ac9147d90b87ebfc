"""Exploration diagnostics for any trainer: how often low-probability tokens are sampled and how likely "spark" words
are (the signals of Lp-Reg's Fig. 1, arXiv 2510.03222).

Mechanism: the callback registers a forward hook on the trained model. TRL trainers score the sampled tokens with a
fused LM head (``model(..., labels=..., fused_lm_head=True)``), whose output already holds the log-probability of every
label (``log_probs``) and the label mask (``label_mask``); the hook only reads them, so the statistics cost no extra
forward and no vocabulary pass. For trainers whose forward returns plain ``logits`` with ``labels`` in the call, the hook
computes the label log-probabilities from those logits under ``no_grad`` (one ``log_softmax`` over the logits the
forward already produced). Only forwards run with gradients enabled are counted (the training forward; TRL's no-grad
old-policy and reference passes are skipped), so each scored token is counted once per optimisation pass.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import torch
from transformers import TrainerCallback

logger = logging.getLogger(__name__)

DEFAULT_SPARK_WORDS = ("wait", "however", "perhaps", "alternatively", "but")


_TILE_FLOATS = 1 << 24  # float32 logits per tile (64 MiB) when scoring labels from plain logits


@torch.no_grad()
def _label_log_probs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``log softmax(logits)[target]`` per position, in float32 tiles of whole rows (never a float32 copy of the
    whole ``[B, T, V]`` logits). Shapes: ``logits [..., V]``, ``targets [...]`` -> ``[...]`` float32."""
    vocab = logits.shape[-1]
    flat, flat_targets = logits.reshape(-1, vocab), targets.reshape(-1, 1)
    out = torch.empty(flat.shape[0], device=logits.device, dtype=torch.float32)
    rows = max(1, _TILE_FLOATS // vocab)
    for start in range(0, flat.shape[0], rows):
        z = flat[start : start + rows].float()
        out[start : start + rows] = z.gather(1, flat_targets[start : start + rows]).squeeze(1) - torch.logsumexp(z, -1)
    return out.view(targets.shape)


def _word_variants(word: str) -> list[str]:
    variants = {word, word.capitalize(), " " + word, " " + word.capitalize()}
    return sorted(variants)


class ExplorationDiagnosticsCallback(TrainerCallback):
    """Logs, per logging step, the share of scored completion tokens with probability below each threshold and the
    mean probability of spark words when they are sampled.

    Metrics (namespace ``exploration/``):

    * ``exploration/frac_prob_lt_<t>`` for each threshold ``t`` (defaults 0.1 and 0.01): share of the scored tokens
      whose probability under the current policy is ``< t``;
    * ``exploration/spark_prob/<word>``: mean probability of the word when sampled (the joint probability of its tokens
      for multi-token words; any of ``word``, ``Word``, `` word``, `` Word``, the longest variant winning where they
      overlap), absent when not sampled in the window. Matching is on token ids, so with sub-word tokenizers a word
      can also match inside a longer word;
    * ``exploration/spark_prob_mean``: mean over every spark occurrence, and ``exploration/spark_count``: occurrences.

    Values are summed over the logging window and, under ``torch.distributed``, across processes.

    Args:
        tokenizer: tokenizer used to map spark words to token ids (default: the trainer's ``processing_class``).
        spark_words: the words to track.
        thresholds: probability thresholds.

    Usage::

        callback = ExplorationDiagnosticsCallback()
        trainer = GRPOTrainer(..., callbacks=[callback])
        callback.attach(trainer)  # optional: run first so logging integrations (wandb, ...) also see the metrics
    """

    def __init__(
        self,
        tokenizer: Any | None = None,
        spark_words: Sequence[str] = DEFAULT_SPARK_WORDS,
        thresholds: Sequence[float] = (0.1, 0.01),
    ) -> None:
        if any(not 0.0 < t <= 1.0 for t in thresholds):
            raise ValueError(f"thresholds must be in (0, 1], got {list(thresholds)}.")
        self.tokenizer = tokenizer
        self.spark_words = list(spark_words)
        self.thresholds = [float(t) for t in thresholds]
        self._patterns: dict[str, list[list[int]]] = {}
        self._handle: Any = None
        self.reset()

    # ------------------------------------------------------------------------------------------------- wiring
    def attach(self, trainer: Any) -> ExplorationDiagnosticsCallback:
        """Move this callback first in ``trainer``'s callback list (adding it if absent)."""
        callbacks = trainer.callback_handler.callbacks
        if self in callbacks:
            callbacks.remove(self)
        callbacks.insert(0, self)
        return self

    def watch(self, model: torch.nn.Module, tokenizer: Any | None = None) -> None:
        """Register the forward hook on ``model`` (called by ``on_train_begin``; usable directly)."""
        if tokenizer is not None and self.tokenizer is None:
            self.tokenizer = tokenizer
        self._build_patterns()
        if self._handle is not None:
            self._handle.remove()
        self._handle = model.register_forward_hook(self._hook, with_kwargs=True)

    def _build_patterns(self) -> None:
        self._patterns = {}
        if self.tokenizer is None:
            return
        for word in self.spark_words:
            seqs = []
            for variant in _word_variants(word):
                ids = self.tokenizer(variant, add_special_tokens=False)["input_ids"]
                if ids and ids not in seqs:
                    seqs.append(list(ids))
            self._patterns[word] = seqs

    def reset(self) -> None:
        self._n_tokens = 0.0
        self._n_below = [0.0 for _ in self.thresholds]
        self._spark_sum = {w: 0.0 for w in self.spark_words}
        self._spark_count = {w: 0.0 for w in self.spark_words}

    # -------------------------------------------------------------------------------------------- observation
    def _hook(self, module: torch.nn.Module, args: tuple, kwargs: dict[str, Any], output: Any) -> None:
        if not torch.is_grad_enabled() or not module.training:
            return
        labels = kwargs.get("labels")
        if labels is None:
            return
        log_probs = getattr(output, "log_probs", None)
        if log_probs is not None:
            mask = getattr(output, "label_mask", None)
            targets = labels[:, 1:] if log_probs.shape[-1] == labels.shape[-1] - 1 else labels
            if mask is None:
                mask = targets != -100
        else:
            logits = getattr(output, "logits", None)
            if logits is None:
                return
            targets = labels[:, 1:]
            mask = targets != -100
            log_probs = _label_log_probs(logits[:, :-1].detach(), targets.clamp(min=0))
        self.observe(log_probs.detach(), targets, mask)

    @torch.no_grad()
    def observe(self, log_probs: torch.Tensor, token_ids: torch.Tensor, mask: torch.Tensor) -> None:
        """Accumulate ``[B, T]`` label log-probs of the tokens ``token_ids`` where ``mask`` (public for tests/reuse)."""
        mask = mask.bool()
        probs = log_probs.float().exp()
        self._n_tokens += float(mask.sum())
        for i, t in enumerate(self.thresholds):
            self._n_below[i] += float(((probs < t) & mask).sum())
        if not self._patterns:
            return
        ids = token_ids.tolist()
        lp = log_probs.float().tolist()
        valid = mask.tolist()
        for word, seqs in self._patterns.items():
            longest_first = sorted(seqs, key=len, reverse=True)  # " but" wins over the "but" inside it
            for b in range(len(ids)):
                row, row_lp, row_valid = ids[b], lp[b], valid[b]
                covered = [False] * len(row)
                for seq in longest_first:
                    n = len(seq)
                    for s in range(len(row) - n + 1):
                        span = range(s, s + n)
                        if row[s : s + n] == seq and all(row_valid[i] and not covered[i] for i in span):
                            for i in span:
                                covered[i] = True
                            self._spark_sum[word] += math.exp(sum(row_lp[s : s + n]))
                            self._spark_count[word] += 1.0

    def compute(self, device: torch.device | None = None) -> dict[str, float]:
        """The window's metrics (reduced across processes under torch.distributed), then reset the window."""
        values = [self._n_tokens, *self._n_below]
        for w in self.spark_words:
            values += [self._spark_sum[w], self._spark_count[w]]
        totals = torch.tensor(values, dtype=torch.float64, device=device)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(totals)
        totals = totals.tolist()
        self.reset()
        n_tokens = totals[0]
        metrics: dict[str, float] = {}
        if n_tokens == 0:
            return metrics
        for i, t in enumerate(self.thresholds):
            metrics[f"exploration/frac_prob_lt_{t:g}"] = totals[1 + i] / n_tokens
        offset = 1 + len(self.thresholds)
        spark_sum = spark_count = 0.0
        for j, w in enumerate(self.spark_words):
            s, c = totals[offset + 2 * j], totals[offset + 2 * j + 1]
            spark_sum, spark_count = spark_sum + s, spark_count + c
            if c > 0:
                metrics[f"exploration/spark_prob/{w}"] = s / c
        metrics["exploration/spark_count"] = spark_count
        if spark_count > 0:
            metrics["exploration/spark_prob_mean"] = spark_sum / spark_count
        return metrics

    # ------------------------------------------------------------------------------------------------ events
    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kwargs):
        if model is not None:
            tokenizer = getattr(processing_class, "tokenizer", processing_class)
            self.watch(model, tokenizer)
        return control

    def on_log(self, args, state, control, logs=None, model=None, **kwargs):
        # reduce on the model's device (CUDA under NCCL, CPU under gloo)
        device = next(model.parameters()).device if model is not None else None
        metrics = self.compute(device)
        if logs is not None and metrics:
            logs.update(metrics)
            if state.log_history and state.log_history[-1].get("step") == state.global_step:
                state.log_history[-1].update(metrics)
        return control

    def on_train_end(self, args, state, control, **kwargs):
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        return control
