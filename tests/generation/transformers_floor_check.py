"""Manual check of SwiReasoning on the package's transformers floor (4.56.2), whose models take the cache as
``past_key_values=`` (not collected by pytest: it needs a second transformers install).

    pip install --no-deps --target /tmp/tf456 "transformers==4.56.2" "huggingface_hub==0.35.3" "tokenizers==0.22.1"
    PYTHONPATH=/tmp/tf456:. python tests/generation/transformers_floor_check.py

It builds a tiny Qwen2 from a config (the toy tokenizer needs transformers 5, so a byte-level stand-in tokenizer is
used) and checks: the degenerate settings equal that version's `generate` greedy; a mixed-length batch with switches
and the cap equals one-by-one runs; the `custom_generate` route (with ``functools.partial`` binding the config and
tokenizer: transformers 4.x rejects unknown `generate` keyword arguments) equals `swi_generate`. Exits 1 on a mismatch.
"""

from __future__ import annotations

import functools
import sys

import torch
import transformers
from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

from trl_explore.generation import SwiReasoningConfig, swi_generate, swireasoning_decoding
from trl_explore.generation.swireasoning_loop import _cache_argument, _forward_parameters


class ByteTokenizer:
    """Stand-in: byte b -> id 4 + b, `<think>` 260, `</think>` 261, pad 0, eos 1 (the toy kit's layout)."""

    eos_token_id, pad_token_id, all_special_ids = 1, 0, [0, 1, 2, 3]
    _tags = (("</think>", 261), ("<think>", 260))

    def __len__(self) -> int:
        return 262

    def get_vocab(self) -> dict[str, int]:
        return dict(self._tags)

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        ids, i = [], 0
        while i < len(text):
            tag = next(((t, tid) for t, tid in self._tags if text.startswith(t, i)), None)
            if tag:
                ids.append(tag[1])
                i += len(tag[0])
            else:
                ids.extend(4 + b for b in text[i].encode())
                i += 1
        return ids

    def __call__(self, texts, add_special_tokens: bool = False) -> dict:
        return {"input_ids": [self.encode(t) for t in texts]}

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        ids = ids.tolist() if hasattr(ids, "tolist") else ids
        return bytes(i - 4 for i in ids if 4 <= i < 260).decode(errors="replace")

    def batch_decode(self, sequences, skip_special_tokens: bool = False) -> list[str]:
        return [self.decode(s) for s in sequences]


def main() -> int:
    print(f"transformers {transformers.__version__}")
    tok = ByteTokenizer()
    config = Qwen2Config(
        vocab_size=262,
        hidden_size=32,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=1,
        initializer_range=0.2,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).eval()
    model.generation_config = GenerationConfig(eos_token_id=1, pad_token_id=0, bos_token_id=1)
    print("cache argument:", _cache_argument(_forward_parameters(model)))
    prompts = ["Compute (3+4)*2\n", "x=1\n", "Use 3 5 7 to make 22\n"]
    ids = [tok.encode(p) for p in prompts]
    width = max(map(len, ids))
    input_ids = torch.tensor([[0] * (width - len(i)) + i for i in ids])
    mask = (input_ids != 0).long()
    ok = True

    degenerate = SwiReasoningConfig(
        start_mode="explicit", alpha0=1.0, beta0=1.0, math_override=False, window_size=None, do_sample=False
    )
    ours = swi_generate(model, tok, input_ids, degenerate, 24, attention_mask=mask, eos_token_id=[])
    theirs = model.generate(
        input_ids=input_ids, attention_mask=mask, do_sample=False, max_new_tokens=24, eos_token_id=None
    )
    same = torch.equal(ours.sequences, theirs)
    ok &= same
    print("degenerate settings == generate greedy:", same)

    switching = SwiReasoningConfig(do_sample=False, window_size=2, alpha0=0.5, max_switch_count=1, answer_budget=4)
    batched = swi_generate(model, tok, prompts, switching, 40)
    for row, prompt in enumerate(prompts):
        alone = swi_generate(model, tok, [prompt], switching, 40)
        n = alone.num_generated_tokens[0]
        same = alone.mode_trace[0] == batched.mode_trace[row] and (
            batched.sequences[row, batched.prompt_length : batched.prompt_length + n].tolist()
            == alone.sequences[0, alone.prompt_length :].tolist()
        )
        ok &= same
    print(f"batch == one by one ({sum(batched.switch_count)} switches, {batched.finish_reason}):", same)

    decoding = functools.partial(swireasoning_decoding, swi_tokenizer=tok, swi_config=switching)
    routed = model.generate(
        input_ids=input_ids, attention_mask=mask, custom_generate=decoding, do_sample=False, max_new_tokens=40
    )
    same = torch.equal(routed, swi_generate(model, tok, input_ids, switching, 40, attention_mask=mask).sequences)
    ok &= same
    print("custom_generate (functools.partial) == swi_generate:", same)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
