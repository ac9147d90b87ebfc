"""Warm start: a short SFT that turns a freshly initialised tiny model into a weak solver of a toy task, cached on disk.

RL on a randomly initialised model gets no reward signal; `warm_start` runs TRL's `SFTTrainer` on the task's
prompt-completion data (completion-only loss) for about a thousand small steps so the model writes the
``<think>...</think>\\boxed{...}`` format and solves some problems: a pass rate clearly above zero but far from 100%,
so RL has room to improve. The result is saved (model + tokenizer + ``warm_start.json``) under a key that hashes every
setting and the library version, and later calls reuse it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

TASKS = ("countdown", "arithmetic", "multiple_choice")
METADATA_FILE = "warm_start.json"

# Per-task defaults (with the default 64-wide, 2-layer model), tuned to land a modest pass@1 at temperature 1
# (countdown about 20%, arithmetic about 35%) in about 1-3 CPU-minutes; see docs/toy.md for the measurements.
_TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "countdown": {"max_steps": 1500, "learning_rate": 3e-3},
    "arithmetic": {"max_steps": 800, "learning_rate": 3e-3},
    "multiple_choice": {"max_steps": 150, "learning_rate": 3e-3},  # answer formats (toy/multiple_choice.py)
}


#: Environment variable overriding `toy_threads` (a positive integer)
TOY_THREADS_ENV = "TRL_EXPLORE_TOY_THREADS"
#: Models up to this many parameters count as small (`small_model_threads`): their matmuls are a few dozen wide
SMALL_MODEL_PARAMETERS = 20_000_000


def toy_threads() -> int:
    """Intra-op torch threads for work on the toy models: ``$TRL_EXPLORE_TOY_THREADS`` when set, else 1.

    The toy models' matmuls are a few dozen wide: more threads add synchronisation, not speed, and on a machine whose
    cores are busy torch's default (one thread per core) oversubscribes them; measured in docs/toy.md (section
    "Threads")."""
    text = os.environ.get(TOY_THREADS_ENV, "").strip()
    if not text:
        return 1
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"${TOY_THREADS_ENV} must be a positive integer, got {text!r}.")
    return value


@contextlib.contextmanager
def torch_threads(num_threads: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(num_threads)`` and restore the caller's count afterwards (even on
    an error); ``None`` changes nothing."""
    if num_threads is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def small_model_threads(model: Any) -> int | None:
    """`toy_threads` for a model of at most `SMALL_MODEL_PARAMETERS` parameters (the toy models), ``None`` (leave
    torch's setting alone) for a larger one."""
    parameters = getattr(model, "parameters", None)
    if not callable(parameters):
        return None
    return toy_threads() if sum(p.numel() for p in parameters()) <= SMALL_MODEL_PARAMETERS else None


