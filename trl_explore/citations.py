"""The papers behind trl_explore's methods, as BibTeX, and the citation a trainer writes into its model card.

TRL's trainers cite their method's paper in the model card that `create_model_card` writes (and `push_to_hub`
uploads) through two class attributes, ``_name`` and ``_paper`` (``{"title", "id", "citation"}``). Our trainers use
the same mechanism: the SFT trainers set ``_paper = trl_paper(key)``, and `ExploreGRPOTrainer` cites the papers of the
components it has enabled (`trainer_card_paper`). Each method's documentation page ends with the same BibTeX (a test
compares them). Author lists and titles are those on the papers' arXiv pages (first version for HAPO).

This module imports nothing from the package, torch or TRL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Paper:
    """One paper: `method` is the short name a model card uses, `bibtex` the entry a user cites."""

    key: str
    method: str
    title: str
    arxiv_id: str
    bibtex: str

    def as_trl_paper(self) -> dict[str, str]:
        """TRL's ``_paper`` dictionary: ``title``, ``id`` (the arXiv id), ``citation`` (BibTeX)."""
        return {"title": self.title, "id": self.arxiv_id, "citation": self.bibtex}


def _paper(key: str, method: str, title: str, arxiv_id: str, entry: str, cite_key: str, fields: str) -> Paper:
    body = fields.strip("\n")
    bibtex = f"@{entry}{{{cite_key},\n{body}\n}}"
    return Paper(key=key, method=method, title=title, arxiv_id=arxiv_id, bibtex=bibtex)


