"""Pieces shared by the example scripts (`examples/*.py`): their argument parser and ``--help``, one-line errors for
user mistakes, math-dataset arguments, the offline toy route and model loading settings.

Every example builds its parser with `ExampleParser` and runs through `run_example`:

- ``--help`` prints the script's docstring (what it does, its launch commands) and then the options in groups: the
  script's own, the method's (fields that `trl_explore` defines), the model's (TRL's `ModelConfig`) and last TRL's /
  transformers' training options, each with its help text and default;
- a bad value (a config field out of range, a missing dataset, a column that is not there) ends the script with one
  ``error:`` line and exit status 2; ``TRL_EXPLORE_DEBUG=1`` shows the traceback instead.

The toy route (``--model_name_or_path toy``, ``--dataset_name toy-arithmetic`` or ``toy-countdown``) runs the same code
as a real model: the model is a folder path (a cached warm start, `toy_model_path`), the dataset has conversational
prompts, and TRL applies the model's chat template, which the toy model learned during its warm start.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from trl import ModelConfig, ScriptArguments, TrlParser, get_quantization_config

from ._output import check_output_dir, writing_into
from ._validation import check_int, check_optional_int, check_str
from .data import check_dataset, check_toy_name, load_any_dataset, load_split, to_prompt_solution
from .toy.route import (
    TOY_MATH_DATASETS,
    toy_base_model_path,
    toy_math_dataset,
    toy_math_reward,
    toy_model_path,
    toy_sft_dataset,
)

logger = logging.getLogger(__name__)

__all__ = [
    "TOY",
    "TOY_MATH_DATASETS",
    "ExampleParser",
    "MathData",
    "MathScriptArguments",
    "UsageError",
    "check_model_path",
    "is_toy",
    "learning_signal",
    "load_math_data",
    "math_grpo_trainer",
    "run_example",
    "set_model_init_kwargs",
    "toy_base_model_path",
    "toy_math_dataset",
    "toy_math_reward",
    "toy_model_path",
    "toy_sft_dataset",
    "train_and_save",
    "with_toy_defaults",
]

#: ``--model_name_or_path`` value of the offline toy route
TOY = "toy"
#: Environment variable that makes `run_example` show tracebacks instead of one-line errors
DEBUG_ENV = "TRL_EXPLORE_DEBUG"
#: The training examples' name in an output folder's manifest (`trl_explore._output`: a re-run replaces the files a
#: training example wrote there; any other file stays, and one in the way of the trainer's files is refused)
TRAINING_COMMAND = "trl_explore training example"
#: What transformers' `Trainer`, TRL and the examples' callbacks write into ``output_dir`` (model, tokenizer,
#: checkpoints, model card, logs): a foreign file matching one of these refuses the run before it starts
TRAINER_FILES = (
    "checkpoint-*/*", "runs/*", "README.md", "*.safetensors", "*.bin", "*.pt", "*.pth", "*.json", "*.jinja",
    "merges.txt", "vocab.txt", "*.model", "pass_at_k.csv", "completions/*", "*.parquet",
)  # fmt: skip


class UsageError(ValueError):
    """A mistake in the command line or the data that the user can fix; `run_example` prints it as one line."""


# ----------------------------------------------------------------------------------------------------------- parser
class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The description as written (the script's docstring), the options with their defaults."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=36, width=120)

    def _format_action_invocation(self, action: argparse.Action) -> str:
        # HfArgumentParser adds a `--a-b` alias to every `--a_b`; list the spelling of the field only
        strings = action.option_strings
        if len(strings) == 2 and strings[1] == strings[0].replace("_", "-") and strings[0] != strings[1]:
            action = copy.copy(action)
            action.option_strings = strings[:1]
        return super()._format_action_invocation(action)


#: TRL / transformers training options that ``--help`` lists (the ones a user of an example changes); ``--help-all``
#: lists every option
COMMON_TRAINING_OPTIONS = frozenset({
    "output_dir", "learning_rate", "lr_scheduler_type", "warmup_steps", "weight_decay", "max_grad_norm",
    "max_steps", "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps",
    "gradient_checkpointing", "bf16", "fp16", "seed", "logging_steps", "report_to", "run_name", "save_strategy",
    "save_steps", "save_total_limit", "eval_strategy", "eval_steps", "resume_from_checkpoint", "push_to_hub",
    "hub_model_id", "use_cpu",
    # GRPO
    "num_generations", "max_completion_length", "steps_per_generation", "temperature", "top_p", "top_k", "beta",
    "epsilon", "epsilon_high", "loss_type", "scale_rewards", "use_vllm", "vllm_mode", "log_completions",
    "max_tool_calling_iterations",
    # SFT
    "max_length", "packing", "completion_only_loss", "assistant_only_loss",
})  # fmt: skip


class _HelpAll(argparse.Action):
    """``--help-all``: the whole help, every TRL / transformers option included."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        parser.print_help(full=True)
        parser.exit()


