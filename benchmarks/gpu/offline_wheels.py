"""Which of the wheels in a folder an offline GPU machine should install (used by ``all.sh``).

A lent GPU machine has no network and its own image (CUDA torch, some of our dependencies at some versions). A wheel
is chosen when its distribution is missing, or when it is one of the library's direct dependencies (or their
tokenizer / hub pair) installed at a lower version than the wheel's. Everything else keeps the image's version, so
the CUDA build of torch and its companions are never replaced.

    python benchmarks/gpu/offline_wheels.py .whl        # prints the chosen wheel paths, one per line
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

#: distributions upgraded to the wheel's version when the image has an older one
UPGRADE = {
    "trl", "transformers", "accelerate", "peft", "datasets", "evaluate", "deepspeed", "huggingface-hub", "tokenizers",
    "safetensors", "latex2sympy2",
}  # fmt: skip


def wheel_name_version(path: Path) -> tuple[str, Version]:
    """``("huggingface-hub", Version("2.4.0"))`` for ``huggingface_hub-2.4.0-py3-none-any.whl``."""
    match = re.match(r"^([^-]+)-([^-]+)-", path.name)
    if match is None:
        raise ValueError(f"not a wheel file name: {path.name}")
    return canonicalize_name(match.group(1)), Version(match.group(2))


def chosen(folder: Path) -> list[Path]:
    picks = []
    for wheel in sorted(folder.glob("*.whl")):
        name, version = wheel_name_version(wheel)
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            picks.append(wheel)
            continue
        if name in UPGRADE and installed < version:
            picks.append(wheel)
    return picks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="folder of .whl files")
    args = parser.parse_args(argv)
    for wheel in chosen(Path(args.folder)):
        print(wheel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
