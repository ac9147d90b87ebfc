"""The demo's decoding section (SwiReasoning vs plain sampling, trace plots) on the session's quick warm start."""

import json
from types import SimpleNamespace

from trl_explore.demo import decoding
from trl_explore.generation import SwiReasoningConfig
from trl_explore.toy import countdown_reward, make_countdown_dataset


def test_decoding_section_compares_and_plots(quick_warm_start, tmp_path):
    held_out = make_countdown_dataset(6, seed=2000)
    lines = decoding.decoding_section(
        str(quick_warm_start), held_out, countdown_reward, tmp_path, max_new_tokens=24, num_prompts=6, num_samples=2
    )
    text = "\n".join(lines)
    assert text.startswith("## Decoding: SwiReasoning vs plain sampling")
    for name in ("sampling", *decoding._swi_configs()):
        assert f"| {name} | 24 |" in text
    assert "math-token override" in text and "latent" in text
    assert f"![SwiReasoning traces]({decoding.TRACE_PLOT})" in text
    png = tmp_path / decoding.TRACE_PLOT
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000
    saved = json.loads((tmp_path / "decoding.json").read_text())
    assert [r["decoder"] for r in saved["rows"]] == ["sampling", *decoding._swi_configs()]
    assert all(r["num_graded"] == 12 and 0.0 <= r["accuracy"] <= 1.0 for r in saved["rows"])
    assert len(saved["traces"]) == 4 and {"mode_trace", "entropy_trace"} <= set(saved["traces"][0])


def test_report_section_builder_and_skip_without_think_tokens(quick_warm_start, tmp_path, monkeypatch):
    """The builder in `report.SECTIONS` runs on the run's model and settings; a tokenizer without the think tokens
    gets a one-line note."""
    from trl_explore.demo.report import SECTIONS
    from trl_explore.demo.runner import DemoSettings, prepare_task

    assert SECTIONS[-1].__name__ == "_section_decoding"
    monkeypatch.setattr(decoding, "_swi_configs", lambda: {"x": SwiReasoningConfig(think_token="<reflect>")})
    settings = DemoSettings(max_completion_length=8)
    run = SimpleNamespace(model_path=str(quick_warm_start), settings=settings, task=lambda: prepare_task(settings))
    text = "\n".join(SECTIONS[-1](run, tmp_path))
    assert (
        text.startswith("## Decoding: SwiReasoning vs plain sampling") and "Skipped: `think_token` '<reflect>'" in text
    )
