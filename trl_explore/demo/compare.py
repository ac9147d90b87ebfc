"""Do two demo runs reach the same verdict? Each classification of the report, side by side, and their agreement.

Two runs that differ only in floating-point path (`--float-path`, or two CPUs) sample differently from the first
differing bit on; a classification that flips between them was decided by noise. `compare_verdicts(dir_a, dir_b)`
reads two finished demo folders and lists every item of the verdict in both:

- GRPO's own pass@1 gain (end − start): ``learned`` / ``fell`` when its 95% t-interval excludes 0, else
  ``not resolved``;
- each method's targeted quantities vs GRPO: ``moved as intended`` / ``moved against the intent`` / ``not resolved``;
- each method's pass@1 vs GRPO: ``below GRPO`` / ``above GRPO`` / ``within noise``.

An item is *stable* when both runs classify it alike; a *flip* is an item resolved in at least one run and classified
differently in the other (the acceptance bar: no flips). ``python -m trl_explore.demo.compare DIR_A DIR_B`` prints
the table.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .methods import BASELINE
from .quantities import QUANTITIES
from .report import change, classify_pass1, classify_target, versus_baseline
from .stats import PairedDifference

UNRESOLVED = ("not resolved", "within noise")


@dataclass(frozen=True)
class VerdictItem:
    """One classification of a run: `item` (e.g. ``"NSR pass@32 vs GRPO"``), its `label` and the paired difference
    behind it (``"+0.050 ± 0.010"``)."""

    item: str
    label: str
    difference: str


def _item(name: str, label: str, diff: PairedDifference) -> VerdictItem:
    return VerdictItem(name, label, diff.format())


def verdict_items(run: Any) -> list[VerdictItem]:
    """Every classification the verdict of `run` (a `DemoRun`) makes, in report order."""
    items = []
    gain = change(run, BASELINE, "pass@1")
    if gain is not None:
        label = ("learned" if gain.mean > 0 else "fell") if gain.resolved else "not resolved"
        items.append(_item("GRPO pass@1 end − start", label, gain))
    for method in run.methods:
        if method.name == BASELINE:
            continue
        for key in method.targets:
            diff = versus_baseline(run, method.name, key)
            if diff is not None:
                items.append(
                    _item(
                        f"{method.label} {QUANTITIES[key].label(run.settings)} vs GRPO",
                        classify_target(diff, key),
                        diff,
                    )
                )
        diff = versus_baseline(run, method.name, "pass@1")
        if diff is not None:
            items.append(_item(f"{method.label} pass@1 vs GRPO", classify_pass1(diff), diff))
    return items


@dataclass(frozen=True)
class VerdictComparison:
    """Two runs' classifications, item by item.

    Attributes:
        rows (`list[tuple[str, VerdictItem | None, VerdictItem | None]]`): item name, run A's and run B's (None when a
            run lacks the item).
    """

    rows: list[tuple[str, VerdictItem | None, VerdictItem | None]]

    @property
    def agree(self) -> int:
        """Items that both runs classify alike."""
        return sum(1 for _, a, b in self.rows if a is not None and b is not None and a.label == b.label)

    @property
    def flips(self) -> list[str]:
        """Items resolved in at least one run and classified differently in the other (or missing there)."""
        out = []
        for name, a, b in self.rows:
            labels = [x.label if x is not None else None for x in (a, b)]
            if labels[0] != labels[1] and any(lab is not None and lab not in UNRESOLVED for lab in labels):
                out.append(name)
        return out

    def markdown(self, names: Sequence[str] = ("run A", "run B")) -> str:
        """A Markdown table of every item in both runs, then the agreement in one line."""
        lines = [f"| item | {names[0]} | {names[1]} | same? |", "|---|---|---|---|"]
        for name, a, b in self.rows:
            cells = [f"{x.label} ({x.difference})" if x is not None else "—" for x in (a, b)]
            same = a is not None and b is not None and a.label == b.label
            lines.append(f"| {name} | {cells[0]} | {cells[1]} | {'yes' if same else '**no**'} |")
        flips = self.flips
        lines += [
            "",
            f"{self.agree} of {len(self.rows)} items classified alike; "
            + (f"flips among resolved items: {', '.join(flips)}." if flips else "no resolved item flips."),
        ]
        return "\n".join(lines)


def compare_items(items_a: Sequence[VerdictItem], items_b: Sequence[VerdictItem]) -> VerdictComparison:
    """Pair two lists of classifications by item name (A's order, then items only B has)."""
    by_a, by_b = {i.item: i for i in items_a}, {i.item: i for i in items_b}
    names = list(dict.fromkeys([*by_a, *by_b]))
    return VerdictComparison([(n, by_a.get(n), by_b.get(n)) for n in names])


def compare_verdicts(dir_a: str | os.PathLike, dir_b: str | os.PathLike) -> VerdictComparison:
    """Read two finished demo folders (`trl_explore.demo.runner.load_run`) and compare their classifications."""
    from .runner import load_run

    return compare_items(verdict_items(load_run(dir_a)), verdict_items(load_run(dir_b)))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        sys.stderr.write("usage: python -m trl_explore.demo.compare DEMO_DIR_A DEMO_DIR_B\n")
        return 2
    comparison = compare_verdicts(*args)
    sys.stdout.write(comparison.markdown(args) + "\n")
    return 1 if comparison.flips else 0


if __name__ == "__main__":
    sys.exit(main())
