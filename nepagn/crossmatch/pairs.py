"""Every stored/survey pair of sources within the match radius, from an LSDB crossmatch on the Dask cluster.

The store (opened with `lsdb.open_catalog`, only source_id, ra, dec read) is the left catalogue; the survey's
positions become an LSDB catalogue (`lsdb.from_dataframe`) partitioned by HEALPix with a margin cache of
the match radius, so a stored source near a partition edge still finds its survey counterpart in the
neighbouring pixel. Each stored source gets its `max_candidates` nearest survey sources within the radius;
every pair is found exactly once (by the stored source's partition).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from nepagn.cluster import data_in_graph
from nepagn.schema import DEC, RA, SOURCE_ID
from nepagn.store import pixel_of, spatial_index

log = logging.getLogger(__name__)

SURVEY_ROW = "survey_row"
SEP = "sep_arcsec"
EAST, NORTH = "east_arcsec", "north_arcsec"  # survey minus store position of a pair
MIN_SURVEY_ORDER = 6  # coarsest order of the survey's partitions (see survey_catalog)
MAX_SURVEY_ORDER = 10  # finest order of the survey's partitions
MARGIN_ORDER_STEP = 5  # margin pixels this many orders finer than the partitions (see survey_catalog)


def survey_partition_order(ra: np.ndarray, dec: np.ndarray, max_rows: int) -> int:
    """The HEALPix order of the survey's partitions: the lowest at which no pixel holds more than `max_rows`
    survey sources, within [MIN_SURVEY_ORDER, MAX_SURVEY_ORDER]."""
    healpix = spatial_index(ra, dec)
    for order in range(MIN_SURVEY_ORDER, MAX_SURVEY_ORDER + 1):
        if np.unique(pixel_of(healpix, order), return_counts=True)[1].max(initial=0) <= max_rows:
            return order
    return MAX_SURVEY_ORDER


def margin_order(partition_order: int, radius_arcsec: float) -> int:
    """The order of the margin pixels: MARGIN_ORDER_STEP finer than the partitions, but never so fine that a
    margin pixel is narrower than the match radius (the margin is then wider than the radius: still exact)."""
    import hats.pixel_math.healpix_shim as hp

    finest = int(hp.margin2order(margin_thr_arcmin=np.asarray(radius_arcsec / 60.0)))  # hats takes an array
    return max(partition_order + 1, min(partition_order + MARGIN_ORDER_STEP, finest))


def survey_catalog(ra: np.ndarray, dec: np.ndarray, radius_arcsec: float, max_rows: int):
    """The survey's positions (and row numbers) as an LSDB catalogue with a margin cache at least
    `radius_arcsec` wide.

    All partitions are at one order (survey_partition_order) and the margin is computed at
    margin_order(): lsdb builds margins for the whole sky's complement too, so coarse partitions (order 0
    for a small field) or a margin at the finest order the radius allows (order 16 for 1.5 arcsec) cost
    seconds of pure bookkeeping (measured: 6.5-11 s against 0.5-2.6 s for 3,000-918,610 sources).
    """
    import dask
    import lsdb

    frame = pd.DataFrame({SURVEY_ROW: np.arange(len(ra), dtype=np.int64), RA: ra, DEC: dec})
    order = survey_partition_order(ra, dec, max_rows)
    # the loader computes the in-memory frame it was given to cut the margin: in this process, not through
    # a cluster (the default distributed client would ship the survey out and back: 5.7 s against 1.5 s)
    with warnings.catch_warnings(), dask.config.set(scheduler="sync"):
        warnings.simplefilter("ignore", RuntimeWarning)  # "Ignoring margin_threshold because margin_order ..."
        catalog = lsdb.from_dataframe(frame, ra_column=RA, dec_column=DEC, lowest_order=order, highest_order=order,
                                      partition_rows=max(max_rows, 1), margin_order=margin_order(order, radius_arcsec),
                                      catalog_name="survey")
    assert catalog.margin is not None, "lsdb.from_dataframe with a margin_order always builds a margin"
    threshold = catalog.margin.hc_structure.catalog_info.margin_threshold
    assert threshold is not None, "lsdb records the threshold of every margin it builds"
    if threshold < radius_arcsec:  # cannot happen by margin_order(); a wrong margin would lose edge matches
        raise RuntimeError(f"survey margin {threshold} arcsec is narrower than the radius {radius_arcsec}")
    return catalog


def compute(catalog, client) -> pd.DataFrame:
    """An LSDB catalogue's rows, computed on the Dask cluster of `client` (in this process without one)."""
    import dask

    scheduler = client.get if client is not None else "sync"
    with dask.config.set(scheduler=scheduler), data_in_graph():  # the survey's positions: 24 bytes a source
        return catalog.compute(progress_bar=False)


