"""Two CPU processes (torchrun, gloo): SPEAR's replay triggers identically on both ranks, training passes the trigger
without hanging, the replayed subset over both ranks is a power of two, and a resume from a checkpoint restores each
rank's own buffer (the same next replay on every rank)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("spear_script.py")


@pytest.mark.distributed
@pytest.mark.slow
def test_replay_two_processes(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_DISABLED": "true", "HF_HUB_OFFLINE": "1"}
    # --standalone: a local rendezvous on a free port (no fixed port to collide with other runs)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(SCRIPT),
           str(tmp_path)]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"torchrun failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    ranks = [json.loads((tmp_path / f"spear_rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world_size"] == 2 and r["steps"] == 6 for r in ranks)
    # the trigger is the same decision on both ranks, and training went on after it
    assert ranks[0]["replays"].keys() == ranks[1]["replays"].keys() and ranks[0]["replays"]
    assert [e["spear/replay_triggered"] for e in ranks[0]["logs"]] == [e["spear/replay_triggered"] for e in ranks[1]["logs"]]
    assert len(ranks[0]["logs"]) == 6 and ranks[0]["logs"] == ranks[1]["logs"]  # reduced metrics agree
    for generation, replay in ranks[0]["replays"].items():
        other = ranks[1]["replays"][generation]
        total = replay["rows"] + other["rows"]
        assert total in (1, 2), "power-of-two subset of at most sil_buffer_size = 2 rows"
        assert ranks[0]["logs"][int(generation)]["spear/replay_rows"] == total
    assert any(int(g) >= 1 for g in ranks[0]["replays"])
    # resume: each rank restores its own buffer and replays exactly what the uninterrupted run replayed
    generation = str(ranks[0]["resumed_from"])
    for rank in ranks:
        assert rank["resumed_replays"].keys() == {generation}
        assert rank["resumed_replays"][generation] == rank["replays"][generation]
