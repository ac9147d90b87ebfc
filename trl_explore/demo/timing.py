"""The measured wall time of the default demo run, in one place."""

DEMO_TIME = "9 min 15 s on an idle 2-core machine"
"""Measured wall time of the default `trl-explore demo` run from an empty cache (warm start included). The README,
docs/quickstart.md, docs/toy.md and the command's help repeat it word for word (tests/docs/test_time_claims.py): change
it here, then there."""
