"""Merge a preprocessed partition and the networks' probabilities into public-catalogue rows.

Every input row comes out exactly once; rows the networks did not see (stars, no redshift)
carry null probabilities and classes. Consensus: votes, majority class, unanimity, mean p_agn.
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
    catalogue_columns,
    class_column,
    p_agn_column,
    p_agn_std_column,
)
from nepagn.preprocess import STATUS, STATUS_LABELLED
from nepagn.schema import TRUE_CLASS


def classes_from_probabilities(p_agn: pd.Series, threshold: float) -> pd.Series:
    """AGN where p_agn >= threshold, SFG below, null where p_agn is null."""
    classes = pd.Series(pd.NA, index=p_agn.index, dtype="string")
    known = p_agn.notna()
    classes[known & (p_agn >= threshold)] = CLASS_AGN
    classes[known & (p_agn < threshold)] = CLASS_SFG
    return classes


def consensus(classes: pd.DataFrame, probabilities: pd.DataFrame) -> pd.DataFrame:
    """Votes, majority class (null on ties), unanimity and mean probability; null where not classified."""
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
    with_std: bool = False,
) -> pd.DataFrame:
    """Public-catalogue rows for one partition, in input order, with the columns of catalogue_columns().

    predictions: the networks' output for the rows with to_classify set (same index), or None
    where no row was classified. with_std: the model set gives spreads (p_agn_<model>_std); the
    columns are then present in every partition, so all partitions share one schema.
    """
    out = preprocessed.copy()
    for model in models:
        p_column = p_agn_column(model)
        values = pd.Series(np.nan, index=out.index, dtype="float64")
        if predictions is not None and len(predictions):
            values.loc[predictions.index] = predictions[p_column].to_numpy(dtype="float64")
        out[p_column] = values
        if with_std:
            spread = pd.Series(np.nan, index=out.index, dtype="float64")
            if predictions is not None and len(predictions):
                spread.loc[predictions.index] = predictions[p_agn_std_column(model)].to_numpy(dtype="float64")
            out[p_agn_std_column(model)] = spread
        out[class_column(model)] = classes_from_probabilities(values, thresholds[model])
    agreement = consensus(
        out[[class_column(m) for m in models]],
        out[[p_agn_column(m) for m in models]],
    )
    for column in agreement:
        out[column] = agreement[column]
    out[TRAINING_OBJECT] = (out[STATUS] == STATUS_LABELLED).to_numpy(dtype=bool)
    out[RUN_ID] = pd.Series(run_id, index=out.index, dtype="string")
    out[MODEL_SET_ID] = pd.Series(model_set_id, index=out.index, dtype="string")
    columns = catalogue_columns(models, with_std=with_std, with_truth=TRUE_CLASS in out)
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
