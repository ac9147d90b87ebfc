"""Numeric-token Fourier head for causal language models (Gillman et al., ICLR 2025, arXiv 2410.22269, Section 5).

A causal LM whose vocabulary contains an ordered list of number tokens (``"0"``, ``"1"``, ..., or quantised values)
gets an output layer in which the distribution *within* that group follows a smooth Fourier density:

    hybrid   logits[v]         = lm_head(h)[v]                                     for v not a number token
             logits[num_ids]   = logsumexp(lm_head(h)[num_ids]) + log_softmax(fourier(h))
             so the group's total mass is the LM head's, and its shape is the Fourier pmf over the ordered bins
             (``log_softmax`` of the FourierHead output = ``log((P + eps) / (1 + m eps))``, which keeps the group's
             mass exactly equal to the LM head's).
    full     logits[num_ids]   = fourier(h);  logits[v] = finfo.min elsewhere  (bins as classes: the model can only
             emit number tokens; use it with ``max_new_tokens`` set, it cannot emit EOS)

:class:`FourierNumericHead` subclasses ``nn.Linear`` so that its ``weight`` is the original LM head weight
(``lm_head.weight`` in the state dict, as before) and code that reads ``get_output_embeddings().weight`` keeps working.
Its Fourier part is the submodule ``fourier`` (a :class:`~trl_explore.modules.FourierHead`).

Usage::

    head = attach_numeric_head(model, number_token_ids, num_frequencies=16)   # unties embeddings, records config
    model.save_pretrained(path)
    model = load_numeric_head_model(path)                                     # identical logits
    # PEFT: LoraConfig(..., modules_to_save=numeric_head_modules_to_save(model))  -> the head trains, LoRA skips it

TRL's fused LM head (``SFTTrainer`` / ``GRPOTrainer``) reads ``lm_head.weight`` directly and would bypass the Fourier
part; :func:`numeric_head_projection` is the projection that routes it through the head, tile by tile, in a
`trl_explore.kernels.fused_head.fused_head` block (``FourierSFTTrainer`` does this for you)::

    with fused_head(projection=numeric_head_projection(model)):
        out = model(input_ids=ids, labels=labels, fused_lm_head=True)
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import torch
from torch import Tensor, nn

from ..kernels._tiled_head import NumberGroup, TiledHead
from .fourier_head import FourierHead, check_nyquist

__all__ = [
    "CONFIG_KEY",
    "FourierNumericHead",
    "attach_numeric_head",
    "find_numeric_head",
    "load_numeric_head_model",
    "numeric_head_modules_to_save",
    "numeric_head_projection",
]

logger = logging.getLogger(__name__)

CONFIG_KEY = "fourier_numeric_head"
MODES = ("hybrid", "full")


class FourierNumericHead(nn.Linear):
    """LM output layer whose number-token group follows a Fourier density.

    Args:
        in_features (`int`):
            Hidden size.
        vocab_size (`int`):
            Output vocabulary size (rows of the LM head).
        number_token_ids (`list[int]`):
            Token ids of the ordered bins, lowest value first; bin ``j`` of the Fourier head is token
            ``number_token_ids[j]``. At least 2, distinct, each in ``[0, vocab_size)``.
        num_frequencies (`int`):
            Frequencies ``N`` of the Fourier head, below the Nyquist limit ``N < len(number_token_ids) / 2``.
        mode (`str`, *optional*, defaults to `"hybrid"`):
            `"hybrid"` (LM head for everything, Fourier shape inside the number group) or `"full"` (only number
            tokens, with the Fourier pmf).
        regularization_gamma (`float`, *optional*, defaults to `0.0`):
            Smoothness penalty weight of the Fourier head (paper: `1e-6`); added to the loss by
            :class:`~trl_explore.trainers.fourier_head_trainer.FourierSFTTrainer`.
        eps (`float`, *optional*, defaults to `1e-5`):
            Fourier head's probability floor.
        exact_bin_integration (`bool`, *optional*, defaults to `False`):
            Exact bin integrals instead of the midpoint rule.
        bias (`bool`, *optional*, defaults to `False`):
            Whether the LM head has a bias.

    The Fourier part keeps float32 parameters even when the LM head is bf16/fp16 (its input is cast to them).

    Output: logits ``[..., vocab_size]`` in the LM head's dtype (the Fourier math runs in float32 and the number
    group is written back in that dtype; in `"full"` mode the dtype is float32).
    """

    def __init__(
        self,
        in_features: int,
        vocab_size: int,
        number_token_ids: list[int],
        num_frequencies: int,
        mode: str = "hybrid",
        regularization_gamma: float = 0.0,
        eps: float = 1e-5,
        exact_bin_integration: bool = False,
        bias: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_features, vocab_size, bias=bias, device=device, dtype=dtype)
        ids = [int(i) for i in number_token_ids]
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if len(ids) < 2:
            raise ValueError(f"number_token_ids must hold at least 2 token ids, got {len(ids)}")
        if len(set(ids)) != len(ids):
            raise ValueError("number_token_ids must be distinct")
        if min(ids) < 0 or max(ids) >= vocab_size:
            raise ValueError(f"number_token_ids must lie in [0, {vocab_size}), got range [{min(ids)}, {max(ids)}]")
        check_nyquist(num_frequencies, len(ids), ("num_frequencies", "len(number_token_ids)"))
        self.mode = mode
        self.fourier = FourierHead(
            in_features, len(ids), num_frequencies, regularization_gamma, eps, exact_bin_integration
        ).to(device=device)
        self.register_buffer("number_token_ids", torch.tensor(ids, dtype=torch.long, device=device), persistent=False)

    @classmethod
    def from_linear(
        cls, linear: nn.Linear, number_token_ids: list[int], num_frequencies: int, **kwargs: Any
    ) -> FourierNumericHead:
        """Wrap an existing LM head; its weight (and bias) is *cloned*, so a tied input embedding stays untouched."""
        head = cls(
            linear.in_features,
            linear.out_features,
            number_token_ids,
            num_frequencies,
            bias=linear.bias is not None,
            device=linear.weight.device,
            dtype=linear.weight.dtype,
            **kwargs,
        )
        with torch.no_grad():
            head.weight.copy_(linear.weight)
            if linear.bias is not None:
                head.bias.copy_(linear.bias)
        head.weight.requires_grad_(linear.weight.requires_grad)
        return head

    def head_config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this head (recorded in the model config)."""
        f = self.fourier
        return {
            "number_token_ids": self.number_token_ids.tolist(),
            "num_frequencies": f.num_frequencies,
            "mode": self.mode,
            "regularization_gamma": f.regularization_gamma,
            "eps": f.eps,
            "exact_bin_integration": f.exact_bin_integration,
        }

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mode={self.mode!r}, num_numbers={self.number_token_ids.numel()}"

    def tiled_head(self, weight: Tensor, bias: Tensor | None, logit_scale: float, softcap: float | None) -> TiledHead:
        """This head as the tiled kernels project it: the LM head ``weight``/``bias`` (as the caller gathered them)
        with the number group's logits from the Fourier part (the same logits as :meth:`forward`, in float32)."""

        def group_log_probs(hidden: Tensor) -> Tensor:
            fourier_logp = self.fourier(hidden)  # [n, m] float32, a module call (hooks see it)
            return torch.log_softmax(fourier_logp, dim=-1) if self.mode == "hybrid" else fourier_logp

        group = NumberGroup(self.number_token_ids, self.mode, group_log_probs)
        return TiledHead(weight, bias, float(logit_scale), None if softcap is None else float(softcap), group)

    def forward(self, hidden: Tensor) -> Tensor:
        """``hidden [..., in_features]`` -> logits ``[..., vocab_size]``."""
        fourier_logp = self.fourier(hidden)  # [..., m] float32
        ids = self.number_token_ids
        if self.mode == "full":
            logits = torch.full(
                (*hidden.shape[:-1], self.out_features), torch.finfo(torch.float32).min, device=hidden.device
            )
            return logits.index_copy(-1, ids, fourier_logp)
        logits = super().forward(hidden)  # [..., V]
        group = logits.index_select(-1, ids).float()  # [..., m]
        group_mass = torch.logsumexp(group, dim=-1, keepdim=True)  # [..., 1]
        new_group = group_mass + torch.log_softmax(fourier_logp, dim=-1)  # [..., m]
        return logits.index_copy(-1, ids, new_group.to(logits.dtype))


