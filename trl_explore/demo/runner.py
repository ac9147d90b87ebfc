"""Run the exploration lab: warm-start (or load) a model, train every method from it with every seed, collect.

A run is a list of jobs: one evaluation of the starting model per seed, and one training run per (method, seed).
Every training run starts from the same weights with the same settings (`trl_explore.demo.regime`); a seed fixes the
order of the training prompts, the sampling during training and the sampling of the held-out evaluation, so the runs
of two methods with one seed are paired. On a CPU without `--model` the jobs run in parallel worker processes (one
thread each); otherwise in this process, one after the other. Results are written to a staging folder next to the
output folder and moved into place at the end, so a failed run leaves the previous results untouched; a re-run replaces
only the files an earlier run wrote (listed in the folder's manifest, `trl_explore._output`) and keeps every other file.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._process import (  # noqa: F401  (KNOWN_WARNINGS and quiet_known_warnings: also importable from here)
    KNOWN_WARNINGS,
    _restoring_console_state,
    quiet_known_warnings,
    restoring_process_state,
)
from .floatpath import FLOAT_PATHS, check_float_path, float_path_environment
from .methods import BASELINE, METHODS, DemoMethod, resolve_methods
from .regime import (
    DEFAULT_REGIME,
    DEFAULT_SEEDS,
    QUICK_REGIME,
    DemoUsageError,
    ToyRegime,
    check_int,
    grpo_config_values,
)
from .task import _seed_everything, _task_data_cached, prepare_model, prepare_task  # noqa: F401 (re-exported)
from .tuned import learning_rate_of

logger = logging.getLogger(__name__)

TOY_TASKS = ("countdown", "arithmetic")
MARKER_FILE = ".trl_explore_demo"
MAX_AUTO_WORKERS = 8

Emit = Callable[[tuple], None]


@dataclass
class DemoSettings:
    """Settings of one demo run (the `trl-explore demo` flags). The training fields default to `DEFAULT_REGIME`.

    Args:
        methods (`list[str]`, *optional*):
            Methods to train (default: every method of `METHODS` marked `default`); GRPO, the baseline, is always run.
        seeds (`int`, *optional*, defaults to `DEFAULT_SEEDS` = `3`):
            Number of paired seeds: every method runs with seeds `seed`, `seed + 1`, ... `seed + seeds - 1`.
        seed (`int`, *optional*, defaults to `0`):
            First seed.
        steps (`int`, *optional*, defaults to `DEFAULT_REGIME.steps`):
            Optimizer steps per run.
        output_dir (`str`, *optional*, defaults to `"trl_explore_demo"`):
            Folder of the report, plots and per-run logs; a re-run replaces the files the demo wrote there and keeps
            every other file (it refuses to overwrite a file it did not write).
        model (`str`, *optional*):
            Hub name or local path of the model to train; default: the toy kit's warm start of the task (cached).
        task (`str`, *optional*, defaults to `"countdown"`):
            `countdown` / `arithmetic` (synthetic), or, with `model`, a math dataset by Hub name or local file
            (`prompt`/`problem` + `answer`/`solution` columns) graded by `math_accuracy_reward`.
        prompts_per_step (`int`, *optional*, defaults to `DEFAULT_REGIME.prompts_per_step`):
            As in `ToyRegime`; so are `num_generations`, `steps_per_generation`, `max_completion_length`,
            `temperature`, `epsilon`, `eval_prompts`, `k`, `low_prob_threshold`, `warm_start_steps`,
            `train_data_seed` and `eval_data_seed` (defaults: `DEFAULT_REGIME`).
        learning_rate (`float`, *optional*):
            One shared constant learning rate for every method; `None` (default) trains each method at its own rate,
            `trl_explore.demo.tuned.TUNED_LEARNING_RATES` (`regime` then shows `DEFAULT_REGIME`'s).
        float_path (`str`, *optional*, defaults to `"default"`):
            Floating-point path of the worker processes, `trl_explore.demo.floatpath.FLOAT_PATHS`: `"avx2"` / `"scalar"`
            run torch's CPU kernels as a CPU without AVX-512 / without SIMD would (another rounding of every sum).
        eval_every (`int`, *optional*):
            Also evaluate pass@k every this many steps (default: only before and after training).
        warm_start_seed (`int`, *optional*, defaults to `0`):
            Seed of the warm start (one starting model for every seed).
        workers (`int`, *optional*):
            Parallel worker processes; default: the usable CPU cores (at most 8) for the toy model on a CPU, else 1.
        show_progress (`bool`, *optional*, defaults to `True`):
            Progress bar and one summary line per evaluation on the console.
    """

    methods: list[str] = field(default_factory=list)
    seeds: int = DEFAULT_SEEDS
    seed: int = 0
    steps: int = DEFAULT_REGIME.steps
    output_dir: str = "trl_explore_demo"
    model: str | None = None
    task: str = DEFAULT_REGIME.task
    prompts_per_step: int = DEFAULT_REGIME.prompts_per_step
    num_generations: int = DEFAULT_REGIME.num_generations
    steps_per_generation: int = DEFAULT_REGIME.steps_per_generation
    max_completion_length: int = DEFAULT_REGIME.max_completion_length
    learning_rate: float | None = None
    temperature: float = DEFAULT_REGIME.temperature
    epsilon: float = DEFAULT_REGIME.epsilon
    eval_every: int | None = None
    eval_prompts: int = DEFAULT_REGIME.eval_prompts
    k: int = DEFAULT_REGIME.k
    low_prob_threshold: float = DEFAULT_REGIME.low_prob_threshold
    warm_start_steps: int | None = DEFAULT_REGIME.warm_start_steps
    warm_start_seed: int = 0
    train_data_seed: int = DEFAULT_REGIME.train_data_seed
    eval_data_seed: int = DEFAULT_REGIME.eval_data_seed
    workers: int | None = None
    show_progress: bool = True
    float_path: str = "default"

    def __post_init__(self) -> None:
        if not isinstance(self.methods, (list, tuple)) or not all(isinstance(m, str) for m in self.methods):
            raise ValueError(f"`methods` must be a list of method names, got {self.methods!r}.")
        for name in ("output_dir",) + (("model",) if self.model is not None else ()):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"`{name}` must be a non-empty string, got {getattr(self, name)!r}.")
        if not isinstance(self.show_progress, bool):
            raise ValueError(f"`show_progress` must be True or False, got {self.show_progress!r}.")
        check_int("seeds", self.seeds, 1)
        check_float_path(self.float_path)
        check_int("seed", self.seed, 0)
        check_int("warm_start_seed", self.warm_start_seed, 0)
        if self.eval_every is not None:
            check_int("eval_every", self.eval_every, 1)
        if self.workers is not None:
            check_int("workers", self.workers, 1)
        if not isinstance(self.task, str) or not self.task:
            raise ValueError(f"`task` must be a non-empty string, got {self.task!r}.")
        if self.model is None and self.task not in TOY_TASKS:
            close = difflib.get_close_matches(self.task, TOY_TASKS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"Unknown task {self.task!r}: the toy model knows {' and '.join(TOY_TASKS)}.{hint} A math dataset (Hub "
                "name or local file) needs `--model` as well."
            )
        self.regime  # noqa: B018  (validates the training fields)
        resolve_methods(self.methods)  # raises on unknown names

    @classmethod
    def from_regime(cls, regime: ToyRegime, **kwargs: Any) -> DemoSettings:
        """Settings whose training fields are `regime`'s, plus `kwargs` (the run fields, or overrides)."""
        values = {name: getattr(regime, name) for name in _REGIME_FIELDS}
        values.update(kwargs)
        return cls(**values)

    @classmethod
    def quick(cls, **kwargs: Any) -> DemoSettings:
        """`trl-explore demo --quick`: `QUICK_REGIME`, 2 seeds; runs in seconds per method (checks the install)."""
        return cls.from_regime(QUICK_REGIME, **{"seeds": 2, "learning_rate": None, **kwargs})

    @property
    def regime(self) -> ToyRegime:
        # `learning_rate=None` means each method's own rate (`trl_explore.demo.tuned`): the regime keeps its default
        values = {name: getattr(self, name) for name in _REGIME_FIELDS}
        if values["learning_rate"] is None:
            del values["learning_rate"]
        return ToyRegime(**values)

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seed, self.seed + self.seeds))

    @property
    def eval_steps(self) -> list[int]:
        """Steps after which the held-out pass@k is measured (always the last one)."""
        every = self.eval_every or self.steps
        return sorted({*range(every, self.steps + 1, every), self.steps})


