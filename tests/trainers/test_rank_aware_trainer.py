"""Tests of `RankAwareSFTConfig` / `RankAwareSFTTrainer` (rank-aware NTP, arXiv 2512.22955)."""

from __future__ import annotations

import inspect
import warnings

import pytest
import torch
from datasets import Dataset
from trl import SFTConfig, SFTTrainer

from trl_explore.functional.rank_aware import rank_aware_token_loss
from trl_explore.toy import make_arithmetic_dataset, make_tiny_model, make_tokenizer
from trl_explore.trainers.rank_aware_config import RANK_AWARE_PRESETS, RankAwareSFTConfig
from trl_explore.trainers.rank_aware_trainer import RankAwareSFTTrainer


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer()


@pytest.fixture(scope="module")
def dataset():
    return make_arithmetic_dataset(16, seed=0)


def _args(cls, tmp_path, **kwargs):
    base = {
        "output_dir": str(tmp_path),
        "per_device_train_batch_size": 8,
        "report_to": "none",
        "use_cpu": True,
        "max_steps": 1,
        "logging_steps": 1,
        "save_strategy": "no",
        "seed": 0,
    }
    return cls(**{**base, **kwargs})


def _trainer(cls, config_cls, tokenizer, dataset, tmp_path, model_kwargs=None, **kwargs):
    model_kwargs = dict(model_kwargs or {})
    dtype = model_kwargs.pop("dtype", None)
    model = make_tiny_model(tokenizer, seed=0, **model_kwargs)
    if dtype is not None:
        model = model.to(dtype)
    peft_config = kwargs.pop("peft_config", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(
            model=model,
            args=_args(config_cls, tmp_path, **kwargs),
            train_dataset=dataset,
            eval_dataset=dataset,
            processing_class=tokenizer,
            peft_config=peft_config,
        )


def _loss_and_grads(trainer, batch, num_items_in_batch="count", train=True):
    trainer.model.train(train)
    trainer.model.zero_grad(set_to_none=True)
    inputs = trainer._prepare_inputs({k: v.clone() if torch.is_tensor(v) else v for k, v in batch.items()})
    if num_items_in_batch == "count":
        num_items_in_batch = (inputs["labels"][:, 1:] != -100).sum()
    loss = trainer.compute_loss(trainer.model, inputs, num_items_in_batch=num_items_in_batch)
    loss.backward()
    grads = {k: p.grad.detach().clone() for k, p in trainer.model.named_parameters() if p.grad is not None}
    return loss.detach(), grads


def _assert_same(a, b, rtol=1e-5, atol=1e-6):
    loss_a, grads_a = a
    loss_b, grads_b = b
    torch.testing.assert_close(loss_a, loss_b, rtol=rtol, atol=atol)
    assert grads_a.keys() == grads_b.keys() and grads_a
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], rtol=rtol, atol=atol, msg=name)


# ---------------------------------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rank_aware_beta", float("nan")),
        ("rank_aware_beta", 11.0),
        ("rank_aware_top_k", 0),
        ("rank_aware_top_k", 2.5),
        ("rank_aware_lambda_high", 1.5),
        ("rank_aware_lambda_low", -2.0),
        ("rank_aware_lambda_low", float("inf")),
    ],
)
def test_config_validation(tmp_path, field, value):
    with pytest.raises(ValueError, match=field):
        RankAwareSFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none", **{field: value})


def test_config_defaults_and_presets(tmp_path):
    config = RankAwareSFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    assert (config.rank_aware_beta, config.rank_aware_top_k) == (0.0, 100)
    assert (config.rank_aware_lambda_high, config.rank_aware_lambda_low) == (0.0, 0.0)
    assert isinstance(config, SFTConfig)
    for preset in RANK_AWARE_PRESETS.values():
        RankAwareSFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none", **preset)
    # with shaping on, TRL's dft and label smoothing would change the rank-aware loss: refused with the reason
    with pytest.raises(ValueError, match="loss_type.*reweight"):
        RankAwareSFTConfig(
            output_dir=str(tmp_path), use_cpu=True, report_to="none", loss_type="dft", rank_aware_beta=-0.25
        )
    with pytest.raises(ValueError, match="label_smoothing_factor"):
        RankAwareSFTConfig(
            output_dir=str(tmp_path),
            use_cpu=True,
            report_to="none",
            label_smoothing_factor=0.1,
            rank_aware_lambda_low=-0.1,
        )
    # with shaping off, every TRL loss option is accepted
    off = RankAwareSFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none", loss_type="dft")
    assert off.loss_type == "dft" and not off.rank_aware_shaping


