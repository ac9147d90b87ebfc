"""SPEAR's self-imitation replay as a component (arXiv 2509.22601; math in `trl_explore.functional.spear`).

After each generation batch, the completions with a positive advantage that stay in the loss are kept on the CPU with
what is needed to train on them later: their rows (prompt and completion ids, masks, tool masks, reference / sampling
log-probs when the batch has them), their **behaviour log-probs** at collection time, reward, advantage, group id and
generation step. TRL computes no old log-probs on-policy; then the detached log-probs of the row's first loss pass are
captured (``prepare_loss``), which are the behaviour policy's since no optimizer step happened in between.

At each training generation (identically on every process):

1. the rows collected at the previous generation join the buffer; entries older than ``sil_tolerate_steps``
   generations leave it;
2. trigger: the number of entries (over all processes) whose reward exceeds ``P50(D_R)`` — the median of the recent
   group-mean rewards — is more than ``sil_trigger_factor · sil_buffer_size``;
3. on a trigger: recalibrate ``Ã = R - P50(D_R)`` (or ``w · Â``), keep ``Ã >= 0``, sample a power-of-two subset
   (``<= sil_buffer_size``; each process's share a multiple of ``steps_per_generation``), **mix** it into this
   generation batch with the per-row weight ``γ(t)`` and its stored behaviour log-probs (`GenerationContext.add_rows`),
   then empty the buffer;
4. the group means of this batch join ``D_R`` (FIFO of ``sil_baseline_size``).

Mixing (a documented variant of the released code's separate replay optimizer steps; TRL's loop has no place
for extra optimizer steps) changes the loss normalisation: replayed tokens join the denominator of the batch.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, fields
from typing import Any

import torch

from ..._validation import changed_fields, check_bool, check_choice, check_int, check_number
from ...functional.spear import (
    RECALIBRATIONS,
    median,
    recalibrated_advantages,
    replay_allocation,
    sil_weight,
)
from .base import (
    ADDED_KEY,
    IN_MASK_KEY,
    KEEP_KEY,
    OWN_LOSS_TYPES,
    ROW_WEIGHT_KEY,
    ComponentArguments,
    ExploreComponent,
    GenerationContext,
    LossContext,
    Metric,
    register_component,
)
from .rows import take_row

__all__ = [
    "PENDING_KEY",
    "MAX_TOLERATE_STEPS",
    "ReplayBuffer",
    "ReplayEntry",
    "RewardBaseline",
    "SelfImitationComponent",
    "SPEARArguments",
]

logger = logging.getLogger(__name__)

# Input key: index of a generated row in the component's list of rows awaiting their behaviour log-probs (-1: none)
PENDING_KEY = "spear_pending_row"
# Hard cap of `sil_tolerate_steps` (SPEAR: 5 by default, at most 10)
MAX_TOLERATE_STEPS = 10
# Keys of a batch row that are not stored (the trainer and this component write them)
_NOT_STORED = ("advantages", PENDING_KEY, KEEP_KEY, IN_MASK_KEY, ADDED_KEY, ROW_WEIGHT_KEY)


@dataclass
class SPEARArguments(ComponentArguments):
    r"""
    > Parameters of SPEAR's self-imitation replay (arXiv 2509.22601). Off unless `sil=True`.

        sil (`bool`, *optional*, defaults to `False`):
            Keep the positive-advantage completions in a replay buffer and, when it triggers, mix a recalibrated
            power-of-two subset into the next generation batch.
        sil_buffer_size (`int`, *optional*, defaults to `2048`):
            Replay batch size: the largest replayed subset (over all processes), and the unit of the trigger.
        sil_trigger_factor (`float`, *optional*, defaults to `1.5`):
            Replay when more than `sil_trigger_factor · sil_buffer_size` stored entries have a reward above
            `P50(D_R)`.
        sil_tolerate_steps (`int`, *optional*, defaults to `5`):
            Generations an entry stays replayable (1 to 10): an entry collected at generation `s` is replayable at
            generations `s + 1 … s + sil_tolerate_steps`.
        sil_recalibration (`str`, *optional*, defaults to `"p50"`):
            Replay advantage: `"p50"`: `Ã = R - P50(D_R)`; `"decay"`: `Ã = sil_decay · Â` (the advantage at
            collection time). Entries with `Ã < 0` are not replayed.
        sil_decay (`float`, *optional*, defaults to `0.1`):
            `w` in `(0, 1]` of `"decay"`.
        sil_baseline_size (`int`, *optional*, defaults to `10240`):
            Capacity of `D_R`, the FIFO of recent group-mean rewards whose median is the baseline.
        sil_loss_coef (`float`, *optional*, defaults to `1.0`):
            `c >= 0`, the final weight `γ` of replayed rows' loss.
        sil_warmup_steps (`int`, *optional*, defaults to `200`):
            `T_γ`: `γ(t) = c · (1 - cos(π t / T_γ)) / 2` for `t <= T_γ` (global step `t`), `c` afterwards. `0`: `c`
            from the start. SPEAR: 200 (agents), 300 (math).
    """

    sil: bool = field(default=False, metadata={"help": "Turn SPEAR's self-imitation replay on."})
    sil_buffer_size: int = field(default=2048, metadata={"help": "Replay batch size (largest replayed subset)."})
    sil_trigger_factor: float = field(
        default=1.5, metadata={"help": "Replay when > factor * sil_buffer_size entries beat the baseline median."}
    )
    sil_tolerate_steps: int = field(default=5, metadata={"help": "Generations an entry stays replayable (1-10)."})
    sil_recalibration: str = field(
        default="p50", metadata={"help": "Replay advantage recalibration.", "choices": list(RECALIBRATIONS)}
    )
    sil_decay: float = field(default=0.1, metadata={"help": "w of the 'decay' recalibration, in (0, 1]."})
    sil_baseline_size: int = field(default=10240, metadata={"help": "Capacity of the group-mean reward FIFO."})
    sil_loss_coef: float = field(default=1.0, metadata={"help": "Final weight c of the replay loss."})
    sil_warmup_steps: int = field(default=200, metadata={"help": "Cosine warm-up steps T_γ of the replay weight."})

    def validate(self) -> None:
        check_bool(self, "sil")
        check_int(self, "sil_buffer_size", low=1)
        check_number(self, "sil_trigger_factor", low=0.0, low_open=True)
        check_int(self, "sil_tolerate_steps", low=1, high=MAX_TOLERATE_STEPS)
        check_choice(self, "sil_recalibration", RECALIBRATIONS)
        check_number(self, "sil_decay", low=0.0, high=1.0, low_open=True)
        check_int(self, "sil_baseline_size", low=1)
        check_number(self, "sil_loss_coef", low=0.0)
        check_int(self, "sil_warmup_steps", low=0)
        if not self.sil:
            names = [f.name for f in fields(SPEARArguments) if f.name.startswith("sil_")]
            ignored = changed_fields(self, names)
            if ignored:
                logger.warning("%s set but `sil=False` (no replay): no effect.", ", ".join(f"`{f}`" for f in ignored))
        if self.sil and self.loss_type not in OWN_LOSS_TYPES:
            raise ValueError(
                f"`loss_type` must be one of {list(OWN_LOSS_TYPES)} with `sil=True`, got {self.loss_type!r}."
            )


@dataclass
class ReplayEntry:
    """One stored completion: its batch row (`rows.take_row`, CPU, with ``old_per_token_logps``, the behaviour
    log-probs, once known), reward and on-policy advantage at collection, global group id, collection generation."""

    row: dict[str, torch.Tensor]
    reward: float
    advantage: float
    group: int
    step: int

    def to_state(self) -> dict[str, Any]:
        return {"row": self.row, "reward": self.reward, "advantage": self.advantage, "group": self.group,
                "step": self.step}  # fmt: skip

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ReplayEntry:
        return cls(dict(state["row"]), float(state["reward"]), float(state["advantage"]), int(state["group"]),
                   int(state["step"]))  # fmt: skip


class ReplayBuffer:
    """The replay buffer of one process: entries in insertion order, aged out after ``tolerate_steps``."""

    def __init__(self, tolerate_steps: int) -> None:
        check_int(None, "tolerate_steps", value=tolerate_steps, low=1, high=MAX_TOLERATE_STEPS)
        self.tolerate_steps = tolerate_steps
        self.entries: list[ReplayEntry] = []

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, entry: ReplayEntry) -> None:
        if "old_per_token_logps" not in entry.row:
            raise ValueError("A replay entry needs its behaviour log-probs (`old_per_token_logps`).")
        self.entries.append(entry)

    def age_out(self, step: int) -> int:
        """Remove the entries collected more than ``tolerate_steps`` generations before ``step``; returns how many."""
        before = len(self.entries)
        self.entries = [e for e in self.entries if step - e.step <= self.tolerate_steps]
        return before - len(self.entries)

    def rewards(self) -> torch.Tensor:
        return torch.tensor([e.reward for e in self.entries], dtype=torch.float64)

    def advantages(self) -> torch.Tensor:
        return torch.tensor([e.advantage for e in self.entries], dtype=torch.float64)

    def count_above(self, threshold: float) -> int:
        """Entries whose reward is strictly above ``threshold`` (0 when the threshold is NaN)."""
        if math.isnan(threshold):
            return 0
        return sum(1 for e in self.entries if e.reward > threshold)

    def recalibrate(self, mode: str, baseline_p50: float | None, decay: float) -> torch.Tensor:
        """``[E]`` replay advantages (`recalibrated_advantages`)."""
        return recalibrated_advantages(self.rewards(), self.advantages(), mode, baseline_p50, decay)

    def clear(self) -> None:
        self.entries = []

    def state_dict(self) -> dict[str, Any]:
        return {"tolerate_steps": self.tolerate_steps, "entries": [e.to_state() for e in self.entries]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.tolerate_steps = int(state["tolerate_steps"])
        self.entries = [ReplayEntry.from_state(e) for e in state["entries"]]


class RewardBaseline:
    """``D_R``: FIFO of the most recent ``capacity`` group-mean rewards; its median is the replay baseline."""

    def __init__(self, capacity: int) -> None:
        check_int(None, "capacity", value=capacity, low=1)
        self.capacity = capacity
        self.values = torch.empty(0, dtype=torch.float64)

    def __len__(self) -> int:
        return self.values.numel()

    def extend(self, values: torch.Tensor) -> None:
        values = values.detach().double().cpu().reshape(-1)
        values = values[torch.isfinite(values)]
        self.values = torch.cat([self.values, values])[-self.capacity :]

    def p50(self) -> float:
        """Median of ``D_R`` (NaN while empty)."""
        return median(self.values)

    def state_dict(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "values": self.values.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.capacity = int(state["capacity"])
        self.values = state["values"].double().clone()


@register_component
class SelfImitationComponent(ExploreComponent):
    """SPEAR's self-imitation replay (see the module docstring for the algorithm).

    Each process keeps its own buffer (of its own rows) and restores it from its own checkpoint file; the baseline is
    computed from the gathered rewards, so it is identical everywhere, and the trigger is decided on a sum reduced over
    processes: every process takes the same branch (no collective is skipped on one process only).

    Metrics (``spear/``, per generation): ``buffer_size`` (stored entries, all processes, after this generation's
    rows joined), ``replay_triggered`` (1 or 0), ``replay_rows`` (replayed rows mixed in, all processes),
    ``sil_weight`` (γ(t)), ``baseline_p50`` (median of ``D_R``, NaN while empty).
    """

    name = "spear"
    arguments = SPEARArguments
    # last in the advantages phase: the buffer stores what every other component kept; first in prepare_loss: the
    # behaviour log-probs are captured before anything edits the context
    order = {"advantages": 80, "prepare_loss": 0}
    edits_loss = True
    state_per_process = True
    adds_rows = True
    example_config = dict(sil=True, sil_buffer_size=2, sil_trigger_factor=0.5, sil_warmup_steps=0)

    @classmethod
    def enabled(cls, args: Any) -> bool:
        return bool(getattr(args, "sil", False))

    def __init__(self, trainer: Any) -> None:
        super().__init__(trainer)
        self.buffer = ReplayBuffer(self.args.sil_tolerate_steps)
        self.baseline = RewardBaseline(self.args.sil_baseline_size)
        self.pending: list[ReplayEntry] = []  # this generation's rows, awaiting their behaviour log-probs
        self.generation = 0  # training generation batches seen
        self.last_replay: list[ReplayEntry] = []  # the entries replayed at the latest trigger (diagnostics, tests)
        self.last_replay_advantages = torch.empty(0)
        per_step = int(trainer.args.steps_per_generation)
        # each process's share is a multiple of steps_per_generation rows, the total at most sil_buffer_size rows
        self.max_units = self.args.sil_buffer_size // per_step
        if self.max_units == 0:
            logger.warning(
                "`sil_buffer_size=%d` < `steps_per_generation=%d`: SPEAR replays in units of `steps_per_generation` "
                "rows (one per micro-batch) and at most `sil_buffer_size` rows, so nothing can ever be replayed. "
                "Raise `sil_buffer_size` to a multiple of `steps_per_generation`.",
                self.args.sil_buffer_size,
                per_step,
            )

    # ------------------------------------------------------------------------------------------------ generation
    def advantages(self, ctx: GenerationContext) -> None:
        if ctx.mode != "train":
            return
        accelerator = self.trainer.accelerator
        self._commit_pending()
        self.buffer.age_out(self.generation)
        p50 = self.baseline.p50()
        local = torch.tensor([float(self.buffer.count_above(p50))], device=accelerator.device)
        above = int(accelerator.reduce(local, reduction="sum").item())  # identical on every process
        triggered = (
            self.max_units > 0
            and len(self.baseline) > 0
            and above > self.args.sil_trigger_factor * self.args.sil_buffer_size
        )
        weight = sil_weight(int(self.trainer.state.global_step), self.args.sil_loss_coef, self.args.sil_warmup_steps)
        replayed = self._replay(ctx, p50, weight) if triggered else 0
        self._collect(ctx)
        grouped = ctx.rewards.detach().double().view(-1, ctx.num_generations)
        finite = torch.isfinite(grouped)
        group_means = torch.where(finite, grouped, torch.zeros_like(grouped)).sum(1) / finite.sum(1)
        self.baseline.extend(group_means[finite.any(1)])
        ctx.records[self.name] = {
            "buffer_size": len(self.buffer) + len(self.pending),
            "replay_triggered": float(triggered),
            "replay_rows": replayed,
            "sil_weight": weight,
            "baseline_p50": self.baseline.p50(),
        }
        self.generation += 1

    def _commit_pending(self) -> None:
        """The previous generation's rows join the buffer (those whose behaviour log-probs were captured)."""
        lost = 0
        for entry in self.pending:
            if "old_per_token_logps" in entry.row:
                self.buffer.add(entry)
            else:
                lost += 1
        if lost:
            logger.debug("SPEAR: %d collected rows never reached the loss (no behaviour log-probs); not stored.", lost)
        self.pending = []

    def _replay(self, ctx: GenerationContext, p50: float, weight: float) -> int:
        """Recalibrate, sample this process's share of the power-of-two subset, mix it in, empty the buffer."""
        accelerator = self.trainer.accelerator
        advantages = self.buffer.recalibrate(self.args.sil_recalibration, p50, self.args.sil_decay)
        eligible = torch.nonzero(advantages >= 0, as_tuple=False).squeeze(-1)
        per_step = int(self.trainer.args.steps_per_generation)
        units = torch.tensor([eligible.numel() // per_step], device=accelerator.device)
        available = [int(u) for u in accelerator.gather(units).tolist()]
        shares = replay_allocation(available, self.max_units)  # Σ shares · per_step <= sil_buffer_size
        count = shares[accelerator.process_index] * per_step
        generator = torch.Generator().manual_seed(self._sampling_seed())
        picked = eligible[torch.randperm(eligible.numel(), generator=generator)[:count]].tolist()
        entries = [self.buffer.entries[i] for i in picked]
        rows = [{**e.row, PENDING_KEY: torch.tensor(-1)} for e in entries]
        ctx.add_rows(rows, advantages[picked].float(), torch.full((len(rows),), float(weight)))
        self.last_replay = entries
        self.last_replay_advantages = advantages[picked].float()
        self.buffer.clear()
        return len(rows)

    def _sampling_seed(self) -> int:
        """Seed of the subset draw: a function of ``seed``, the generation and the process (reproducible on resume)."""
        rank = self.trainer.accelerator.process_index
        return (int(self.args.seed) * 1_000_003 + self.generation * 7919 + rank) % (2**63 - 1)

    def _collect(self, ctx: GenerationContext) -> None:
        """Keep this batch's positive-advantage rows that stay in the loss; mark them for the log-prob capture."""
        output = ctx.output
        advantages = ctx.advantages
        loss_mask = ctx.loss_mask()
        if advantages.dim() == 2:  # per-token advantages: the row's mean over its loss tokens decides
            advantages = (advantages * loss_mask).sum(-1) / loss_mask.sum(-1).clamp(min=1.0)
        rewards = ctx.local_rewards
        positive = (
            (advantages > 0) & ctx.keep & ctx.in_mask & (loss_mask.sum(-1) > 0) & torch.isfinite(rewards.to(advantages))
        )
        pending_index = torch.full((positive.numel(),), -1, dtype=torch.long, device=positive.device)
        groups_per_generation = ctx.rewards.numel() // ctx.num_generations
        for i in torch.nonzero(positive, as_tuple=False).squeeze(-1).tolist():
            row = take_row(output, i, skip=_NOT_STORED)
            entry = ReplayEntry(
                row=row,
                reward=float(rewards[i]),
                advantage=float(advantages[i]),
                group=self.generation * groups_per_generation + (ctx.process_slice.start + i) // ctx.num_generations,
                step=self.generation,
            )
            pending_index[i] = len(self.pending)
            self.pending.append(entry)
        output[PENDING_KEY] = pending_index

    # ------------------------------------------------------------------------------------------------------- loss
    def prepare_loss(self, ctx: LossContext) -> None:
        """Capture the behaviour log-probs of this generation's collected rows at their first loss pass."""
        index = ctx.inputs.get(PENDING_KEY)
        if ctx.mode != "train" or index is None:
            return
        behaviour = ctx.old_per_token_logps.detach()
        for i in torch.nonzero(index >= 0, as_tuple=False).squeeze(-1).tolist():
            slot = int(index[i])
            if slot >= len(self.pending):
                continue  # a row of a generation whose pending list was already committed
            entry = self.pending[slot]
            if "old_per_token_logps" not in entry.row:
                length = entry.row["completion_ids"].numel()
                entry.row["old_per_token_logps"] = behaviour[i, :length].float().cpu().clone()

    # ---------------------------------------------------------------------------------------------------- metrics
    def generation_metrics(self, ctx: GenerationContext) -> dict[str, Metric]:
        if self.name not in ctx.records:
            return {}
        record = ctx.records[self.name]
        share = 1.0 / self.trainer.accelerator.num_processes  # a count of 1/P per process: the mean is the sum
        return {
            "buffer_size": Metric(float(record["buffer_size"]), share),
            "replay_triggered": Metric(record["replay_triggered"], reduce="global"),
            "replay_rows": Metric(float(record["replay_rows"]), share),
            "sil_weight": Metric(record["sil_weight"], reduce="global"),
            "baseline_p50": Metric(record["baseline_p50"], reduce="global"),
        }

    # ------------------------------------------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        captured = [e.to_state() for e in self.pending if "old_per_token_logps" in e.row]
        return {
            "buffer": self.buffer.state_dict(),
            "pending": captured,
            "baseline": self.baseline.state_dict(),
            "generation": self.generation,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.buffer.load_state_dict(state["buffer"])
        self.pending = [ReplayEntry.from_state(e) for e in state["pending"]]
        self.baseline.load_state_dict(state["baseline"])
        self.generation = int(state["generation"])
