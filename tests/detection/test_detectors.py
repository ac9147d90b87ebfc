"""Detectors on tiny models built in code: the backbone + fused-kernel route equals full logits (tied, untied with a
bias, soft-capped heads; PEFT-wrapped), batched scoring equals one-by-one for texts of different lengths (every
method, Lastde++'s samples included), Lastde++ equals the paper's formula (arXiv 2410.06072, §3) computed by hand from
the same samples, the
reference model's samples, fit / predict round trip, evaluate = scikit-learn, validation."""

from __future__ import annotations

import statistics
import string
import warnings

import numpy as np
import pytest
import torch
from reference import lastde_reference as ref
from sklearn.metrics import auc, precision_recall_curve, roc_auc_score, roc_curve

from trl_explore.detection import (
    METHODS,
    EntropyDetector,
    FastDetectGPTDetector,
    LastdeDetector,
    LikelihoodDetector,
    LogRankDetector,
    detection_metrics,
    make_detector,
    score_all_methods,
)
from trl_explore.toy import make_tiny_model, make_tokenizer

TEXTS = [
    "The quick brown fox jumps over the lazy dog, twice.",
    "Compute (3+4)*2",
    "Use 3 5 7 to make 22 <think>3*5=15,15+7=22</think>\\boxed{3*5+7}",
    "A short one here.",
    "Numbers: 1 2 3 4 5 6 7 8 9 10 11 12",
]


@pytest.fixture(scope="module")
def tok():
    return make_tokenizer()


@pytest.fixture(scope="module")
def model64(tok):
    """A float64 toy Qwen2 with a peaked distribution (initializer_range 0.2: token log-probs vary)."""
    torch.manual_seed(0)
    return make_tiny_model(tok, hidden_size=32, num_hidden_layers=1, initializer_range=0.2).double().eval()


@torch.no_grad()
def _full_logprobs(model, ids):
    """``[n, V]`` float64 log-softmax of the full logits of one text (positions 0..n−1 predict tokens 1..n)."""
    logits = model(input_ids=torch.tensor([ids])).logits[0, :-1].double()
    return torch.log_softmax(logits, -1)


def _gemma2(tok):
    from transformers import Gemma2Config, Gemma2ForCausalLM

    torch.manual_seed(1)
    config = Gemma2Config(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        final_logit_softcapping=3.0,
        pad_token_id=tok.pad_token_id,
    )
    return Gemma2ForCausalLM(config).double().eval()


def _untied_with_bias(tok):
    torch.manual_seed(2)
    model = (
        make_tiny_model(
            tok, arch="llama", hidden_size=32, num_hidden_layers=1, tie_word_embeddings=False, initializer_range=0.2
        )
        .double()
        .eval()
    )
    head = torch.nn.Linear(32, len(tok), bias=True).double()
    torch.nn.init.normal_(head.bias, std=0.5)
    model.lm_head = head
    return model


@pytest.mark.parametrize("build", ["tied", "untied_bias", "softcap"])
def test_statistics_equal_full_logits(tok, model64, build):
    """Label log-probs, ranks, entropy and the analytic moments from the backbone + kernel equal the full float64
    logits of ``model(...)`` (1e-10), for a tied head, an untied head with a bias and a soft-capped (Gemma2) head;
    the LM head module itself is never called."""
    model = {"tied": lambda: model64, "untied_bias": lambda: _untied_with_bias(tok), "softcap": lambda: _gemma2(tok)}[
        build
    ]()
    # Gemma2's eager attention takes its softmax in float32: padding changes its float64 outputs by ~1e-8, so it is
    # scored one text at a time here (batching is checked on Qwen2 / Llama)
    detector = FastDetectGPTDetector(model, tok, batch_size=1 if build == "softcap" else 3, show_progress=False)
    head = model.get_output_embeddings()
    hook = head.register_forward_hook(lambda *a: (_ for _ in ()).throw(AssertionError("full logits computed")))
    try:
        stats = detector.statistics(TEXTS)
    finally:
        hook.remove()
    for text, st in zip(TEXTS, stats):
        ids = tok(text)["input_ids"]
        logp = _full_logprobs(model, ids)  # [n, V]
        labels = torch.tensor(ids[1:])
        torch.testing.assert_close(st.label_logprob, logp.gather(1, labels[:, None]).squeeze(1), rtol=0, atol=1e-10)
        p = logp.exp()
        torch.testing.assert_close(st.entropy, -(p * logp).sum(-1), rtol=0, atol=1e-10)
        torch.testing.assert_close(st.expected_logp2, (p * logp.square()).sum(-1), rtol=0, atol=1e-9)
        want_rank = (logp > logp.gather(1, labels[:, None])).sum(-1) + 1
        assert torch.equal(st.label_rank, want_rank)