_REGIME_FIELDS = tuple(ToyRegime.__dataclass_fields__)


@dataclass
class RunResult:
    """One training run: a method with one seed."""

    method: str
    label: str
    seed: int
    logs: list[dict[str, float]]
    evals: list[dict[str, float]]
    train_seconds: float
    eval_seconds: float
    steps: int
    start_eval: dict[str, float] = field(default_factory=dict)
    learning_rate: float | None = None  # the run's learning rate (None in folders written before it was recorded)

    @property
    def final_eval(self) -> dict[str, float]:
        return self.evals[-1] if self.evals else {}

    @property
    def seconds_per_step(self) -> float:
        return self.train_seconds / max(self.steps, 1)


@dataclass
class DemoRun:
    """Everything a demo run produced (what the report is written from)."""

    settings: DemoSettings
    methods: list[DemoMethod]
    results: list[RunResult]
    start_evals: dict[int, dict[str, float]]
    model_path: str
    warm_seconds: float
    total_seconds: float = 0.0
    workers: int = 1
    cpu_seconds: float = float("nan")

    def task(self) -> tuple[Any, Any, Any]:
        """``(train_dataset, held_out_dataset, reward_func)`` of the run (`prepare_task`)."""
        return prepare_task(self.settings)

    def runs(self, method: str) -> list[RunResult]:
        """The method's runs in seed order."""
        return sorted((r for r in self.results if r.method == method), key=lambda r: r.seed)


