"""Tripwires for `trl_explore.trainers._trl_compat`: what the trainer knows of TRL 1.16's private internals.

A failure here means a TRL upgrade changed code the base mirrors or hooks: re-read the TRL method named in the message,
update `_trl_compat` (and the override in `explore_grpo_trainer`), then this record.
"""

from __future__ import annotations

import hashlib
import inspect

import pytest
from trl import GRPOTrainer

from trl_explore.trainers import _trl_compat as compat

# Signatures of the TRL methods the base overrides or calls, recorded from trl 1.16.0
HOOKED = {
    "_generate_and_score_completions": "(self, inputs: list[dict[str, torch.Tensor | typing.Any]]) -> dict[str, torch.Tensor | typing.Any]",
    "_generate_single_turn": "(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False)",
    "_calculate_rewards": "(self, inputs, prompts, completions, completion_ids_list)",
    "_compute_loss": "(self, model, inputs)",
    "_save_checkpoint": "(self, model, trial)",
    "_load_optimizer_and_scheduler": "(self, checkpoint)",
    "compute_loss": "(self, model, inputs, return_outputs=False, num_items_in_batch=None)",
    "get_high_entropy_mask": "(self, entropies: torch.Tensor, mask: torch.Tensor, threshold: float) -> torch.Tensor",
    "get_off_policy_mask": "(advantages: torch.Tensor, per_token_logps: torch.Tensor, sampling_per_token_logps: torch.Tensor, mask: torch.Tensor, off_policy_threshold: float) -> torch.Tensor",
    "_get_per_token_logps_and_entropies": "(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None, compute_entropy=False, compute_aux_loss=False, pixel_values=None, image_grid_thw=None, num_images=None, pixel_attention_mask=None, spatial_shapes=None, num_tiles=None, image_sizes=None, token_type_ids=None, mm_token_type_ids=None, image_position_ids=None) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]",
}


@pytest.mark.parametrize("name", sorted(HOOKED))
def test_hooked_trl_signatures_unchanged(name):
    """Fails loudly when TRL changes a method the base overrides or calls."""
    assert str(inspect.signature(getattr(GRPOTrainer, name))) == HOOKED[name], (
        f"trl.GRPOTrainer.{name} changed signature; review trl_explore.trainers._trl_compat."
    )


def _source(name: str) -> str:
    return inspect.getsource(getattr(GRPOTrainer, name))


def test_multimodal_keys_match_compute_loss():
    """`MULTIMODAL_KEYS` are exactly the inputs TRL's `_compute_loss` forwards to the log-prob pass."""
    src = _source("_compute_loss")
    for key in compat.MULTIMODAL_KEYS:
        assert f'{key}=inputs.get("{key}")' in src, key
    signature = inspect.signature(GRPOTrainer._get_per_token_logps_and_entropies)
    assert tuple(signature.parameters)[8:] == compat.MULTIMODAL_KEYS


def test_old_logps_condition_matches_trl():
    """`computes_old_logps` mirrors the condition in `_generate_and_score_completions`."""
    src = " ".join(_source("_generate_and_score_completions").split())
    assert "generate_every = self.args.steps_per_generation * self.num_iterations" in src
    assert "self.args.gradient_accumulation_steps % generate_every != 0" in src
    assert "self.use_vllm and self.vllm_importance_sampling_correction" in src


def test_generation_goes_through_single_turn():
    """Sampling requests are bound around `_generate_single_turn`: plain generation and every turn of the tool loop
    call it, and it samples with `unwrapped_model.generate(**generate_inputs, generation_config=...)` (no processor
    argument of its own) or with vLLM's `generation_kwargs`."""
    assert "self._generate_single_turn(" in _source("_generate")
    assert "self._generate_single_turn(" in _source("_tool_call_loop")
    src = " ".join(_source("_generate_single_turn").split())
    assert "unwrapped_model.generate( **generate_inputs, generation_config=self.generation_config )" in src
    assert "logits_processor" not in src
    assert "self.accelerator, gather_deepspeed3_params" in src  # unwrap_model_for_generation(self.model_wrapped, ...)
    from trl.generation import vllm_generation

    vsrc = inspect.getsource(vllm_generation.VLLMGeneration.generate)
    assert "generation_kwargs.update(self.generation_kwargs)" in vsrc  # colocate: merged into SamplingParams
    assert '"generation_kwargs": self.generation_kwargs' in vsrc  # server: sent in the request body


