"""Run the exploration lab: warm-start (or load) a model, train each method from it with the same budget, collect."""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._validation import check_int, check_number, check_str
from .methods import DemoMethod, resolve_methods

logger = logging.getLogger(__name__)

TOY_TASKS = ("countdown", "arithmetic")


@dataclass
class DemoSettings:
    """Settings of one demo run (the `trl-explore demo` flags).

    Args:
        methods (`list[str]`): methods to train (default: all of `METHODS`); GRPO is the baseline.
        steps (`int`, defaults to `100`): optimizer steps per method.
        seed (`int`, defaults to `0`): seed of the warm start, the data and every run.
        output_dir (`str`, defaults to `"trl_explore_demo"`): where the report, plots and per-method logs go.
        model (`str`, *optional*): Hub name or local path of the model to train; default: the toy kit's warm start.
        task (`str`, defaults to `"countdown"`): `countdown` / `arithmetic` (synthetic, any model), or a math dataset
            by Hub name or local file (`prompt`/`problem` + `answer`/`solution` columns), graded by
            `math_accuracy_reward`.
        prompts_per_step (`int`, defaults to `8`) and num_generations (`int`, defaults to `8`): batch per step.
        max_completion_length (`int`, defaults to `40`): completion budget in tokens.
        learning_rate (`float`, defaults to `1e-4`): shared constant learning rate (the toy model is tiny; real models
            want ~1e-6).
        eval_every (`int`, defaults to `25`): pass@k evaluation interval in steps.
        eval_prompts (`int`, defaults to `64`) and k (`int`, defaults to `8`): held-out prompts and samples per prompt.
    """

    methods: list[str] = field(default_factory=list)
    steps: int = 100
    seed: int = 0
    output_dir: str = "trl_explore_demo"
    model: str | None = None
    task: str = "countdown"
    prompts_per_step: int = 8
    num_generations: int = 8
    max_completion_length: int = 40
    learning_rate: float = 1e-4
    eval_every: int = 25
    eval_prompts: int = 64
    k: int = 8
    train_prompts: int = 2000

    def __post_init__(self) -> None:
        for name in ("steps", "prompts_per_step", "eval_every", "eval_prompts", "k", "max_completion_length"):
            check_int(self, name, low=1)
        if check_int(self, "num_generations") < 2:
            raise ValueError(f"`num_generations` must be >= 2 (GRPO compares completions), got {self.num_generations}.")
        check_int(self, "seed", low=0)
        check_int(self, "train_prompts", low=1)
        check_number(self, "learning_rate", low=0.0, low_open=True)
        check_str(self, "output_dir")
        check_str(self, "task")
        check_str(self, "model", allow_none=True)
        if not isinstance(self.methods, (list, tuple)) or not all(isinstance(m, str) for m in self.methods):
            raise ValueError(f"`methods` must be a list of method names, got {self.methods!r}.")
        resolve_methods(self.methods)  # raises on unknown names


@dataclass
class MethodResult:
    """What one method's run produced."""

    name: str
    label: str
    summary: str
    logs: list[dict[str, float]]
    pass_at_k: list[dict[str, float]]
    train_seconds: float
    eval_seconds: float
    steps: int

    @property
    def seconds_per_step(self) -> float:
        return (self.train_seconds - self.eval_seconds) / max(self.steps, 1)


