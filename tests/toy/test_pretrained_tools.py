"""`trl_explore.toy.pretrained_tools`: SmolLM2's ChatML template extended to tool calling, so that TRL's tool loop
(``GRPOTrainer(tools=...)``, the SPEAR example's ``--model_name_or_path smollm2`` route) accepts the offline SmolLM2.

Fast: the template is rendered with the toy tokenizer (it has the same ``<|im_start|>`` / ``<|im_end|>`` tokens; the
template and the response parser work on text). The real tokenizer runs in the slow
``tests/examples/test_smollm2_routes.py::test_spear_smollm2_route``.
"""

from __future__ import annotations

import pytest

from trl_explore.toy import make_tokenizer
from trl_explore.toy.pretrained_tools import with_smollm2_tool_template
from trl_explore.toy.tools import calculator

#: SmolLM2-135M-Instruct's own chat template, as shipped with the checkpoint (copied from its chat_template.jinja)
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CALL = {"type": "function", "function": {"name": "calculator", "arguments": {"expression": "3*4"}}}


@pytest.fixture
def tokenizers():
    original = make_tokenizer()
    original.chat_template = SMOLLM2_TEMPLATE
    return original, with_smollm2_tool_template(make_tokenizer())


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "Hi"}],
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    ],
)
@pytest.mark.parametrize("generation_prompt", [True, False])
def test_without_tools_renders_like_smollm2s_own_template(tokenizers, messages, generation_prompt):
    original, extended = tokenizers
    kwargs = {"tokenize": False, "add_generation_prompt": generation_prompt}
    assert extended.apply_chat_template(messages, **kwargs) == original.apply_chat_template(messages, **kwargs)


def test_trl_accepts_it_for_tool_calling_and_smollm2s_own_is_refused(tokenizers):
    """TRL's own checks: `GRPOTrainer(tools=...)` raises unless `supports_tool_calling`, and multi-turn training
    replaces a template that is not prefix-preserving."""
    from trl.chat_template_utils import is_chat_template_prefix_preserving, supports_tool_calling

    original, extended = tokenizers
    assert not supports_tool_calling(original)  # why the SPEAR example's smollm2 route failed before
    assert supports_tool_calling(extended)
    assert is_chat_template_prefix_preserving(extended)


def test_tool_conversation_layout(tokenizers):
    """The tools list joins the system turn; a call is Hermes-style JSON in <tool_call> tags; the tool result is an
    ordinary turn (expected text written by hand from that layout)."""
    _, tok = tokenizers
    messages = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "3*4?"},
        {"role": "assistant", "content": "", "tool_calls": [CALL]},
        {"role": "tool", "name": "calculator", "content": "12"},
        {"role": "assistant", "content": "\\boxed{12}"},
    ]
    text = tok.apply_chat_template(messages, tools=[calculator], tokenize=False)
    head, tools_json, tail = text.partition("<tools>\n")[0], *text.partition("<tools>\n")[2].split("\n</tools>", 1)
    assert head.startswith("<|im_start|>system\nS\n\n# Tools\n\n") and "<tool_call></tool_call>" in head
    assert '"name": "calculator"' in tools_json and '"expression"' in tools_json
    assert tail == (
        "<|im_end|>\n<|im_start|>user\n3*4?<|im_end|>\n<|im_start|>assistant\n"
        '<tool_call>\n{"name": "calculator", "arguments": {"expression": "3*4"}}\n</tool_call><|im_end|>\n'
        "<|im_start|>tool\n12<|im_end|>\n<|im_start|>assistant\n\\boxed{12}<|im_end|>\n"
    )
    # no system message: SmolLM2's default one carries the tools
    plain = tok.apply_chat_template([{"role": "user", "content": "x"}], tools=[calculator], tokenize=False)
    assert plain.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face")
    assert "<tools>\n" in plain.split("<|im_end|>")[0]


def test_response_template_reads_calls_and_text_back(tokenizers):
    _, tok = tokenizers
    prefix = "<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n"
    call = '<tool_call>\n{"name": "calculator", "arguments": {"expression": "3*4"}}\n</tool_call><|im_end|>'
    assert tok.parse_response(call, prefix=prefix) == {"role": "assistant", "tool_calls": [CALL]}
    assert tok.parse_response("Five.<|im_end|>", prefix=prefix) == {"role": "assistant", "content": "Five."}
    both = tok.parse_response("Let me compute.\n" + call, prefix=prefix)
    assert both == {"role": "assistant", "content": "Let me compute.", "tool_calls": [CALL]}


def test_refuses_a_tokenizer_without_chatml_tokens():
    class NoChatML:
        def get_vocab(self):
            return {"a": 0, "<|endoftext|>": 1}

    with pytest.raises(ValueError, match=r"ChatML tokenizer.*<\|im_start\|>"):
        with_smollm2_tool_template(NoChatML())
