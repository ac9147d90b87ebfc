"""Answer-choice probability mass, accuracies and the SFC certificate from precomputed choice log-probabilities.

An `evaluate` metric module (model-free): ``evaluate.load(<this folder>)``. Its numbers are those of
`trl_explore.metrics.answer_choice_mass` (the same `AnswerChoiceMassResult.from_logprobs` computes both), so
log-probabilities computed elsewhere (lm-evaluation-harness, vLLM prompt log-probs) get the same metric.
"""

import datasets
import evaluate

from trl_explore.metrics.answer_choice import AnswerChoiceMassResult

_CITATION = """\
@inproceedings{wiegreffe2023increasing,
  title = {Increasing Probability Mass on Answer Choices Does Not Always Improve Accuracy},
  author = {Wiegreffe, Sarah and Finlayson, Matthew and Tafjord, Oyvind and Clark, Peter and Sabharwal, Ashish},
  booktitle = {Proceedings of EMNLP},
  year = {2023},
  note = {arXiv:2305.14596}
}
"""

_DESCRIPTION = """\
Probability mass on answer choices (PM): the summed probability of the unique first tokens of the answer choices at
the answer position, a measure of whether a model attends to the choices it is offered. With it: accuracy of sequence
scoring (argmax of the full-choice probability), of first-token scoring and of PMI_DC (P(c|x) / P(c|x_unc)), and the
SFC certificate of Wiegreffe et al.: with s = sum_i P(c_i|x) and g = P(top) - P(second), max(0, 1 - s) < g means no
reallocation of the missing mass to other surface forms can flip the prediction.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[list[float]]`): per question, log P(c_j | x) of each answer choice (full sequence).
    references (`list[int]`): per question, the index of the correct choice.
    first_token_logprobs (`list[list[float]]`, *optional*): log P(first token of c_j | x); defaults to `predictions`
        (single-token choices such as the symbols A, B, C).
    first_token_ids (`list[list[int]]`, *optional*): the first-token ids, so that choices sharing a first token count
        once in PM; defaults to all distinct.
    unconditional_logprobs (`list[list[float]]`, *optional*): log P(c_j | x_unc) after a question-free premise;
        enables `pmi_accuracy`.
    mass_token_logprobs, mass_token_ids (`list[list[...]]`, *optional*): the tokens PM sums over when they are more
        than the choices' first tokens (surface-form variants such as "A", " A", "(A)"); duplicates count once.
Returns:
    mass: mean PM; all_token_mass: mean of sum_j P(c_j | x); accuracy: sequence scoring; first_token_accuracy;
    pmi_accuracy (None without unconditional log-probs); sfc_resolved: share of SFC-resolved questions.
Examples:
    >>> import math, evaluate
    >>> metric = evaluate.load("path/to/answer_choice_mass")
    >>> metric.compute(predictions=[[math.log(0.6), math.log(0.3)]], references=[0])["sfc_resolved"]
    1.0
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class AnswerChoiceMass(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("float64")), "references": datasets.Value("int64")}
            ),
            reference_urls=["https://arxiv.org/abs/2305.14596"],
        )

    def _compute(
        self,
        predictions,
        references,
        first_token_logprobs=None,
        first_token_ids=None,
        unconditional_logprobs=None,
        mass_token_logprobs=None,
        mass_token_ids=None,
    ):
        result = AnswerChoiceMassResult.from_logprobs(
            choice_logprobs=predictions,
            answers=references,
            first_token_logprobs=first_token_logprobs,
            first_token_ids=first_token_ids,
            unconditional_logprobs=unconditional_logprobs,
            mass_token_logprobs=mass_token_logprobs,
            mass_token_ids=mass_token_ids,
        )
        return {
            "mass": result.mean_mass,
            "all_token_mass": result.mean_all_token_mass,
            "accuracy": result.accuracy,
            "first_token_accuracy": result.first_token_accuracy,
            "pmi_accuracy": result.pmi_accuracy,
            "sfc_resolved": result.sfc_resolved_fraction,
        }