def _seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def prepare_task(settings: DemoSettings) -> tuple[Any, Any, Any]:
    """Return ``(train_dataset, eval_dataset, reward_func)`` for the task (held-out prompts use another seed)."""
    if settings.task == "countdown":
        from ..toy import countdown_reward, make_countdown_dataset

        train = make_countdown_dataset(settings.train_prompts, seed=settings.seed + 1000)
        held_out = make_countdown_dataset(settings.eval_prompts, seed=settings.seed + 2000)
        return train, held_out, countdown_reward
    if settings.task == "arithmetic":
        from ..rewards import math_accuracy_reward
        from ..toy import make_arithmetic_dataset

        train = make_arithmetic_dataset(settings.train_prompts, seed=settings.seed + 1000)
        held_out = make_arithmetic_dataset(settings.eval_prompts, seed=settings.seed + 2000)
        return train, held_out, math_accuracy_reward
    from ..evaluation import load_math_dataset
    from ..rewards import math_accuracy_reward

    data = load_math_dataset(settings.task, split="train").shuffle(seed=settings.seed)
    n_eval = min(settings.eval_prompts, len(data) // 5)
    if n_eval < 1:
        raise ValueError(f"Task dataset {settings.task!r} has {len(data)} rows: too few for a held-out split.")
    return data.select(range(n_eval, len(data))), data.select(range(n_eval)), math_accuracy_reward


def prepare_model(settings: DemoSettings) -> str:
    """The model every method starts from: `settings.model`, or the toy warm start of the task (cached)."""
    if settings.model is not None:
        return settings.model
    if settings.task not in TOY_TASKS:
        raise ValueError(f"Task {settings.task!r} needs `--model`: the toy model only knows {TOY_TASKS}.")
    from ..toy import warm_start

    logger.info("warm-starting the toy model on %s (cached after the first run)", settings.task)
    return str(warm_start(task=settings.task, seed=settings.seed))


def shared_grpo_values(
    *,
    output_dir: str,
    steps: int,
    prompts_per_step: int,
    num_generations: int,
    max_completion_length: int,
    learning_rate: float,
    seed: int,
) -> dict[str, Any]:
    """`GRPOConfig` fields shared by every method of a same-budget comparison (the demo, `benchmarks/rng_toy.py`):
    constant learning rate, no KL, token-mean loss, temperature 1, one log per step, nothing saved."""
    import torch

    return {
        "output_dir": output_dir,
        "max_steps": steps,
        "per_device_train_batch_size": prompts_per_step * num_generations,
        "num_generations": num_generations,
        "max_completion_length": max_completion_length,
        "learning_rate": learning_rate,
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
        "weight_decay": 0.0,
        "max_grad_norm": 1.0,
        "beta": 0.0,
        "loss_type": "dapo",
        "temperature": 1.0,
        "top_p": 1.0,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "seed": seed,
        "data_seed": seed,
        "use_cpu": not torch.cuda.is_available(),
        "bf16": torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
    }


def _build_config(method: DemoMethod, config_cls: type, settings: DemoSettings, output_dir: Path) -> Any:
    values = shared_grpo_values(
        output_dir=str(output_dir),
        steps=settings.steps,
        prompts_per_step=settings.prompts_per_step,
        num_generations=settings.num_generations,
        max_completion_length=settings.max_completion_length,
        learning_rate=settings.learning_rate,
        seed=settings.seed,
    )
    values.update(method.overrides)
    return config_cls(**values)


def run_method(
    method: DemoMethod, model_path: str, settings: DemoSettings, train: Any, held_out: Any, reward: Any
) -> MethodResult:
    """Train one method from `model_path` and collect its logs and pass@k curve."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..callbacks.exploration import ExplorationDiagnosticsCallback
    from ..callbacks.pass_at_k import PassAtKCallback

    trainer_cls, config_cls = method.load()
    out = Path(settings.output_dir) / "runs" / method.name
    config = _build_config(method, config_cls, settings, out)
    _seed_everything(settings.seed)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path)
    pass_cb = PassAtKCallback(
        held_out, reward, k=settings.k, eval_steps=settings.eval_every, batch_size=64, show_progress=False
    )
    explore_cb = ExplorationDiagnosticsCallback(tokenizer=tokenizer)
    trainer = trainer_cls(
        model=model,
        reward_funcs=reward,
        args=config,
        train_dataset=train,
        processing_class=tokenizer,
        callbacks=[pass_cb, explore_cb],
    )
    explore_cb.attach(trainer)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    logs = [
        {k: float(v) for k, v in entry.items() if isinstance(v, (int, float)) and math.isfinite(float(v))}
        for entry in trainer.state.log_history
        if "loss" in entry or "reward" in entry
    ]
    result = MethodResult(
        name=method.name,
        label=method.label,
        summary=method.summary,
        logs=logs,
        pass_at_k=list(pass_cb.history),
        train_seconds=seconds,
        eval_seconds=sum(row["seconds"] for row in pass_cb.history),
        steps=int(trainer.state.global_step),
    )
    (out / "result.json").write_text(json.dumps(asdict(result), indent=2))
    return result


def run_demo(settings: DemoSettings) -> Path:
    """Run every method and write the report; returns the path of ``demo_report.md``."""
    import torch
    from tqdm.auto import tqdm

    from .report import write_report

    methods = resolve_methods(settings.methods)
    if settings.model is None and not torch.cuda.is_available():
        # The toy model's matmuls are a few dozen wide: threads add synchronisation, not speed (and oversubscribe a
        # small machine). Real models keep torch's default.
        torch.set_num_threads(1)
    out = Path(settings.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model_path = prepare_model(settings)
    warm_seconds = time.perf_counter() - start
    train, held_out, reward = prepare_task(settings)
    results = []
    for method in tqdm(methods, desc="methods", unit="method"):
        logger.info("training %s for %d steps", method.label, settings.steps)
        results.append(run_method(method, model_path, settings, train, held_out, reward))
    report = write_report(results, settings, out, model_path=model_path, warm_seconds=warm_seconds,
                          total_seconds=time.perf_counter() - start)
    from .decoding import append_decoding_section  # SwiReasoning vs plain sampling, appended to the report

    append_decoding_section(report, model_path, settings, held_out, reward)
    return report