def _defining_class(dtype: type, name: str) -> type:
    """The most derived class of ``dtype``'s MRO that declares the field ``name`` itself."""
    for klass in dtype.__mro__:
        if name in vars(klass).get("__annotations__", {}):
            return klass
    return dtype


def _inherited_choices(dtype: type, name: str) -> list[Any] | None:
    """The ``choices`` metadata of the nearest base-class definition of the field ``name``, if any."""
    for klass in dtype.__mro__[1:]:
        fields = vars(klass).get("__dataclass_fields__", {})
        if name in fields and "choices" in fields[name].metadata:
            return list(fields[name].metadata["choices"])
    return None


def _is_library_class(klass: type) -> bool:
    return klass.__module__.split(".")[0] == "trl_explore"


def _description(doc: str | None) -> str | None:
    """The docstring without Markdown code fences (they read poorly in a terminal); the commands stay indented."""
    if not doc:
        return doc
    lines = []
    in_block = False
    for line in doc.strip("\n").splitlines():
        if line.strip().startswith("```"):
            in_block = not in_block
            continue
        lines.append(("    " + line) if in_block and line.strip() else line)
    return "\n".join(lines)


class ExampleParser(TrlParser):
    """`trl.TrlParser` for the example scripts, with a ``--help`` that explains the script first.

    The description is the script's docstring (purpose and launch commands). Options come in groups, in this order:
    the script's own dataclass(es) (``script options``), the fields of the training config that `trl_explore` defines
    or overrides (``<Config> options (trl_explore)``), TRL's `ModelConfig` (``model options``) and the training
    options of TRL and transformers that runs usually change (`COMMON_TRAINING_OPTIONS`; ``--help-all`` lists all). A boolean field that defaults to ``True`` gets a ``--no_<name>``
    switch described as turning it off. Invalid values end the program with one ``error:`` line (see
    `parse_args_and_config`).

    With ``--model_name_or_path toy`` (or ``--toy``), the options of ``toy_defaults`` that the command line (or its
    ``--config`` file) does not set take toy-sized values (a few steps, a larger learning rate, short completions), so
    the toy route as printed finishes in well under a minute; one INFO line lists them.

    Args:
        dataclass_types: the dataclasses to fill, as for `trl.TrlParser` (script arguments first).
        doc (`str`, *optional*): the script's docstring (``__doc__``).
        toy_defaults (`dict[str, Any]`, *optional*): option name -> value used on the toy route unless set.
        **kwargs: passed to `trl.TrlParser`.
    """

    _RANKS = {"script": 0, "method": 1, "model": 2, "training": 3}

    def __init__(
        self, dataclass_types: Any, doc: str | None = None, toy_defaults: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        self.toy_defaults = dict(toy_defaults or {})
        self._group_rank: dict[int, int] = {}
        self._groups: dict[str, Any] = {}
        if self.toy_defaults:
            values = " ".join(f"--{name} {_argv_value(value)}" for name, value in self.toy_defaults.items())
            kwargs.setdefault(
                "epilog", f"With --model_name_or_path toy, the options you do not set default to: {values}."
            )
        kwargs.setdefault("description", _description(doc))
        kwargs.setdefault("formatter_class", _HelpFormatter)
        kwargs.setdefault("usage", "%(prog)s [options]   (--help lists them)")
        super().__init__(dataclass_types, **kwargs)
        first = [g for g in self._action_groups if id(g) not in self._group_rank]
        ranked = sorted(
            (g for g in self._action_groups if id(g) in self._group_rank), key=lambda g: self._group_rank[id(g)]
        )
        self._action_groups[:] = [*first, *ranked]
        self.add_argument(
            "--help-all",
            action=_HelpAll,
            nargs=0,
            default=argparse.SUPPRESS,
            help="Show every option (all of TRL's and transformers' training options) and exit.",
        )

    def format_help(self, full: bool = False) -> str:
        """The help text; without ``full`` the TRL / transformers training group lists `COMMON_TRAINING_OPTIONS`
        only, and says how many more ``--help-all`` shows."""
        if full:
            return super().format_help()
        hidden: list[tuple[argparse.Action, Any]] = []
        described: list[tuple[Any, Any]] = []
        for title, group in self._groups.items():
            if not title.startswith("training options"):
                continue
            for action in group._group_actions:
                if action.dest not in COMMON_TRAINING_OPTIONS and action.help is not argparse.SUPPRESS:
                    hidden.append((action, action.help))
                    action.help = argparse.SUPPRESS
            described.append((group, group.description))
            count = len({a.dest for a, _ in hidden})
            group.description = f"The options most runs change; {count} more: --help-all."
        try:
            return super().format_help()
        finally:
            for action, text in hidden:
                action.help = text
            for group, text in described:
                group.description = text

    def print_help(self, file: Any = None, full: bool = False) -> None:
        self._print_message(self.format_help(full=full), file if file is not None else sys.stdout)

    def _group(self, title: str, kind: str) -> Any:
        if title not in self._groups:
            group = self.add_argument_group(title)
            self._group_rank[id(group)] = self._RANKS[kind] * 1000 + len(self._groups)
            self._groups[title] = group
        return self._groups[title]

    def _group_for(self, dtype: type, name: str) -> Any:
        from transformers import TrainingArguments

        if issubclass(dtype, ModelConfig):
            return self._group("model options (TRL ModelConfig: LoRA, QLoRA, dtype)", "model")
        if issubclass(dtype, TrainingArguments):
            if _is_library_class(_defining_class(dtype, name)):
                return self._group(f"{dtype.__name__} options (trl_explore)", "method")
            base = next((k.__name__ for k in dtype.__mro__ if not _is_library_class(k)), "TrainingArguments")
            return self._group(f"training options (TRL {base} / transformers TrainingArguments)", "training")
        return self._group("script options", "script")

    def _add_dataclass_arguments(self, dtype: Any) -> None:
        try:
            type_hints = get_type_hints(dtype)
        except NameError as err:  # same message as HfArgumentParser
            raise RuntimeError(f"Type resolution failed for {dtype}.") from err
        for dc_field in dataclasses.fields(dtype):
            if not dc_field.init:
                continue
            dc_field.type = type_hints[dc_field.name]
            if "choices" not in dc_field.metadata:  # an override keeps the choices of the field it redefines
                inherited = _inherited_choices(dtype, dc_field.name)
                if inherited is not None:
                    dc_field = dataclasses.replace(dc_field, metadata={**dc_field.metadata, "choices": inherited})
            group = self._group_for(dtype, dc_field.name)
            self._parse_dataclass_field(group, dc_field)
            action = self._option_string_actions.get(f"--{dc_field.name}")
            if action is not None and isinstance(action.help, str):
                action.help = action.help.replace("%", "%%").replace("%%(default)s", "%(default)s")
            negation = self._option_string_actions.get(f"--no_{dc_field.name}")
            if negation is not None and negation.dest == dc_field.name:
                negation.help = f"Turn `{dc_field.name}` off (same as --{dc_field.name} false)."
                negation.default = argparse.SUPPRESS

    def parse_args_and_config(self, args: Iterable[str] | None = None, **kwargs: Any) -> tuple[Any, ...]:
        """`trl.TrlParser.parse_args_and_config`; a `ValueError` raised while the dataclasses are built (an invalid
        field) ends the program with ``error: <message>`` (exit status 2) unless ``TRL_EXPLORE_DEBUG=1``."""
        argv = list(sys.argv[1:] if args is None else args)
        try:
            return super().parse_args_and_config(with_toy_defaults(argv, self.toy_defaults), **kwargs)
        except ValueError as err:
            if os.environ.get(DEBUG_ENV):
                raise
            self.error(_one_line(err))


def _option_names(argv: Sequence[str]) -> set[str]:
    """The field names set by ``argv`` (``--a_b x``, ``--a-b=x``, ``--no_a_b``) and by its ``--config`` file."""
    names = set()
    for i, token in enumerate(argv):
        if not token.startswith("--"):
            continue
        name = token[2:].split("=", 1)[0].replace("-", "_")
        if name == "config" and i + 1 < len(argv):
            import yaml

            try:
                with open(argv[i + 1]) as f:
                    config = yaml.safe_load(f)
            except (OSError, yaml.YAMLError):
                config = None  # TrlParser reports it
            names |= set(config) if isinstance(config, dict) else set()
        names |= {name, name[3:]} if name.startswith("no_") else {name}
    return names


def _asks_for_toy(argv: Sequence[str]) -> bool:
    for i, token in enumerate(argv):
        key, _, value = token.partition("=")
        if key in ("--model_name_or_path", "--model-name-or-path"):
            value = value or (argv[i + 1] if i + 1 < len(argv) else "")
            if value == TOY:
                return True
        if token == "--toy":
            return True
    return False


def with_toy_defaults(argv: Sequence[str], toy_defaults: dict[str, Any]) -> list[str]:
    """``argv`` with ``--name value`` of each toy default it does not set put in front (the user's own values come
    later and win), when it asks for the toy model; else ``argv`` unchanged."""
    argv = list(argv)
    if not toy_defaults or not _asks_for_toy(argv):
        return argv
    given = _option_names(argv)
    chosen = {name: value for name, value in toy_defaults.items() if name not in given}
    if not chosen:
        return argv
    logger.info(
        "toy route: toy-sized defaults %s (pass any of them to change it)",
        " ".join(f"--{name} {_argv_value(value)}" for name, value in chosen.items()),
    )
    prefix = [item for name, value in chosen.items() for item in (f"--{name}", _argv_value(value))]
    return prefix + argv


def _argv_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _one_line(err: BaseException) -> str:
    return re.sub(r"\s*\n\s*", " ", str(err)).strip() or type(err).__name__


def run_example(parser: ExampleParser, main: Callable[..., Any], argv: Sequence[str] | None = None) -> Any:
    """Parse the command line and call ``main(*dataclasses)``, the way every example's ``__main__`` does.

    Logging goes to stderr at INFO for `trl_explore` (its device, toy-route and data messages). A `ValueError` or
    `OSError` (a bad option, a missing file, model or column, an empty dataset) prints ``<script>: error:
    <message>`` and exits with status 2; ``TRL_EXPLORE_DEBUG=1`` re-raises it with its traceback.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("trl_explore", "__main__"):  # the library's and the script's own messages
        logging.getLogger(name).setLevel(logging.INFO)
    silence_known_warnings()
    parsed = parser.parse_args_and_config(argv)
    try:
        _check_training_output_dirs(parsed)
        _check_optional_dependencies(parsed)
        return main(*parsed)
    except (ValueError, OSError) as err:  # OSError: a file or model that is not there (also from_pretrained's)
        if os.environ.get(DEBUG_ENV):
            raise
        parser.exit(2, f"{parser.prog}: error: {_one_line(err)}\n(set {DEBUG_ENV}=1 to see the traceback)\n")


def _check_training_output_dirs(parsed: Sequence[Any]) -> None:
    """Refuse, before anything loads, a training ``output_dir`` where the trainer would overwrite a file that no
    training example wrote (see `TRAINER_FILES`)."""
    from transformers import TrainingArguments

    for config in parsed:
        if isinstance(config, TrainingArguments) and config.output_dir:
            check_output_dir(config.output_dir, TRAINING_COMMAND, TRAINER_FILES)


def _check_optional_dependencies(parsed: Sequence[Any]) -> None:
    """Options that need a package which is not installed: one line saying what to install (instead of TRL's
    `ImportError` deep in the trainer's construction)."""
    import importlib.util

    for config in parsed:
        if getattr(config, "use_vllm", False) and importlib.util.find_spec("vllm") is None:
            raise UsageError(
                "--use_vllm needs vLLM, which is not installed: pip install 'trl_explore[vllm]' (a CUDA GPU), or drop "
                "--use_vllm to generate with transformers."
            )


def train_and_save(trainer: Any, training_args: Any, dataset_name: str | None = None) -> Any:
    """The end of every training example: train (resuming from ``training_args.resume_from_checkpoint`` when set),
    save the model (adapter with PEFT) to ``output_dir``, push it to the Hub when ``push_to_hub`` is set (with
    ``dataset_name`` on the model card). Returns the trainer.

    ``output_dir`` follows the output-folder rule of `trl_explore._output`: a file there that no training example
    wrote and that the trainer would overwrite (`TRAINER_FILES`) refuses the run; the files written are recorded in
    the folder's manifest (by the main process); nothing is removed (earlier checkpoints stay resumable).

    A small model (the toy route's) trains with `toy_threads` torch threads (one), restored afterwards
    (`trl_explore.toy.warm_start.small_model_threads`)."""
    from .toy.warm_start import small_model_threads, torch_threads

    with (
        writing_into(
            training_args.output_dir,
            TRAINING_COMMAND,
            TRAINER_FILES,
            prune=False,
            record=getattr(training_args, "process_index", 0) == 0,
        ),
        torch_threads(small_model_threads(trainer.model)),
    ):
        trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
        stop_reason = getattr(trainer, "stop_reason", None)
        if stop_reason:  # the trainer stopped early (e.g. no valid reward for many batches): one `error:` line
            raise UsageError(stop_reason)
        signal = learning_signal(trainer.state.log_history)
        if signal:
            logger.info("learning signal: %s", signal)
        trainer.save_model(training_args.output_dir)
        logger.info("Model saved to %s", training_args.output_dir)
        if training_args.push_to_hub:
            trainer.push_to_hub(dataset_name=dataset_name)
    return trainer


def learning_signal(log_history: Sequence[dict[str, Any]]) -> str | None:
    """One line summing up a run's logged reward (RL) and loss: ``reward 0.125 (step 1) -> 0.250 (step 10), mean
    0.180; loss 2.3100 (step 1) -> 1.9000 (step 10)``; ``None`` when nothing was logged."""
    parts = []
    for key, digits in (("reward", 3), ("loss", 4)):
        values = [(entry.get("step", 0), entry[key]) for entry in log_history if isinstance(entry.get(key), float)]
        if not values:
            continue
        (first_step, first), (last_step, last) = values[0], values[-1]
        mean = sum(v for _, v in values) / len(values)
        parts.append(
            f"{key} {first:.{digits}f} (step {first_step}) -> {last:.{digits}f} (step {last_step}), "
            f"mean {mean:.{digits}f}"
        )
    return "; ".join(parts) or None


def silence_known_warnings() -> None:
    """Hide upstream deprecation warnings that every run prints and no user can act on (transformers 5 renaming
    ``gradient_checkpointing`` to ``activation_checkpointing``, which TRL still calls)."""
    warnings.filterwarnings("ignore", message=r"`\w*gradient_checkpointing\w*` is deprecated", category=FutureWarning)


# ----------------------------------------------------------------------------------------------------- toy route
def is_toy(name_or_path: str | os.PathLike | None) -> bool:
    """Whether ``--model_name_or_path`` asks for the toy route."""
    return name_or_path is not None and str(name_or_path) == TOY


def check_model_path(name_or_path: str | os.PathLike | None, option: str = "--model_name_or_path") -> str:
    """A model name or folder for ``from_pretrained``: refuses ``None`` and a path-like value (``/…``, ``./…``,
    ``~/…``, more than one ``/``) that does not exist, with one clear line; returns it as `str`. ``smollm2`` (an alias
    of `trl_explore.toy.PRETRAINED_ALIASES`) becomes the cached offline SmolLM2-135M-Instruct folder, built once."""
    if name_or_path is None or str(name_or_path).strip() == "":
        raise UsageError(
            f"{option} is required: a Hub model name, a local folder, `toy` for the offline toy model or `smollm2` for "
            "the offline SmolLM2-135M-Instruct."
        )
    from .toy.pretrained import PRETRAINED_ALIASES, resolve_pretrained

    text = os.fspath(name_or_path)
    if text.lower() in PRETRAINED_ALIASES and not os.path.exists(text):
        return resolve_pretrained(text)
    looks_local = (
        text.startswith(("/", "./", "../", "~")) or text.count("/") > 1 or isinstance(name_or_path, os.PathLike)
    )
    if looks_local and not os.path.exists(os.path.expanduser(text)):
        raise UsageError(f"{option} {text!r}: no such folder (a Hub name looks like `org/name`).")
    return os.path.expanduser(text) if looks_local else text


# -------------------------------------------------------------------------------------------------- math datasets
@dataclass
class MathScriptArguments(ScriptArguments):
    """`trl.ScriptArguments` plus the columns of a math dataset graded by `math_accuracy_reward`, and the toy route.

    Args:
        problem_column (`str`, *optional*, defaults to `"problem"`):
            Column with the problem: a string (wrapped into a user message) or a conversational prompt.
        solution_column (`str`, *optional*, defaults to `"solution"`):
            Column with the gold answer, passed to the reward as `solution`.
        system_prompt (`str`, *optional*):
            System message prepended to string problems.
        toy_samples (`int`, *optional*, defaults to `1000`):
            Toy datasets (`toy-arithmetic`, `toy-countdown`): training problems.
        toy_warm_start_steps (`int`, *optional*):
            Toy model (`--model_name_or_path toy`): SFT steps of its cached warm start (default: the task's, see
            `TOY_WARM_START`).
    """

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "Hub dataset name, local file (.json/.jsonl/.csv/.parquet) or save_to_disk folder; toy-arithmetic "
            "or toy-countdown for a synthetic task (the default with --model_name_or_path toy)."
        },
    )
    problem_column: str = field(default="problem", metadata={"help": "Column holding the problem / prompt."})
    solution_column: str = field(default="solution", metadata={"help": "Column holding the gold answer."})
    system_prompt: str | None = field(
        default="Solve the problem step by step and put the final answer in \\boxed{}.",
        metadata={"help": "System message prepended to string problems (empty string: none; not used by toy data)."},
    )
    toy_samples: int = field(default=1000, metadata={"help": "Toy datasets: training problems."})
    toy_warm_start_steps: int | None = field(
        default=None, metadata={"help": "Toy model: SFT steps of its cached warm start (default: the task's)."}
    )

    def __post_init__(self) -> None:
        check_str(self, "dataset_name", allow_none=True)
        check_str(self, "problem_column")
        check_str(self, "solution_column")
        if self.system_prompt is not None and not isinstance(self.system_prompt, str):
            raise ValueError(f"`system_prompt` must be a string or None, got {self.system_prompt!r}.")
        check_int(self, "toy_samples", low=1)
        check_optional_int(self, "toy_warm_start_steps", low=1)

    def load_split(self, split: str, data: Any | None = None) -> Any:
        """`split` of the dataset (`dataset_name` / `dataset_config`) as TRL `prompt` + `solution` rows."""
        data = data if data is not None else load_any_dataset(self.dataset_name, self.dataset_config)
        rows = load_split(data, split, self.dataset_name)
        return to_prompt_solution(rows, self.problem_column, self.solution_column, self.system_prompt)


