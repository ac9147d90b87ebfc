"""Tool calling for the offline SmolLM2-135M-Instruct (`pretrained_model_path`): a chat template TRL's tool loop accepts.

SmolLM2's own template is plain ChatML: it renders every message's ``content`` and drops an assistant message's
``tool_calls`` and the ``tools`` list, so TRL's `GRPOTrainer` refuses ``tools=[...]`` with it ("The provided chat
template does not support tool calling"). `SMOLLM2_TOOL_CHAT_TEMPLATE` is the same template (same default system turn,
same turns and newlines: a conversation without tools renders to the same text) plus

- the ``tools`` list, as JSON schemas inside ``<tools></tools>``, appended to the system turn with one line saying how
  to call them;
- an assistant message's ``tool_calls``, each as ``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>``
  after its content (the Hermes / Qwen2.5 layout); tool results are ordinary ``tool`` turns;

and `SMOLLM2_TOOL_RESPONSE_TEMPLATE` reads such an assistant turn back (``tokenizer.parse_response``, transformers
>= 5.13), which TRL needs to run the calls. The 135M model was not trained on this layout: it rarely calls a tool.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["SMOLLM2_TOOL_CHAT_TEMPLATE", "SMOLLM2_TOOL_RESPONSE_TEMPLATE", "with_smollm2_tool_template"]

_DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
_TOOLS_HEADER = (
    "\n\n# Tools\n\nYou may call the functions below. Write each call as a JSON object inside <tool_call></tool_call> "
    'tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>\n\n<tools>'
)

SMOLLM2_TOOL_CHAT_TEMPLATE = (
    "{%- set tool_block = namespace(text='') -%}"
    "{%- if tools -%}"
    "{%- set tool_block.text = '" + _TOOLS_HEADER.replace("\n", "\\n") + "' -%}"
    "{%- for tool in tools -%}{%- set tool_block.text = tool_block.text + '\\n' + (tool | tojson) -%}{%- endfor -%}"
    "{%- set tool_block.text = tool_block.text + '\\n</tools>' -%}"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    "{%- if loop.first and messages[0]['role'] != 'system' -%}"
    "{{- '<|im_start|>system\\n" + _DEFAULT_SYSTEM + "' + tool_block.text + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}{%- endif -%}"
    "{%- if loop.first and message['role'] == 'system' -%}{{- tool_block.text -}}{%- endif -%}"
    "{%- if message['role'] == 'assistant' and message.tool_calls -%}"
    "{%- for call in message.tool_calls -%}"
    "{%- set fn = call['function'] if call['function'] is defined else call -%}"
    "{%- if not loop.first or (message['content'] is string and message['content']) -%}{{- '\\n' -}}{%- endif -%}"
    "{{- '<tool_call>\\n{\"name\": ' + (fn['name'] | tojson) + ', \"arguments\": ' -}}"
    "{%- if fn['arguments'] is string -%}{{- fn['arguments'] -}}{%- else -%}{{- fn['arguments'] | tojson -}}{%- endif -%}"
    "{{- '}\\n</tool_call>' -}}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

#: transformers' response template reading an assistant turn of `SMOLLM2_TOOL_CHAT_TEMPLATE` back into a message
SMOLLM2_TOOL_RESPONSE_TEMPLATE: dict[str, Any] = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|im_start|>assistant\n",
    "fields": {
        "tool_calls": {
            "open": "<tool_call>",
            "close_pattern": r"</tool_call>\s*",
            "repeats": True,
            "content": "json",
            "transform": {"type": "function", "function": "{content}"},
        },
        "content": {"close_pattern": r"<\|im_end\|>\s*", "content": "text"},
    },
}


def with_smollm2_tool_template(tokenizer: Any) -> Any:
    """``tokenizer`` (SmolLM2's) with `SMOLLM2_TOOL_CHAT_TEMPLATE` and `SMOLLM2_TOOL_RESPONSE_TEMPLATE` set in place;
    returned for chaining. Refuses a tokenizer without SmolLM2's ChatML special tokens."""
    vocab = tokenizer.get_vocab()
    missing = [t for t in ("<|im_start|>", "<|im_end|>") if t not in vocab]
    if missing:
        raise ValueError(f"the SmolLM2 tool template needs a ChatML tokenizer; this one has no {missing} tokens.")
    tokenizer.chat_template = SMOLLM2_TOOL_CHAT_TEMPLATE
    tokenizer.response_template = copy.deepcopy(SMOLLM2_TOOL_RESPONSE_TEMPLATE)
    return tokenizer
