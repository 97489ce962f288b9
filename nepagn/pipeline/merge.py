"""Merge a preprocessed partition and the networks' probabilities into public-catalogue rows.

Every input row comes out exactly once; rows the networks did not see (stars, no redshift)
carry null probabilities and classes. Consensus: votes, majority class, unanimity, mean p_agn,
and the named subsets agn_reliable / agn_complete cut on the mean p_agn.

Classes, the consensus probability and the subsets are the model set's decision (ModelSet.predict,
nepagn.model.decision.ClassDecision.decide), made on the worker beside the probabilities; this module
holds no threshold. Model sets trained before the census cut keep their recorded raw-score thresholds and
have no subsets (null columns).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from nepagn.model.decision import AGN_COMPLETE, AGN_RELIABLE
from nepagn.model.predictions import P_AGN_MEAN, is_agn_column, p_agn_column, score_agn_column, score_agn_std_column
from nepagn.pipeline.catalogue_schema import (
    CLASS_AGN,
    CLASS_SFG,
    CONSENSUS_CLASS,
    MODEL_SET_ID,
    N_AGN_VOTES,
    RUN_ID,
    TRAINING_OBJECT,
    UNANIMOUS,
    class_column,
)
from nepagn.preprocess import STATUS, STATUS_LABELLED
from nepagn.schema import Column

SUBSETS = (AGN_RELIABLE, AGN_COMPLETE)


def class_labels(known: np.ndarray, is_agn: np.ndarray) -> pd.arrays.StringArray:
    """AGN where is_agn, SFG elsewhere, null where the row was not classified (a string array)."""
    labels = np.where(is_agn, CLASS_AGN, CLASS_SFG).astype(object)
    labels[~known] = None
    return pd.array(labels, dtype="string")


def merge_partition(
    preprocessed: pd.DataFrame,
    predictions: pd.DataFrame | None,
    models: Sequence[str],
    run_id: str,
    model_set_id: str,
    columns: Sequence[Column],
) -> pd.DataFrame:
    """Public-catalogue rows for one partition, in input order, with `columns` (from catalogue_columns()).

    predictions: for the rows with to_classify set (same index), ModelSet.predict_proba's p_agn_<model>,
    score_agn_<model> and score_agn_<model>_std joined with the decision's is_agn_<model>, p_agn_mean and
    subsets (ClassDecision.decide), and any further catalogue column, e.g. the labelled-domain
    diagnostics, carried over as they are; or None where no row was classified.
    Every partition gets all of `columns` (nulls where nothing was classified), so all share one schema.

    Consensus: votes, majority class (null on ties), unanimity, the mean of the (calibrated)
    probabilities and the subsets, all null where a model did not classify the row; the mean of
    calibrated probabilities is not itself recalibrated. The new columns are computed on numpy arrays and only
    the catalogue's columns of `preprocessed` are read: no copy of the whole partition per task.
    """
    n = len(preprocessed)
    names = {column.name for column in columns}
    rows = None
    given = predictions if predictions is not None else pd.DataFrame()
    if len(given):
        rows = preprocessed.index.get_indexer(given.index)
        if (rows < 0).any():
            raise ValueError("predictions hold rows that are not in the partition")

    def scattered(name: str, fill: float | bool = np.nan, dtype: str = "float64") -> np.ndarray:
        values = np.full(n, fill, dtype=dtype)
        if rows is not None:
            values[rows] = given[name].to_numpy(dtype=dtype)
        return values

    derived: dict[str, object] = {}
    votes, classified = np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)
    for model in models:
        score = scattered(score_agn_column(model))
        derived[p_agn_column(model)] = scattered(p_agn_column(model))
        derived[score_agn_column(model)] = score
        if score_agn_std_column(model) in names:
            derived[score_agn_std_column(model)] = scattered(score_agn_std_column(model))
        known = ~np.isnan(score)
        is_agn = known & scattered(is_agn_column(model), False, "bool")  # classes and votes: one decision
        derived[class_column(model)] = class_labels(known, is_agn)
        classified &= known
        votes += is_agn
    n_models = len(models)
    majority = np.full(n, None, dtype=object)
    majority[classified & (2 * votes > n_models)] = CLASS_AGN
    majority[classified & (2 * votes < n_models)] = CLASS_SFG
    p_mean = scattered(P_AGN_MEAN)
    p_mean[~classified] = np.nan
    derived[N_AGN_VOTES] = pd.arrays.IntegerArray(votes.astype(np.int16), ~classified)
    derived[CONSENSUS_CLASS] = pd.array(majority, dtype="string")
    derived[UNANIMOUS] = pd.arrays.BooleanArray((votes == 0) | (votes == n_models), ~classified)
    derived[P_AGN_MEAN] = p_mean
    for name in SUBSETS:  # absent where the model set's decision has no subsets: the columns stay null
        if name in given:
            derived[name] = pd.arrays.BooleanArray(scattered(name, False, "bool"), ~classified)
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