def test_hooked_trl_signatures():
    """Fails loudly when the TRL methods this trainer overrides / relies on change signature (pin trl>=1.16,<1.17)."""
    params = list(inspect.signature(SFTTrainer.compute_loss).parameters)
    assert params == ["self", "model", "inputs", "return_outputs", "num_items_in_batch"]
    from trl.trainer.utils import add_fused_lm_head, maybe_gather_lm_head_ctx

    assert "outputs" in inspect.signature(add_fused_lm_head).parameters
    assert list(inspect.signature(maybe_gather_lm_head_ctx).parameters) == ["params"]


# ---------------------------------------------------------------------------------------------------------------------
# Degenerate equivalence with SFTTrainer
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tie", [True, False])
def test_zero_knobs_equal_sft_trainer(tokenizer, dataset, tmp_path, tie):
    """(β, λ_high, λ_low) = (0, 0, 0): same loss and gradients as SFTTrainer on a fixed batch (completion-only loss),
    in training (num_items_in_batch) and in eval (num_items_in_batch=None)."""
    model_kwargs = {"tie_word_embeddings": tie}
    sft = _trainer(SFTTrainer, SFTConfig, tokenizer, dataset, tmp_path / "a", model_kwargs)
    ours = _trainer(RankAwareSFTTrainer, RankAwareSFTConfig, tokenizer, dataset, tmp_path / "b", model_kwargs)
    batch = next(iter(sft.get_train_dataloader()))
    assert (batch["labels"] == -100).any()  # the prompt is masked (completion-only loss)
    _assert_same(_loss_and_grads(sft, batch), _loss_and_grads(ours, batch))
    # gradient accumulation / multi-device normalisation: a larger num_items_in_batch
    _assert_same(_loss_and_grads(sft, batch, torch.tensor(1000)), _loss_and_grads(ours, batch, torch.tensor(1000)))
    # eval path: num_items_in_batch=None, no grad
    sft.model.eval()
    ours.model.eval()
    with torch.no_grad():
        inputs = sft._prepare_inputs({k: v.clone() if torch.is_tensor(v) else v for k, v in batch.items()})
        l_sft = sft.compute_loss(sft.model, dict(inputs))
        l_ours = ours.compute_loss(ours.model, dict(inputs))
    torch.testing.assert_close(l_sft, l_ours, rtol=1e-5, atol=1e-6)
    for key in ("entropy", "mean_token_accuracy", "num_tokens"):
        torch.testing.assert_close(
            torch.tensor(sft._metrics["train"][key], dtype=torch.float64),
            torch.tensor(ours._metrics["train"][key], dtype=torch.float64),
            rtol=1e-5,
            atol=1e-6,
        )


def test_zero_knobs_equal_sft_trainer_packing(tokenizer, dataset, tmp_path):
    """Packing (padding-free, position_ids, no attention mask) gives SFTTrainer's loss and gradients."""
    sft = _trainer(SFTTrainer, SFTConfig, tokenizer, dataset, tmp_path / "a", packing=True, max_length=64)
    ours = _trainer(
        RankAwareSFTTrainer, RankAwareSFTConfig, tokenizer, dataset, tmp_path / "b", packing=True, max_length=64
    )
    batch = next(iter(sft.get_train_dataloader()))
    assert "position_ids" in batch
    _assert_same(_loss_and_grads(sft, batch), _loss_and_grads(ours, batch))
    assert ours._metrics["train"]["num_tokens"] == sft._metrics["train"]["num_tokens"]