# ------------------------------------------------------------------------------------------------- process set-up
def _uses_cpu_toy(settings: DemoSettings) -> bool:
    import torch

    return settings.model is None and not torch.cuda.is_available()


def _configure_process(settings: DemoSettings) -> None:
    import torch

    quiet_known_warnings()
    os.environ.setdefault("WANDB_DISABLED", "true")
    if _uses_cpu_toy(settings):
        # The toy model's matmuls are a few dozen wide: threads add synchronisation, not speed (and oversubscribe a
        # small machine). Real models keep torch's default.
        torch.set_num_threads(1)


def resolve_workers(settings: DemoSettings, n_jobs: int) -> int:
    """`settings.workers`, or the usable CPU cores (at most 8) for the toy model on a CPU, else 1."""
    if settings.workers is not None:
        return max(1, min(settings.workers, n_jobs))
    if not _uses_cpu_toy(settings):
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_AUTO_WORKERS, n_jobs))


# --------------------------------------------------------------------------------------------------------- jobs
@dataclass(frozen=True)
class Job:
    """``kind="start"``: evaluate the starting model with `seed`; ``kind="train"``: train `method` with `seed`."""

    kind: str
    seed: int
    method: str | None = None


def _evaluator(settings: DemoSettings, held_out: Any, reward: Any) -> Any:
    from ..callbacks.pass_at_k import PassAtKCallback

    return PassAtKCallback(
        held_out,
        reward,
        k=settings.k,
        temperature=settings.temperature,
        max_new_tokens=settings.max_completion_length,
        batch_size=max(1, 512 // settings.k),
        show_progress=False,
    )


def _evaluate(evaluator: Any, model: Any, tokenizer: Any, seed: int, step: int) -> dict[str, float]:
    """pass@1 ... pass@k on the held-out prompts, sampled with `seed`; the global RNG state is left as it was, so an
    evaluation never changes the training run around it."""
    from types import SimpleNamespace

    import torch

    with torch.random.fork_rng(devices=[]):
        row = evaluator.evaluate(model, tokenizer, SimpleNamespace(output_dir=None, seed=seed), step)
    return {key: float(value) for key, value in row.items()}


def _format_eval(label: str, seed: int, step: int, steps: int, row: dict[str, float], k: int, extra: str = "") -> str:
    width = max(12, *(len(m.label) for m in METHODS.values()))  # every label, e.g. "SPEAR (replay)", fits
    return (
        f"{label:<{width}} seed {seed}  step {step:>4}/{steps}  pass@1 {row.get('pass@1', float('nan')):.3f}  "
        f"pass@{k} {row.get(f'pass@{k}', float('nan')):.3f}{extra}"
    )


def _load(model_path: str) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoTokenizer.from_pretrained(model_path), AutoModelForCausalLM.from_pretrained(model_path)


def _run_start(job: Job, settings: DemoSettings, model_path: str, emit: Emit) -> dict[str, Any]:
    _, held_out, reward = prepare_task(settings)
    tokenizer, model = _load(model_path)
    import torch

    if torch.cuda.is_available():
        model = model.to("cuda")
    row = _evaluate(_evaluator(settings, held_out, reward), model, tokenizer, job.seed, 0)
    emit(("line", _format_eval("start", job.seed, 0, settings.steps, row, settings.k)))
    return {"kind": "start", "seed": job.seed, "eval": row}


def _run_train(job: Job, settings: DemoSettings, model_path: str, emit: Emit) -> dict[str, Any]:
    import torch
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from ..callbacks.exploration import ExplorationDiagnosticsCallback
    from .quantities import window

    method = METHODS[job.method]
    trainer_cls, config_cls = method.load()
    train, held_out, reward = prepare_task(settings)
    evaluator = _evaluator(settings, held_out, reward)
    eval_steps = set(settings.eval_steps)
    evals: list[dict[str, float]] = []
    cuda = torch.cuda.is_available()

    class _DemoCallback(TrainerCallback):
        """Reports each optimizer step to the console and evaluates pass@k at the chosen steps."""

        def on_step_end(self, args, state, control, model=None, processing_class=None, **kwargs):
            emit(("step", 1))
            if state.global_step in eval_steps:
                tok = getattr(processing_class, "tokenizer", processing_class)
                row = _evaluate(evaluator, model, tok, job.seed, state.global_step)
                evals.append(row)
                # the last tenth of the steps logged so far (rewards are logged at generation steps only)
                recent = [e for e in state.log_history if "entropy" in e][-window(state.global_step) :]
                rewards = [e["reward"] for e in recent if "reward" in e]
                extra = ""
                if recent:
                    extra = f"  entropy {sum(e['entropy'] for e in recent) / len(recent):.3f}"
                if rewards:
                    extra += f"  train reward {sum(rewards) / len(rewards):.3f}"
                emit(
                    (
                        "line",
                        _format_eval(method.label, job.seed, state.global_step, settings.steps, row, settings.k, extra),
                    )
                )

    with tempfile.TemporaryDirectory(prefix="trl_explore_demo_") as tmp:
        # bf16 only where the GPU has it natively (compute capability >= 8); else float32 (is_bf16_supported()
        # also counts emulation, e.g. on a T4)
        bf16 = cuda and torch.cuda.get_device_capability()[0] >= 8
        regime = settings.regime.replace(learning_rate=learning_rate_of(settings.learning_rate, method.name))
        values = grpo_config_values(regime, output_dir=tmp, seed=job.seed, use_cpu=not cuda, bf16=bf16)
        values.update(method.overrides)
        config = config_cls(**values)
        _seed_everything(job.seed)
        tokenizer, model = _load(model_path)
        thresholds = sorted({settings.low_prob_threshold, 0.01}, reverse=True)
        explore = ExplorationDiagnosticsCallback(tokenizer=tokenizer, thresholds=thresholds, spark_words=())
        trainer = trainer_cls(
            model=model,
            reward_funcs=reward,
            args=config,
            train_dataset=train,
            processing_class=tokenizer,
            callbacks=[explore, _DemoCallback()],
        )
        explore.attach(trainer)
        for quiet in (PrinterCallback, ProgressCallback):  # the demo prints its own progress and summaries
            trainer.remove_callback(quiet)
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
        logs = [
            {k: float(v) for k, v in entry.items() if isinstance(v, (int, float)) and math.isfinite(float(v))}
            for entry in trainer.state.log_history
            if "loss" in entry  # one entry per optimizer step ("reward" only at the steps that generate)
        ]
    eval_seconds = sum(e.get("seconds", 0.0) for e in evals)
    return {
        "kind": "train",
        "result": asdict(
            RunResult(
                method=method.name,
                label=method.label,
                seed=job.seed,
                logs=logs,
                evals=evals,
                train_seconds=seconds - eval_seconds,
                eval_seconds=eval_seconds,
                steps=int(trainer.state.global_step),
                learning_rate=regime.learning_rate,
            )
        ),
    }


def run_job(job: Job, settings: DemoSettings, model_path: str, emit: Emit) -> dict[str, Any]:
    """Run one job; progress goes to `emit` as ``("step", n)`` and ``("line", text)`` events."""
    if job.kind == "start":
        return _run_start(job, settings, model_path, emit)
    return _run_train(job, settings, model_path, emit)


# ------------------------------------------------------------------------------------------------ worker processes
_WORKER_EMIT: Emit | None = None


def _worker_init(queue: Any, settings: DemoSettings) -> None:
    global _WORKER_EMIT
    _WORKER_EMIT = queue.put
    _configure_process(settings)


def _worker_run(job: Job, settings: DemoSettings, model_path: str) -> dict[str, Any]:
    assert _WORKER_EMIT is not None
    return run_job(job, settings, model_path, _WORKER_EMIT)


class _Console:
    """One progress bar over every optimizer step of the run, and the summary lines above it."""

    def __init__(self, total_steps: int, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        self.enabled = enabled
        self.bar = tqdm(total=total_steps, desc="training", unit="step", disable=not enabled, dynamic_ncols=True)

    def __call__(self, event: tuple) -> None:
        if event[0] == "step":
            self.bar.update(event[1])
        elif event[0] == "line" and self.enabled:
            self._tqdm.write(event[1])

    def close(self) -> None:
        self.bar.close()


def execute(jobs: list[Job], settings: DemoSettings, model_path: str, console: Emit, workers: int) -> list[dict]:
    """Run `jobs` (in `workers` processes when > 1, or when the float path needs its own processes) and return their
    outputs in job order."""
    if workers <= 1 and not FLOAT_PATHS[settings.float_path]:
        return [run_job(job, settings, model_path, console) for job in jobs]
    import multiprocessing as mp
    import queue as queue_module
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")  # a fresh interpreter per worker: no forked torch threads or locks
    events = ctx.Queue()

    def drain(wait_seconds: float = 0.0) -> None:
        """Show the queued events; with ``wait_seconds``, wait that long for each further one (the last events of a
        finished worker can still be in the pipe when the pool closes)."""
        while True:
            try:
                console(events.get(timeout=wait_seconds) if wait_seconds else events.get_nowait())
            except queue_module.Empty:
                return

    outputs: dict[int, dict] = {}
    with (
        float_path_environment(settings.float_path),
        ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init, initargs=(events, settings)) as pool,
    ):
        futures = {pool.submit(_worker_run, job, settings, model_path): i for i, job in enumerate(jobs)}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                drain()
                for future in done:
                    outputs[futures[future]] = future.result()
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    drain(wait_seconds=0.5)
    return [outputs[i] for i in range(len(jobs))]


# ------------------------------------------------------------------------------------------------ output folder
#: What the demo writes into its output folder (checked against foreign files before it starts; see `trl_explore._output`)
DEMO_FILES = (
    MARKER_FILE,
    "settings.json",
    "demo_report.md",
    "metrics.csv",
    "summary.csv",
    "overview.png",
    "pass_at_k.png",
    "training_curves.png",
    "mechanisms.png",
    "decoding.json",
    "decoding_traces.png",
    "runs/*/seed*.json",
)


@contextlib.contextmanager
def _staged_output(output_dir: Path) -> Iterator[Path]:
    """Yield a staging folder next to `output_dir`; on success move its files into `output_dir`, replacing only
    the files an earlier demo run wrote (its manifest); the user's own files stay. A run that would overwrite a file
    the demo did not write is refused (`DemoUsageError` naming it). On failure `output_dir` is untouched; the staging
    folder is kept when it holds finished runs."""
    from .._output import OutputFolderError, staged_output

    def keep(staging: Path) -> bool:
        if (staging / "runs").is_dir():
            logger.error("demo stopped; %s is unchanged, the finished runs are in %s", output_dir, staging)
            return True
        return False

    try:
        with staged_output(output_dir, "trl-explore demo", DEMO_FILES, "--output-dir", keep_on_error=keep) as staging:
            (staging / MARKER_FILE).write_text(
                "written by `trl-explore demo` (its files: .trl_explore_manifest.json)\n"
            )
            yield staging
    except OutputFolderError as err:
        raise DemoUsageError(str(err)) from None


def _write_run(staging: Path, result: RunResult) -> None:
    folder = staging / "runs" / result.method
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"seed{result.seed}.json").write_text(json.dumps(asdict(result), indent=1))