def test_entropy_bonus_fields_exist():
    """The own loss path reproduces TRL's entropy bonus and reads its controller state."""
    src = _source("_compute_loss")
    for marker in ("_entropy_bonus_enabled", "_last_world_entropy", "_entropy_window_stats", "entropy_coef_delta"):
        assert marker in src, marker
    assert 'self._metrics[mode]["policy_loss"]' in src


# sha256 of TRL 1.16.0's `GRPOTrainer._compute_loss` source, whitespace-collapsed
COMPUTE_LOSS_SHA256 = "786b6ecc70228b78f51b309b493d415164685da7f0e309938d4d317b752a1c43"


def test_compute_loss_source_unchanged():
    """`_trl_compat`'s shared loss steps (`shared_token_terms`, `aggregate_loss`, `add_entropy_bonus`,
    `add_router_aux_loss`, `log_loss_metrics`) mirror TRL's `_compute_loss` line for line: any change to it fails here
    (re-read it, update the mirror, then this hash)."""
    digest = hashlib.sha256(" ".join(_source("_compute_loss").split()).encode()).hexdigest()
    assert digest == COMPUTE_LOSS_SHA256, "trl.GRPOTrainer._compute_loss changed; review _trl_compat's loss steps."


# Lines of TRL's `_compute_loss` each shared step mirrors (whitespace-collapsed)
MIRRORED_LINES = {
    "shared_token_terms": (
        "entropy_mask = self.get_high_entropy_mask(entropies, mask, 1 - self.top_entropy_quantile)",
        'sampling_per_token_logps = inputs.get("sampling_per_token_logps", old_per_token_logps)',
        "per_token_loss = per_token_loss * off_policy_mask",
        "per_token_loss = per_token_loss * entropy_mask",
        'per_token_loss = per_token_loss * inputs["importance_sampling_ratio"]',
        "torch.exp(ref_per_token_logps - per_token_logps) - (ref_per_token_logps - per_token_logps) - 1",
        "per_token_kl = per_token_kl * coef_1",
        "per_token_loss = per_token_loss + self.beta * per_token_kl",
    ),
    "aggregate_loss": (
        "loss = ((per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()",
        "loss = (per_token_loss * mask).sum() / mask.sum().clamp(min=1.0)",
        "loss = (per_token_loss * mask).sum() / (per_token_loss.size(0) * self.max_completion_length)",
        'normalizer = inputs["num_items_in_batch"].clamp(min=1.0) / self.accelerator.num_processes',
        "normalizer = normalizer * self.current_gradient_accumulation_steps / self.args.steps_per_generation",
    ),
    "add_entropy_bonus": (
        "effective_mask = mask if entropy_mask is None else mask * entropy_mask",
        "(entropies * effective_mask).sum() / effective_mask.sum().clamp(min=1.0) / accumulation_factor",
        "apply_coef = self.entropy_coef if self._last_world_entropy <= self.args.entropy_target else 0.0",
        "loss = loss - apply_coef * entropy_loss",
        "stats = torch.stack([(entropies * effective_mask).sum(), effective_mask.sum()]).detach()",
        'window_stats = self.accelerator.reduce(self._entropy_window_stats, reduction="sum")',
        "self._last_world_entropy = world_entropy",
    ),
    "add_router_aux_loss": ("loss = loss + self.router_aux_loss_coef * aux_loss / normalizer",),
    "log_loss_metrics": (
        "is_low_clipped = (coef_1 < 1 - self.epsilon_low) & (advantages < 0)",
        "is_high_clipped = (coef_1 > 1 + self.epsilon_high) & (advantages > 0)",
        'self._metrics[mode]["clip_ratio/low_min"].append(nanmin(gathered_low_clip).item())',
    ),
}


