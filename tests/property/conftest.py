"""Hypothesis settings of the property and fuzz suites.

Profiles (choose with ``pytest --hypothesis-profile=<name>``):

* ``trl_explore`` (default): derandomized (every run draws the same examples, so CI is reproducible), no example
  database on disk, no per-example deadline (the tests that bound time measure it themselves against the documented
  limits; a loaded 2-core machine makes hypothesis' own deadline flaky).
* ``explore``: random seeds, for hunting new counterexamples locally (``--hypothesis-seed`` reproduces one).

The number of examples is set per test with ``@settings(max_examples=...)``: small in the default suite, larger in
the ``@pytest.mark.slow`` variants.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

_COMMON = {
    "database": None,
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("trl_explore", derandomize=True, **_COMMON)
settings.register_profile("explore", derandomize=False, **_COMMON)
if settings.get_current_profile_name() == "default":  # keep a profile chosen on the command line
    settings.load_profile("trl_explore")
