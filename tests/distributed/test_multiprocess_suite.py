"""Every trainer under ``torchrun --nproc_per_node 2`` (CPU, gloo), 3 optimizer steps each (`suite_cases.CASES`):

* every logged statistic (TRL's, the components', the fault counts) is identical on both ranks, and so are the
  statistics the components reduce across processes internally: Lp-Reg's ``batch_all`` percentile, HAPO's
  ``batch_all`` entropy statistics, the gathered completion lengths (TLGA), SPEAR's replay decisions;
* where the method defines its loss on the global batch (``Case.compare``), the losses and gradient norms equal a
  1-process run on the same 12 rows (same completions, checked), at every step;
* losses and gradient norms are finite.

Two launches run every case (one 2-process, one 1-process for the comparable cases), so the suite costs a couple of
minutes; a third checks that a failing rank's own error reaches the test output.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from suite_cases import CASES, CASES_BY_NAME, enabled_components
from torchrun_launch import LaunchError, torchrun

SCRIPT = Path(__file__).with_name("suite_script.py")
pytestmark = [pytest.mark.distributed, pytest.mark.slow]


def _load(out: Path, case: str, ranks: int) -> list[dict]:
    return [json.loads((out / case / f"rank{r}.json").read_text()) for r in range(ranks)]


@pytest.fixture(scope="module")
def two_process(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("two_process")
    torchrun(SCRIPT, out / "results", *[c.name for c in CASES], nproc=2, timeout=1200, log_dir=out / "logs")
    return out / "results"


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("one_process")
    names = [c.name for c in CASES if c.compare]
    torchrun(SCRIPT, out / "results", *names, nproc=1, timeout=1200, log_dir=out / "logs")
    return out / "results"


def _steps(logs: list[dict]) -> list[dict]:
    return [e for e in logs if "loss" in e and "train_loss" not in e]


def _close(a, b, rel=1e-5, abs_=1e-7) -> bool:
    if isinstance(a, str) or isinstance(b, str):  # "nan" / "inf" written as strings
        return a == b
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


@pytest.mark.parametrize("case", [c.name for c in CASES])
def test_statistics_identical_on_every_rank(two_process, case):
    rank0, rank1 = _load(two_process, case, 2)
    assert rank0["world_size"] == rank1["world_size"] == 2
    steps = _steps(rank0["logs"])
    assert len(steps) == 3, rank0["logs"]
    # every logged statistic, bit for bit (timings excepted)
    assert rank0["logs"] == rank1["logs"]
    for entry in steps:
        assert isinstance(entry["loss"], float) and math.isfinite(entry["loss"]), entry
        assert isinstance(entry["grad_norm"], float) and math.isfinite(entry["grad_norm"]), entry
    overrides = CASES_BY_NAME[case].overrides
    # internal reductions: the gathered rewards and lengths, and the global statistics of the batch_all scopes
    for key in ("global_lengths",):
        assert rank0[key] == rank1[key]
    assert [g["rewards"] for g in rank0["generations"]] == [g["rewards"] for g in rank1["generations"]]
    if overrides.get("lp_reg_percentile_scope") == "batch_all":
        assert rank0["lp_reg_threshold"] and rank0["lp_reg_threshold"] == rank1["lp_reg_threshold"]
    if overrides.get("hapo_stats_scope") == "batch_all" and overrides.get("hapo_adaptive_temperature", True):
        assert rank0["hapo_stats"] and rank0["hapo_stats"] == rank1["hapo_stats"]
    if CASES_BY_NAME[case].trainer == "SPEARGRPOTrainer":  # the replay path ran (rows mixed into a batch)
        replayed = [e["spear/replay_rows"] for e in rank0["logs"] if e.get("spear/replay_triggered") == 1.0]
        assert replayed and all(r > 0 for r in replayed), rank0["logs"]
        if case == "spear_uneven_replay":  # one row over two processes: micro-batches of different sizes
            assert 1.0 in replayed, replayed


@pytest.mark.parametrize("case", [c.name for c in CASES if c.compare])
def test_loss_equals_one_process_on_the_same_global_batch(two_process, one_process, case):
    rank0, rank1 = _load(two_process, case, 2)
    (single,) = _load(one_process, case, 1)
    assert single["world_size"] == 1
    if CASES_BY_NAME[case].kind == "grpo":
        # the same global batch: the 1-process completions are rank 0's rows then rank 1's
        assert len(single["generations"]) == len(rank0["generations"]) >= 1
        for g0, g1, g in zip(rank0["generations"], rank1["generations"], single["generations"]):
            assert g0["completion_ids"] + g1["completion_ids"] == g["completion_ids"]
            assert g["rewards"] == g0["rewards"]
            for a, b in zip(g0["advantages"] + g1["advantages"], g["advantages"]):
                assert _close(a, b, rel=1e-5, abs_=1e-6), (a, b)
    two, one = _steps(rank0["logs"]), _steps(single["logs"])
    assert len(two) == len(one) == 3
    for step, (a, b) in enumerate(zip(two, one), 1):
        for key in ("loss", "grad_norm"):
            assert _close(a[key], b[key], rel=1e-4, abs_=1e-6), (step, key, a[key], b[key])
    assert any(e["grad_norm"] > 0 for e in one), "no gradient in any step: the comparison would be vacuous"


def test_cases_cover_every_component_and_trainer():
    """Every built-in component runs in some case (by its own `enabled` rule on the case's config; a component no
    hand-written case turns on gets a generated case from its `example_config`)."""
    from trl_explore.trainers.components import BUILTIN_COMPONENTS

    names = {c.name for c in CASES}
    covered = set().union(*(enabled_components(case) for case in CASES))
    assert {cls.name for cls in BUILTIN_COMPONENTS} <= covered, {cls.name for cls in BUILTIN_COMPONENTS} - covered
    trainers = {c.trainer for c in CASES}
    assert {
        "ExploreGRPOTrainer", "LpRegGRPOTrainer", "RelativeNegativeGRPOTrainer", "HAPOGRPOTrainer", "SPEARGRPOTrainer",
        "RankAwareSFTTrainer", "FourierSFTTrainer",
    } <= trainers  # fmt: skip
    assert {"lp_reg_nsr", "hapo_lp_reg", "spear_clip_cov"} <= names  # the combinations users run
    for case in CASES:
        assert case.compare or case.why, case.name


def test_a_failing_rank_reports_its_own_error(tmp_path):
    """Rank 1 raises in its reward function: the launch fails and the message carries rank 1's exception (from
    torchrun's root cause and from rank 1's own log), not only rank 0's broken collective."""
    with pytest.raises(LaunchError) as info:
        torchrun(
            SCRIPT,
            tmp_path / "results",
            "grpo_n",
            "--fail-on-rank",
            "1",
            nproc=2,
            timeout=600,
            log_dir=tmp_path / "logs",
        )
    message = str(info.value)
    assert "ValueError: injected failure on rank 1" in message
    assert "rank 1 stderr" in message and "raised by reward function 'reward' at global step 0" in message