@pytest.mark.parametrize("step", sorted(MIRRORED_LINES))
def test_shared_loss_steps_match_compute_loss(step):
    """Each shared step of `_trl_compat` exists and names the TRL method it mirrors; the lines it mirrors are in
    TRL's `_compute_loss`."""
    assert "_compute_loss" in inspect.getsource(compat) and callable(getattr(compat, step))
    src = " ".join(_source("_compute_loss").split())
    for line in MIRRORED_LINES[step]:
        assert line in src, f"{step}: {line}"


def test_fused_head_kernel_hook_unchanged():
    """The fused-head kernel symbol the token statistics route through still exists with the recorded signature."""
    import trl.trainer.utils as trl_utils
    from trl.kernels import ChunkedLogProbFunction

    assert hasattr(trl_utils, "_ChunkedLogProbFunction") and hasattr(trl_utils, "add_fused_lm_head")
    assert trl_utils._ChunkedLogProbFunction is ChunkedLogProbFunction, "the kernel name must be TRL's outside blocks"
    assert str(inspect.signature(ChunkedLogProbFunction.forward)) == (
        "(ctx, hidden: 'torch.Tensor', weight: 'torch.Tensor', bias: 'torch.Tensor | None', targets: 'torch.Tensor', "
        "temperature: 'float', chunk_size: 'int', final_logit_softcapping: 'float | None' = None, "
        "logit_scale: 'float' = 1.0, outputs: 'tuple[str, ...]' = ('entropy', 'log_sum_sq_probs', 'mean_logits', "
        "'is_top1')) -> 'tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, "
        "torch.Tensor | None]'"
    )
    src = inspect.getsource(trl_utils.add_fused_lm_head)
    assert "_ChunkedLogProbFunction.apply(" in src


def test_fused_lm_head_kernel_is_scoped():
    """`fused_lm_head_kernel` swaps TRL's kernel name only inside the block (nested blocks too) and puts TRL's back
    after the last one, also when the block raises."""
    import trl.trainer.utils as trl_utils
    from trl.kernels import ChunkedLogProbFunction

    class Dispatch:
        pass

    with compat.fused_lm_head_kernel(Dispatch):
        assert trl_utils._ChunkedLogProbFunction is Dispatch
        assert compat.fused_lm_head_fallback() is ChunkedLogProbFunction
        with compat.fused_lm_head_kernel(Dispatch):
            assert trl_utils._ChunkedLogProbFunction is Dispatch
        assert trl_utils._ChunkedLogProbFunction is Dispatch
    assert trl_utils._ChunkedLogProbFunction is ChunkedLogProbFunction
    with pytest.raises(KeyError), compat.fused_lm_head_kernel(Dispatch):
        raise KeyError("x")
    assert trl_utils._ChunkedLogProbFunction is ChunkedLogProbFunction


def test_chunked_logprob_gemm_helpers():
    """`mm_out_dtype` / `addmm_fp32` are TRL's `_MM_OUT_DTYPE` / `_addmm_fp32` (trl/kernels/chunked_logprob.py):
    ``acc += a @ b`` with a float32 accumulator."""
    import torch
    from trl.kernels import chunked_logprob

    assert compat.mm_out_dtype() is bool(chunked_logprob._MM_OUT_DTYPE)
    assert "def _addmm_fp32(acc: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:" in inspect.getsource(
        chunked_logprob
    )
    acc = torch.zeros(2, 2)
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.bfloat16)
    compat.addmm_fp32(acc, a, a)  # [[1·1+2·3, 1·2+2·4], [3·1+4·3, 3·2+4·4]] = [[7, 10], [15, 22]], exact in fp32
    assert acc.tolist() == [[7.0, 10.0], [15.0, 22.0]] and acc.dtype == torch.float32


