"""The match rule: which survey source goes to which stored source, and what becomes of the others.

Rule (closest pairs first). Among all stored/survey pairs within the radius, the closest pair is accepted,
both sources leave the pool, and so on in order of increasing separation (ties: by stored source_id, then by
the survey's row). So every survey source is attached to at most one stored source and every stored source
receives at most one survey source, and each accepted pair is the closest one still available to both.
Stored sources that already carry this survey's id (from an earlier file of the survey) are taken
beforehand; survey sources whose id the store already carries are `attached`: they update that row by id
and are not matched again. Every survey source ends with exactly one outcome:

- matched:   accepted pair;
- attached:  its id is already in the store (an earlier file of the same survey);
- secondary: it has stored sources within the radius, but each was taken by a closer survey source (a
             second survey source on one stored source, e.g. a companion the store had blended): neither
             attached nor appended, so nothing is duplicated; listed in the match table;
- unmatched: no stored source within the radius; appended as a new row or left out (--unmatched).

Ambiguity is counted both ways: survey sources with two or more stored sources within the radius (one new
source matching two stored ones) and stored sources with two or more survey sources (two new sources
matching one stored one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nepagn.crossmatch.pairs import EAST, NORTH, SEP, SURVEY_ROW
from nepagn.schema import SOURCE_ID

MATCHED, ATTACHED, SECONDARY, UNMATCHED = "matched", "attached", "secondary", "unmatched"
RULE = ("closest pairs first: pairs within the radius are accepted in order of increasing separation while "
        "neither source is taken (stored sources already carrying the survey's id are taken); a survey source "
        "whose stored candidates were all taken is 'secondary' (neither attached nor appended)")


@dataclass
class Assignment:
    """Per survey row: outcome, matched stored source_id, separation and candidate counts; and the counts."""

    outcome: np.ndarray  # MATCHED / ATTACHED / SECONDARY / UNMATCHED
    source_id: np.ndarray  # stored source_id of a match (object, None elsewhere)
    sep_arcsec: np.ndarray  # separation of the match (NaN elsewhere)
    n_store_candidates: np.ndarray  # stored sources within the radius of each survey source
    n_candidates: np.ndarray  # survey sources within the radius of each survey source's match (0 without one)
    nearest_source_id: np.ndarray  # nearest stored source within the radius (None without one)
    nearest_sep_arcsec: np.ndarray
    counts: dict[str, int]
    residual_offset_arcsec: dict[str, float | None]
    truncated: int  # stored sources with max_candidates survey candidates (their count is a floor)


def assign(pairs: pd.DataFrame, n_survey: int, attached: np.ndarray, taken: set[str],
           max_candidates: int) -> Assignment:
    """Apply the rule (module docstring) to the pairs within the radius.

    Parameters
    ----------
    pairs : pandas.DataFrame
        nepagn.crossmatch.pairs.candidate_pairs' result.
    n_survey : int
        Survey rows (pairs' survey_row indexes them).
    attached : numpy.ndarray
        Boolean per survey row: True where the store already carries its id (it is not matched again).
    taken : set of str
        Stored source_ids that already carry one of this survey's ids (they take no new survey source).
    max_candidates : int
        Candidates looked for per stored source (a stored source with that many has a floor for a count).

    Returns
    -------
    Assignment
        Per survey row: outcome, matched source_id, separation, both candidate counts, nearest stored
        source; and the counts of the run record.
    """
    survey_rows = pairs[SURVEY_ROW].to_numpy(dtype=np.int64)
    sources = pairs[SOURCE_ID].to_numpy(dtype=object)
    seps = pairs[SEP].to_numpy(dtype=np.float64)
    codes, uniques = pd.factorize(sources, sort=True) if len(sources) else (np.array([], np.int64), np.array([]))
    per_survey = np.bincount(survey_rows, minlength=n_survey)
    per_source = np.bincount(codes, minlength=len(uniques))

    order = np.lexsort((survey_rows, codes, seps))
    nearest = np.full(n_survey, -1, dtype=np.int64)  # index into pairs of each survey row's nearest pair
    first = order[~pd.Series(survey_rows[order]).duplicated().to_numpy()]
    nearest[survey_rows[first]] = first

    blocked_source = np.zeros(len(uniques), dtype=bool)
    if taken:
        blocked_source |= np.isin(uniques.astype(object), list(taken))
    live = order[~attached[survey_rows[order]] & ~blocked_source[codes[order]]]
    accepted: list[np.ndarray] = []
    while len(live):
        best_of_survey = ~pd.Series(survey_rows[live]).duplicated().to_numpy()
        best_of_source = ~pd.Series(codes[live]).duplicated().to_numpy()
        winners = live[best_of_survey & best_of_source]  # mutual nearest among what is left: the closest pairs
        accepted.append(winners)
        done_survey = np.zeros(n_survey, dtype=bool)
        done_survey[survey_rows[winners]] = True
        blocked_source[codes[winners]] = True
        live = live[~done_survey[survey_rows[live]] & ~blocked_source[codes[live]]]
    matches = np.concatenate(accepted) if accepted else np.array([], dtype=np.int64)

    outcome = np.full(n_survey, UNMATCHED, dtype=object)
    outcome[per_survey > 0] = SECONDARY
    outcome[survey_rows[matches]] = MATCHED
    outcome[attached] = ATTACHED
    source_id = np.full(n_survey, None, dtype=object)
    source_id[survey_rows[matches]] = sources[matches]
    sep = np.full(n_survey, np.nan)
    sep[survey_rows[matches]] = seps[matches]
    n_candidates = np.zeros(n_survey, dtype=np.int64)
    n_candidates[survey_rows[matches]] = per_source[codes[matches]]
    has_nearest = nearest >= 0
    nearest_id = np.full(n_survey, None, dtype=object)
    nearest_id[has_nearest] = sources[nearest[has_nearest]]
    nearest_sep = np.full(n_survey, np.nan)
    nearest_sep[has_nearest] = seps[nearest[has_nearest]]

    counts = {
        "survey_rows": int(n_survey),
        "pairs_within_radius": int(len(pairs)),
        MATCHED: int((outcome == MATCHED).sum()),
        ATTACHED: int((outcome == ATTACHED).sum()),
        SECONDARY: int((outcome == SECONDARY).sum()),
        UNMATCHED: int((outcome == UNMATCHED).sum()),
        "survey_sources_with_several_stored_candidates": int((per_survey >= 2).sum()),
        "stored_sources_with_several_survey_candidates": int((per_source >= 2).sum()),
        "matched_with_several_candidates": int(((per_source[codes[matches]] >= 2)
                                                | (per_survey[survey_rows[matches]] >= 2)).sum()),
    }
    residual: dict[str, float | None] = {"east": None, "north": None, "median_sep": None, "p90_sep": None}
    if len(matches):
        residual = {"east": round(float(np.median(pairs[EAST].to_numpy()[matches])), 4),
                    "north": round(float(np.median(pairs[NORTH].to_numpy()[matches])), 4),
                    "median_sep": round(float(np.median(seps[matches])), 4),
                    "p90_sep": round(float(np.quantile(seps[matches], 0.9)), 4)}
    return Assignment(outcome, source_id, sep, per_survey.astype(np.int64), n_candidates, nearest_id, nearest_sep,
                      counts, residual, int((per_source >= max_candidates).sum()))