def find_numeric_head(model: nn.Module) -> tuple[str, FourierNumericHead] | None:
    """``(qualified name, module)`` of the first :class:`FourierNumericHead` in ``model``, or ``None``."""
    for name, module in model.named_modules():
        if isinstance(module, FourierNumericHead):
            return name, module
    return None


def numeric_head_projection(model: nn.Module):
    """The fused-head projection (`trl_explore.kernels.fused_head.HeadProjection`) of a model with a
    :class:`FourierNumericHead`: maps the head weight TRL's fused LM head passes to the numeric head that owns it
    (the active copy under PEFT's ``modules_to_save``). Raises when the model has no numeric head, and at call time
    when the weight belongs to none (e.g. an FSDP2-sharded head, which the fused path gathers into a new tensor)."""
    heads = [m for m in model.modules() if isinstance(m, FourierNumericHead)]
    if not heads:
        raise ValueError("model has no FourierNumericHead; call attach_numeric_head first")

    def projection(weight: Tensor, bias: Tensor | None, logit_scale: float, softcap: float | None) -> TiledHead:
        for head in heads:
            if head.weight is weight:
                return head.tiled_head(weight, bias, logit_scale, softcap)
        raise ValueError(
            "the fused LM head's weight belongs to no FourierNumericHead of the model (a sharded or replaced head is "
            "not supported by the numeric-head projection)."
        )

    return projection


