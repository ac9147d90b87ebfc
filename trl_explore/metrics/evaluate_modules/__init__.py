"""`evaluate`-library metric modules shipped with trl_explore: load one with ``evaluate.load(<its folder>)``, e.g.
``evaluate.load(trl_explore.metrics.ANSWER_CHOICE_MASS_EVALUATE_PATH)``."""
