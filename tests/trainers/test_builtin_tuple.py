"""One tuple of built-in components (`trl_explore.trainers.components.BUILTIN_MODULES`) is the single source of the
registration order, `ExploreGRPOConfig`'s fields and docstring sections, the validation table and the multi-process
suite's cases: a copy of the package with one new component module and one line added to the tuple trains, validates,
documents and joins the suite (`tests/builtin_copy.py`; its 2-process run is in
`tests/distributed/test_multiprocess_suite.py`)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

from trl_explore.trainers import ExploreGRPOConfig
from trl_explore.trainers.components import (
    BUILTIN_ARGUMENTS,
    BUILTIN_COMPONENTS,
    BUILTIN_MODULES,
    registered_components,
)

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))
from builtin_copy import TOY_NAME, package_with_toy_component  # noqa: E402


def test_registration_config_and_docstring_follow_the_tuple():
    modules = [cls.__module__.rsplit(".", 1)[-1] for cls in BUILTIN_COMPONENTS]
    assert list(dict.fromkeys(modules)) == list(BUILTIN_MODULES)
    builtin = [cls for cls in registered_components() if cls in BUILTIN_COMPONENTS]
    assert builtin == list(BUILTIN_COMPONENTS)
    # the config's component bases are the mixins, first component last (fields in registration order after TRL's)
    bases = ExploreGRPOConfig.__bases__
    assert bases[:-1] == tuple(reversed(BUILTIN_ARGUMENTS)) and bases[-1].__name__ == "GRPOConfig"
    own = set(vars(ExploreGRPOConfig).get("__annotations__", {}))  # its own fields (e.g. max_invalid_reward_batches)
    names = [f.name for f in dataclasses.fields(ExploreGRPOConfig) if f.name not in own]
    component_fields = [f.name for m in BUILTIN_ARGUMENTS for f in dataclasses.fields(m)]
    assert names[-len(component_fields) :] == component_fields
    doc = ExploreGRPOConfig.__doc__
    positions = [doc.index(m.__doc__.strip().splitlines()[0].strip()) for m in BUILTIN_ARGUMENTS]
    assert positions == sorted(positions)
    for name in component_fields:  # every field documented in TRL's grammar
        assert f"\n        {name} (`" in doc, name


def test_every_builtin_example_config_turns_it_on(tmp_path):
    """`example_config` (what the multi-process suite runs for a component no hand-written case covers) is a valid
    config that enables its component."""
    for cls in BUILTIN_COMPONENTS:
        args = ExploreGRPOConfig(output_dir=str(tmp_path), report_to="none", use_cpu=True, **cls.example_config)
        assert cls.enabled(args), cls.name


CHECK = r"""
import dataclasses, math, sys, tempfile
import torch
import trl_explore
assert trl_explore.__file__.startswith(sys.argv[1]), trl_explore.__file__
from grpo_helpers import config_kwargs, const_reward, tiny_dataset, tiny_model, tiny_tokenizer
from trl import TrlParser
from trl_explore.trainers import ExploreGRPOConfig, ExploreGRPOTrainer, HAPOConfig
from trl_explore.trainers.components import BUILTIN_COMPONENTS, registered_components

tmp = tempfile.mkdtemp()
# registered last, in the tuple's order
assert [c.name for c in registered_components()][-1] == "toy_bonus" == BUILTIN_COMPONENTS[-1].name
# config fields (also of the named configs) and the docstring section
for config in (ExploreGRPOConfig, HAPOConfig):
    assert "toy_bonus_coef" in {f.name for f in dataclasses.fields(config)}
assert "> Parameters of the toy bonus component" in ExploreGRPOConfig.__doc__
assert "        toy_bonus_coef (`float`, *optional*, defaults to `0.0`):" in ExploreGRPOConfig.__doc__
# validation: a bad value raises naming the field
for bad in (-1.0, math.nan, "x"):
    try:
        ExploreGRPOConfig(**config_kwargs(tmp, toy_bonus_coef=bad))
    except ValueError as error:
        assert "toy_bonus_coef" in str(error), error
    else:
        raise AssertionError(f"toy_bonus_coef={bad!r} was accepted")
# the command line (TrlParser / HfArgumentParser)
(parsed,) = TrlParser((ExploreGRPOConfig,)).parse_args_into_dataclasses(
    ["--output_dir", tmp, "--toy_bonus_coef", "0.25", "--report_to", "none", "--use_cpu", "true"]
)
assert parsed.toy_bonus_coef == 0.25
# training: the component runs, logs its metric, and the parameters move
tok = tiny_tokenizer()
args = ExploreGRPOConfig(**config_kwargs(tmp, max_steps=2, toy_bonus_coef=0.1, learning_rate=1e-2))
trainer = ExploreGRPOTrainer(
    model=tiny_model(tok), reward_funcs=const_reward, args=args, train_dataset=tiny_dataset(), processing_class=tok
)
assert [c.name for c in trainer.components] == ["toy_bonus"]
before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
trainer.train()
terms = [e["toy_bonus/term"] for e in trainer.state.log_history if "toy_bonus/term" in e]
assert len(terms) == 2 and all(math.isfinite(t) and t > 0 for t in terms), terms
assert any(not torch.equal(p, before[n]) for n, p in trainer.model.named_parameters())
# the multi-process suite gets a generated case for it
sys.path.insert(0, sys.argv[2])
from suite_cases import CASES_BY_NAME
case = CASES_BY_NAME["component_toy_bonus"]
assert case.overrides == {"toy_bonus_coef": 0.1} and case.trainer == "ExploreGRPOTrainer"
print("TOY-COMPONENT-OK")
"""


def test_a_new_builtin_component_is_one_file_and_one_line(tmp_path):
    root = package_with_toy_component(tmp_path / "pkg")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), str(TESTS / "trainers")]),
        "OMP_NUM_THREADS": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "WANDB_DISABLED": "true",
    }
    out = subprocess.run(
        [sys.executable, "-c", CHECK, str(root), str(TESTS / "distributed")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert out.returncode == 0 and "TOY-COMPONENT-OK" in out.stdout, out.stdout[-3000:] + out.stderr[-6000:]
    assert TOY_NAME not in BUILTIN_MODULES  # the package under test is untouched
