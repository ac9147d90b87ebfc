"""Run under ``torchrun --nproc_per_node 2`` (gloo, CPU): our fused LM-head paths on a model sharded with FSDP2
(``fully_shard``) give the loss and gradients of the same model unsharded.

Both ranks feed the same batch, so FSDP's gradient average equals the single-process gradient. Cases:

* ``rank_aware``: TRL's fused LM head routed through the rank-aware kernel (`fused_head(RankAwareRequest(...))`, what
  `RankAwareSFTTrainer` does; TRL's forward gathers the DTensor head);
* ``token_stats``: TRL's fused LM head routed through `fused_token_stats` with ``keep_hidden`` (what Lp-Reg uses),
  plus the full-vocabulary projection of the kept hidden rows (`project_rows`) that ``lp_reg_kl_estimator=
  "forward_full"`` computes in the loss, after the forward.

Rank 0 writes ``<out>/fsdp2_<case>_<tied|untied>.json`` with the largest absolute differences.
"""

from __future__ import annotations

import copy
import json
import os
import sys

import torch
import torch.distributed as dist
from torch.distributed.elastic.multiprocessing.errors import record
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor

from trl_explore.kernels.fused_head import (
    fused_head,
    fused_token_stats,  # noqa: E402
    project_rows,
)
from trl_explore.kernels.rank_aware import RankAwareRequest
from trl_explore.kernels.token_stats import TokenStatsRequest  # noqa: E402
from trl_explore.toy import make_tiny_model, make_tokenizer

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from torchrun_launch import arm_watchdog, finish  # noqa: E402


def _loss(model, case: str, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if case == "rank_aware":
        request = RankAwareRequest(beta=0.3, top_k=5, lambda_high=0.1, lambda_low=-0.05)
        with fused_head(request, label_mask=labels[:, 1:] != -100):
            return model(input_ids=input_ids, labels=labels, fused_lm_head=True).loss
    request = TokenStatsRequest(min_p=0.05, threshold="min_p", keep_hidden=True)
    with fused_token_stats(request):
        out = model(input_ids=input_ids, labels=labels, fused_lm_head=True)
    call = request.calls[0]
    # the forward_full KL's projection, in the loss after the forward (a few rows of the kept hidden states)
    logits = project_rows(call, call.hidden[:5])
    return out.loss + 0.1 * out.entropy.sum() / labels.numel() + 0.01 * torch.logsumexp(logits, -1).sum()


def _grads(model) -> dict[str, torch.Tensor]:
    grads = {}
    for name, p in model.named_parameters():
        g = p.grad
        if g is None:
            continue
        grads[name.replace("_fsdp_wrapped_module.", "")] = (g.full_tensor() if isinstance(g, DTensor) else g).detach()
    return grads


def run(case: str, tied: bool, out_dir: str) -> None:
    from trl.trainer.utils import add_fused_lm_head

    tok = make_tokenizer()
    base = make_tiny_model(tok, seed=0, tie_word_embeddings=tied)
    reference, sharded = base, copy.deepcopy(base)
    for m in (reference, sharded):
        add_fused_lm_head(m, outputs=("log_probs", "entropy", "is_top1"))
    for layer in sharded.model.layers:
        fully_shard(layer)
    fully_shard(sharded)

    g = torch.Generator().manual_seed(1)
    input_ids = torch.randint(3, base.config.vocab_size, (3, 11), generator=g)
    labels = input_ids.clone()
    labels[0, :4] = -100

    ref_loss = _loss(reference, case, input_ids, labels)
    ref_loss.backward()
    loss = _loss(sharded, case, input_ids, labels)
    loss.backward()
    ref_grads, grads = _grads(reference), _grads(sharded)
    assert set(ref_grads) == set(grads), (sorted(ref_grads), sorted(grads))
    diff = {k: float((grads[k] - ref_grads[k]).abs().max()) for k in ref_grads}
    scale = {k: float(ref_grads[k].abs().max()) for k in ref_grads}
    if dist.get_rank() == 0:
        name = f"fsdp2_{case}_{'tied' if tied else 'untied'}.json"
        with open(os.path.join(out_dir, name), "w") as f:
            json.dump({"loss": loss.item(), "ref_loss": ref_loss.item(), "grad_diff": diff, "grad_scale": scale}, f)


@record
def main() -> None:
    arm_watchdog()
    dist.init_process_group("gloo")
    torch.manual_seed(0)
    for case in ("rank_aware", "token_stats"):
        for tied in (True, False):
            run(case, tied, sys.argv[1])
    finish()


if __name__ == "__main__":
    main()