def test_baselines_by_hand(tok, model64):
    """Each baseline's formula from full logits: mean log p, −mean log rank, +mean entropy (the released baseline's
    sign: higher entropy = machine), and Fast-DetectGPT's (Σ log p − Σ μ) / sqrt(Σ σ²) with μ, σ² the mean and
    variance of log p under p (white-box)."""
    ids = tok(TEXTS[0])["input_ids"]
    logp = _full_logprobs(model64, ids)
    labels = torch.tensor(ids[1:])
    ll = logp.gather(1, labels[:, None]).squeeze(1)
    p = logp.exp()
    rank = (logp > ll[:, None]).sum(-1) + 1
    mu = (p * logp).sum(-1)
    var = (p * logp.square()).sum(-1) - mu.square()
    want = {
        "likelihood": float(ll.mean()),
        "log_rank": -float(rank.double().log().mean()),
        "entropy": float(-(p * logp).sum(-1).mean()),  # mean_t H(p_t) = mean_t −Σ_v p log p
        "fast_detectgpt": float((ll.sum() - mu.sum()) / var.sum().sqrt()),
    }
    for cls in (LikelihoodDetector, LogRankDetector, EntropyDetector, FastDetectGPTDetector):
        got = cls(model64, tok, show_progress=False).score([TEXTS[0]])
        assert got[0] == pytest.approx(want[cls.method], rel=1e-9), cls.method


