"""The model card each trainer writes (`create_model_card`, what `push_to_hub` uploads) cites the method's paper.

TRL renders ``_name`` and ``_paper`` into ``<output_dir>/README.md``: "This model was trained with <name>, a method
introduced in [<title>](https://huggingface.co/papers/<arXiv id>)" and a ``bibtex`` block under "Cite <name> as".
The expected BibTeX keys, titles and arXiv ids below are typed from the papers' arXiv pages, not read from the code.
"""

from __future__ import annotations

import warnings

import pytest
from datasets import Dataset
from trainers.grpo_helpers import build_trainer

from trl_explore.citations import component_paper_keys, components_paper, trl_paper

LP_REG = (
    "huang2025lowprobability",
    "Low-probability Tokens Sustain Exploration in Reinforcement Learning with Verifiable Reward",
    "2510.03222",
)
GRPO_N = (
    "yao2025debate",
    "The Debate on RLVR Reasoning Capability Boundary: Shrinkage, Expansion, or Both? A Two-Stage Dynamic View",
    "2510.04028",
)
NSR = ("zhu2025surprising", "The Surprising Effectiveness of Negative Reinforcement in LLM Reasoning", "2506.01347")
HAPO = (
    "liu2025uniform",
    "From Uniform to Heterogeneous: Tailoring Policy Optimization to Every Token's Nature",
    "2509.16591",
)
SPEAR = (
    "qin2025learn",
    "Learn the Ropes, Then Trust the Wins: Self-imitation with Progressive Exploration for "
    "Agentic Reinforcement Learning",
    "2509.22601",
)
CLIP_COV = (
    "cui2025entropy",
    "The Entropy Mechanism of Reinforcement Learning for Reasoning Language Models",
    "2505.22617",
)
RANK_AWARE = ("wu2025diversity", "Diversity or Precision? A Deep Dive into Next Token Prediction", "2512.22955")
FOURIER = (
    "gillman2025fourier",
    "Fourier Head: Helping Large Language Models Learn Complex Probability Distributions",
    "2410.22269",
)
GRPO = (
    "shao2024deepseekmath",
    "DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open Language Models",
    "2402.03300",
)


def _card(trainer, tmp_path) -> str:
    trainer.create_model_card(model_name="toy")
    return (tmp_path / "README.md").read_text()


def _assert_cites(card: str, paper: tuple[str, str, str], linked: bool = True) -> None:
    key, title, arxiv_id = paper
    block = card.split("```bibtex\n", 1)[1]
    assert f"{{{key}," in block and title in block and arxiv_id in block, card
    if linked:
        assert f"a method introduced in [{title}](https://huggingface.co/papers/{arxiv_id})" in card, card


def _grpo(name: str):
    import trl_explore.trainers as t

    return {
        "lp_reg": (t.LpRegGRPOTrainer, t.LpRegConfig, {}),
        "grpo_n": (t.RelativeNegativeGRPOTrainer, t.RelativeNegativeConfig, {}),
        "nsr": (t.RelativeNegativeGRPOTrainer, t.RelativeNegativeConfig, {"advantage_mode": "nsr"}),
        "hapo": (t.HAPOGRPOTrainer, t.HAPOConfig, {}),
        "explore_off": (t.ExploreGRPOTrainer, t.ExploreGRPOConfig, {}),
    }[name]


@pytest.mark.parametrize(
    "name, paper, trainer_name",
    [
        ("lp_reg", LP_REG, "Lp-Reg"),
        ("grpo_n", GRPO_N, "GRPO-N (relative negative gradients)"),
        ("nsr", NSR, "NSR / W-REINFORCE"),
        ("hapo", HAPO, "HAPO"),
        ("explore_off", GRPO, "GRPO"),  # every component off: plain GRPO, TRL's own citation
    ],
)
def test_grpo_trainers_cite_their_paper(name, paper, trainer_name, tmp_path, one_thread):
    trainer_cls, config_cls, overrides = _grpo(name)
    card = _card(build_trainer(trainer_cls, config_cls, tmp_path, **overrides), tmp_path)
    _assert_cites(card, paper)
    assert f"This model was trained with {trainer_name}, a method introduced in" in card
    assert f"Cite {trainer_name} as:" in card
    assert "trl_explore" in card.split("---")[1]  # the tag, in the card's metadata


