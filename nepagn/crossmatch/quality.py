"""How well a position match recovered a simulated survey's truth (nepagn.simulate.survey).

completeness = survey sources attached to their true stored counterpart / survey sources that have one;
false-match rate = attachments to a stored source that is not the true counterpart (including any
attachment of a companion or extra source, which has none) / all attachments; duplicate rate = appended
rows whose survey source did have a stored counterpart / appended rows.

    nepagn evaluate match-quality STORE SURVEY_FILE [--survey euclid]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from nepagn.crossmatch.options import ORIGIN_SURVEY, MatchColumns
from nepagn.schema import SOURCE_ID
from nepagn.simulate.survey import ID_COLUMN, KINDS, SURVEY_NAME, TRUE_KIND, TRUE_MATCH_ID
from nepagn.store import open_store


def _store_links(store_path: str | Path, columns: MatchColumns) -> pd.DataFrame:
    """(source_id, survey id, appended?) of every stored row carrying the survey's id."""
    store = open_store(store_path)
    wanted = [SOURCE_ID, columns.id] + ([ORIGIN_SURVEY] if ORIGIN_SURVEY in store.columns else [])
    parts = []
    for partition in store.partitions:
        frame = pq.read_table(partition.path, columns=wanted).to_pandas()
        parts.append(frame[frame[columns.id].notna()])
    links = pd.concat(parts, ignore_index=True)
    appended = links[ORIGIN_SURVEY].astype("string").eq(columns.survey).fillna(False) if ORIGIN_SURVEY in links \
        else pd.Series(False, index=links.index)
    return pd.DataFrame({SOURCE_ID: links[SOURCE_ID].astype(str), "survey_id": links[columns.id].astype(str),
                         "appended": appended.to_numpy(dtype=bool)})


def match_quality(store_path: str | Path, survey_file: str | Path, survey: str = SURVEY_NAME) -> dict[str, Any]:
    """Completeness, false-match and duplicate rates of the store's `survey` columns against the survey's truth.

    Parameters
    ----------
    store_path : str or Path
        The store after the survey was added by position.
    survey_file : str or Path
        The survey as nepagn.simulate.survey wrote it (with its TRUE_* columns).
    survey : str
        The survey's name (prefix of its columns in the store).

    Returns
    -------
    dict
        survey_sources, with_stored_counterpart, attached, attached_correctly, completeness, false_matches,
        false_match_rate, appended, appended_with_stored_counterpart, duplicate_rate, and the same per
        TRUE_KIND under by_kind.
    """
    truth = _read_truth(survey_file).set_index(ID_COLUMN)
    links = _store_links(store_path, MatchColumns(survey))
    stored_ids = set(_all_ids(store_path))
    has_counterpart = truth[TRUE_MATCH_ID].isin(stored_ids) & truth[TRUE_MATCH_ID].ne("")
    matched = links[~links["appended"]]
    expected = truth.loc[matched["survey_id"], TRUE_MATCH_ID].to_numpy()
    correct = matched[SOURCE_ID].to_numpy() == expected
    kinds = truth.loc[matched["survey_id"], TRUE_KIND].to_numpy()
    appended = links[links["appended"]]
    duplicates = has_counterpart.loc[appended["survey_id"]].to_numpy()
    n_true = int(has_counterpart.sum())
    by_kind: dict[str, dict[str, int]] = {}
    result: dict[str, Any] = {
        "survey_sources": int(len(truth)),
        "with_stored_counterpart": n_true,
        "attached": int(len(matched)),
        "attached_correctly": int(correct.sum()),
        "completeness": round(float(correct.sum()) / n_true, 5) if n_true else None,
        "false_matches": int((~correct).sum()),
        "false_match_rate": round(float((~correct).sum()) / len(matched), 5) if len(matched) else None,
        "appended": int(len(appended)),
        "appended_with_stored_counterpart": int(duplicates.sum()),
        "duplicate_rate": round(float(duplicates.sum()) / len(appended), 5) if len(appended) else None,
        "by_kind": by_kind,
    }
    for kind in KINDS:
        of_kind = truth[TRUE_KIND].eq(kind)
        by_kind[kind] = {
            "survey_sources": int(of_kind.sum()),
            "attached": int((kinds == kind).sum()),
            "attached_correctly": int((correct & (kinds == kind)).sum()),
        }
    return result


def _read_truth(path: str | Path) -> pd.DataFrame:
    """The survey's id and truth columns as text (empty where a FITS or CSV file has a null)."""
    columns = [ID_COLUMN, TRUE_MATCH_ID, TRUE_KIND]
    if str(path).endswith((".parquet", ".pq")):
        frame = pd.read_parquet(path, columns=columns)
    else:
        from astropy.table import Table

        table = Table.read(path)
        table.convert_bytestring_to_unicode()  # FITS strings come back as bytes
        frame = table[columns].to_pandas()
    return pd.DataFrame({name: frame[name].fillna("").astype(str).str.strip() for name in columns})


def _all_ids(store_path: str | Path) -> np.ndarray:
    store = open_store(store_path)
    return np.concatenate([pq.read_table(p.path, columns=[SOURCE_ID]).column(0).to_numpy(zero_copy_only=False)
                           for p in store.partitions]).astype(str)


def run_from_args(args: argparse.Namespace) -> str:
    """`nepagn evaluate match-quality STORE SURVEY_FILE`: the match quality as JSON text."""
    return json.dumps(match_quality(args.store, args.survey_file, args.survey or SURVEY_NAME), indent=2)
