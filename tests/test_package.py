"""Package-level contracts: light import, lazy public API, TRL version guard, metadata."""

import subprocess
import sys
import time
import warnings

import pytest

import trl_explore


def test_version_is_exposed():
    assert isinstance(trl_explore.__version__, str) and trl_explore.__version__[0].isdigit()


def test_import_is_light_and_fast():
    """`import trl_explore` must not pull torch / transformers / trl and must take well under 3 s."""
    code = (
        "import sys, time; t = time.perf_counter(); import trl_explore; dt = time.perf_counter() - t; "
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'sympy', 'datasets') if m in sys.modules]; "
        "print(dt); print(','.join(heavy))"
    )
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    wall = time.perf_counter() - start
    assert float(out[0]) < 3.0
    assert wall < 10.0
    assert out[1] == "", f"heavy modules imported eagerly: {out[1]}"


@pytest.mark.parametrize("name", trl_explore.__all__)
def test_every_public_name_resolves(name):
    assert getattr(trl_explore, name) is not None


def test_unknown_attribute_raises():
    with pytest.raises(AttributeError, match="no_such_name"):
        trl_explore.no_such_name  # noqa: B018


def test_trl_version_guard_warns_outside_range(monkeypatch):
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "version", lambda name: "1.17.0" if name == "trl" else "0")
    with pytest.warns(UserWarning, match="trl>=1.16,<1.17"):
        trl_explore._check_trl_version()


def test_trl_version_guard_silent_inside_range(monkeypatch):
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "version", lambda name: "1.16.3")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trl_explore._check_trl_version()


def test_installed_trl_is_in_tested_range():
    from importlib.metadata import version

    from packaging.version import Version

    assert Version("1.16") <= Version(version("trl")) < Version("1.17")