# fmt: off
PAPERS: dict[str, Paper] = {p.key: p for p in (
    _paper("lp_reg", "Lp-Reg",
           "Low-probability Tokens Sustain Exploration in Reinforcement Learning with Verifiable Reward",
           "2510.03222", "article", "huang2025lowprobability", """
    title         = {{Low-probability Tokens Sustain Exploration in Reinforcement Learning with Verifiable Reward}},
    author        = {Guanhua Huang and Tingqiang Xu and Mingze Wang and Qi Yi and Xue Gong and Siheng Li and Ruibin Xiong and Kejiao Li and Yuhao Jiang and Bo Zhou},
    year          = {2025},
    journal       = {arXiv preprint arXiv:2510.03222},
    eprint        = {2510.03222},
    archivePrefix = {arXiv},
"""),
    _paper("grpo_n", "GRPO-N (relative negative gradients)",
           "The Debate on RLVR Reasoning Capability Boundary: Shrinkage, Expansion, or Both? A Two-Stage Dynamic View",
           "2510.04028", "article", "yao2025debate", """
    title         = {{The Debate on RLVR Reasoning Capability Boundary: Shrinkage, Expansion, or Both? A Two-Stage Dynamic View}},
    author        = {Xinhao Yao and Lu Yu and Xiaolin Hu and Fengwei Teng and Qing Cui and Jun Zhou and Yong Liu},
    year          = {2025},
    journal       = {arXiv preprint arXiv:2510.04028},
    eprint        = {2510.04028},
    archivePrefix = {arXiv},
"""),
    _paper("nsr", "NSR / W-REINFORCE",
           "The Surprising Effectiveness of Negative Reinforcement in LLM Reasoning",
           "2506.01347", "inproceedings", "zhu2025surprising", """
    title         = {{The Surprising Effectiveness of Negative Reinforcement in LLM Reasoning}},
    author        = {Xinyu Zhu and Mengzhou Xia and Zhepei Wei and Wei-Lin Chen and Danqi Chen and Yu Meng},
    year          = {2025},
    booktitle     = {Advances in Neural Information Processing Systems (NeurIPS)},
    eprint        = {2506.01347},
    archivePrefix = {arXiv},
"""),
    _paper("hapo", "HAPO",
           "From Uniform to Heterogeneous: Tailoring Policy Optimization to Every Token's Nature",
           "2509.16591", "article", "liu2025uniform", """
    title         = {{From Uniform to Heterogeneous: Tailoring Policy Optimization to Every Token's Nature}},
    author        = {Zheng Liu and Mengjie Liu and Siwei Wen and Mengzhang Cai and Bin Cui and Conghui He and Wentao Zhang},
    year          = {2025},
    journal       = {arXiv preprint arXiv:2509.16591},
    eprint        = {2509.16591},
    archivePrefix = {arXiv},
"""),
    _paper("spear", "SPEAR",
           "Learn the Ropes, Then Trust the Wins: Self-imitation with Progressive Exploration for Agentic "
           "Reinforcement Learning",
           "2509.22601", "article", "qin2025learn", """
    title         = {{Learn the Ropes, Then Trust the Wins: Self-imitation with Progressive Exploration for Agentic Reinforcement Learning}},
    author        = {Yulei Qin and Xiaoyu Tan and Zhengbao He and Gang Li and Haojia Lin and Zongyi Li and Zihan Xu and Yuchen Shi and Siqi Cai and Renting Rui and Shaofei Cai and Yuzheng Cai and Xuan Zhang and Sheng Ye and Ke Li and Xing Sun},
    year          = {2025},
    journal       = {arXiv preprint arXiv:2509.22601},
    eprint        = {2509.22601},
    archivePrefix = {arXiv},
"""),
    _paper("clip_cov", "Clip-Cov / KL-Cov",
           "The Entropy Mechanism of Reinforcement Learning for Reasoning Language Models",
           "2505.22617", "article", "cui2025entropy", """
    title         = {{The Entropy Mechanism of Reinforcement Learning for Reasoning Language Models}},
    author        = {Ganqu Cui and Yuchen Zhang and Jiacheng Chen and Lifan Yuan and Zhi Wang and Yuxin Zuo and Haozhan Li and Yuchen Fan and Huayu Chen and Weize Chen and Zhiyuan Liu and Hao Peng and Lei Bai and Wanli Ouyang and Yu Cheng and Bowen Zhou and Ning Ding},
    year          = {2025},
    journal       = {arXiv preprint arXiv:2505.22617},
    eprint        = {2505.22617},
    archivePrefix = {arXiv},
"""),
    _paper("rank_aware", "rank-aware next-token prediction",
           "Diversity or Precision? A Deep Dive into Next Token Prediction",
           "2512.22955", "article", "wu2025diversity", """
    title         = {{Diversity or Precision? A Deep Dive into Next Token Prediction}},
    author        = {Haoyuan Wu and Hai Wang and Jiajia Wu and Jinxiang Ou and Keyao Wang and Weile Chen and Zihao Zheng and Bei Yu},
    year          = {2025},
    journal       = {arXiv preprint arXiv:2512.22955},
    eprint        = {2512.22955},
    archivePrefix = {arXiv},
"""),
    _paper("fourier_head", "the Fourier head",
           "Fourier Head: Helping Large Language Models Learn Complex Probability Distributions",
           "2410.22269", "inproceedings", "gillman2025fourier", """
    title         = {{Fourier Head: Helping Large Language Models Learn Complex Probability Distributions}},
    author        = {Nate Gillman and Daksh Aggarwal and Michael Freeman and Saurabh Singh and Chen Sun},
    year          = {2025},
    booktitle     = {International Conference on Learning Representations (ICLR)},
    eprint        = {2410.22269},
    archivePrefix = {arXiv},
"""),
    _paper("swireasoning", "SwiReasoning",
           "SwiReasoning: Switch-Thinking in Latent and Explicit for Pareto-Superior Reasoning LLMs",
           "2510.05069", "inproceedings", "shi2026swireasoning", """
    title         = {{SwiReasoning: Switch-Thinking in Latent and Explicit for Pareto-Superior Reasoning LLMs}},
    author        = {Dachuan Shi and Abedelkadir Asi and Keying Li and Xiangchi Yuan and Leyan Pan and Wenke Lee and Wen Xiao},
    year          = {2026},
    booktitle     = {International Conference on Learning Representations (ICLR)},
    eprint        = {2510.05069},
    archivePrefix = {arXiv},
"""),
    _paper("lastde", "Lastde",
           "Training-free LLM-generated Text Detection by Mining Token Probability Sequences",
           "2410.06072", "inproceedings", "xu2025training", """
    title         = {{Training-free LLM-generated Text Detection by Mining Token Probability Sequences}},
    author        = {Yihuai Xu and Yongwei Wang and Yifei Bi and Huangsen Cao and Zhouhan Lin and Yu Zhao and Fei Wu},
    year          = {2025},
    booktitle     = {International Conference on Learning Representations (ICLR)},
    eprint        = {2410.06072},
    archivePrefix = {arXiv},
"""),
    _paper("answer_choice_mass", "answer-choice probability mass",
           "Increasing Probability Mass on Answer Choices Does Not Always Improve Accuracy",
           "2305.14596", "inproceedings", "wiegreffe2023increasing", """
    title         = {{Increasing Probability Mass on Answer Choices Does Not Always Improve Accuracy}},
    author        = {Sarah Wiegreffe and Matthew Finlayson and Oyvind Tafjord and Peter Clark and Ashish Sabharwal},
    year          = {2023},
    booktitle     = {Proceedings of the 2023 Conference on Empirical Methods in Natural Language Processing (EMNLP)},
    pages         = {8392--8417},
    eprint        = {2305.14596},
    archivePrefix = {arXiv},
"""),
)}
# fmt: on
"""Every paper a method of the library implements, in documentation order."""

