"""The fused-head kernel swap is scoped: a plain `trl.GRPOTrainer` is unaffected by ours in the same process.

`trl_explore.kernels.fused_head` routes TRL's fused LM head through our kernels by swapping one module-level name of
``trl.trainer.utils`` (`trl_explore.trainers._trl_compat.fused_lm_head_kernel`). The swap must last only while a
`fused_head` block is open: after our trainer ran (and, in another thread, while it runs), TRL's trainer computes what
it computes in a fresh process. Both sides run the same operations in the same order on one thread, so the comparison
is exact (``atol=0``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.usefixtures("one_thread")

HERE = Path(__file__).resolve().parent

# Run by the test in a fresh interpreter: TRL's trainer alone, loss and gradients saved to argv[1]
FRESH = """
import sys
import torch
torch.set_num_threads(1)
sys.path.insert(0, {here!r})
from grpo_helpers import build_trainer, fixed_batch, loss_and_grads, tiny_model, tiny_tokenizer
from trl import GRPOConfig, GRPOTrainer
import pathlib
tok = tiny_tokenizer()
trainer = build_trainer(GRPOTrainer, GRPOConfig, pathlib.Path(sys.argv[2]), model=tiny_model(tok), **{common})
loss, grads = loss_and_grads(trainer, fixed_batch(len(tok), off_policy=True))
torch.save({{"loss": loss, "grads": grads}}, sys.argv[1])
"""

COMMON = {"loss_type": "dapo", "epsilon_high": 0.28}


def _fresh_process(tmp_path) -> dict:
    out = tmp_path / "fresh.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    code = FRESH.format(here=str(HERE), common=json.dumps(COMMON))
    subprocess.run([sys.executable, "-c", code, str(out), str(tmp_path / "fresh")], check=True, env=env, timeout=600)
    return torch.load(out, weights_only=True)


def _assert_same(result, reference) -> None:
    loss, grads = result
    torch.testing.assert_close(loss, reference["loss"], rtol=0, atol=0)
    assert grads.keys() == reference["grads"].keys() and grads
    for name, grad in grads.items():
        torch.testing.assert_close(grad, reference["grads"][name], rtol=0, atol=0, msg=name)


def test_plain_trl_trainer_after_ours_equals_a_fresh_process(tmp_path):
    """Our Lp-Reg trainer computes a loss (its fused-head block swaps TRL's kernel name), then a plain `GRPOTrainer`
    built afterwards in this process, and one run in another thread while our block is open, compute exactly the loss
    and gradients of a fresh process; TRL's kernel name is TRL's own again after every block."""
    import trl.trainer.utils as trl_utils
    from grpo_helpers import build_trainer, fixed_batch, loss_and_grads, tiny_model, tiny_tokenizer
    from trl import GRPOConfig, GRPOTrainer
    from trl.kernels import ChunkedLogProbFunction

    from trl_explore.kernels.fused_head import fused_head
    from trl_explore.kernels.token_stats import TokenStatsRequest
    from trl_explore.trainers import LpRegConfig, LpRegGRPOTrainer

    reference = _fresh_process(tmp_path)
    tok = tiny_tokenizer()
    inputs = fixed_batch(len(tok), off_policy=True)
    ours = build_trainer(LpRegGRPOTrainer, LpRegConfig, tmp_path / "ours", model=tiny_model(tok), **COMMON)
    loss_and_grads(ours, inputs)
    assert trl_utils._ChunkedLogProbFunction is ChunkedLogProbFunction, "the swap outlived our trainer's block"

    plain = build_trainer(GRPOTrainer, GRPOConfig, tmp_path / "trl", model=tiny_model(tok), **COMMON)
    _assert_same(loss_and_grads(plain, inputs), reference)

    # TRL's trainer in another thread while one of our blocks is open (and routes this thread's calls)
    results = {}
    other = build_trainer(GRPOTrainer, GRPOConfig, tmp_path / "trl2", model=tiny_model(tok), **COMMON)
    with fused_head(TokenStatsRequest(min_p=None)):
        assert trl_utils._ChunkedLogProbFunction is not ChunkedLogProbFunction
        worker = threading.Thread(target=lambda: results.update(out=loss_and_grads(other, inputs)))
        worker.start()
        worker.join()
    _assert_same(results["out"], reference)
    assert trl_utils._ChunkedLogProbFunction is ChunkedLogProbFunction