def test_combined_components_cite_every_paper(tmp_path, one_thread):
    """Lp-Reg + Clip-Cov on `ExploreGRPOTrainer`: both entries, both names, no single paper link."""
    from trl_explore.trainers import ExploreGRPOConfig, ExploreGRPOTrainer

    trainer = build_trainer(ExploreGRPOTrainer, ExploreGRPOConfig, tmp_path, lp_reg=True, clip_cov_ratio=0.002)
    card = _card(trainer, tmp_path)
    _assert_cites(card, LP_REG, linked=False)
    _assert_cites(card, CLIP_COV, linked=False)
    assert "This model was trained with Lp-Reg + Clip-Cov / KL-Cov." in card
    assert "huggingface.co/papers/2402.03300" not in card  # not GRPO's paper


def test_spear_trainer_cites_spear_and_its_replay_clip_cov(tmp_path, one_thread):
    from trl_explore.trainers import SPEARConfig, SPEARGRPOTrainer

    trainer = build_trainer(SPEARGRPOTrainer, SPEARConfig, tmp_path)
    card = _card(trainer, tmp_path)
    _assert_cites(card, SPEAR, linked=False)
    _assert_cites(card, CLIP_COV, linked=False)  # SPEARConfig turns Clip-Cov on for the replayed rows
    assert "This model was trained with SPEAR + Clip-Cov / KL-Cov." in card


def _sft_trainer(kind: str, tmp_path):
    from trl_explore.toy import make_tiny_model, make_tokenizer
    from trl_explore.trainers import FourierSFTConfig, FourierSFTTrainer, RankAwareSFTConfig, RankAwareSFTTrainer

    tok = make_tokenizer()
    data = Dataset.from_list([{"prompt": f"x=0.{i} bin:", "completion": str(i)} for i in range(8)])
    common = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        max_steps=1,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        max_length=16,
    )
    model = make_tiny_model(tok, hidden_size=32, num_hidden_layers=1, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "rank_aware":
            args = RankAwareSFTConfig(**common, rank_aware_beta=0.3)
            return RankAwareSFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok)
        args = FourierSFTConfig(**common, fourier_head_number_tokens=[str(d) for d in range(10)])
        return FourierSFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok)


@pytest.mark.parametrize(
    "kind, paper, trainer_name", [("rank_aware", RANK_AWARE, "RankAwareSFT"), ("fourier", FOURIER, "FourierSFT")]
)
def test_sft_trainers_cite_their_paper(kind, paper, trainer_name, tmp_path, one_thread):
    card = _card(_sft_trainer(kind, tmp_path), tmp_path)
    _assert_cites(card, paper)
    assert f"This model was trained with {trainer_name}, a method introduced in" in card


def test_component_to_paper_rules():
    """relative_negative cites NSR's paper for nsr / psr / w_reinforce, GRPO-N's otherwise; HAPO's four parts cite one
    paper once; a component of your own adds nothing; no component: the default is returned unchanged."""
    from types import SimpleNamespace

    modes = {
        mode: component_paper_keys(["relative_negative"], SimpleNamespace(advantage_mode=mode))
        for mode in ("grpo", "grpo_n", "gspo_n", "nsr", "psr", "w_reinforce")
    }
    assert modes == {
        "grpo": ["grpo_n"],
        "grpo_n": ["grpo_n"],
        "gspo_n": ["grpo_n"],
        "nsr": ["nsr"],
        "psr": ["nsr"],
        "w_reinforce": ["nsr"],
    }
    hapo = ["hapo_adaptive_temperature", "hapo_tlga", "hapo_dar", "hapo_adaptive_clip", "my_component"]
    assert component_paper_keys(hapo) == ["hapo"]
    assert component_paper_keys(["clip_cov", "spear", "lp_reg"]) == ["lp_reg", "spear", "clip_cov"]
    assert components_paper(["my_component"], None, "GRPO", {"id": "x"}) == ("GRPO", {"id": "x"})
    with pytest.raises(ValueError, match="Unknown paper 'nope'"):
        trl_paper("nope")