def test_zero_knobs_equal_sft_trainer_assistant_only(tokenizer, tmp_path):
    """Conversational data with assistant-only loss (the toy chat template's generation tags)."""
    data = make_arithmetic_dataset(8, seed=1, conversational=True)
    messages = Dataset.from_dict({"messages": [p + c for p, c in zip(data["prompt"], data["completion"])]})
    kwargs = {"assistant_only_loss": True}
    sft = _trainer(SFTTrainer, SFTConfig, tokenizer, messages, tmp_path / "a", **kwargs)
    ours = _trainer(RankAwareSFTTrainer, RankAwareSFTConfig, tokenizer, messages, tmp_path / "b", **kwargs)
    batch = next(iter(sft.get_train_dataloader()))
    assert (batch["labels"] == -100).any()
    _assert_same(_loss_and_grads(sft, batch), _loss_and_grads(ours, batch))


@pytest.mark.parametrize("kind", ["prompt_tuning", "prefix_tuning"])
def test_zero_knobs_equal_sft_trainer_prompt_learning(tokenizer, dataset, tmp_path, kind):
    """Prompt-learning PEFT prepends virtual tokens whose labels PEFT pads with -100: the fused head scores those
    positions too, and the seam skips them; loss and gradients equal SFTTrainer's (and shaping on trains)."""
    peft = pytest.importorskip("peft")
    config_cls = {"prompt_tuning": peft.PromptTuningConfig, "prefix_tuning": peft.PrefixTuningConfig}[kind]
    config = config_cls(task_type="CAUSAL_LM", num_virtual_tokens=4)
    torch.manual_seed(0)
    sft = _trainer(SFTTrainer, SFTConfig, tokenizer, dataset, tmp_path / "a", peft_config=config)
    torch.manual_seed(0)
    ours = _trainer(RankAwareSFTTrainer, RankAwareSFTConfig, tokenizer, dataset, tmp_path / "b", peft_config=config)
    batch = next(iter(sft.get_train_dataloader()))
    _assert_same(_loss_and_grads(sft, batch), _loss_and_grads(ours, batch))
    torch.manual_seed(0)
    shaped = _trainer(
        RankAwareSFTTrainer,
        RankAwareSFTConfig,
        tokenizer,
        dataset,
        tmp_path / "c",
        peft_config=config,
        rank_aware_beta=-0.25,
    )
    loss, grads = _loss_and_grads(shaped, batch)
    assert torch.isfinite(loss) and grads


def test_zero_knobs_equal_sft_trainer_peft(tokenizer, dataset, tmp_path):
    peft = pytest.importorskip("peft")
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    torch.manual_seed(0)
    sft = _trainer(SFTTrainer, SFTConfig, tokenizer, dataset, tmp_path / "a", peft_config=config)
    torch.manual_seed(0)
    ours = _trainer(RankAwareSFTTrainer, RankAwareSFTConfig, tokenizer, dataset, tmp_path / "b", peft_config=config)
    batch = next(iter(sft.get_train_dataloader()))
    a, b = _loss_and_grads(sft, batch), _loss_and_grads(ours, batch)
    assert all("lora" in name for name in b[1])
    _assert_same(a, b)


def test_zero_knobs_bf16(tokenizer, dataset, tmp_path):
    """bf16 model: the loss stays within bf16 rounding of SFTTrainer's (both round the logits to bf16)."""
    kwargs = {"model_kwargs": {"dtype": torch.bfloat16}}
    sft = _trainer(SFTTrainer, SFTConfig, tokenizer, dataset, tmp_path / "a", **kwargs)
    ours = _trainer(RankAwareSFTTrainer, RankAwareSFTConfig, tokenizer, dataset, tmp_path / "b", **kwargs)
    assert ours.model.dtype == torch.bfloat16
    batch = next(iter(sft.get_train_dataloader()))
    (l_a, g_a), (l_b, g_b) = _loss_and_grads(sft, batch), _loss_and_grads(ours, batch)
    torch.testing.assert_close(l_a.float(), l_b.float(), rtol=1e-3, atol=1e-3)
    for name in g_a:
        assert g_b[name].dtype == torch.bfloat16
        cos = torch.nn.functional.cosine_similarity(g_a[name].float().flatten(), g_b[name].float().flatten(), dim=0)
        assert cos > 0.99, name


