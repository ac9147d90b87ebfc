"""A tiny model from the toy kit trains for 2 GRPO steps with `math_accuracy_reward` under TRL's `GRPOTrainer`."""

from __future__ import annotations

import pytest
import torch
from trl import GRPOConfig, GRPOTrainer

from trl_explore.rewards import math_accuracy_reward
from trl_explore.toy import make_arithmetic_dataset, make_tiny_model, make_tokenizer


def _teach_boxed_format(model, tokenizer, dataset, steps: int = 60) -> None:
    """A few plain-torch SFT steps on ``prompt + solution + eos`` so that sampled answers are sometimes right.

    A random model never writes ``\\boxed{...}``: every reward would be 0, every GRPO advantage 0 and no parameter
    would move. After this, answers are guesses from the task's small answer range, so groups have mixed rewards.
    """
    texts = [p + s + tokenizer.eos_token for p, s in zip(dataset["prompt"], dataset["solution"])]
    prompt_lens = [len(tokenizer(p)["input_ids"]) for p in dataset["prompt"]]
    enc = [tokenizer(t)["input_ids"] for t in texts]
    width = max(len(e) for e in enc)
    input_ids = torch.tensor([e + [tokenizer.pad_token_id] * (width - len(e)) for e in enc])
    labels = input_ids.clone()
    for i, (n, e) in enumerate(zip(prompt_lens, enc)):
        labels[i, :n] = -100
        labels[i, len(e) :] = -100
    attention = (labels != -100) | (torch.arange(width)[None] < torch.tensor(prompt_lens)[:, None])
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randint(0, len(texts), (16,), generator=gen)
        loss = model(input_ids=input_ids[idx], attention_mask=attention[idx].long(), labels=labels[idx]).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()


@pytest.fixture
def one_thread():
    """Tiny matmuls gain nothing from threads, and on a shared 2-core machine oversubscription makes them crawl."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.mark.usefixtures("one_thread")
def test_two_grpo_steps_with_math_accuracy_reward(tmp_path) -> None:
    torch.manual_seed(0)
    tokenizer = make_tokenizer()
    model = make_tiny_model(tokenizer, seed=0)
    # One operation on operands 1..2: answers in {-1, ..., 4}, so a guessing model is right fairly often.
    dataset = make_arithmetic_dataset(64, seed=0, num_steps=1, max_operand=2).select_columns(["prompt", "solution"])
    _teach_boxed_format(model, tokenizer, dataset)

    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    args = GRPOConfig(
        output_dir=str(tmp_path),
        use_cpu=True,
        max_steps=2,
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=16,
        learning_rate=1e-2,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=0,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=math_accuracy_reward,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    trainer.train()

    logs = [log for log in trainer.state.log_history if "rewards/math_accuracy_reward/mean" in log]
    assert len(logs) == 2
    assert all(0.0 <= log["rewards/math_accuracy_reward/mean"] <= 1.0 for log in logs)
    assert any(log["rewards/math_accuracy_reward/mean"] > 0.0 for log in logs)
    changed = [name for name, p in trainer.model.named_parameters() if not torch.equal(before[name], p.detach())]
    assert len(changed) > len(before) // 2, f"only {len(changed)} of {len(before)} parameters changed"
