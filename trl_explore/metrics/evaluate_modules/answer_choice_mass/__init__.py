"""The ``answer_choice_mass`` `evaluate` module (its script is ``answer_choice_mass.py`` in this folder)."""