def _untie(model: nn.Module) -> None:
    config = getattr(model, "config", None)
    if config is None:
        return
    configs = [config]
    if hasattr(config, "get_text_config"):
        text = config.get_text_config()
        if text is not config:
            configs.append(text)
    for cfg in configs:
        if getattr(cfg, "tie_word_embeddings", False):
            cfg.tie_word_embeddings = False


def attach_numeric_head(
    model: nn.Module,
    number_token_ids: list[int],
    num_frequencies: int,
    mode: str = "hybrid",
    regularization_gamma: float = 0.0,
    eps: float = 1e-5,
    exact_bin_integration: bool = False,
) -> FourierNumericHead:
    """Replace ``model``'s output layer by a :class:`FourierNumericHead` (in place) and return the new head.

    The LM head weight is cloned (so tied input embeddings become untied, and ``tie_word_embeddings`` is set to
    ``False`` in the config), and the head's arguments are recorded in ``model.config.fourier_numeric_head`` so that
    ``save_pretrained`` stores them and :func:`load_numeric_head_model` rebuilds the head. Attach before wrapping the
    model with PEFT or a trainer.
    """
    old = model.get_output_embeddings()
    if isinstance(old, FourierNumericHead):
        raise ValueError("model already has a FourierNumericHead")
    if not isinstance(old, nn.Linear):
        raise ValueError(f"model's output embeddings must be an nn.Linear, got {type(old).__name__}")
    head = FourierNumericHead.from_linear(
        old,
        number_token_ids,
        num_frequencies,
        mode=mode,
        regularization_gamma=regularization_gamma,
        eps=eps,
        exact_bin_integration=exact_bin_integration,
    )
    _untie(model)
    model.set_output_embeddings(head)
    if hasattr(model, "config"):
        setattr(model.config, CONFIG_KEY, head.head_config())
    return head


def numeric_head_modules_to_save(model: nn.Module) -> list[str]:
    """Names for PEFT's ``modules_to_save`` so that the head (LM weight and Fourier part) is fully trained and saved,
    and LoRA does not wrap it."""
    found = find_numeric_head(model)
    if found is None:
        raise ValueError("model has no FourierNumericHead; call attach_numeric_head first")
    return [found[0].split(".")[-1]]


def _checkpoint_tensors(path: str, prefix: str, **hub_kwargs: Any) -> dict[str, Tensor]:
    """Tensors whose key starts with ``prefix`` from a (possibly sharded) safetensors checkpoint, local or Hub."""
    from safetensors.torch import load_file
    from transformers.utils import cached_file

    index = cached_file(path, "model.safetensors.index.json", _raise_exceptions_for_missing_entries=False, **hub_kwargs)
    if index is not None:
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        files = sorted({v for k, v in weight_map.items() if k.startswith(prefix)})
    else:
        files = ["model.safetensors"]
    out: dict[str, Tensor] = {}
    for name in files:
        local = cached_file(path, name, **hub_kwargs)
        out.update({k: v for k, v in load_file(local).items() if k.startswith(prefix)})
    return out


def load_numeric_head_model(path: str | os.PathLike, model_class: Any = None, **kwargs: Any) -> nn.Module:
    """Load a causal LM saved with a :class:`FourierNumericHead` (local directory or Hub name).

    Loads the base model with ``model_class.from_pretrained(path, **kwargs)`` (default ``AutoModelForCausalLM``),
    re-attaches the head from ``config.fourier_numeric_head`` and loads its Fourier weights from the checkpoint.
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    path = str(path)
    model_class = model_class or AutoModelForCausalLM
    hub_kwargs = {k: kwargs[k] for k in ("revision", "token", "cache_dir", "local_files_only") if k in kwargs}
    config = AutoConfig.from_pretrained(path, **hub_kwargs)
    spec = getattr(config, CONFIG_KEY, None)
    if not spec:
        raise ValueError(f"{path} has no '{CONFIG_KEY}' entry in its config; it was not saved with a numeric head")
    # The Fourier weights are unexpected keys for the plain architecture; they are loaded below.
    tf_logger = logging.getLogger("transformers.modeling_utils")
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)
    try:
        model = model_class.from_pretrained(path, **kwargs)
    finally:
        tf_logger.setLevel(level)
    head = attach_numeric_head(model, **spec)
    name = find_numeric_head(model)[0]
    prefix = f"{name}.fourier."
    tensors = _checkpoint_tensors(path, prefix, **hub_kwargs)
    if not tensors:
        raise ValueError(f"no '{prefix}*' tensors found in the checkpoint at {path}")
    state = {k[len(prefix) :]: v for k, v in tensors.items()}
    head.fourier.load_state_dict(state)
    head.fourier.to(device=head.weight.device)
    return model