def _cpu_seconds() -> float:
    """User + system CPU time of this process and of its finished child processes (the workers)."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return float("nan")
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def collect(settings: DemoSettings, staging: Path | None = None) -> DemoRun:
    """Warm-start (or load) the model, run every job and return the results (written under `staging` when given).
    Torch's thread count and ``WANDB_DISABLED`` of this process are restored after (the quiet console stays on for the
    report; `run_demo` restores it)."""
    with restoring_process_state():
        return _collect(settings, staging)


def _collect(settings: DemoSettings, staging: Path | None) -> DemoRun:
    methods = resolve_methods(settings.methods)
    _configure_process(settings)
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    model_path = prepare_model(settings)
    warm_seconds = time.perf_counter() - start
    prepare_task(settings)  # fail early on a bad dataset, before any worker starts
    seeds = settings.seed_list
    jobs = [Job("start", s) for s in seeds] + [Job("train", s, m.name) for s in seeds for m in methods]
    workers = resolve_workers(settings, len(jobs))
    logger.info(
        "training %d methods x %d seeds (%d steps each) in %d process%s",
        len(methods),
        len(seeds),
        settings.steps,
        workers,
        "es" if workers > 1 else "",
    )
    console = _Console(total_steps=len(methods) * len(seeds) * settings.steps, enabled=settings.show_progress)
    try:
        outputs = execute(jobs, settings, model_path, console, workers)
    finally:
        console.close()
    starts = {o["seed"]: o["eval"] for o in outputs if o["kind"] == "start"}
    results = []
    for output in outputs:
        if output["kind"] != "train":
            continue
        result = RunResult(**output["result"])
        result.start_eval = starts[result.seed]
        results.append(result)
        if staging is not None:
            _write_run(staging, result)
    return DemoRun(
        settings=settings,
        methods=methods,
        results=results,
        start_evals=starts,
        model_path=model_path,
        warm_seconds=warm_seconds,
        total_seconds=time.perf_counter() - start,
        workers=workers,
        cpu_seconds=_cpu_seconds() - cpu_start,
    )


def load_run(output_dir: str | os.PathLike) -> DemoRun:
    """Read a finished demo folder back (``settings.json`` and ``runs/<method>/seed<k>.json``), e.g. to write its
    report again with `trl_explore.demo.report.write_report` after changing the report code; trains nothing."""
    folder = Path(output_dir)
    if not (folder / MARKER_FILE).is_file() or not (folder / "settings.json").is_file():
        raise DemoUsageError(f"{folder} is not a folder written by `trl-explore demo`.")
    saved = json.loads((folder / "settings.json").read_text())
    settings = DemoSettings(**{k: v for k, v in saved.items() if k in DemoSettings.__dataclass_fields__})
    methods = [METHODS[name] for name in saved["resolved_methods"]]
    results = [
        RunResult(**json.loads(path.read_text()))
        for m in methods
        for path in sorted((folder / "runs" / m.name).glob("seed*.json"))
    ]
    starts = {r.seed: r.start_eval for r in results}
    timing = saved.get("timing", {})
    return DemoRun(
        settings=settings,
        methods=methods,
        results=results,
        start_evals=starts,
        model_path=timing.get("model_path", ""),
        warm_seconds=timing.get("warm_seconds", float("nan")),
        total_seconds=timing.get("total_seconds", float("nan")),
        workers=timing.get("workers", 1),
        cpu_seconds=timing.get("cpu_seconds", float("nan")),
    )


def run_demo(settings: DemoSettings) -> Path:
    """Run every method with every seed and write the report; returns the path of ``demo_report.md``.

    Results go to a staging folder and are moved into `settings.output_dir` at the end, replacing only the files an
    earlier demo run wrote; a run that would overwrite a file the demo did not write is refused (`DemoUsageError`).
    """
    from .report import write_report

    output_dir = Path(settings.output_dir).resolve()
    with _restoring_console_state(), _staged_output(output_dir) as staging:
        run = collect(settings, staging)
        timing = {
            "model_path": run.model_path,
            "warm_seconds": run.warm_seconds,
            "total_seconds": run.total_seconds,
            "workers": run.workers,
            "cpu_seconds": run.cpu_seconds,
        }
        (staging / "settings.json").write_text(
            json.dumps(
                {
                    **asdict(settings),
                    "baseline": BASELINE,
                    "resolved_methods": [m.name for m in run.methods],
                    "timing": timing,
                },
                indent=1,
            )
        )
        write_report(run, staging)
    return output_dir / "demo_report.md"