def test_zero_knobs_equal_sft_trainer_moe_aux_loss(tokenizer, dataset, tmp_path):
    """A tiny Mixtral with the load-balancing loss on: SFTTrainer's loss (CE + coef · aux) and gradients."""
    from transformers import MixtralConfig, MixtralForCausalLM

    def model():
        torch.manual_seed(0)
        config = MixtralConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            num_local_experts=4,
            num_experts_per_tok=2,
            router_aux_loss_coef=0.02,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        return MixtralForCausalLM(config)

    trainers = []
    for cls, config_cls, name in ((SFTTrainer, SFTConfig, "a"), (RankAwareSFTTrainer, RankAwareSFTConfig, "b")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer = cls(
                model=model(),
                args=_args(config_cls, tmp_path / name),
                train_dataset=dataset,
                processing_class=tokenizer,
            )
        trainer.current_gradient_accumulation_steps = 1  # set by the training loop
        trainers.append(trainer)
    assert trainers[1].aux_loss_enabled
    batch = next(iter(trainers[0].get_train_dataloader()))
    _assert_same(_loss_and_grads(trainers[0], batch), _loss_and_grads(trainers[1], batch))
    assert trainers[1]._metrics["train"]["aux_loss"] == pytest.approx(trainers[0]._metrics["train"]["aux_loss"])


# ---------------------------------------------------------------------------------------------------------------------
# Non-zero knobs: the trainer computes the functional loss on the model's logits
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["precision", "tail_suppression", "head_preservation", "diversity"])
def test_trainer_loss_equals_functional(tokenizer, dataset, tmp_path, preset):
    knobs = RANK_AWARE_PRESETS[preset] | {"rank_aware_top_k": 5}
    ours = _trainer(RankAwareSFTTrainer, RankAwareSFTConfig, tokenizer, dataset, tmp_path, **knobs)
    batch = next(iter(ours.get_train_dataloader()))
    loss, grads = _loss_and_grads(ours, batch)
    ref_model = make_tiny_model(tokenizer, seed=0)
    ref_model.train()
    logits = ref_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    per_token = rank_aware_token_loss(
        logits,
        labels,
        beta=knobs.get("rank_aware_beta", 0.0),
        top_k=5,
        lambda_high=knobs.get("rank_aware_lambda_high", 0.0),
        lambda_low=knobs.get("rank_aware_lambda_low", 0.0),
    )
    ref_loss = per_token.sum() / (labels != -100).sum()
    ref_loss.backward()
    ref_grads = {k: p.grad for k, p in ref_model.named_parameters() if p.grad is not None}
    _assert_same((loss, grads), (ref_loss.detach(), ref_grads), rtol=1e-4, atol=1e-6)


def test_training_logs_rank_aware_metrics(tokenizer, dataset, tmp_path):
    ours = _trainer(
        RankAwareSFTTrainer,
        RankAwareSFTConfig,
        tokenizer,
        dataset,
        tmp_path,
        max_steps=3,
        learning_rate=1e-2,
        eval_strategy="steps",
        eval_steps=3,
        rank_aware_beta=-0.25,
        rank_aware_lambda_low=-0.1,
        rank_aware_top_k=10,
    )
    before = {k: p.detach().clone() for k, p in ours.model.named_parameters()}
    ours.train()
    logs = [entry for entry in ours.state.log_history if "loss" in entry]
    assert logs
    for key in (
        "rank_aware/entropy",
        "rank_aware/p_tail",
        "rank_aware/p_topk_neg",
        "rank_aware/w_mean",
        "entropy",
        "mean_token_accuracy",
        "num_tokens",
    ):
        assert key in logs[0], key
    entry = logs[0]
    assert 0.0 < entry["rank_aware/p_tail"] < 1.0 and 0.0 < entry["rank_aware/p_topk_neg"] < 1.0
    assert entry["rank_aware/w_mean"] > 1.0  # β < 0 up-weights every token with 0 < p_x < 1
    assert entry["rank_aware/entropy"] == pytest.approx(entry["entropy"])
    eval_logs = [e for e in ours.state.log_history if "eval_loss" in e]
    assert eval_logs and "eval_rank_aware/p_tail" in eval_logs[0]
    changed = [k for k, p in ours.model.named_parameters() if not torch.equal(p.detach(), before[k])]
    assert changed