def test_batched_equals_one_by_one(tok, model64):
    """Texts of different lengths scored in batches of 3 (right-padded) equal each text scored alone, for every method;
    Lastde++'s samples are drawn per text, so they match too."""
    batched = score_all_methods(model64, tok, TEXTS, n_samples=8, batch_size=3, show_progress=False)
    assert list(batched) == list(METHODS)
    for i, text in enumerate(TEXTS):
        alone = score_all_methods(model64, tok, [text], n_samples=8, batch_size=1, show_progress=False)
        for method in METHODS:
            a, b = batched[method].scores[i], alone[method].scores[0]
            assert a == pytest.approx(b, rel=1e-9, abs=1e-12, nan_ok=True), (method, text)
    lengths = {len(tok(t)["input_ids"]) for t in TEXTS}
    assert len(lengths) == len(TEXTS)  # really different lengths
    assert np.isfinite(batched["lastde"].scores).sum() >= 3 and np.isfinite(batched["lastde++"].scores).sum() >= 3
    # one detector per method gives the same scores as the shared pass
    for method in ("lastde", "lastde++", "log_rank"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            own = make_detector(method, model64, tok, n_samples=8, batch_size=2, show_progress=False).score(TEXTS)
        np.testing.assert_allclose(own, batched[method].scores, rtol=1e-9)


def test_lastde_plus_plus_equals_spec_formula_by_hand(tok, model64):
    """Fixed seed, K = 6: take the detector's sampled tokens, score them with the full logits by hand, compute
    Lastde of the text and of each sampled sequence with the float64 reference and the z-score with the unbiased
    std: equal to the detector's Lastde++ (preset 4, 8, 15; the texts are long enough that τ' is not clamped)."""
    texts = [TEXTS[0], TEXTS[2]]
    detector = LastdeDetector(model64, tok, preset="lastde++", n_samples=6, seed=123, show_progress=False)
    scores = detector.score(texts)
    stats = detector.statistics(texts)
    for text, st, got in zip(texts, stats, scores):
        ids = tok(text)["input_ids"]
        logp = _full_logprobs(model64, ids)  # [n, V]
        n = len(ids) - 1
        assert n >= 15 + 4 and st.sample_ids.shape == (n, 6)
        own = logp.gather(1, torch.tensor(ids[1:])[:, None]).squeeze(1).tolist()
        samples = [logp.gather(1, st.sample_ids[:, k : k + 1]).squeeze(1).tolist() for k in range(6)]
        lastde_x = ref.lastde(own, 4, 8, 15, "std")
        lastde_s = [ref.lastde(s, 4, 8, 15, "std") for s in samples]
        want = (lastde_x - statistics.fmean(lastde_s)) / statistics.stdev(lastde_s)
        assert got == pytest.approx(want, rel=1e-9)
    again = LastdeDetector(model64, tok, preset="lastde++", n_samples=6, seed=123, show_progress=False).score(texts)
    np.testing.assert_array_equal(again, scores)
    other = LastdeDetector(model64, tok, preset="lastde++", n_samples=6, seed=124, show_progress=False).score(texts)
    assert not np.allclose(other, scores)


def test_samples_come_from_the_reference_model(tok, model64):
    """A reference model whose head puts all its mass on one token ('A'): every sampled token is 'A' and is scored by
    the scoring model; Fast-DetectGPT's moments use that q (μ_t = log p_t('A'))."""
    reference = make_tiny_model(tok, hidden_size=16, num_hidden_layers=1, tie_word_embeddings=False).double().eval()
    target = tok.convert_tokens_to_ids("A")
    head = torch.nn.Linear(16, len(tok), bias=True).double()
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.constant_(head.bias, -60.0)
    with torch.no_grad():
        head.bias[target] = 60.0
    reference.lm_head = head
    detector = LastdeDetector(
        model64, tok, reference_model=reference, preset="lastde++", n_samples=5, show_progress=False
    )
    st = detector.statistics([TEXTS[0]])[0]
    assert bool((st.sample_ids == target).all())
    logp = _full_logprobs(model64, tok(TEXTS[0])["input_ids"])
    torch.testing.assert_close(st.sample_logprobs, logp[:, target : target + 1].expand(-1, 5), rtol=0, atol=1e-10)
    fast = FastDetectGPTDetector(model64, tok, reference_model=reference, show_progress=False)
    torch.testing.assert_close(fast.statistics([TEXTS[0]])[0].expected_logp, logp[:, target], rtol=0, atol=1e-9)
    # all samples identical -> their Lastde scores do not vary: NaN with the reason, never inf
    with pytest.warns(UserWarning, match="do not vary"):
        result = detector.score([TEXTS[0]], return_details=True)
    assert np.isnan(result.scores[0]) and "do not vary" in result.reasons[0]


def test_peft_wrapped_model_scores_like_the_base(tok, model64):
    peft = pytest.importorskip("peft")
    wrapped = peft.get_peft_model(
        make_tiny_model(tok, hidden_size=32, num_hidden_layers=1, initializer_range=0.2).double(),
        peft.LoraConfig(r=2, target_modules=["q_proj"]),
    )
    torch.manual_seed(0)
    base = make_tiny_model(tok, hidden_size=32, num_hidden_layers=1, initializer_range=0.2).double()
    a = LikelihoodDetector(wrapped, tok, show_progress=False).score(TEXTS)
    b = LikelihoodDetector(base, tok, show_progress=False).score(TEXTS)
    np.testing.assert_allclose(a, b, rtol=1e-12)  # LoRA's B starts at zero


@pytest.fixture(scope="module")
def labelled(tok, model64):
    """Machine texts: 40 tokens sampled from the model at temperature 0.5 after "The ", restricted to letters, digits,
    space, comma and period (so that they decode and re-encode to the same tokens); human texts: "The " and 40 uniform
    draws from the same characters. The model's own samples are far more likely (separable by likelihood)."""
    printable = sorted(set(string.ascii_letters + string.digits + " ,."))
    suppress = [i for i in range(len(tok)) if tok.decode([i]) not in printable]
    prompts = torch.tensor([tok("The ")["input_ids"]] * 12)
    torch.manual_seed(0)
    with torch.no_grad():
        out = model64.generate(
            prompts,
            do_sample=True,
            temperature=0.5,
            max_new_tokens=40,
            min_new_tokens=40,
            pad_token_id=tok.pad_token_id,
            suppress_tokens=suppress,
        )
    machine = tok.batch_decode(out, skip_special_tokens=True)
    g = torch.Generator().manual_seed(0)
    human = [
        "The " + "".join(printable[int(i)] for i in torch.randint(len(printable), (40,), generator=g))
        for _ in range(12)
    ]
    return human, machine


def test_fit_predict_round_trip(tok, model64, labelled):
    """fit on labelled texts picks Youden's threshold (the sklearn ROC point maximising TPR − FPR); predict =
    (score >= threshold), reproducing the labels of this separable set; predict_proba is [N, 2], rows sum to 1,
    increasing with the score; a target FPR of 0.25 keeps the training FPR <= 0.25."""
    human, machine = labelled
    texts, labels = human + machine, [0] * len(human) + [1] * len(machine)
    detector = LikelihoodDetector(model64, tok, show_progress=False)
    scores = detector.score(texts)
    assert detector.fit(texts, labels) is detector
    fpr, tpr, thr = roc_curve(labels, scores)
    assert detector.threshold_ == thr[int(np.argmax(np.where(np.isfinite(thr), tpr - fpr, -np.inf)))]
    pred = detector.predict(texts)
    np.testing.assert_array_equal(pred, (scores >= detector.threshold_).astype(int))
    np.testing.assert_array_equal(pred, labels)
    proba = detector.predict_proba(texts)
    assert proba.shape == (len(texts), 2)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    order = np.argsort(scores)
    assert np.all(np.diff(proba[order, 1]) >= -1e-12)
    assert proba[np.array(labels) == 1, 1].mean() > 0.5 > proba[np.array(labels) == 0, 1].mean()
    strict = LikelihoodDetector(model64, tok, show_progress=False).fit(texts, labels, threshold=0.25)
    flagged_human = (strict.predict(human) == 1).mean()
    assert flagged_human <= 0.25
    np.testing.assert_array_equal(strict.predict_scores([np.nan]), [-1])


def test_evaluate_equals_sklearn(tok, model64, labelled):
    """evaluate = scikit-learn's roc_auc_score, auc(precision_recall_curve) and the ROC's TPR at FPR <= 1% on the
    detector's own scores, for Lastde and Fast-DetectGPT."""
    human, machine = labelled
    y = np.r_[np.zeros(len(human)), np.ones(len(machine))]
    for detector in (
        LastdeDetector(model64, tok, show_progress=False),
        FastDetectGPTDetector(model64, tok, show_progress=False),
    ):
        result = detector.evaluate(human, machine)
        s = detector.score(human + machine)
        assert np.isfinite(s).all()
        precision, recall, _ = precision_recall_curve(y, s)
        fpr, tpr, _ = roc_curve(y, s)
        assert result["auroc"] == roc_auc_score(y, s)
        assert result["pr_auc"] == auc(recall, precision)
        assert result["tpr_at_fpr"] == tpr[fpr <= 0.01].max() and result["fpr"] == 0.01
        assert result["num_human"] == len(human) and result["num_unscored"] == 0


def test_detection_metrics_by_hand():
    """human [0.1, 0.4], machine [0.35, 0.8]: 3 of the 4 (machine, human) pairs are ordered right, AUROC = 0.75; only
    0.8 is above every human score, so TPR at FPR 0 (<= 1%) is 0.5; NaN scores are left out and counted."""
    m = detection_metrics([0.1, 0.4, np.nan], [0.35, 0.8])
    assert m["auroc"] == 0.75 and m["tpr_at_fpr"] == 0.5 and m["num_unscored"] == 1 and m["num_human"] == 2
    with pytest.raises(ValueError, match="fpr"):
        detection_metrics([0.1], [0.2], fpr=1.0)
    with pytest.raises(ValueError, match="machine"):
        detection_metrics([0.1], [np.nan])


def test_short_text_rule_in_the_detector(tok, model64):
    """Preset "lastde" (s = 3, τ' = 5): a text of 5 scored tokens (< τ' + s = 8) is scored with "clamp" on the scales
    1..n − s = 1..2 and a warning says so, and is NaN with the reason with "nan"; a 1-token text is NaN with its own
    reason under both; nothing is infinite."""
    texts = ["abcdef", "x", TEXTS[0]]  # 5 scored tokens (< 8), none, plenty
    with pytest.warns(UserWarning, match="clamp"):
        clamp = LastdeDetector(model64, tok, show_progress=False).score(texts, return_details=True)
    assert clamp.details["clamped"].tolist() == [True, False, False]
    assert clamp.details["num_scales"].tolist()[0] == 2 and "fewer than 2 tokens" in clamp.reasons[1]
    with pytest.warns(UserWarning, match="no score"):
        nan = LastdeDetector(model64, tok, short_text="nan", show_progress=False).score(texts, return_details=True)
    assert np.isnan(nan.scores[:2]).all() and "too few tokens" in nan.reasons[0]
    assert not np.isinf(clamp.scores).any() and not np.isinf(nan.scores).any()
    assert nan.scores[2] == clamp.scores[2]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"preset": "lastde+"}, "preset"),
        ({"n_samples": 1}, "n_samples"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_length": 1}, "max_length"),
        ({"agg": "mean"}, "agg"),
        ({"tau_prime": 0}, "tau_prime"),
        ({"embed_size": 1.5}, "embed_size"),
        ({"epsilon_mult": -1}, "epsilon_mult"),
        ({"short_text": "drop"}, "short_text"),
        ({"show_progress": "yes"}, "show_progress"),
        ({"seed": -1}, "seed"),
        ({"rank_ties": "max"}, "rank_ties"),
    ],
)
def test_constructor_validation(tok, model64, kwargs, match):
    with pytest.raises(ValueError, match=match):
        LastdeDetector(model64, tok, **kwargs)


