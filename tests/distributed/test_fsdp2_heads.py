"""Two CPU processes (torchrun, gloo): the fused LM-head paths under FSDP2 (`fully_shard`) equal the unsharded model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from torchrun_launch import torchrun

SCRIPT = Path(__file__).with_name("fsdp2_heads_script.py")


@pytest.mark.distributed
@pytest.mark.slow
def test_fused_heads_under_fsdp2_match_unsharded(tmp_path):
    torchrun(SCRIPT, tmp_path, nproc=2, timeout=600, log_dir=tmp_path / "logs")
    for case in ("rank_aware", "token_stats"):
        for tying in ("tied", "untied"):
            result = json.loads((tmp_path / f"fsdp2_{case}_{tying}.json").read_text())
            assert result["loss"] == pytest.approx(result["ref_loss"], rel=1e-6)
            # every parameter of the model received a gradient, the LM head (or the tied embedding) included
            assert len(result["grad_diff"]) >= 26 and ("lm_head.weight" in result["grad_diff"]) == (tying == "untied")
            for name, diff in result["grad_diff"].items():
                assert result["grad_scale"][name] > 0, (case, tying, name)
                assert diff <= 1e-5 * result["grad_scale"][name] + 1e-7, (case, tying, name, diff)