def test_compute_loss_func_refused_only_while_shaping(tokenizer, dataset, tmp_path):
    model = make_tiny_model(tokenizer, seed=0)
    with pytest.raises(ValueError, match="compute_loss_func.*shaping"):
        RankAwareSFTTrainer(
            model=model,
            args=_args(RankAwareSFTConfig, tmp_path, rank_aware_beta=-0.25),
            train_dataset=dataset,
            processing_class=tokenizer,
            compute_loss_func=lambda *a, **k: 0,
        )
    with pytest.raises(TypeError, match="RankAwareSFTConfig"):
        RankAwareSFTTrainer(model=model, args={"output_dir": "x"}, train_dataset=dataset, processing_class=tokenizer)


@pytest.mark.parametrize("args_cls", ["SFTConfig", "TrainingArguments"])
def test_drop_in_accepts_trl_and_transformers_args(tokenizer, dataset, tmp_path, caplog, args_cls):
    """`RankAwareSFTTrainer(args=SFTConfig(...))` and `args=TrainingArguments(...)` train: the args become a
    `RankAwareSFTConfig` (rank-aware fields at their defaults, every given field kept), with one INFO line; the loss
    then equals SFTTrainer's (shaping off)."""
    import logging

    from transformers import TrainingArguments

    cls = {"SFTConfig": SFTConfig, "TrainingArguments": TrainingArguments}[args_cls]
    args = _args(cls, tmp_path, learning_rate=3e-3, max_steps=2)
    with caplog.at_level(logging.INFO, logger="trl_explore.trainers._trl_compat"):
        ours = RankAwareSFTTrainer(
            model=make_tiny_model(tokenizer, seed=0), args=args, train_dataset=dataset, processing_class=tokenizer
        )
    assert sum(f"upgrading the given {args_cls} to RankAwareSFTConfig" in r.message for r in caplog.records) == 1
    assert isinstance(ours.args, RankAwareSFTConfig) and ours.args.learning_rate == 3e-3 and ours.args.max_steps == 2
    assert not ours.args.rank_aware_shaping
    before = {n: p.detach().clone() for n, p in ours.model.named_parameters()}
    ours.train()
    assert any(not torch.equal(before[n], p) for n, p in ours.model.named_parameters())
    assert any("rank_aware/entropy" in entry for entry in ours.state.log_history)


def test_dft_loss_with_shaping_off_equals_sft_trainer(tokenizer, dataset, tmp_path):
    """TRL's `loss_type="dft"` with rank-aware shaping off: loss and gradients equal `SFTTrainer`'s, and it trains."""
    trl = _trainer(SFTTrainer, SFTConfig, tokenizer, dataset, tmp_path / "trl", loss_type="dft")
    ours = _trainer(RankAwareSFTTrainer, RankAwareSFTConfig, tokenizer, dataset, tmp_path / "ours", loss_type="dft")
    batch = next(iter(trl.get_train_dataloader()))
    _assert_same(_loss_and_grads(trl, batch), _loss_and_grads(ours, batch))
    ours.train()
    assert ours.state.global_step == 1


def test_generation_and_plain_forward_unchanged(tokenizer, dataset, tmp_path):
    """The trainer patches nothing on the model: its plain forward and `generate` are the original ones."""
    ours = _trainer(RankAwareSFTTrainer, RankAwareSFTConfig, tokenizer, dataset, tmp_path)
    plain = make_tiny_model(tokenizer, seed=0)
    ids = torch.tensor([tokenizer("Compute 1+2\n")["input_ids"]])
    ours.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours.model(input_ids=ids).logits, plain(input_ids=ids).logits)
        out = ours.model.generate(input_ids=ids, max_new_tokens=3, do_sample=False)
    assert out.shape[1] > ids.shape[1]


