"""Merge a preprocessed partition and the networks' probabilities into public-catalogue rows.

Every input row comes out exactly once; rows the networks did not see (stars, no redshift)
carry null probabilities and classes. Consensus: votes, majority class, unanimity, mean p_agn,
and the named subsets agn_reliable / agn_complete cut on the mean p_agn.

Classes follow the model set's decision (nepagn.model.decision.ClassDecision): AGN where the
calibrated p_agn_<model> >= 0.5, so a class and its probability tell one story. Model sets trained
before that rule keep their recorded raw-score thresholds and have no subsets (null columns).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from nepagn.model.decision import ClassDecision
from nepagn.pipeline.catalogue_schema import (
    CLASS_AGN,
    CLASS_SFG,
    CONSENSUS_CLASS,
    MODEL_SET_ID,
    N_AGN_VOTES,
    P_AGN_MEAN,
    RUN_ID,
    TRAINING_OBJECT,
    UNANIMOUS,
    class_column,
    p_agn_column,
    score_agn_column,
    score_agn_std_column,
)
from nepagn.preprocess import STATUS, STATUS_LABELLED
from nepagn.schema import Column


def class_labels(known: np.ndarray, is_agn: np.ndarray) -> pd.arrays.StringArray:
    """AGN where is_agn, SFG elsewhere, null where the row was not classified (a string array)."""
    labels = np.where(is_agn, CLASS_AGN, CLASS_SFG).astype(object)
    labels[~known] = None
    return pd.array(labels, dtype="string")


def merge_partition(
    preprocessed: pd.DataFrame,
    predictions: pd.DataFrame | None,
    models: Sequence[str],
    decision: ClassDecision,
    run_id: str,
    model_set_id: str,
    columns: Sequence[Column],
) -> pd.DataFrame:
    """Public-catalogue rows for one partition, in input order, with `columns` (from catalogue_columns()).

    predictions: the networks' output for the rows with to_classify set (same index; ModelSet.predict's
    p_agn_<model>, score_agn_<model> and score_agn_<model>_std, and any further catalogue column, e.g. the
    labelled-domain diagnostics, carried over as they are), or None where no row was classified.
    Every partition gets all of `columns` (nulls where nothing was classified), so all share one
    schema. `decision` makes the classes and subsets (module docstring).

    Consensus: votes, majority class (null on ties), unanimity and the mean of the (calibrated)
    probabilities, all null where a model did not classify the row; the mean of calibrated
    probabilities is not itself recalibrated. The new columns are computed on numpy arrays and only
    the catalogue's columns of `preprocessed` are read: no copy of the whole partition per task.
    """
    n = len(preprocessed)
    names = {column.name for column in columns}
    rows = None
    if predictions is not None and len(predictions):
        rows = preprocessed.index.get_indexer(predictions.index)
        if (rows < 0).any():
            raise ValueError("predictions hold rows that are not in the partition")

    def scattered(name: str) -> np.ndarray:
        values = np.full(n, np.nan)
        if rows is not None:
            values[rows] = predictions[name].to_numpy(dtype="float64")
        return values

    derived: dict[str, object] = {}
    probabilities, votes, classified = [], np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)
    for model in models:
        p_agn, score = scattered(p_agn_column(model)), scattered(score_agn_column(model))
        derived[p_agn_column(model)] = p_agn
        derived[score_agn_column(model)] = score
        if score_agn_std_column(model) in names:
            derived[score_agn_std_column(model)] = scattered(score_agn_std_column(model))
        known = ~np.isnan(score)
        is_agn = known & decision.is_agn(model, p_agn, score)  # the one decision rule: classes and votes both use it
        derived[class_column(model)] = class_labels(known, is_agn)
        probabilities.append(p_agn)
        classified &= known
        votes += is_agn
    n_models = len(models)
    majority = np.full(n, None, dtype=object)
    majority[classified & (2 * votes > n_models)] = CLASS_AGN
    majority[classified & (2 * votes < n_models)] = CLASS_SFG
    p_mean = probabilities[0].copy()
    for p_agn in probabilities[1:]:  # left to right, as pandas' row mean adds them
        p_mean += p_agn
    p_mean /= n_models
    p_mean[~classified] = np.nan
    derived[N_AGN_VOTES] = pd.arrays.IntegerArray(votes.astype(np.int16), ~classified)
    derived[CONSENSUS_CLASS] = pd.array(majority, dtype="string")
    derived[UNANIMOUS] = pd.arrays.BooleanArray((votes == 0) | (votes == n_models), ~classified)
    derived[P_AGN_MEAN] = p_mean
    if decision.has_subsets:
        for name, flag in decision.rule.subsets(p_mean).items():
            derived[name] = pd.arrays.BooleanArray(flag, ~classified)
    derived[TRAINING_OBJECT] = (preprocessed[STATUS] == STATUS_LABELLED).to_numpy(dtype=bool)
    derived[RUN_ID] = pd.array([run_id] * n, dtype="string")
    derived[MODEL_SET_ID] = pd.array([model_set_id] * n, dtype="string")

    result = {}
    for column in columns:
        if column.name in derived:
            values = pd.Series(derived[column.name], index=preprocessed.index)
        elif predictions is not None and column.name in predictions:  # per-row extras (labelled-domain columns)
            values = _nulls(column, preprocessed.index)
            values.iloc[rows] = predictions[column.name].astype(column.dtype).to_numpy()
        elif column.name in preprocessed:
            values = preprocessed[column.name]
        else:  # an optional column the input lacks, or a per-row extra the model set does not give
            values = _nulls(column, preprocessed.index)
        result[column.name] = values.astype(column.dtype)
    return pd.DataFrame(result, index=preprocessed.index).reset_index(drop=True)


def _nulls(column: Column, index: pd.Index) -> pd.Series:
    """A column of nulls: NaN for float64, NA otherwise (a non-nullable integer or bool column cannot take it)."""
    return pd.Series(np.nan if column.dtype == "float64" else pd.NA, index=index)