def test_input_validation(tok, model64):
    detector = LastdeDetector(model64, tok, show_progress=False)
    for bad in ([], "one string", [1, 2], None):
        with pytest.raises(ValueError, match="texts"):
            detector.score(bad)
    with pytest.raises(ValueError, match="labels"):
        detector.fit(TEXTS, [0, 1])
    with pytest.raises(ValueError, match="labels"):
        detector.fit(TEXTS, [0, 1, 2, 0, 1])
    with pytest.raises(ValueError, match="both classes"):
        detector.fit(TEXTS, [1] * 5)
    with pytest.raises(ValueError, match="threshold"):
        detector.fit(TEXTS[:4], [0, 1, 0, 1], threshold=1.5)
    with pytest.raises(ValueError, match="not fitted"):
        detector.predict(TEXTS)
    with pytest.raises(ValueError, match="human_texts"):
        detector.evaluate([], TEXTS)
    with pytest.raises(ValueError, match="method"):
        make_detector("detectgpt", model64, tok)
    with pytest.raises(ValueError, match="methods"):
        score_all_methods(model64, tok, TEXTS, methods=["lastde", "binoculars"])
    other_tok = make_tokenizer()
    other_tok.add_tokens(["<extra>"])
    with pytest.raises(ValueError, match="tokenizer"):
        LastdeDetector(model64, tok, reference_model=model64, reference_tokenizer=other_tok, preset="lastde++")
    wider = make_tiny_model(tok, vocab_size=len(tok) + 8, hidden_size=16, num_hidden_layers=1).double()
    with pytest.raises(ValueError, match="vocabulary"):
        LastdeDetector(model64, tok, reference_model=wider, preset="lastde++", show_progress=False).score(TEXTS)
    with pytest.raises(ValueError, match="model"):
        LastdeDetector("gpt2", tok)


