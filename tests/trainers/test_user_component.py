"""The docs' "Writing a component" example, run from a file outside the package (the code block of
`docs/components.md`, written to a temporary directory and imported from there)."""

from __future__ import annotations

import importlib
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from grpo_helpers import config_kwargs, const_reward, peaky_model, tiny_dataset, tiny_tokenizer

from trl_explore.trainers import ExploreGRPOTrainer, unregister_component

DOC = Path(__file__).resolve().parents[2] / "docs" / "components.md"

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture
def user_module(tmp_path):
    text = DOC.read_text()
    blocks = re.findall(r"```python\n(# my_component\.py\n.*?)```", text, flags=re.S)
    assert len(blocks) == 1, "docs/components.md must hold exactly one `# my_component.py` example"
    (tmp_path / "my_component.py").write_text(blocks[0])
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("my_component")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("my_component", None)
        unregister_component("ban_token")


def test_user_component_from_outside_the_package(tmp_path, user_module):
    tok = tiny_tokenizer()
    config = user_module.BanTokenConfig

    def trainer(token_id, out):
        args = config(**config_kwargs(tmp_path / out, max_steps=2, max_completion_length=16, ban_token_id=token_id))
        return ExploreGRPOTrainer(
            model=peaky_model(tok, scale=30.0),
            reward_funcs=const_reward,
            args=args,
            train_dataset=tiny_dataset(),
            processing_class=tok,
        )

    # without the ban (component off), the token the model samples most
    off = trainer(-1, "off")
    assert off.components == []
    off.model.train()
    torch.manual_seed(0)
    out = off._generate_and_score_completions([{"prompt": f"{i}+{i}="} for i in range(8)])
    sampled = Counter(out["completion_ids"][out["completion_mask"].bool()].tolist())
    token, count = sampled.most_common(1)[0]
    assert count >= 3

    on = trainer(token, "on")
    assert [c.name for c in on.components] == ["ban_token"] and not on._uses_own_loss
    torch.manual_seed(0)
    on.train()
    shares = [entry["ban_token/share"] for entry in on.state.log_history if "ban_token/share" in entry]
    assert shares == [0.0, 0.0]
    with pytest.raises(ValueError, match="ban_token_id"):
        config(**config_kwargs(tmp_path / "bad", ban_token_id=-5))
