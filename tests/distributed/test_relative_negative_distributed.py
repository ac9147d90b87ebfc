"""Two CPU processes (torchrun, gloo): the relative-negative component slices the global advantages per process and
reduces its denominator and metrics across processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torchrun_launch import torchrun

from trl_explore.functional import relative_negative_advantages

SCRIPT = Path(__file__).with_name("relative_negative_script.py")


@pytest.mark.distributed
@pytest.mark.slow
def test_nsr_two_processes(tmp_path):
    torchrun(SCRIPT, tmp_path, nproc=2, timeout=600, log_dir=tmp_path / "logs")
    ranks = [json.loads((tmp_path / f"rng_rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world_size"] == 2 for r in ranks)
    rec0, rec1 = ranks[0]["records"], ranks[1]["records"]
    assert len(rec0) == len(rec1) == 2
    for a, b in zip(rec0, rec1):
        # both ranks see the same gathered rewards: one group of 8 spanning the two ranks
        assert a["rewards"] == b["rewards"] and len(a["rewards"]) == 8
        expected, keep = relative_negative_advantages(torch.tensor(a["rewards"]), 8, "nsr")
        assert a["advantages"] + b["advantages"] == expected.tolist()  # rank r keeps slice [4r, 4r + 4)
        assert a["keep"] + b["keep"] == keep.tolist()
        # selected_tokens: the dapo denominator counts the kept samples' tokens of both ranks, identical on both
        kept_tokens = sum(t for t, k in zip(a["local_tokens"] + b["local_tokens"], a["keep"] + b["keep"]) if k)
        assert a["num_items"] == b["num_items"] == int(kept_tokens)
        assert a["trl_num_items"] == int(sum(a["local_tokens"] + b["local_tokens"]))
    # not trivial: some generation keeps part of the group (the slicing and the kept-token count matter)
    assert any(0 < sum(a["keep"] + b["keep"]) < 8 for a, b in zip(rec0, rec1))
    assert ranks[0]["metrics"] == ranks[1]["metrics"] and len(ranks[0]["metrics"]) == 2