def test_non_finite_model_outputs_give_nan_not_inf(tok, model64):
    """Statistics with a −inf log-probability (a model overflowing) give NaN with the reason for every method — the
    others texts are unaffected."""
    detector = LastdeDetector(model64, tok, preset="lastde++", n_samples=4, show_progress=False)
    stats = detector.statistics([TEXTS[0], TEXTS[2]], moments=True)  # Fast-DetectGPT reads the moments too
    clean = detector.score_statistics(stats).scores
    stats[0].label_logprob[3] = float("-inf")
    for det in (detector, LikelihoodDetector(model64, tok), FastDetectGPTDetector(model64, tok)):
        result = det.score_statistics(stats)
        assert np.isnan(result.scores[0]) and "non-finite" in result.reasons[0], det.method
        assert np.isfinite(result.scores[1])
    assert detector.score_statistics(stats).scores[1] == clean[1]


def test_chunked_scoring_equals_one_chunk(tok, model64, monkeypatch):
    """Statistics are dropped chunk by chunk (memory bounded for long lists): with chunks of 2 texts the scores,
    reasons and details of every method equal those of one chunk."""
    import trl_explore.detection.detectors as detectors

    texts = [*TEXTS, "x"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = score_all_methods(model64, tok, texts, n_samples=4, show_progress=False)
        monkeypatch.setattr(detectors, "CHUNK_TEXTS", 2)
        chunked = score_all_methods(model64, tok, texts, n_samples=4, show_progress=False)
        single = LastdeDetector(model64, tok, show_progress=False).score(texts, return_details=True)
    for method in METHODS:
        # different batch layouts: float64 matmul rounding only
        np.testing.assert_allclose(whole[method].scores, chunked[method].scores, rtol=1e-12, atol=1e-12)
        assert whole[method].reasons == chunked[method].reasons
    np.testing.assert_allclose(single.details["mde"], whole["lastde"].details["mde"], rtol=1e-12)


def test_entropy_score_sign_by_hand():
    """The entropy baseline scores +mean_t H(p_t), as the released baselines do (so its AUROC reads like the papers'
    tables). Hand statistics: entropies [1, 3] and [0.5, 0.5] give scores (1 + 3) / 2 = 2 and 0.5: the
    higher-entropy text scores higher (more machine-like). (Fails on the old −mean sign: −2 and −0.5.)"""
    from trl_explore.detection import TextStatistics

    def stats(entropy):
        n = len(entropy)
        f = torch.zeros(n, dtype=torch.float32)
        return TextStatistics(
            torch.zeros(n + 1, dtype=torch.long),
            f,
            torch.ones(n, dtype=torch.long),
            torch.tensor(entropy),
            f,
            f,
            torch.zeros((n, 0), dtype=torch.long),
            torch.zeros((n, 0)),
        )

    detector = EntropyDetector.__new__(EntropyDetector)  # score_statistics reads only the statistics
    got = detector.score_statistics([stats([1.0, 3.0]), stats([0.5, 0.5])]).scores
    assert got.tolist() == [2.0, 0.5]


def test_rank_ties_reach_the_log_rank_detector(tok):
    """``rank_ties`` goes from the detectors (and `score_all_methods`) to the statistics pass. A toy model whose head
    rows of two tokens ``a < b`` are equal gives them bit-equal logits at every position (same products); a text
    holding ``b``: with "min" ``b`` gets ``a``'s rank, with "released" one more (``a`` has the smaller id, it comes
    first). Every other token's rank is the same under both rules (no other row is duplicated)."""
    torch.manual_seed(3)
    model = make_tiny_model(tok, hidden_size=32, num_hidden_layers=1, initializer_range=0.2).double().eval()
    ids = tok(TEXTS[1])["input_ids"]
    b = ids[3]
    a = next(v for v in range(b) if v not in ids)
    with torch.no_grad():
        model.get_output_embeddings().weight[a] = model.get_output_embeddings().weight[b]
    low = LogRankDetector(model, tok, show_progress=False).statistics([TEXTS[1]])[0].label_rank
    released = LogRankDetector(model, tok, show_progress=False, rank_ties="released").statistics([TEXTS[1]])[0]
    labels = torch.tensor(ids[1:])
    assert torch.equal(released.label_rank, low + (labels == b).long()) and (labels == b).any()
    both = score_all_methods(model, tok, [TEXTS[1]], ["log_rank", "lastde"], rank_ties="released", show_progress=False)
    want = -float(released.label_rank.double().log().mean())
    assert both["log_rank"].scores[0] == pytest.approx(want, rel=1e-12)
