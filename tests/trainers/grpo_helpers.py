"""Shared builders for the GRPO trainer tests (`ExploreGRPOTrainer` and its components): a tiny model, trainers
and a fixed batch."""

from __future__ import annotations

import copy
import os
from typing import Any

import torch
from datasets import Dataset

os.environ.setdefault("WANDB_DISABLED", "true")


def tiny_tokenizer():
    from trl_explore.toy import make_tokenizer

    return make_tokenizer()


def tiny_model(tokenizer=None, seed: int = 0, hidden_size: int = 32):
    from trl_explore.toy import make_tiny_model

    return make_tiny_model(tokenizer or tiny_tokenizer(), hidden_size=hidden_size, num_hidden_layers=1, seed=seed)


def peaky_model(tok, seed: int = 0, scale: float = 6.0):
    """Tiny model with sharper next-token distributions (LM head x `scale`), so min-p filtering bites and sampling
    repeats tokens."""
    model = tiny_model(tok, seed=seed)
    with torch.no_grad():
        model.lm_head.weight.mul_(scale)
    return model


def const_reward(completions: list[Any], **kwargs: Any) -> list[float]:
    """Reward depending on the completion text (deterministic): its length parity."""
    return [float(len(str(c)) % 2) for c in completions]


def tiny_dataset(n: int = 8) -> Dataset:
    return Dataset.from_dict({"prompt": [f"{i}+{i}=" for i in range(n)]})


def config_kwargs(tmp_path, **overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=6,
        report_to="none",
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        logging_steps=1,
        save_strategy="no",
        seed=0,
    )
    kwargs.update(overrides)
    return kwargs


def build_trainer(trainer_cls, config_cls, tmp_path, model=None, **overrides: Any):
    """A trainer on the tiny model; with ``beta != 0`` the model goes through a local directory so TRL can load the
    reference model from the same path."""
    tokenizer = tiny_tokenizer()
    model = model if model is not None else tiny_model(tokenizer)
    if overrides.get("beta", 0.0) != 0.0:
        path = tmp_path / "model"
        model.save_pretrained(path)
        model = str(path)
        overrides.setdefault("model_init_kwargs", {"dtype": "float32"})
    args = config_cls(**config_kwargs(tmp_path, **overrides))
    return trainer_cls(
        model=model, reward_funcs=const_reward, args=args, train_dataset=tiny_dataset(), processing_class=tokenizer
    )


def fixed_batch(
    vocab: int,
    batch: int = 4,
    prompt_len: int = 3,
    completion_len: int = 5,
    seed: int = 0,
    off_policy: bool = False,
    ref: bool = False,
    negative_only: bool = False,
) -> dict[str, torch.Tensor]:
    """A hand-made micro-batch in TRL's `_generate_and_score_completions` output format."""
    g = torch.Generator().manual_seed(seed)
    prompt_ids = torch.randint(5, vocab, (batch, prompt_len), generator=g)
    prompt_mask = torch.ones(batch, prompt_len, dtype=torch.long)
    prompt_mask[0, 0] = 0  # left padding
    completion_ids = torch.randint(5, vocab, (batch, completion_len), generator=g)
    completion_mask = torch.ones(batch, completion_len, dtype=torch.long)
    completion_mask[1, -2:] = 0  # right padding
    completion_mask[2, -1] = 0
    advantages = torch.tensor([1.0, -0.5, -1.5, 0.8])[:batch] if batch == 4 else torch.randn(batch, generator=g)
    if negative_only:
        advantages = -advantages.abs()
    inputs = {
        "prompt_ids": prompt_ids,
        "prompt_mask": prompt_mask,
        "completion_ids": completion_ids,
        "completion_mask": completion_mask,
        "advantages": advantages,
        "num_items_in_batch": completion_mask.sum() * 2,  # as if two micro-batches per generation
    }
    if off_policy:
        inputs["old_per_token_logps"] = -3.0 + 0.5 * torch.randn(batch, completion_len, generator=g)
    if ref:
        inputs["ref_per_token_logps"] = -3.0 + 0.5 * torch.randn(batch, completion_len, generator=g)
    return inputs


def loss_and_grads(trainer, inputs: dict[str, torch.Tensor], mode: str = "train"):
    """``compute_loss`` on a copy of the inputs, then the gradient of every parameter (dict name -> tensor)."""
    model = trainer.model
    model.train(mode == "train")
    model.zero_grad(set_to_none=True)
    trainer.current_gradient_accumulation_steps = 2
    loss = trainer.compute_loss(model, copy.deepcopy(inputs))
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), grads


@torch.no_grad()
def sampled_batch(model, vocab: int, seed: int = 0, **kwargs) -> dict[str, torch.Tensor]:
    """`fixed_batch` whose completion tokens are sampled from the model, left to right (realistic probabilities)."""
    inputs = fixed_batch(vocab, batch=4, completion_len=7, seed=seed, **kwargs)
    g = torch.Generator().manual_seed(seed)
    ids = inputs["completion_ids"]
    for t in range(ids.size(1)):
        full = torch.cat([inputs["prompt_ids"], ids], 1)
        att = torch.cat([inputs["prompt_mask"], torch.ones_like(ids)], 1)
        logits = model(input_ids=full, attention_mask=att, fused_lm_head=False).logits
        probs = torch.softmax(logits[:, inputs["prompt_ids"].size(1) + t - 1].float(), -1)
        ids[:, t] = torch.multinomial(probs, 1, generator=g).squeeze(-1)
    return inputs


def completion_logits(model, inputs) -> torch.Tensor:
    """``[B, T, V]`` float64 full logits of the completion positions (slow path, no fused head)."""
    # a fresh instance: a deep copy would keep TRL's fused-head closure bound to the original model
    m64 = type(model)(copy.deepcopy(model.config))
    m64.load_state_dict(model.state_dict())
    m64 = m64.double()
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1)
    att = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1)
    logits = m64(input_ids=ids, attention_mask=att).logits
    T = inputs["completion_ids"].size(1)
    return m64, logits[:, -T - 1 : -1]


def dapo_normalizer(trainer, inputs) -> float:
    return (
        float(inputs["num_items_in_batch"])
        * trainer.current_gradient_accumulation_steps
        / (trainer.args.steps_per_generation)
    )


#: TRL loss settings the exactness tests sweep: (loss_type, importance_sampling_level, beta, off_policy)
LOSS_CASES = [
    ("grpo", "token", 0.0, False),
    ("bnpo", "token", 0.0, True),
    ("dr_grpo", "sequence", 0.0, True),
    ("dapo", "token", 0.0, False),
    ("dapo", "sequence", 0.04, True),
    ("grpo", "sequence", 0.04, False),
    ("bnpo", "token", 0.04, True),
    ("dr_grpo", "token", 0.04, False),
]