def _parameters(func) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(func).parameters.values()]


def _our_trainers(family: str) -> list[type]:
    from trl_explore import trainers

    names = {
        "grpo": [
            "ExploreGRPOTrainer",
            "LpRegGRPOTrainer",
            "HAPOGRPOTrainer",
            "RelativeNegativeGRPOTrainer",
            "SPEARGRPOTrainer",
        ],
        "sft": ["FourierSFTTrainer", "RankAwareSFTTrainer"],
    }[family]
    return [getattr(trainers, name) for name in names]


@pytest.mark.parametrize("family", ["grpo", "sft"])
def test_trainer_signatures_match_trl(family):
    """Our trainers take TRL's constructor arguments (`GRPOTrainer` / `SFTTrainer` 1.16) by name, in TRL's order,
    with TRL's defaults: no ``*args`` matched by position."""
    from trl import SFTTrainer

    theirs = _parameters((GRPOTrainer if family == "grpo" else SFTTrainer).__init__)
    for trainer in _our_trainers(family):
        assert _parameters(trainer.__init__) == theirs, trainer.__name__


def test_row_appending_matches_trl_batches():
    """Rows appended to a generation batch (`GenerationContext.add_rows`, SPEAR's replay) follow TRL's layout: the pad
    id is the tokenizer's (`pad_token_id`), prompts are left-padded and completions right-padded, ``tool_mask`` pads with
    1, and `_prepare_inputs` shuffles the local batch and splits it into ``steps_per_generation`` equal chunks (a
    remainder would be dropped: the trainer keeps the row count divisible)."""
    src = " ".join(_source("_generate_and_score_completions").split())
    assert 'padding_value=self._tokenizer.pad_token_id, padding_side="left"' in src
    assert 'padding_value=self._tokenizer.pad_token_id, padding_side="right"' in src
    assert 'tool_mask, padding_value=1, padding_side="right"' in src
    prepare = " ".join(_source("_prepare_inputs").split())
    assert "generation_batch = shuffle_sequence_dict(generation_batch)" in prepare
    assert "split_tensor_dict(generation_batch, self.args.steps_per_generation)" in prepare
    from trl.trainer.utils import split_tensor_dict

    assert "chunk_size = first_tensor.shape[0] // num_chunks" in inspect.getsource(split_tensor_dict)


def test_reward_functions_receive_trainer_state_and_log_metric():
    """`toolcall_reward` reads ``trainer_state`` (μ(t)) and logs through ``log_metric``; the Dr.BoT filter reads the
    decoded ``completions`` stashed from `_calculate_rewards`."""
    src = _source("_calculate_rewards")
    assert 'reward_kwargs["trainer_state"] = self.state' in src
    assert 'reward_kwargs["log_metric"] = self._log_metric' in src
    assert "prompts=prompts, completions=completions, completion_ids=completion_ids_list, **reward_kwargs" in src


def test_checkpoint_completeness_files_match_trl():
    """`resolve_resume_checkpoint` calls a checkpoint complete when it holds ``trainer_state.json`` (transformers
    writes it after the model, optimizer, scheduler and RNG states) and, with the adaptive entropy controller, TRL's
    controller file (written after that, read back on resume)."""
    from transformers import Trainer

    saved = " ".join(_source("_save_checkpoint").split())
    assert f'"{compat.ENTROPY_CONTROLLER_FILE}"' in saved and saved.index("super()._save_checkpoint") < saved.index(
        compat.ENTROPY_CONTROLLER_FILE
    )
    assert f'"{compat.ENTROPY_CONTROLLER_FILE}"' in _source("_load_optimizer_and_scheduler")
    base = inspect.getsource(Trainer._save_checkpoint)
    for earlier in ("self.save_model(", "self._save_optimizer_and_scheduler(", "self._save_rng_state("):
        assert base.index(earlier) < base.index("TRAINER_STATE_NAME"), earlier