_COMPONENT_PAPERS: dict[str, str] = {
    "lp_reg": "lp_reg",
    "hapo_adaptive_temperature": "hapo",
    "hapo_tlga": "hapo",
    "hapo_dar": "hapo",
    "hapo_adaptive_clip": "hapo",
    "spear": "spear",
    "dr_bot": "spear",
    "clip_cov": "clip_cov",
    "kl_cov": "clip_cov",
}
"""Built-in RL component name -> paper key (``relative_negative`` depends on the advantage mode: `_component_paper`)."""

_NSR_MODES = ("nsr", "psr", "w_reinforce")


def trl_paper(key: str) -> dict[str, str]:
    """TRL's ``_paper`` dictionary (``title``, ``id``, ``citation``) of paper `key` of `PAPERS`."""
    if key not in PAPERS:
        raise ValueError(f"Unknown paper {key!r}; known: {', '.join(PAPERS)}.")
    return PAPERS[key].as_trl_paper()


def _component_paper(name: str, args: Any) -> str | None:
    if name == "relative_negative":
        return "nsr" if getattr(args, "advantage_mode", None) in _NSR_MODES else "grpo_n"
    return _COMPONENT_PAPERS.get(name)


def component_paper_keys(component_names: Iterable[str], args: Any = None) -> list[str]:
    """The papers of the enabled components, each once, in `PAPERS` order; components of your own are skipped.

    ``relative_negative`` cites NSR / W-REINFORCE (arXiv 2506.01347) with ``advantage_mode`` ``nsr``, ``psr`` or
    ``w_reinforce``, else GRPO-N (arXiv 2510.04028).
    """
    keys = {key for name in component_names if (key := _component_paper(name, args)) is not None}
    return [key for key in PAPERS if key in keys]


def components_paper(
    component_names: Iterable[str], args: Any, default_name: str, default_paper: Mapping[str, str]
) -> tuple[str, dict[str, str]]:
    """``(name, paper)`` for a model card of a GRPO trainer with these components enabled.

    One paper: its method name and ``_paper``. Several: the names joined with ``+``, every BibTeX entry in the
    citation, and no single title / id (the card then links no paper page). None (every component off, or only
    components of your own): `default_name` and `default_paper` (TRL's GRPO).
    """
    keys = component_paper_keys(component_names, args)
    if not keys:
        return default_name, dict(default_paper)
    if len(keys) == 1:
        paper = PAPERS[keys[0]]
        return paper.method, paper.as_trl_paper()
    name = " + ".join(PAPERS[key].method for key in keys)
    return name, {"citation": "\n\n".join(PAPERS[key].bibtex for key in keys)}


def trainer_card_paper(trainer: Any, base: type) -> tuple[str, dict[str, str]]:
    """``(name, paper)`` of a GRPO trainer's model card: `components_paper` of its enabled components
    (``trainer.components``), falling back to `base`'s own ``_name`` / ``_paper`` (TRL's `GRPOTrainer`)."""
    names = [component.name for component in getattr(trainer, "components", [])]
    return components_paper(names, trainer.args, base._name, base._paper)
