"""The names of a model set's prediction columns, for ModelSet, its decision rule and the catalogue.

Per model `<m>` (A, B, C, HGBC): ``p_agn_<m>`` (the calibrated probability), ``score_agn_<m>`` (the raw
member mean) and ``score_agn_<m>_std`` (the member spread) from `ModelSet.predict_proba`; ``is_agn_<m>``
(the model's class, True for AGN) and the consensus ``p_agn_mean`` from the decision
(`ModelSet.predict`). The catalogue keeps all but ``is_agn_<m>``, which it writes as class_<m>.
"""

from __future__ import annotations

P_AGN_MEAN = "p_agn_mean"


def p_agn_column(model: str) -> str:
    """Column of one model's AGN probability (calibrated where the model set carries a calibrator)."""
    return f"p_agn_{model}"


def score_agn_column(model: str) -> str:
    """Column of one model's raw score: the mean output of its members (networks or HGBC folds), before calibration."""
    return f"score_agn_{model}"


def score_agn_std_column(model: str) -> str:
    """Column of the spread of one model's raw score over the model set's members (folds/seeds)."""
    return f"score_agn_{model}_std"


def is_agn_column(model: str) -> str:
    """Column of one model's decision: True where it calls the source AGN."""
    return f"is_agn_{model}"
