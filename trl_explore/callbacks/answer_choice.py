"""`AnswerChoiceMassCallback`: probability mass on answer choices, accuracy and the SFC certificate on a held-out
multiple-choice set during training (Wiegreffe et al., arXiv 2305.14596).

Fine-tuning on a format (or on anything) moves probability toward or away from the valid answers; this callback shows
whether a change in multiple-choice accuracy comes with the model attending to the choices (``mc/mass``) and how many
predictions are safe from surface-form competition (``mc/sfc_resolved``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .periodic import PeriodicEvalCallback

_COLUMNS = ("question", "choices", "answer")


class AnswerChoiceMassCallback(PeriodicEvalCallback):
    """Every `eval_steps` steps, score a held-out multiple-choice set with `answer_choice_mass` and log the aggregates.

    Logged (namespace ``mc/``): ``mc/mass`` (mean PM), ``mc/all_token_mass``, ``mc/accuracy`` (sequence scoring),
    ``mc/first_token_accuracy``, ``mc/sfc_resolved`` (share of SFC-resolved questions) and, with `pmi=True`,
    ``mc/pmi_accuracy``. Each process scores a disjoint shard of the questions (demonstrations are drawn on the whole
    set first, so the numbers do not depend on the number of processes); per-question results are gathered, so every
    rank logs the same values. When the parameters are sharded (DeepSpeed ZeRO-3, FSDP), every forward needs every
    rank, so each rank scores the whole set instead (same forwards everywhere, no gather). Rows go to
    ``<output_dir>/<csv_name>``.

    Args:
        eval_dataset (`datasets.Dataset` or `Sequence[Mapping]`):
            Rows with ``question`` (`str`), ``choices`` (`list[str]`) and ``answer`` (index of the correct choice),
            e.g. from `trl_explore.metrics.load_multiple_choice_dataset` or
            `trl_explore.toy.make_multiple_choice_dataset`.
        format (`str`, *optional*, defaults to `"enumerated"`):
            Prompt format (`"enumerated"`, `"string"` or `"cloze"`).
        eval_steps (`int`, *optional*, defaults to `50`):
            Evaluate every this many optimizer steps (and at step 0 and at the end of training).
        num_shots (`int`, *optional*, defaults to `0`):
            In-context demonstrations per question.
        demos (`Sequence[Mapping]`, *optional*):
            Pool of demonstrations; default: the other held-out questions.
        pmi (`bool`, *optional*, defaults to `False`):
            Also log the PMI_DC accuracy (one more scoring pass per question).
        surface_forms (`Sequence[str]`, *optional*):
            Surface-form templates (see `answer_choice_mass`).
        use_chat_template (`bool`, *optional*, defaults to `False`):
            Render prompts with the tokenizer's chat template.
        batch_size (`int`, *optional*, defaults to `16`):
            Questions per forward.
        seed (`int`, *optional*, defaults to `0`):
            Seed of the demonstrations' draw (fixed across evaluations, so steps are comparable).
        csv_name (`str`, *optional*, defaults to `"answer_choice_mass.csv"`):
            File under `args.output_dir` receiving one row per evaluation.
        show_progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar while scoring.
        instruction (`str`, *optional*):
            A header opening every prompt (see `answer_choice_mass`; `released_instruction` gives the released ones).
        demo_sampling (`str`, *optional*, defaults to `"per_question"`):
            `"per_question"` (a seeded draw per question) or `"shared"` (the released code's: the same demonstrations
            for every question; needs `demos`).
    """

    namespace = "mc"

    def __init__(
        self,
        eval_dataset: Any,
        format: str = "enumerated",
        eval_steps: int = 50,
        num_shots: int = 0,
        demos: Sequence[Mapping[str, Any]] | None = None,
        pmi: bool = False,
        surface_forms: Sequence[str] | None = None,
        use_chat_template: bool = False,
        batch_size: int = 16,
        seed: int = 0,
        csv_name: str = "answer_choice_mass.csv",
        show_progress: bool = True,
        instruction: str | None = None,
        demo_sampling: str = "per_question",
    ) -> None:
        from ..metrics.answer_choice.demos import _resolve_demos
        from ..metrics.answer_choice.validation import _check_item, _check_options, _resolve_protocol

        super().__init__(eval_steps=eval_steps, csv_name=csv_name, show_progress=show_progress)
        if len(eval_dataset) == 0:
            raise ValueError("`eval_dataset` is empty.")
        columns = getattr(eval_dataset, "column_names", None)
        if columns is None:
            if not isinstance(eval_dataset, Sequence) or not all(isinstance(r, Mapping) for r in eval_dataset):
                raise ValueError("`eval_dataset` must be a datasets.Dataset or a sequence of mappings.")
            columns = set().union(*(r.keys() for r in eval_dataset))
        missing = [c for c in _COLUMNS if c not in columns]
        if missing:
            raise ValueError(f"`eval_dataset` needs the columns {list(_COLUMNS)}; missing {missing}.")
        self.surface_forms = _check_options(
            format, num_shots, surface_forms, pmi, batch_size, seed, use_chat_template, 0, show_progress
        )
        self.rows = [{c: row[c] for c in _COLUMNS} for row in eval_dataset]
        for i, row in enumerate(self.rows):
            names = (f"eval_dataset[{i}]['question']", f"eval_dataset[{i}]['choices']", f"eval_dataset[{i}]['answer']")
            _check_item(names, row["question"], row["choices"], row["answer"], format)
        self.format = format
        self.num_shots = num_shots
        self.pmi = pmi
        self.use_chat_template = use_chat_template
        self.batch_size = batch_size
        self.instruction, demo_sampling, _ = _resolve_protocol("default", format, instruction, demo_sampling, None)
        # drawn once for the whole set: every process and every evaluation uses the same prompts
        self.demos = _resolve_demos(
            None if demos is None else list(demos),
            [r["question"] for r in self.rows],
            [r["choices"] for r in self.rows],
            [r["answer"] for r in self.rows],
            num_shots,
            seed,
            format,
            demo_sampling,
        )

    @staticmethod
    def parameters_sharded(model: Any) -> bool:
        """Whether `model`'s parameters are sharded across ranks (ZeRO-3 parameters carry ``ds_id``; FSDP2 parameters
        are DTensors; FSDP1 wraps modules), so that a forward on one rank needs the others."""
        from torch.distributed.fsdp import FullyShardedDataParallel
        from torch.distributed.tensor import DTensor

        first = next(model.parameters(), None)
        if first is not None and (hasattr(first, "ds_id") or isinstance(first, DTensor)):
            return True
        return any(isinstance(m, FullyShardedDataParallel) for m in model.modules())

    def measure(self, model: Any, tokenizer: Any, args: Any) -> dict[str, float]:
        from ..metrics.answer_choice import answer_choice_mass

        replicated = self.parameters_sharded(model)
        shard = list(range(len(self.rows))) if replicated else list(self.shard_indices(len(self.rows)))
        local: list[tuple[float, ...]] = []
        if shard:
            result = answer_choice_mass(
                model,
                tokenizer,
                [self.rows[i]["question"] for i in shard],
                [self.rows[i]["choices"] for i in shard],
                format=self.format,
                num_shots=self.num_shots,
                demos=[self.demos[i] for i in shard],
                surface_forms=self.surface_forms,
                pmi=self.pmi,
                batch_size=self.batch_size,
                answers=[self.rows[i]["answer"] for i in shard],
                use_chat_template=self.use_chat_template,
                show_progress=self.show_progress,
                instruction=self.instruction,
            )
            pmi_pred = result.pred_pmi if self.pmi else [None] * len(shard)
            local = [
                (m, atm, float(ps == a), float(pf == a), float(r), float(pp == a))
                for m, atm, ps, pf, r, pp, a in zip(
                    result.mass,
                    result.all_token_mass,
                    result.pred_sequence,
                    result.pred_first_token,
                    result.sfc_resolved,
                    pmi_pred,
                    result.answers,
                )
            ]
        rows = local if replicated else self.gather(local)
        names = ["mass", "all_token_mass", "accuracy", "first_token_accuracy", "sfc_resolved", "pmi_accuracy"]
        metrics = {name: sum(r[j] for r in rows) / len(rows) for j, name in enumerate(names)}
        if not self.pmi:
            del metrics["pmi_accuracy"]
        return metrics
