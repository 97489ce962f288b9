"""Merge a preprocessed partition and the networks' probabilities into public-catalogue rows.

Every input row comes out exactly once; rows the networks did not see (stars, no redshift)
carry null probabilities and classes. Consensus: votes, majority class, unanimity, mean p_agn.

Classes are decided on the raw score (score_agn_<model>, the member mean the threshold was chosen
on), never on the calibrated p_agn_<model>: an isotonic map is flat over steps, so `p_agn >= t'`
cannot reproduce `score >= t` exactly, while thresholding the raw score gives the same decision as
an uncalibrated model set, ties (score == threshold -> AGN) included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

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


def classes_from_scores(score: pd.Series, threshold: float) -> pd.Series:
    """AGN where score >= threshold, SFG below, null where score is null."""
    classes = pd.Series(pd.NA, index=score.index, dtype="string")
    known = score.notna()
    classes[known & (score >= threshold)] = CLASS_AGN
    classes[known & (score < threshold)] = CLASS_SFG
    return classes


def consensus(classes: pd.DataFrame, probabilities: pd.DataFrame) -> pd.DataFrame:
    """Votes, majority class (null on ties), unanimity and mean of the (calibrated) probabilities; null where not
    classified. The mean of calibrated probabilities is not itself recalibrated."""
    classified = classes.notna().all(axis=1)
    votes = (classes == CLASS_AGN).sum(axis=1)
    n_models = classes.shape[1]
    majority = pd.Series(pd.NA, index=classes.index, dtype="string")
    majority[classified & (2 * votes > n_models)] = CLASS_AGN
    majority[classified & (2 * votes < n_models)] = CLASS_SFG
    unanimous = ((votes == 0) | (votes == n_models)).astype("boolean")
    return pd.DataFrame(
        {
            N_AGN_VOTES: votes.astype("Int16").where(classified, pd.NA),
            CONSENSUS_CLASS: majority,
            UNANIMOUS: unanimous.where(classified, pd.NA),
            P_AGN_MEAN: probabilities.mean(axis=1, skipna=False).where(classified),
        },
        index=classes.index,
    )


def merge_partition(
    preprocessed: pd.DataFrame,
    predictions: pd.DataFrame | None,
    models: Sequence[str],
    thresholds: Mapping[str, float],
    run_id: str,
    model_set_id: str,
    columns: Sequence[Column],
) -> pd.DataFrame:
    """Public-catalogue rows for one partition, in input order, with `columns` (from catalogue_columns()).

    predictions: the networks' output for the rows with to_classify set (same index; ModelSet.predict's
    p_agn_<model>, score_agn_<model> and score_agn_<model>_std), or None where no row was classified.
    Every partition gets all of `columns` (nulls where nothing was classified), so all share one
    schema. thresholds apply to the raw score (module docstring).
    """
    out = preprocessed.copy()
    names = {column.name for column in columns}

    def column_of_predictions(name: str) -> pd.Series:
        values = pd.Series(np.nan, index=out.index, dtype="float64")
        if predictions is not None and len(predictions):
            values.loc[predictions.index] = predictions[name].to_numpy(dtype="float64")
        return values

    for model in models:
        out[p_agn_column(model)] = column_of_predictions(p_agn_column(model))
        out[score_agn_column(model)] = column_of_predictions(score_agn_column(model))
        if score_agn_std_column(model) in names:
            out[score_agn_std_column(model)] = column_of_predictions(score_agn_std_column(model))
        out[class_column(model)] = classes_from_scores(out[score_agn_column(model)], thresholds[model])
    agreement = consensus(
        out[[class_column(m) for m in models]],
        out[[p_agn_column(m) for m in models]],
    )
    for column in agreement:
        out[column] = agreement[column]
    out[TRAINING_OBJECT] = (out[STATUS] == STATUS_LABELLED).to_numpy(dtype=bool)
    out[RUN_ID] = pd.Series(run_id, index=out.index, dtype="string")
    out[MODEL_SET_ID] = pd.Series(model_set_id, index=out.index, dtype="string")
    return conform(out, columns)


def conform(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """Select the catalogue columns in order with their declared dtypes (absent optional ones as nulls)."""
    result = {}
    for column in columns:
        if column.name in frame:
            values = frame[column.name]
        else:
            values = pd.Series(pd.NA, index=frame.index)
        result[column.name] = values.astype(column.dtype)
    return pd.DataFrame(result, index=frame.index).reset_index(drop=True)