def test_a_new_builtin_component_joins_the_suite(tmp_path):
    """A copy of the package with one more built-in component (one new module, one line in `BUILTIN_MODULES`,
    `tests/builtin_copy.py`): its generated case runs under two processes like every other, with the same logged
    statistics on both ranks and its metric in them."""
    from builtin_copy import TOY_NAME, package_with_toy_component

    root = package_with_toy_component(tmp_path / "pkg")
    case = f"component_{TOY_NAME}"
    torchrun(SCRIPT, tmp_path / "results", case, nproc=2, timeout=900, log_dir=tmp_path / "logs", pythonpath=(root,))
    rank0, rank1 = _load(tmp_path / "results", case, 2)
    assert rank0["world_size"] == 2 and rank0["logs"] == rank1["logs"]
    steps = _steps(rank0["logs"])
    assert len(steps) == 3 and all(math.isfinite(e["loss"]) for e in steps)
    assert all(f"{TOY_NAME}/term" in e for e in steps), steps


# Cases whose trainers carry state that differs between processes (SPEAR's buffer, Clip-Cov's generator, HAPO's
# released per-process entropy statistics) or is shared (HAPO's batch_all statistics)
RESUME_CASES = ["spear_clip_cov", "hapo_micro_batch", "hapo_adaptive_temperature", "lp_reg_nsr"]


def test_resume_under_two_processes(tmp_path):
    """Each rank saves its own component state and restores it: after resuming from step 2, every rank logs the
    uninterrupted run's losses, gradient norms and statistics for steps 3 and 4."""
    torchrun(SCRIPT, tmp_path / "results", *RESUME_CASES, "--resume", nproc=2, timeout=900, log_dir=tmp_path / "logs")
    for case in RESUME_CASES:
        ranks = [json.loads((tmp_path / "results" / case / f"resume_rank{r}.json").read_text()) for r in (0, 1)]
        assert ranks[0]["a"] == ranks[1]["a"] and ranks[0]["b"] == ranks[1]["b"], case
        a = {e["step"]: e for e in ranks[0]["a"] if "train_loss" not in e}
        b = {e["step"]: e for e in ranks[0]["b"] if "train_loss" not in e and e["step"] > 2}
        assert sorted(b) == [3, 4], case
        for step, entry in b.items():
            for key, value in entry.items():
                if isinstance(value, float):
                    assert _close(value, a[step][key], rel=1e-5, abs_=1e-7), (case, step, key, value, a[step][key])
