"""The package's version and the TRL versions it is tested with.

A base module (it imports nothing of the package), so that any layer can read the version: the package ``__init__``
re-exports both names.
"""

from __future__ import annotations

__version__ = "0.1.0.dev0"

# TRL versions whose private methods our trainers hook and that the test-suite covers.
_TESTED_TRL = (">=1.16", "<1.17")


def check_trl_version() -> None:
    """Warn when the installed TRL is outside the range whose private methods we hook (called by the trainers)."""
    import warnings
    from importlib.metadata import PackageNotFoundError, version

    from packaging.version import Version

    try:
        installed = Version(version("trl"))
    except PackageNotFoundError:
        return
    if not (Version("1.16") <= installed < Version("1.17")):
        warnings.warn(
            f"trl_explore {__version__} is tested with trl{','.join(_TESTED_TRL)}, but trl {installed} is installed. "
            "Its trainers hook private TRL methods that may have changed; pin `trl>=1.16,<1.17`.",
            stacklevel=2,
        )
