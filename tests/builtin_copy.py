"""A copy of the `trl_explore` package with one more built-in component: one new file (`TOY_MODULE`, written to
``trainers/components/toy_bonus.py``) and one line added to `BUILTIN_MODULES`. Used by the tests that show that a
built-in component needs nothing else (`tests/trainers/test_builtin_tuple.py`, the multi-process suite)."""

from __future__ import annotations

import difflib
import filecmp
import shutil
from pathlib import Path

import trl_explore

TOY_NAME = "toy_bonus"
TOY_MODULE = '''"""A toy built-in component (tests only): the loss gains ``toy_bonus_coef · mean(−log π_θ)`` over the valid tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..._validation import check_number
from .base import ComponentArguments, ExploreComponent, LossContext, Metric, register_component


@dataclass
class ToyBonusArguments(ComponentArguments):
    r"""
    > Parameters of the toy bonus component (a test of the one-tuple extension point).

        toy_bonus_coef (`float`, *optional*, defaults to `0.0`):
            Weight `>= 0` of the bonus `mean(−log π_θ)` over the valid tokens. `0`: off.
    """

    toy_bonus_coef: float = field(default=0.0, metadata={"help": "Weight of the toy bonus (0: off)."})

    def validate(self) -> None:
        check_number(self, "toy_bonus_coef", low=0.0)


@register_component
class ToyBonusComponent(ExploreComponent):
    name = "toy_bonus"
    arguments = ToyBonusArguments
    edits_loss = True
    example_config = {"toy_bonus_coef": 0.1}

    @classmethod
    def enabled(cls, args: Any) -> bool:
        return getattr(args, "toy_bonus_coef", 0.0) > 0

    def adjust_loss(self, ctx: LossContext) -> None:
        term = -(ctx.per_token_logps * ctx.mask).sum() / ctx.mask.sum().clamp(min=1.0)
        ctx.extra_loss.append(self.args.toy_bonus_coef * term)
        ctx.records[self.name] = term.detach()

    def loss_metrics(self, ctx: LossContext) -> dict[str, Metric]:
        return {"term": Metric(ctx.records[self.name], 1.0)} if self.name in ctx.records else {}
'''


def _ignore(directory: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__" or n.endswith(".pyc")]


def _tree_differences(a: Path, b: Path) -> tuple[list[str], list[str], list[str]]:
    """``(only in a, only in b, differing)`` relative paths of two directory trees (``__pycache__`` ignored)."""
    only_a, only_b, differing = [], [], []

    def walk(cmp: filecmp.dircmp, prefix: str) -> None:
        only_a.extend(prefix + n for n in cmp.left_only if n != "__pycache__")
        only_b.extend(prefix + n for n in cmp.right_only if n != "__pycache__")
        _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
        differing.extend(prefix + n for n in mismatch + errors)
        for name, sub in cmp.subdirs.items():
            if name != "__pycache__":
                walk(sub, f"{prefix}{name}/")

    walk(filecmp.dircmp(a, b), "")
    return sorted(only_a), sorted(only_b), sorted(differing)


def package_with_toy_component(root: Path) -> Path:
    """Copy the package under test to ``root/trl_explore``, add the toy component (one file, one tuple line) and
    check that nothing else differs; returns ``root`` (for ``PYTHONPATH``)."""
    source = Path(trl_explore.__file__).resolve().parent
    target = Path(root) / "trl_explore"
    shutil.copytree(source, target, ignore=_ignore)
    components = target / "trainers" / "components"
    (components / f"{TOY_NAME}.py").write_text(TOY_MODULE)
    init = components / "__init__.py"
    text = init.read_text()
    anchor = '    "spear",\n)\n'
    assert text.count(anchor) == 1, "BUILTIN_MODULES must end with the line of the last built-in module"
    init.write_text(text.replace(anchor, f'    "spear",\n    "{TOY_NAME}",\n)\n'))
    # the whole change: one new file, one line added to one file
    only_source, only_copy, differing = _tree_differences(source, target)
    assert only_source == [] and only_copy == [f"trainers/components/{TOY_NAME}.py"], (only_source, only_copy)
    assert differing == ["trainers/components/__init__.py"], differing
    diff = [
        line
        for line in difflib.unified_diff(
            (source / "trainers/components/__init__.py").read_text().splitlines(), init.read_text().splitlines(), n=0
        )
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert diff == [f'+    "{TOY_NAME}",'], diff
    return Path(root)
