"""`trl_explore.colab.notebook_setup`: the precision rule every notebook uses, on the GPUs users meet (a Colab T4,
an A100 / H100), without a GPU and in smoke mode."""

from __future__ import annotations

import pytest
import torch

from trl_explore.colab import notebook_setup


@pytest.fixture
def gpu(monkeypatch):
    """Pretend a CUDA GPU of the given compute capability is present."""

    def install(capability):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: capability)

    return install


@pytest.mark.parametrize(
    ("capability", "fp16_weights", "bf16", "fp16", "dtype"),
    [
        ((7, 5), False, False, True, torch.float32),  # T4, training: float32 weights + fp16 autocast
        ((7, 5), True, False, True, torch.float16),  # T4, inference: fp16 weights
        ((8, 0), False, True, False, torch.bfloat16),  # A100
        ((9, 0), True, True, False, torch.bfloat16),  # H100: bf16 for inference as well
    ],
)
def test_precision_from_the_compute_capability(gpu, capability, fp16_weights, bf16, fp16, dtype):
    gpu(capability)
    setup = notebook_setup(False, fp16_weights=fp16_weights)
    assert (setup.has_gpu, setup.device, setup.capability) == (True, "cuda", capability)
    assert (setup.use_bf16, setup.use_fp16, setup.dtype) == (bf16, fp16, dtype)
    assert f"bf16={bf16} fp16={fp16}" in setup.summary() and "No GPU" not in setup.summary()


def test_smoke_mode_ignores_the_gpu_and_uses_one_thread(gpu, monkeypatch):
    gpu((8, 0))
    threads = torch.get_num_threads()
    try:
        setup = notebook_setup(True)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    assert (setup.has_gpu, setup.device, setup.dtype, setup.use_bf16, setup.use_fp16) == (
        False, "cpu", torch.float32, False, False)  # fmt: skip
    assert "No GPU" not in setup.summary()


def test_smoke_from_the_environment_and_the_cpu_hint(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("TRL_EXPLORE_SMOKE", "0")
    setup = notebook_setup()
    assert not setup.smoke and setup.device == "cpu" and setup.dtype == torch.float32
    assert "No GPU found" in setup.summary() and "T4 GPU" in setup.summary()
    monkeypatch.setenv("TRL_EXPLORE_SMOKE", "1")
    threads = torch.get_num_threads()
    try:
        assert notebook_setup().smoke
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize(("kwargs", "field"), [({"smoke": "yes"}, "smoke"), ({"fp16_weights": 1}, "fp16_weights")])
def test_bad_arguments_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"`{field}`"):
        notebook_setup(**kwargs)