@dataclass
class MathData:
    """What `load_math_data` resolved: the model (a name or folder), datasets and the reward of the run."""

    model: str
    train: Any
    evaluation: Any | None
    reward: Callable[..., list[float | None]]
    held_out: Any | None = None
    toy: bool = False


def load_math_data(
    script_args: MathScriptArguments, training_args: Any, model_args: ModelConfig, *, held_out: int = 0
) -> MathData:
    """Resolve the model, the datasets and the reward of a math RL example (real or toy route).

    - ``--model_name_or_path toy``: the toy model (`toy_model_path`) for the task of ``--dataset_name`` (default
      ``toy-arithmetic``);
    - ``--dataset_name toy-arithmetic`` / ``toy-countdown``: synthetic conversational problems (`toy_math_dataset`)
      and their reward (`toy_math_reward`), with any model; ``--problem_column``, ``--solution_column`` and
      ``--system_prompt`` are not used (a warning says so when they were changed);
    - anything else: `load_any_dataset` and `MathScriptArguments.load_split`, graded by `math_accuracy_reward`.

    With ``held_out > 0`` the first rows of the test split (or, without one, rows taken off the training split) are
    returned as `MathData.held_out` (e.g. for pass@k tracking).
    """
    from .rewards import math_accuracy_reward

    name = script_args.dataset_name
    toy_model = is_toy(model_args.model_name_or_path)
    if name is None:
        if not toy_model:
            raise UsageError(
                "--dataset_name is required: a Hub dataset, a local file, or toy-arithmetic / toy-countdown "
                "(or use --model_name_or_path toy for the whole offline route)."
            )
        name = script_args.dataset_name = "toy-arithmetic"
    check_toy_name(name, list(TOY_MATH_DATASETS))
    if toy_model:
        task = TOY_MATH_DATASETS.get(name, "arithmetic")
        model = toy_model_path(task, max_steps=script_args.toy_warm_start_steps)
    else:
        model = check_model_path(model_args.model_name_or_path)
    if name in TOY_MATH_DATASETS:
        _warn_unused_math_columns(script_args)
        n_eval = max(held_out, 64 if training_args.eval_strategy != "no" else 0)
        train = toy_math_dataset(name, script_args.toy_samples, seed=1000 + training_args.seed)
        test = toy_math_dataset(name, n_eval, seed=20_000 + training_args.seed) if n_eval else None
        evaluation = test if training_args.eval_strategy != "no" else None
        held = test.select(range(held_out)) if held_out and test is not None else None
        return MathData(model, train, evaluation, toy_math_reward(name), held, toy=True)

    data = load_any_dataset(name, script_args.dataset_config)
    train = script_args.load_split(script_args.dataset_train_split, data)
    evaluation = None
    if training_args.eval_strategy != "no":
        evaluation = script_args.load_split(script_args.dataset_test_split, data)
    held = None
    if held_out:
        if script_args.dataset_test_split in data:
            held = script_args.load_split(script_args.dataset_test_split, data)
            held = held.select(range(min(held_out, len(held))))
        else:
            n = min(held_out, len(train) // 2)
            held, train = train.select(range(n)), train.select(range(n, len(train)))
            check_dataset(train, ["prompt", "solution"], f"the training split of {name!r} after holding out {n} rows")
    return MathData(model, train, evaluation, math_accuracy_reward, held)


def math_grpo_trainer(
    trainer_cls: type, data: MathData, training_args: Any, model_args: ModelConfig, **kwargs: Any
) -> Any:
    """The GRPO trainer of a math example on what `load_math_data` resolved::

        trainer_cls(model=data.model, reward_funcs=[data.reward], args=training_args, train_dataset=data.train,
                    eval_dataset=data.evaluation, peft_config=get_peft_config(model_args), **kwargs)

    ``kwargs`` go to the trainer (``callbacks``, ``tools``, or ``reward_funcs`` to replace the default list).
    """
    from trl import get_peft_config

    kwargs.setdefault("reward_funcs", [data.reward])
    return trainer_cls(
        model=data.model,
        args=training_args,
        train_dataset=data.train,
        eval_dataset=data.evaluation,
        peft_config=get_peft_config(model_args),
        **kwargs,
    )


def _warn_unused_math_columns(script_args: MathScriptArguments) -> None:
    defaults = {f.name: f.default for f in dataclasses.fields(type(script_args))}
    changed = [
        n for n in ("problem_column", "solution_column", "system_prompt") if getattr(script_args, n) != defaults[n]
    ]
    if changed:
        logger.warning(
            "%s: not used with the toy dataset %s (its rows are conversational prompts without a system message).",
            ", ".join(f"--{n}" for n in changed),
            script_args.dataset_name,
        )


def set_model_init_kwargs(training_args: Any, model_args: ModelConfig, quantization: bool = True) -> None:
    """Fill ``training_args.model_init_kwargs`` from TRL's `ModelConfig` (revision, remote code, attention, dtype and,
    with `quantization`, the bitsandbytes config of ``--load_in_4bit`` / ``--load_in_8bit``); values already set on
    ``training_args.model_init_kwargs`` win. Quantization is refused with a clear error where it cannot work (see
    `check_quantization`)."""
    kwargs: dict[str, Any] = {
        "revision": model_args.model_revision,
        "trust_remote_code": training_args.trust_remote_code,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
    }
    check_quantization(model_args)
    quantization_config = get_quantization_config(model_args) if quantization else None
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
    training_args.model_init_kwargs = {**kwargs, **(training_args.model_init_kwargs or {})}


def check_quantization(model_args: ModelConfig) -> None:
    """``--load_in_4bit`` / ``--load_in_8bit`` (QLoRA) need LoRA (``--use_peft``: a quantized model cannot be trained
    in full), bitsandbytes, and a CUDA GPU; each missing piece is a `UsageError` saying what to do."""
    if not (model_args.load_in_4bit or model_args.load_in_8bit):
        return
    flag = "--load_in_4bit" if model_args.load_in_4bit else "--load_in_8bit"
    if model_args.load_in_4bit and model_args.load_in_8bit:
        raise UsageError("pass one of --load_in_4bit and --load_in_8bit, not both.")
    if not model_args.use_peft:
        raise UsageError(f"{flag} (QLoRA) trains LoRA adapters on a quantized model: add --use_peft.")
    if is_toy(model_args.model_name_or_path):
        raise UsageError(f"{flag} is for real models on a CUDA GPU; the toy model trains in float32.")
    import importlib.util

    import torch

    if importlib.util.find_spec("bitsandbytes") is None:
        raise UsageError(f"{flag} needs bitsandbytes: pip install 'trl_explore[quantization]'")
    if not torch.cuda.is_available():
        raise UsageError(f"{flag} needs a CUDA GPU (bitsandbytes quantization); drop it to train on this machine.")