def default_cache_dir() -> Path:
    """``$TRL_EXPLORE_CACHE/warm_start`` when the variable is set, else ``~/.cache/trl_explore/warm_start``."""
    root = os.environ.get("TRL_EXPLORE_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "trl_explore") / "warm_start"


def _settings(
    task: str,
    arch: str,
    seed: int,
    max_steps: int | None,
    hidden_size: int,
    num_hidden_layers: int,
    num_attention_heads: int,
    learning_rate: float | None,
    per_device_train_batch_size: int,
    num_train_samples: int | None,
    conversational: bool,
    task_kwargs: dict[str, Any] | None,
) -> dict[str, Any]:
    from .._validation import check_bool, check_choice, check_int, check_number

    check_choice(None, "task", TASKS, value=task)
    check_choice(None, "arch", ("qwen2", "llama"), value=arch)
    check_int(None, "seed", value=seed, low=0)
    defaults = _TASK_DEFAULTS[task]
    max_steps = defaults["max_steps"] if max_steps is None else max_steps
    learning_rate = defaults["learning_rate"] if learning_rate is None else learning_rate
    check_int(None, "max_steps", value=max_steps, low=1)
    check_number(None, "learning_rate", value=learning_rate, low=0.0, low_open=True)
    for name, value in (
        ("hidden_size", hidden_size),
        ("num_hidden_layers", num_hidden_layers),
        ("num_attention_heads", num_attention_heads),
        ("per_device_train_batch_size", per_device_train_batch_size),
    ):
        check_int(None, name, value=value, low=1)
    if hidden_size % num_attention_heads:
        raise ValueError(
            f"`hidden_size` ({hidden_size}) must be a multiple of `num_attention_heads` ({num_attention_heads})."
        )
    check_bool(None, "conversational", value=conversational)
    if task_kwargs is not None and not isinstance(task_kwargs, dict):
        raise ValueError(f"`task_kwargs` must be a dict of dataset-builder arguments or None, got {task_kwargs!r}.")
    if num_train_samples is None:
        num_train_samples = max_steps * per_device_train_batch_size
    check_int(None, "num_train_samples", value=num_train_samples, low=1)
    from .._version import __version__

    return {
        "task": task,
        "arch": arch,
        "seed": seed,
        "max_steps": max_steps,
        "hidden_size": hidden_size,
        "num_hidden_layers": num_hidden_layers,
        "num_attention_heads": num_attention_heads,
        "learning_rate": learning_rate,
        "per_device_train_batch_size": per_device_train_batch_size,
        "num_train_samples": num_train_samples,
        "conversational": conversational,
        "task_kwargs": dict(sorted((task_kwargs or {}).items())),
        "trl_explore_version": __version__,
    }


def _checkpoint_dir(settings: dict[str, Any], cache_dir: str | Path | None) -> Path:
    """``<cache root>/<task>-<arch>-<hash of the settings>``."""
    blob = json.dumps(settings, sort_keys=True, default=str).encode()
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / f"{settings['task']}-{settings['arch']}-{hashlib.sha256(blob).hexdigest()[:16]}"


def _make_dataset(task: str, num_samples: int, seed: int, conversational: bool, task_kwargs: dict[str, Any]):
    from .tasks import make_arithmetic_dataset, make_countdown_dataset

    if task == "multiple_choice":
        from .multiple_choice import make_multiple_choice_sft_dataset

        return make_multiple_choice_sft_dataset(num_samples, seed=seed, conversational=conversational, **task_kwargs)
    builder = make_countdown_dataset if task == "countdown" else make_arithmetic_dataset
    return builder(num_samples, seed=seed, conversational=conversational, **task_kwargs)


def _reward_fn(task: str):
    if task == "multiple_choice":
        from .multiple_choice import multiple_choice_reward

        return multiple_choice_reward
    if task == "countdown":
        from .tasks import countdown_reward

        return countdown_reward
    from .tasks import arithmetic_reward

    return arithmetic_reward


def warm_start_path(
    task: str = "countdown",
    *,
    arch: str = "qwen2",
    seed: int = 0,
    max_steps: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    hidden_size: int = 64,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 4,
    learning_rate: float | None = None,
    per_device_train_batch_size: int = 32,
    num_train_samples: int | None = None,
    conversational: bool = False,
    task_kwargs: dict[str, Any] | None = None,
) -> Path:
    """Where `warm_start` with the same arguments stores (or has stored) its checkpoint; trains nothing."""
    settings = _settings(
        task,
        arch,
        seed,
        max_steps,
        hidden_size,
        num_hidden_layers,
        num_attention_heads,
        learning_rate,
        per_device_train_batch_size,
        num_train_samples,
        conversational,
        task_kwargs,
    )
    return _checkpoint_dir(settings, cache_dir)


def warm_start(
    task: str = "countdown",
    *,
    arch: str = "qwen2",
    seed: int = 0,
    max_steps: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    force: bool = False,
    hidden_size: int = 64,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 4,
    learning_rate: float | None = None,
    per_device_train_batch_size: int = 32,
    num_train_samples: int | None = None,
    conversational: bool = False,
    task_kwargs: dict[str, Any] | None = None,
    num_eval_prompts: int = 64,
    num_eval_samples_per_prompt: int = 4,
) -> Path:
    """Warm-start a tiny model on a toy task with a short SFT, cache it on disk and return its directory.

    A model from `make_tiny_model` (seeded) is trained with TRL's `SFTTrainer` on `num_train_samples`
    prompt-completion rows of the task (completion-only loss, AdamW, cosine schedule, CPU). Then its pass@1 at
    temperature 1 is measured with `evaluate_pass_rate` on `num_eval_prompts` held-out prompts (a dataset drawn with
    another seed) and written, with every setting, the training time and the library versions, to
    ``warm_start.json`` next to the model and tokenizer. Both run with `toy_threads` torch threads (one unless
    ``$TRL_EXPLORE_TOY_THREADS`` says otherwise); the caller's thread count is restored afterwards. The directory is built in a temporary folder and renamed
    into place, so an interrupted run never leaves a partial cache. A second call with the same settings returns the
    cached directory at once.

    Args:
        task (`str`, *optional*, defaults to `"countdown"`):
            `"countdown"` (`make_countdown_dataset`) or `"arithmetic"` (`make_arithmetic_dataset`).
        arch (`str`, *optional*, defaults to `"qwen2"`):
            `"qwen2"` or `"llama"` (see `make_tiny_model`).
        seed (`int`, *optional*, defaults to `0`):
            Seed of the initialisation, the training data and the data order.
        max_steps (`int`, *optional*):
            SFT optimizer steps; defaults to the task's tuned value (1500 for countdown, 800 for arithmetic).
        cache_dir (`str` or `os.PathLike`, *optional*):
            Folder holding one sub-folder per setting key; defaults to `default_cache_dir()`
            (``$TRL_EXPLORE_CACHE/warm_start`` or ``~/.cache/trl_explore/warm_start``).
        force (`bool`, *optional*, defaults to `False`):
            Retrain and replace the cached checkpoint even when it exists.
        hidden_size (`int`, *optional*, defaults to `64`):
            Model width.
        num_hidden_layers (`int`, *optional*, defaults to `2`):
            Decoder layers.
        num_attention_heads (`int`, *optional*, defaults to `4`):
            Attention heads.
        learning_rate (`float`, *optional*):
            Peak learning rate; defaults to the task's tuned value (`3e-3`).
        per_device_train_batch_size (`int`, *optional*, defaults to `32`):
            Rows per optimizer step.
        num_train_samples (`int`, *optional*):
            Rows of the generated training set; defaults to `max_steps * per_device_train_batch_size` (each row seen
            once).
        conversational (`bool`, *optional*, defaults to `False`):
            Train on conversational prompt-completion rows (ChatML template) instead of plain text.
        task_kwargs (`dict`, *optional*):
            Extra arguments of the task's dataset builder (e.g. ``{"num_steps": 3}`` for arithmetic).
        num_eval_prompts (`int`, *optional*, defaults to `64`):
            Held-out prompts for the pass-rate measurement (0 skips it).
        num_eval_samples_per_prompt (`int`, *optional*, defaults to `4`):
            Samples per held-out prompt.

    Returns:
        `pathlib.Path`: directory loadable with `AutoModelForCausalLM.from_pretrained` and
        `AutoTokenizer.from_pretrained`, with ``warm_start.json`` (keys `settings`, `pass_rate`, `train_seconds`, ...).
    """
    settings = _settings(
        task,
        arch,
        seed,
        max_steps,
        hidden_size,
        num_hidden_layers,
        num_attention_heads,
        learning_rate,
        per_device_train_batch_size,
        num_train_samples,
        conversational,
        task_kwargs,
    )
    from .._validation import check_int

    check_int(None, "num_eval_prompts", value=num_eval_prompts, low=0)
    check_int(None, "num_eval_samples_per_prompt", value=num_eval_samples_per_prompt, low=1)
    final = _checkpoint_dir(settings, cache_dir)
    if _is_complete(final) and not force:
        logger.info("warm_start: reusing cached checkpoint %s", final)
        return final

    root = final.parent
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=root))
    try:
        with torch_threads(toy_threads()):  # the caller's thread count is restored afterwards
            metadata = _train(settings, tmp, num_eval_prompts, num_eval_samples_per_prompt)
        (tmp / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True))
        if final.exists():
            if _is_complete(final) and not force:  # another process finished the same key meanwhile: keep theirs
                logger.info("warm_start: %s appeared while training; keeping it", final)
                return final
            trash = Path(tempfile.mkdtemp(prefix=f".old-{final.name}-", dir=root))
            os.replace(final, trash / "old")
            os.replace(tmp, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("warm_start: saved %s (pass rate %.3f)", final, metadata.get("pass_rate") or 0.0)
    return final


def _is_complete(path: Path) -> bool:
    """A cached checkpoint is complete when its metadata file (written last, before the rename) is there."""
    return path.is_dir() and (path / METADATA_FILE).is_file()


def _sft_progress_callback():
    """A progress bar over the SFT steps that prints no metrics dicts (transformers' `ProgressCallback` and
    `PrinterCallback` write one per log); the metrics go to this module's logger at DEBUG."""
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class SFTProgress(TrainerCallback):
        bar = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.bar = tqdm(
                total=state.max_steps,
                desc="warm start (SFT)",
                unit="step",
                disable=not state.is_world_process_zero or args.disable_tqdm,
            )

        def on_step_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.update(1)

        def on_log(self, args, state, control, logs=None, **kwargs):
            logger.debug("warm_start step %d: %s", state.global_step, logs)

        def on_train_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.close()

    return SFTProgress()


def tokenize_prompt_completion(dataset, tokenizer, max_length: int | None = None) -> Any:
    """Tokenize prompt-completion rows exactly as TRL's `SFTTrainer` does with `completion_only_loss=True`.

    Plain rows: ``input_ids = tok(prompt + completion + eos)``; conversational rows: the chat template of
    ``prompt + completion`` (no extra eos). `labels` copy `input_ids` with the prompt positions (the common prefix of
    the tokenized prompt, with a generation prompt for conversations, and the full sequence) set to -100. Batched, so
    it is much faster than the trainer's per-row preparation; the result is passed with
    ``dataset_kwargs={"skip_prepare_dataset": True}``. A test checks it against the trainer's own preparation.
    Sequences longer than `max_length` keep their start (TRL's default `truncation_mode="keep_start"`).

    Returns:
        `datasets.Dataset` with columns `input_ids` and `labels`.
    """
    from datasets import Dataset

    prompts = list(dataset["prompt"])
    completions = list(dataset["completion"])
    if prompts and isinstance(prompts[0], list):
        prompt_texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
        full_texts = [
            tokenizer.apply_chat_template(p + c, tokenize=False) for p, c in zip(prompts, completions, strict=True)
        ]
    else:
        eos = tokenizer.eos_token
        prompt_texts = list(prompts)
        full_texts = [p + (c if c.endswith(eos) else c + eos) for p, c in zip(prompts, completions, strict=True)]
    prompt_ids = tokenizer(prompt_texts, add_special_tokens=False)["input_ids"]
    full_ids = tokenizer(full_texts, add_special_tokens=False)["input_ids"]
    labels = []
    for p_ids, f_ids in zip(prompt_ids, full_ids, strict=True):
        n = 0
        while n < min(len(p_ids), len(f_ids)) and p_ids[n] == f_ids[n]:
            n += 1
        labels.append([-100] * n + f_ids[n:])
    if max_length is not None:
        full_ids = [ids[:max_length] for ids in full_ids]
        labels = [lab[:max_length] for lab in labels]
    return Dataset.from_dict({"input_ids": full_ids, "labels": labels})


def _train(settings: dict[str, Any], out_dir: Path, num_eval_prompts: int, num_eval_samples_per_prompt: int) -> dict:
    import torch
    import transformers
    import trl
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import SFTConfig, SFTTrainer

    from .evaluation import evaluate_pass_rate
    from .models import make_tiny_model
    from .tokenizer import make_tokenizer

    task = settings["task"]
    seed = settings["seed"]
    task_kwargs = settings["task_kwargs"]
    tokenizer = make_tokenizer()
    model = make_tiny_model(
        tokenizer,
        arch=settings["arch"],
        hidden_size=settings["hidden_size"],
        num_hidden_layers=settings["num_hidden_layers"],
        num_attention_heads=settings["num_attention_heads"],
        seed=seed,
    )
    train_dataset = _make_dataset(task, settings["num_train_samples"], seed, settings["conversational"], task_kwargs)
    train_dataset = tokenize_prompt_completion(train_dataset, tokenizer, max_length=tokenizer.model_max_length)

    args = SFTConfig(
        output_dir=str(out_dir / "trainer"),
        use_cpu=True,
        max_steps=settings["max_steps"],
        per_device_train_batch_size=settings["per_device_train_batch_size"],
        learning_rate=settings["learning_rate"],
        lr_scheduler_type="cosine",
        warmup_steps=max(1, settings["max_steps"] // 20),
        weight_decay=0.0,
        max_length=tokenizer.model_max_length,
        completion_only_loss=True,
        dataset_kwargs={"skip_prepare_dataset": True},  # tokenized above, same result as TRL's preparation
        logging_steps=max(1, settings["max_steps"] // 10),
        save_strategy="no",
        report_to="none",
        seed=seed,
        data_seed=seed,
        dataloader_num_workers=0,
        bf16=False,
        fp16=False,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=train_dataset, processing_class=tokenizer)
    for noisy in (PrinterCallback, ProgressCallback):  # replaced by a bar without metrics dicts
        trainer.remove_callback(noisy)
    trainer.add_callback(_sft_progress_callback())
    start = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - start
    model = trainer.model
    model.eval()
    shutil.rmtree(out_dir / "trainer", ignore_errors=True)

    pass_rate = None
    eval_seconds = 0.0
    if num_eval_prompts > 0:
        # Held-out prompts: a dataset drawn from a disjoint seed stream.
        eval_dataset = _make_dataset(task, num_eval_prompts, 10_000 + seed, settings["conversational"], task_kwargs)
        start = time.perf_counter()
        pass_rate = evaluate_pass_rate(
            model,
            eval_dataset,
            _reward_fn(task),
            num_samples_per_prompt=num_eval_samples_per_prompt,
            tokenizer=tokenizer,
            seed=seed,
        )
        eval_seconds = time.perf_counter() - start

    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return {
        "settings": settings,
        "pass_rate": pass_rate,
        "num_eval_prompts": num_eval_prompts,
        "num_eval_samples_per_prompt": num_eval_samples_per_prompt,
        "train_seconds": round(train_seconds, 2),
        "eval_seconds": round(eval_seconds, 2),
        "final_train_loss": next(
            (log["train_loss"] for log in reversed(trainer.state.log_history) if "train_loss" in log), None
        ),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__},
    }