# ---------------------------------------------------------------------------------------------------------------------
# Example script on local files
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_example_script_local_files(tokenizer, tmp_path):
    """`examples/rank_aware_sft.py`: continued pre-training on a local .txt file with a preset, and LoRA SFT on a local
    chat .jsonl with assistant-only loss, from a local model directory."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "examples" / "rank_aware_sft.py"
    model_dir = tmp_path / "model"
    make_tiny_model(tokenizer, seed=0).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    plain = make_arithmetic_dataset(16, seed=0)
    (tmp_path / "train.txt").write_text(
        "".join(p.strip() + " " + c + "\n" for p, c in zip(plain["prompt"], plain["completion"]))
    )
    chat = make_arithmetic_dataset(16, seed=0, conversational=True)
    with open(tmp_path / "chat.jsonl", "w") as f:
        for p, c in zip(chat["prompt"], chat["completion"]):
            f.write(json.dumps({"messages": p + c}) + "\n")
    common = [
        "--model_name_or_path",
        str(model_dir),
        "--max_steps",
        "1",
        "--per_device_train_batch_size",
        "4",
        "--report_to",
        "none",
        "--use_cpu",
        "--save_strategy",
        "no",
        "--logging_steps",
        "1",
    ]
    runs = {
        "text": ["--dataset_name", str(tmp_path / "train.txt"), "--rank_aware_preset", "precision"],
        "chat": [
            "--dataset_name",
            str(tmp_path / "chat.jsonl"),
            "--rank_aware_lambda_low",
            "-0.1",
            "--assistant_only_loss",
            "--use_peft",
            "--lora_r",
            "4",
            "--lora_target_modules",
            "q_proj",
            "v_proj",
        ],
    }
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name, extra in runs.items():
        out = tmp_path / f"out_{name}"
        cmd = [sys.executable, str(script), *common, *extra, "--output_dir", str(out)]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "rank_aware/w_mean" in result.stdout + result.stderr
        saved = {p.name for p in out.iterdir()}
        assert saved & {"model.safetensors", "adapter_model.safetensors"}, saved


# ---------------------------------------------------------------------------------------------------------------------
# Two CPU processes (gloo): num_items_in_batch across devices and gradient accumulation, metrics reduced across ranks
# ---------------------------------------------------------------------------------------------------------------------


def _distributed_worker(out_dir: str) -> None:
    """Run under `torchrun --nproc_per_node 2`: SFTTrainer and RankAwareSFTTrainer (0, 0, 0), 2 optimizer steps of 2
    accumulated micro-batches each; rank 0 writes the log histories and a parameter checksum."""
    import json
    import os

    tok = make_tokenizer()
    data = make_arithmetic_dataset(32, seed=0)
    results = {}
    for name, trainer_cls, config_cls in (
        ("sft", SFTTrainer, SFTConfig),
        ("rank_aware", RankAwareSFTTrainer, RankAwareSFTConfig),
    ):
        args = config_cls(
            output_dir=os.path.join(out_dir, name),
            per_device_train_batch_size=4,
            gradient_accumulation_steps=2,
            max_steps=2,
            optim="sgd",  # updates linear in the gradients (Adam would amplify rounding on ~0 gradients)
            learning_rate=0.1,
            logging_steps=1,
            report_to="none",
            use_cpu=True,
            save_strategy="no",
            seed=0,
            disable_tqdm=True,
        )
        trainer = trainer_cls(model=make_tiny_model(tok, seed=0), args=args, train_dataset=data, processing_class=tok)
        assert trainer.accelerator.num_processes == 2
        trainer.train()
        checksum = sum(float(p.detach().double().abs().sum()) for p in trainer.model.parameters())
        results[name] = {"logs": [e for e in trainer.state.log_history if "loss" in e], "checksum": checksum}
    if int(os.environ.get("RANK", "0")) == 0:
        with open(os.path.join(out_dir, "results.json"), "w") as f:
            json.dump(results, f)


@pytest.mark.slow
@pytest.mark.distributed
def test_two_processes_match_sft_trainer(tmp_path):
    import json

    from torchrun_launch import torchrun

    torchrun(__file__, tmp_path, nproc=2, timeout=900, log_dir=tmp_path / "logs")
    results = json.loads((tmp_path / "results.json").read_text())
    sft, ours = results["sft"], results["rank_aware"]
    assert len(sft["logs"]) == len(ours["logs"]) == 2
    for a, b in zip(sft["logs"], ours["logs"]):
        for key in ("loss", "entropy", "mean_token_accuracy", "num_tokens"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), key
        assert "rank_aware/p_tail" in b and b["rank_aware/w_mean"] == pytest.approx(1.0)
    assert ours["checksum"] == pytest.approx(sft["checksum"], rel=1e-5)


if __name__ == "__main__":
    import os
    import sys

    from torch.distributed.elastic.multiprocessing.errors import record

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from torchrun_launch import arm_watchdog, finish

    arm_watchdog()
    record(_distributed_worker)(sys.argv[1])
    finish()
