"""`PeriodicEvalCallback`: the scheduling, logging and CSV plumbing shared by the held-out evaluation callbacks
(`PassAtKCallback`, `AnswerChoiceMassCallback`).

A subclass implements `measure` (run the evaluation on this process's shard, gather across processes, return the
metrics) and sets `namespace`; the base evaluates before training, every `eval_steps` optimizer steps and at the end
of training (once per step), records ``{namespace}/{metric}`` in the trainer state's log history at the step it was
measured, hands the values to the logging integrations with the next logged metrics, and appends rows to a CSV file
under ``args.output_dir`` (main process only).
"""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

logger = logging.getLogger(__name__)


class PeriodicEvalCallback(TrainerCallback):
    """Base class of the callbacks that evaluate the model on held-out data every `eval_steps` steps.

    Args:
        eval_steps (`int`): evaluate every this many optimizer steps (and at step 0 and at the end of training).
        csv_name (`str` or `None`): file under `args.output_dir` receiving rows per evaluation (`None`: no file).
        show_progress (`bool`): show progress bars while evaluating.

    Attributes:
        history (`list[dict]`): one dict per evaluation: ``{"step": ..., <metric>: ..., "seconds": ...}``.
    """

    #: prefix of the logged metric names (``"<namespace>/<metric>"``)
    namespace: str = "eval"

    def __init__(self, eval_steps: int, csv_name: str | None, show_progress: bool) -> None:
        if isinstance(eval_steps, bool) or not isinstance(eval_steps, int) or eval_steps < 1:
            raise ValueError(f"`eval_steps` must be an integer >= 1, got {eval_steps!r}.")
        self.eval_steps = eval_steps
        self.csv_name = csv_name
        self.show_progress = show_progress
        self.history: list[dict[str, float]] = []
        self._last_step: int | None = None
        self._pending: dict[str, float] = {}

    # -------------------------------------------------------------------------------------------- to implement
    def measure(self, model: Any, tokenizer: Any, args: Any) -> dict[str, float]:
        """Evaluate now and return ``{metric: value}``, identical on every process."""
        raise NotImplementedError

    def csv_rows(self, row: dict[str, float]) -> tuple[list[str], list[list[Any]]]:
        """Header and rows written for one evaluation; default: one wide row ``step, <metrics>..., seconds``."""
        keys = [k for k in row if k not in ("step", "seconds")]
        values = [row["step"], *(f"{row[k]:.6f}" for k in keys), f"{row['seconds']:.3f}"]
        return ["step", *keys, "seconds"], [values]

    # ------------------------------------------------------------------------------------------ distributed
    @staticmethod
    def rank_and_world() -> tuple[int, int]:
        import torch

        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    @classmethod
    def shard_indices(cls, num_rows: int) -> range:
        """The rows this process evaluates: ``rank, rank + world, ...``."""
        rank, world = cls.rank_and_world()
        return range(rank, num_rows, world)

    @classmethod
    def gather(cls, local: list[Any]) -> list[Any]:
        """Concatenate every process's list (in rank order); the local list when not distributed."""
        import torch

        _, world = cls.rank_and_world()
        if world == 1:
            return list(local)
        gathered: list[Any] = [None] * world
        torch.distributed.all_gather_object(gathered, local)
        return [x for part in gathered for x in part]

    # --------------------------------------------------------------------------------------------- evaluation
    def evaluate(self, model: Any, tokenizer: Any, args: Any, step: int) -> dict[str, float]:
        """Run one evaluation now; returns (and records) ``{"step", <metrics>..., "seconds"}``."""
        start = time.perf_counter()
        metrics = self.measure(model, tokenizer, args)
        row: dict[str, float] = {"step": step, **metrics, "seconds": time.perf_counter() - start}
        self.history.append(row)
        self._last_step = step
        self._write_csv(args, row)
        return row

    def _write_csv(self, args: Any, row: dict[str, float]) -> None:
        output_dir = getattr(args, "output_dir", None)
        if self.csv_name is None or output_dir is None or getattr(args, "process_index", 0) != 0:
            return
        path = Path(output_dir) / self.csv_name
        path.parent.mkdir(parents=True, exist_ok=True)
        header, rows = self.csv_rows(row)
        new = not path.exists()
        with path.open("a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(header)
            writer.writerows(rows)

    # ---------------------------------------------------------------------------------------------- events
    def _run(self, args: Any, state: Any, model: Any, processing_class: Any) -> None:
        if model is None or processing_class is None:
            raise ValueError(f"{type(self).__name__} needs the trainer's model and processing_class (tokenizer).")
        tokenizer = getattr(processing_class, "tokenizer", processing_class)
        row = self.evaluate(model, tokenizer, args, state.global_step)
        logs = {f"{self.namespace}/{k}": v for k, v in row.items() if k not in ("step", "seconds")}
        state.log_history.append({**logs, "step": state.global_step})
        self._pending = logs
        logger.info("step %d: %s", state.global_step, ", ".join(f"{k}={v:.3f}" for k, v in logs.items()))

    def on_log(self, args, state, control, logs=None, **kwargs):
        # Hand the latest evaluation to the logging integrations (wandb, tensorboard, ...) that run after us.
        if logs is not None and self._pending:
            logs.update(self._pending)
            self._pending = {}

    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kwargs):
        if self._last_step != state.global_step:
            self._run(args, state, model, processing_class)

    def on_step_end(self, args, state, control, model=None, processing_class=None, **kwargs):
        if state.global_step % self.eval_steps == 0 and self._last_step != state.global_step:
            self._run(args, state, model, processing_class)

    def on_train_end(self, args, state, control, model=None, processing_class=None, **kwargs):
        if self._last_step != state.global_step:
            self._run(args, state, model, processing_class)