def candidate_pairs(
    store_path: str | Path,
    ra: np.ndarray,
    dec: np.ndarray,
    radius_arcsec: float,
    client,
    max_candidates: int,
    max_rows: int,
) -> pd.DataFrame:
    """Every stored/survey pair of sources within `radius_arcsec`, from an LSDB crossmatch on the cluster.

    Parameters
    ----------
    store_path : str or Path
        A complete store (HATS catalogue) with positions.
    ra, dec : numpy.ndarray
        The survey's positions in degrees (astrometric offset already removed); row i is survey row i.
    radius_arcsec : float
        Match radius; the survey's margin cache is at least this wide.
    client : distributed.Client or None
        The cluster to compute on (None: in this process).
    max_candidates : int
        Survey candidates looked for per stored source.
    max_rows : int
        Largest survey partition, in rows.

    Returns
    -------
    pandas.DataFrame
        Columns source_id, survey_row, sep_arcsec, east_arcsec and north_arcsec (survey minus store), one
        row per pair; empty when the survey does not overlap the store.
    """
    import lsdb

    if not len(ra):
        return _empty()
    store = lsdb.open_catalog(str(store_path), columns=[SOURCE_ID, RA, DEC])
    survey = survey_catalog(np.asarray(ra, dtype=np.float64), np.asarray(dec, dtype=np.float64), radius_arcsec,
                            max_rows)
    try:
        joined = store.crossmatch(survey, n_neighbors=max_candidates, radius_arcsec=radius_arcsec,
                                  suffixes=("_store", "_survey"), suffix_method="all_columns",
                                  require_right_margin=True)
    except RuntimeError as exc:  # LSDB: "Catalogs do not overlap"
        if "do not overlap" not in str(exc):
            raise
        log.info("the survey does not overlap the store: no pairs")
        return _empty()
    rows = compute(joined, client)
    if not len(rows):
        return _empty()
    ra_store = rows[f"{RA}_store"].to_numpy(dtype=np.float64)
    dec_store = rows[f"{DEC}_store"].to_numpy(dtype=np.float64)
    ra_survey = rows[f"{RA}_survey"].to_numpy(dtype=np.float64)
    dec_survey = rows[f"{DEC}_survey"].to_numpy(dtype=np.float64)
    d_ra = np.mod(ra_survey - ra_store + 180.0, 360.0) - 180.0
    pairs = pd.DataFrame({
        SOURCE_ID: rows[f"{SOURCE_ID}_store"].astype(str).to_numpy(dtype=object),
        SURVEY_ROW: rows[f"{SURVEY_ROW}_survey"].to_numpy(dtype=np.int64),
        SEP: rows["_dist_arcsec"].to_numpy(dtype=np.float64),
        EAST: d_ra * np.cos(np.radians(0.5 * (dec_store + dec_survey))) * 3600.0,
        NORTH: (dec_survey - dec_store) * 3600.0,
    })
    log.info("crossmatch: %d pairs within %g arcsec", len(pairs), radius_arcsec)
    return pairs


def _empty() -> pd.DataFrame:
    return pd.DataFrame({SOURCE_ID: pd.Series([], dtype=object), SURVEY_ROW: pd.Series([], dtype=np.int64),
                         SEP: pd.Series([], dtype=np.float64), EAST: pd.Series([], dtype=np.float64),
                         NORTH: pd.Series([], dtype=np.float64)})
