"""Zero-shot detection of LLM-generated text: Lastde / Lastde++ and the baselines (likelihood, log-rank, entropy,
Fast-DetectGPT's analytic criterion), one interface (``score`` / ``fit`` / ``predict`` / ``predict_proba`` /
``evaluate``). Names are resolved lazily from their modules."""

from __future__ import annotations

from .._lazy import lazy_exports

_LAZY: dict[str, str] = {
    "LastdeDetector": "detectors",
    "LikelihoodDetector": "detectors",
    "LogRankDetector": "detectors",
    "EntropyDetector": "detectors",
    "FastDetectGPTDetector": "detectors",
    "ZeroShotDetector": "detectors",
    "DetectionScores": "detectors",
    "LastdePreset": "detectors",
    "PRESETS": "detectors",
    "METHODS": "detectors",
    "make_detector": "detectors",
    "score_all_methods": "detectors",
    "TextStatistics": "scoring",
    "TokenStatisticsScorer": "scoring",
    "lm_head_of": "scoring",
    "backbone_of": "scoring",
    "detection_metrics": "metrics",
    "choose_threshold": "metrics",
    "calibrate": "metrics",
    "plot_roc": "metrics",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)
