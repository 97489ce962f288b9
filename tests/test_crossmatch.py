"""nepagn update --match-radius: a new survey added by position with LSDB (issue 17).

The match rule on hand-made pairs; LSDB's pairs against a brute-force k-d tree, with survey sources placed
across partition edges (and without the margin cache, to show it is what finds them); the simulated survey;
the whole update on the tiny mock's catalogue on the session LocalCluster: truth recovered, every survey
source accounted for, LSDB and FITS readers, provenance, only touched partitions recomputed, the same file
twice a no-op, an interrupted run leaving store and catalogue as they were, and bad arguments.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from astropy.table import Table

from nepagn.bands import EXTRA_BANDS_ENV
from nepagn.cli import main
from nepagn.crossmatch.assign import ATTACHED, MATCHED, SECONDARY, UNMATCHED, assign
from nepagn.crossmatch.options import ORIGIN_SURVEY, MatchOptions
from nepagn.crossmatch.pairs import EAST, NORTH, SEP, SURVEY_ROW, candidate_pairs
from nepagn.crossmatch.quality import match_quality
from nepagn.schema import DEC, LABEL, LABEL_SOURCE, RA, SOURCE_ID
from nepagn.simulate.survey import (
    DEC_COLUMN,
    ID_COLUMN,
    RA_COLUMN,
    TRUE_KIND,
    TRUE_MATCH_ID,
    SurveyConfig,
    close_pairs,
    column_map_text,
    registry_text,
    simulate_survey,
)
from nepagn.store import open_store, pixel_of, spatial_index
from nepagn.update.bands import activate
from nepagn.update.catalogue import UpdateInterrupted
from nepagn.update.run import update_catalogue
from nepagn.update.versions import load_index

RADIUS = 1.5
SURVEY = "euclid"


def pairs_frame(rows: list[tuple[str, int, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[SOURCE_ID, SURVEY_ROW, SEP])
    return frame.assign(**{EAST: 0.0, NORTH: 0.0})


def test_rule_two_survey_sources_on_one_stored_source_closer_wins_other_is_secondary():
    pairs = pairs_frame([("s1", 0, 0.8), ("s1", 1, 0.3), ("s2", 2, 0.1)])
    result = assign(pairs, 4, np.zeros(4, dtype=bool), set(), 32)
    assert result.outcome.tolist() == [SECONDARY, MATCHED, MATCHED, UNMATCHED]
    assert result.source_id.tolist() == [None, "s1", "s2", None]
    assert result.n_candidates.tolist() == [0, 2, 1, 0]  # s1 has two survey sources within the radius
    assert result.nearest_source_id[0] == "s1" and result.nearest_sep_arcsec[0] == 0.8
    assert result.counts["stored_sources_with_several_survey_candidates"] == 1
    assert result.counts[SECONDARY] == 1 and result.counts[UNMATCHED] == 1


def test_rule_one_survey_source_on_two_stored_sources_goes_to_the_nearer():
    pairs = pairs_frame([("s1", 0, 1.1), ("s2", 0, 0.4)])
    result = assign(pairs, 1, np.zeros(1, dtype=bool), set(), 32)
    assert result.source_id.tolist() == ["s2"] and result.n_store_candidates.tolist() == [2]
    assert result.counts["survey_sources_with_several_stored_candidates"] == 1
    assert result.counts["matched_with_several_candidates"] == 1


def test_rule_is_closest_pairs_first_not_one_round_of_mutual_nearest():
    # s1's nearest is n1 (0.3); n0's nearest is s1 (0.5) but s1 is taken, so n0 goes to s2 (0.6)
    pairs = pairs_frame([("s1", 0, 0.5), ("s1", 1, 0.3), ("s2", 0, 0.6)])
    result = assign(pairs, 2, np.zeros(2, dtype=bool), set(), 32)
    assert result.source_id.tolist() == ["s2", "s1"]
    assert result.outcome.tolist() == [MATCHED, MATCHED]


def test_rule_respects_earlier_attachments_and_breaks_ties_by_id():
    pairs = pairs_frame([("s1", 0, 0.2), ("s2", 1, 0.5), ("s3", 1, 0.5), ("s1", 2, 0.1)])
    attached = np.array([False, False, True])  # survey row 2 already carries its stored row (s1)
    result = assign(pairs, 3, attached, {"s1"}, 32)
    assert result.outcome.tolist() == [SECONDARY, MATCHED, ATTACHED]  # s1 is taken: row 0 is secondary
    assert result.source_id[1] == "s2"  # equal separations: the smaller source_id


def across_edges(n: int, rng: np.random.Generator, order: int = 6) -> tuple[np.ndarray, ...]:
    """n stored/survey position pairs 1 arcsec apart on either side of an order-`order` HEALPix boundary, found
    by bisection: an edge of the pixels the crossmatch aligns (the survey is partitioned at order 6 or finer)."""
    from nepagn.simulate.footprint import sample_positions

    ra_a, dec_a = sample_positions(rng, 20 * n)
    angle = rng.uniform(0, 2 * np.pi, len(ra_a))
    ra_b = ra_a + 0.6 * np.sin(angle) / np.cos(np.radians(dec_a))
    dec_b = dec_a + 0.6 * np.cos(angle)
    pix_a = pixel_of(spatial_index(ra_a, dec_a), order)
    keep = pix_a != pixel_of(spatial_index(ra_b, dec_b), order)
    ra_a, dec_a, ra_b, dec_b, pix_a = ra_a[keep][:n], dec_a[keep][:n], ra_b[keep][:n], dec_b[keep][:n], pix_a[keep][:n]
    low, high = np.zeros(len(ra_a)), np.ones(len(ra_a))
    for _ in range(45):  # the crossing point along each segment, to ~1e-9 of its 0.6 deg length
        mid = (low + high) / 2
        same = pixel_of(spatial_index(ra_a + mid * (ra_b - ra_a), dec_a + mid * (dec_b - dec_a)), order) == pix_a
        low, high = np.where(same, mid, low), np.where(same, high, mid)
    step = 0.5 / 3600 / 0.6  # 0.5 arcsec as a fraction of the segment
    stored = (ra_a + (low - step) * (ra_b - ra_a), dec_a + (low - step) * (dec_b - dec_a))
    survey = (ra_a + (high + step) * (ra_b - ra_a), dec_a + (high + step) * (dec_b - dec_a))
    return stored[0], stored[1], survey[0], survey[1]


def brute_force_pairs(stored: pd.DataFrame, ra: np.ndarray, dec: np.ndarray, radius: float) -> set[tuple[str, int]]:
    """Every (stored source_id, survey row) pair within `radius` arcsec, from a k-d tree on unit vectors."""
    from scipy.spatial import cKDTree

    def xyz(r, d):
        r, d = np.radians(r), np.radians(d)
        return np.column_stack([np.cos(d) * np.cos(r), np.cos(d) * np.sin(r), np.sin(d)])

    chord = 2 * np.sin(np.radians(radius / 3600) / 2)
    found = cKDTree(xyz(stored[RA], stored[DEC])).query_ball_point(xyz(ra, dec), chord)
    ids = stored[SOURCE_ID].astype(str).to_numpy()
    return {(ids[i], row) for row, hits in enumerate(found) for i in hits}


def test_lsdb_pairs_equal_brute_force_across_partition_edges_thanks_to_the_margin(dask_client, tmp_path):
    import lsdb

    from nepagn.columnmap import ColumnMap
    from nepagn.ingest import ingest
    from nepagn.simulate.footprint import sample_positions

    rng = np.random.default_rng(3)
    s_ra, s_dec, n_ra, n_dec = across_edges(200, rng)
    x_ra, x_dec = sample_positions(rng, 600)  # and sources anywhere, some with survey sources near them
    stored = pd.DataFrame({"id": [f"S{i:04d}" for i in range(800)], RA: np.r_[s_ra, x_ra], DEC: np.r_[s_dec, x_dec]})
    stored.to_parquet(tmp_path / "stored.parquet", index=False)
    (tmp_path / "map.toml").write_text('[columns]\nsource_id = "id"\nra = "ra"\ndec = "dec"\n')
    ingest(tmp_path / "stored.parquet", ColumnMap.load(tmp_path / "map.toml"), tmp_path / "store",
           max_rows_per_partition=40)
    jitter = rng.normal(0, 0.4, (2, 600)) / 3600
    ra = np.r_[n_ra, x_ra + jitter[0] / np.cos(np.radians(x_dec))]
    dec = np.r_[n_dec, x_dec + jitter[1]]
    pairs = candidate_pairs(tmp_path / "store", ra, dec, RADIUS, dask_client, 32, 40)
    found = set(zip(pairs[SOURCE_ID], pairs[SURVEY_ROW], strict=True))
    expected = brute_force_pairs(stored.rename(columns={"id": SOURCE_ID}), ra, dec, RADIUS)
    assert {(f"S{i:04d}", i) for i in range(200)} <= expected  # the 200 pairs across edges are real pairs
    assert found == expected
    assert (pairs[SEP] <= RADIUS).all()
    # the same crossmatch without the survey's margin cache loses pairs across edges: the margin finds them
    store = lsdb.open_catalog(str(tmp_path / "store"), columns=[SOURCE_ID, RA, DEC])
    frame = pd.DataFrame({SURVEY_ROW: np.arange(len(ra)), RA: ra, DEC: dec})
    no_margin = lsdb.from_dataframe(frame, ra_column=RA, dec_column=DEC, lowest_order=6, highest_order=6,
                                    margin_threshold=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rows = store.crossmatch(no_margin, n_neighbors=32, radius_arcsec=RADIUS, suffix_method="all_columns",
                                suffixes=("_a", "_b")).compute(progress_bar=False)
    missed = expected - set(zip(rows[f"{SOURCE_ID}_a"], rows[f"{SURVEY_ROW}_b"], strict=True))
    assert len(missed) >= 100 and all(int(source[1:]) < 200 for source, _ in missed)


def test_simulated_survey_has_its_own_ids_stated_scatter_and_truth(tiny_mock_store):
    mock = pd.read_parquet(tiny_mock_store.parent / "mock.parquet")
    config = SurveyConfig(scatter_arcsec=0.3, missed_fraction=0.05, split_fraction=0.04, extra_fraction=0.05,
                          blend_arcsec=40.0, label_fraction=0.5)  # wide blends: the tiny mock is sparse
    survey = simulate_survey(mock, config, seed=5)
    again = simulate_survey(mock, config, seed=5)
    pd.testing.assert_frame_equal(survey, again)
    assert not set(survey[ID_COLUMN]) & set(mock[SOURCE_ID]) and survey[ID_COLUMN].is_unique
    kinds = survey[TRUE_KIND].value_counts()
    single = survey[survey[TRUE_KIND] == "single"].merge(mock, left_on=TRUE_MATCH_ID, right_on=SOURCE_ID)
    d_dec = (single[DEC_COLUMN] - single[DEC]) * 3600
    d_ra = (single[RA_COLUMN] - single[RA]) * 3600 * np.cos(np.radians(single[DEC]))
    assert np.std(np.concatenate([d_ra, d_dec])) == pytest.approx(0.3, rel=0.1)
    detected = kinds["single"] + 2 * kinds["blend"]
    assert 1 - detected / len(mock) == pytest.approx(0.05, abs=0.02)
    assert kinds["companion"] / (kinds["single"] + kinds["blend"]) == pytest.approx(0.04, abs=0.015)
    assert kinds["extra"] == round(0.05 * (kinds["single"] + kinds["blend"]))
    assert kinds["blend"] >= 5 and survey.loc[survey[TRUE_KIND] == "blend", "TRUE_BLEND_ID"].ne("").all()
    assert survey.loc[survey[TRUE_KIND].isin(["companion", "extra"]), TRUE_MATCH_ID].eq("").all()
    assert {"VIS_MAG", "Y_MAG", "J_MAG", "H_MAG"} <= set(survey.columns)
    assert survey["H_MAG"].notna().mean() > 0.9
    labelled = survey["SPEC_CLASS"].isin(["AGN", "SFG"])
    truth = survey.loc[labelled, [TRUE_MATCH_ID, "SPEC_CLASS"]].merge(mock, left_on=TRUE_MATCH_ID, right_on=SOURCE_ID)
    assert len(truth) > 50 and (truth["SPEC_CLASS"] == truth["true_class"]).all()
    a, b = close_pairs(np.array([10.0, 10.0, 10.0005]), np.array([0.0, 0.0002, 0.0]), 1.0)
    assert (a.tolist(), b.tolist()) == ([0], [1])  # each source in at most one blend, closest first


def test_simulate_survey_command_writes_a_fits_survey_its_map_and_registry(tiny_mock_store, tmp_path, capsys,
                                                                           monkeypatch):
    from nepagn.columnmap import ColumnMap
    from nepagn.commands.simulate_survey import read_mock

    mock_path = tiny_mock_store.parent / "mock.parquet"
    out = tmp_path / "euclid.fits"
    args = ["simulate-survey", str(mock_path), "--out", str(out), "--seed", "7", "--label-fraction", "0.1"]
    assert main(args) == 0
    assert "--match-radius 1.5" in capsys.readouterr().out  # the command to add it, with 5x the scatter
    table = Table.read(out)
    table.convert_bytestring_to_unicode()
    table = table.to_pandas()
    expected = simulate_survey(read_mock(mock_path), SurveyConfig(label_fraction=0.1), seed=7)
    for name in (ID_COLUMN, TRUE_MATCH_ID, TRUE_KIND, "SPEC_CLASS"):
        column = table[name].fillna("").str.strip()  # empty strings come back from FITS as masked
        assert column.tolist() == expected[name].str.strip().tolist(), name
    np.testing.assert_allclose(table[RA_COLUMN], expected[RA_COLUMN], rtol=0, atol=1e-9)
    np.testing.assert_allclose(table["H_MAG"], expected["H_MAG"], rtol=1e-6)
    monkeypatch.setenv(EXTRA_BANDS_ENV, str(tmp_path / "euclid.bands.csv"))  # the map names the survey's bands
    cmap = ColumnMap.load(tmp_path / "euclid.columns.toml")
    assert cmap.name == SURVEY and {"euclid_vis", "euclid_h"} <= {band.id for band, _, _ in cmap.bands}
    assert main(args) == 2  # an existing survey is not overwritten without --overwrite
    assert "exists; pass --overwrite" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------------------
# the whole update on the tiny mock's catalogue


def write_survey(folder: Path, mock_path: Path, config: SurveyConfig, seed: int) -> dict[str, Path]:
    survey = simulate_survey(pd.read_parquet(mock_path), config, seed)
    paths = {"survey": folder / "survey.parquet", "map": folder / "survey.toml", "bands": folder / "bands.csv"}
    survey.to_parquet(paths["survey"], index=False)
    paths["map"].write_text(column_map_text(config, SURVEY))
    paths["bands"].write_text(registry_text(config))
    return paths


def fresh_catalogue(tiny_mock_store: Path, reference_build, folder: Path) -> tuple[Path, Path]:
    shutil.copytree(tiny_mock_store, folder / "store")
    shutil.copytree(reference_build.out_dir, folder / "out", symlinks=True)
    return folder / "store", folder / "out"


def tree_digest(root: Path) -> dict[str, str]:
    from nepagn.files import sha256_file

    return {str(p.relative_to(root)): (str(p.readlink()) if p.is_symlink() else sha256_file(p))
            for p in sorted(root.rglob("*")) if p.is_file() or p.is_symlink()}


def store_rows(store: Path) -> pd.DataFrame:
    return open_store(store).to_dask().compute().reset_index(drop=True)


@pytest.fixture(scope="module")
def appended(tiny_mock_store, reference_build, dask_client, tmp_path_factory):
    """Survey with labels added with --unmatched append: an interrupted try first, then the update, then again."""
    import os

    folder = tmp_path_factory.mktemp("crossmatch_append")
    paths = write_survey(folder, tiny_mock_store.parent / "mock.parquet", SurveyConfig(label_fraction=0.05), seed=2)
    store, out = fresh_catalogue(tiny_mock_store, reference_build, folder)
    options = MatchOptions(RADIUS, unmatched="append")
    before = {"out": tree_digest(out), "store": open_store(store).snapshot_id, "rows": store_rows(store)}
    saved = os.environ.get(EXTRA_BANDS_ENV)
    try:
        with pytest.raises(UpdateInterrupted):
            update_catalogue(store, out, paths["survey"], paths["map"], dask_client, band_registry=paths["bands"],
                             match=options, limit_partitions=1)
        interrupted = {"out": tree_digest(out), "store": open_store(store).snapshot_id,
                       "staging": list(folder.glob(".store.staging-*"))}
        first = update_catalogue(store, out, paths["survey"], paths["map"], dask_client, band_registry=paths["bands"],
                                 match=options)
        snapshot = open_store(store).snapshot_id
        index_text = (out / "versions.json").read_text()
        again = update_catalogue(store, out, paths["survey"], paths["map"], dask_client, match=options)
    finally:
        activate(None, dask_client)  # the session's workers (and this process) forget the survey's bands
        if saved is not None:
            os.environ[EXTRA_BANDS_ENV] = saved
    return {"store": store, "out": out, "paths": paths, "before": before, "interrupted": interrupted,
            "first": first, "again": again, "snapshot": snapshot, "index_text": index_text}


def test_matched_survey_recovers_the_simulated_truth(appended):
    quality = match_quality(appended["store"], appended["paths"]["survey"], SURVEY)
    assert quality["completeness"] >= 0.98, quality
    assert quality["false_match_rate"] <= 0.02, quality
    assert quality["by_kind"]["single"]["attached_correctly"] >= 0.99 * quality["by_kind"]["single"]["survey_sources"]
    extras = quality["by_kind"]["extra"]["survey_sources"]
    assert quality["duplicate_rate"] <= 0.02 and quality["appended"] >= 0.9 * extras
    fits = appended["store"].parent / "survey.fits"  # the same survey as FITS (byte strings, masked empties)
    Table.from_pandas(pd.read_parquet(appended["paths"]["survey"])).write(fits)
    assert match_quality(appended["store"], fits, SURVEY) == quality


def test_match_quality_command_prints_the_same_json(appended, capsys):
    survey = appended["paths"]["survey"]
    assert main(["evaluate", "match-quality", str(appended["store"]), str(survey), "--survey", SURVEY]) == 0
    assert json.loads(capsys.readouterr().out) == match_quality(appended["store"], survey, SURVEY)


def test_every_survey_source_has_one_outcome_and_the_counts_are_recorded(appended):
    record = appended["first"].crossmatch
    counts = record["counts"]
    table = pq.read_table(appended["store"] / record["match_table"]).to_pandas()
    survey = pd.read_parquet(appended["paths"]["survey"])
    assert sorted(table[f"{SURVEY}_id"]) == sorted(survey[ID_COLUMN]) and len(table) == counts["survey_rows"]
    outcomes = table["outcome"].value_counts().to_dict()
    assert outcomes == {k: counts[k] for k in ("matched", "secondary", "appended") if counts[k]}
    assert counts["matched"] + counts["attached"] + counts["secondary"] + counts["appended"] + counts["left_out"] \
        == counts["survey_rows"]
    assert counts["secondary"] > 0 and counts["stored_sources_with_several_survey_candidates"] > 0
    rows = store_rows(appended["store"])
    carrying = rows[rows[f"{SURVEY}_id"].notna()]
    assert carrying[f"{SURVEY}_id"].is_unique  # no survey source on two rows
    secondary = set(table.loc[table["outcome"] == "secondary", f"{SURVEY}_id"])
    assert not secondary & set(carrying[f"{SURVEY}_id"])  # neither attached nor appended
    matched = table[table["outcome"] == "matched"].set_index(f"{SURVEY}_id")
    stored = carrying.set_index(f"{SURVEY}_id").loc[matched.index]
    assert (stored[SOURCE_ID].to_numpy() == matched[SOURCE_ID].to_numpy()).all()
    np.testing.assert_allclose(stored[f"{SURVEY}_sep_arcsec"], matched["sep_arcsec"])
    assert (stored[f"{SURVEY}_sep_arcsec"] <= RADIUS).all() and (stored[f"{SURVEY}_n_candidates"] >= 1).all()
    entry = load_index(appended["out"])["versions"][1]
    recorded = entry["inputs"][0]["crossmatch"]
    assert recorded["counts"] == counts and recorded["radius_arcsec"] == RADIUS and recorded["survey"] == SURVEY
    assert recorded["astrometric_offset_arcsec"] == {"east": 0.0, "north": 0.0}
    assert abs(recorded["residual_offset_arcsec"]["east"]) < 0.05
    provenance = json.loads((appended["out"] / "current" / "provenance.json").read_text())
    assert provenance["input"]["update"]["crossmatch"]["counts"] == counts
    inputs = json.loads((appended["store"] / "nepagn_inputs.json").read_text())
    assert inputs[-1]["crossmatch"]["match_table"] == record["match_table"]


def test_appended_rows_are_flagged_and_matched_rows_gain_bands_and_labels(appended):
    rows = store_rows(appended["store"]).set_index(SOURCE_ID)
    before = appended["before"]["rows"].set_index(SOURCE_ID)
    new = rows.index.difference(before.index)
    assert len(new) == appended["first"].crossmatch["counts"]["appended"] > 0
    assert (rows.loc[new, ORIGIN_SURVEY] == SURVEY).all() and rows.loc[new].index.str.startswith(f"{SURVEY}:").all()
    assert rows.loc[before.index, ORIGIN_SURVEY].isna().all()
    survey = pd.read_parquet(appended["paths"]["survey"]).set_index(ID_COLUMN)
    matched = rows[rows[f"{SURVEY}_id"].notna() & rows[ORIGIN_SURVEY].isna()]
    np.testing.assert_allclose(matched["euclid_h_mag"], survey.loc[matched[f"{SURVEY}_id"], "H_MAG"], rtol=1e-6)
    np.testing.assert_array_equal(matched[RA], before.loc[matched.index, RA])  # stored positions are kept
    labelled = survey.loc[matched[f"{SURVEY}_id"], "SPEC_CLASS"].isin(["AGN", "SFG"]).to_numpy()
    assert labelled.sum() > 10
    assert (matched.loc[labelled, LABEL].to_numpy() == survey.loc[matched[f"{SURVEY}_id"][labelled], "SPEC_CLASS"]
            .to_numpy()).all()
    assert (matched.loc[labelled, LABEL_SOURCE] == SURVEY).all()
    kept = matched.index[~labelled]  # no class in the survey: the stored label stays (a null never erases)
    same = before.loc[kept, LABEL].fillna("") == matched.loc[kept, LABEL].fillna("")
    assert same.all()


def test_crossmatched_store_reads_in_lsdb_and_exports_to_fits(appended, tmp_path):
    import lsdb

    catalog = lsdb.open_catalog(str(appended["store"]), columns=[SOURCE_ID, f"{SURVEY}_id", f"{SURVEY}_sep_arcsec",
                                                                 f"{SURVEY}_n_candidates", "euclid_h_mag"])
    frame = catalog.compute(progress_bar=False)
    assert len(frame) == open_store(appended["store"]).num_rows
    assert frame[f"{SURVEY}_id"].notna().sum() == appended["first"].crossmatch["counts"]["matched"] \
        + appended["first"].crossmatch["counts"]["appended"]
    cone = lsdb.open_catalog(str(appended["store"]), search_filter=lsdb.ConeSearch(270.0, 66.56, 1800.0))
    assert 0 < len(cone.compute(progress_bar=False)) < len(frame)
    assert main(["export", str(appended["store"]), "--out", str(tmp_path / "store.fits"),
                 "--select", f"{SOURCE_ID},{SURVEY}_id,{SURVEY}_sep_arcsec,{SURVEY}_n_candidates"]) == 0
    table = Table.read(tmp_path / "store.fits")
    assert str(table[f"{SURVEY}_sep_arcsec"].unit) == "arcsec"
    assert np.ma.count_masked(table[f"{SURVEY}_n_candidates"]) == (frame[f"{SURVEY}_n_candidates"].isna()).sum()


def test_only_partitions_with_new_rows_or_labels_were_recomputed_and_rerun_is_a_no_op(appended):
    entry = load_index(appended["out"])["versions"][1]
    rows = store_rows(appended["store"])
    before = appended["before"]["rows"].set_index(SOURCE_ID)
    known = rows[SOURCE_ID].isin(before.index)
    relabelled = known.copy()
    relabelled[known] = False
    for column in (LABEL, LABEL_SOURCE):  # catalogue inputs a survey's spectroscopic class changes
        relabelled[known] |= (rows.loc[known, column].fillna("").to_numpy()
                              != before.loc[rows.loc[known, SOURCE_ID], column].fillna("").to_numpy())
    store = open_store(appended["store"])
    version0 = load_index(appended["out"])["versions"][0]["partitions"]
    previous = {tuple(int(x) for x in key.split("/")) for key in version0}
    touched = set()
    for partition in store.partitions:
        ids = set(store.read_partition(partition, [SOURCE_ID])[SOURCE_ID])
        key = (partition.order, partition.pixel)
        if ids & set(rows.loc[~known | relabelled, SOURCE_ID]) or key not in previous:  # or a split's child
            touched.add(key)
    assert {tuple(k) for k in entry["partitions_computed"]} == touched
    assert len(entry["partitions_reused"]) > 0
    assert entry["new_bands"] == ["euclid_vis", "euclid_y", "euclid_j", "euclid_h"]
    again = appended["again"]
    assert not again.created and again.computed == []
    assert again.crossmatch["counts"]["attached"] == appended["first"].crossmatch["counts"]["matched"] \
        + appended["first"].crossmatch["counts"]["appended"]
    assert open_store(appended["store"]).snapshot_id == appended["snapshot"]
    assert (appended["out"] / "versions.json").read_text() == appended["index_text"]


def test_interrupted_match_update_leaves_store_and_catalogue_as_they_were(appended):
    interrupted, before = appended["interrupted"], appended["before"]
    index_files = ("versions.json", "current")  # any first update indexes version 0, the catalogue as built
    assert {k: v for k, v in interrupted["out"].items() if k not in index_files} == before["out"]
    assert interrupted["out"]["current"] == "."
    assert interrupted["store"] == before["store"] and interrupted["staging"] == []


def test_bands_only_survey_left_out_unmatched_recomputes_nothing(tiny_mock_store, reference_build, dask_client,
                                                                 tmp_path, monkeypatch):
    monkeypatch.delenv(EXTRA_BANDS_ENV, raising=False)
    paths = write_survey(tmp_path, tiny_mock_store.parent / "mock.parquet",
                         SurveyConfig(offset_arcsec=(0.8, -0.5)), seed=4)
    store, out = fresh_catalogue(tiny_mock_store, reference_build, tmp_path)
    rows_before = open_store(store).num_rows
    try:
        result = update_catalogue(store, out, paths["survey"], paths["map"], dask_client,
                                  band_registry=paths["bands"], match=MatchOptions(RADIUS, offset_arcsec=(0.8, -0.5)))
    finally:
        activate(None, dask_client)
    counts = result.crossmatch["counts"]
    assert result.created and result.computed == [] and open_store(store).num_rows == rows_before
    assert counts["left_out"] > 0 and counts["appended"] == 0
    assert ORIGIN_SURVEY not in open_store(store).columns
    quality = match_quality(store, paths["survey"], SURVEY)
    assert quality["completeness"] >= 0.98 and quality["false_match_rate"] <= 0.02, quality
    residual = result.crossmatch["residual_offset_arcsec"]  # the given offset was removed before matching
    assert abs(residual["east"]) < 0.05 and abs(residual["north"]) < 0.05
    assert result.crossmatch["astrometric_offset_arcsec"] == {"east": 0.8, "north": -0.5}


def test_match_arguments_are_checked_before_anything_is_touched(tiny_mock_store, reference_build, dask_client,
                                                                tmp_path, capsys):
    store, out = fresh_catalogue(tiny_mock_store, reference_build, tmp_path)
    labels_map = tmp_path / "labels.toml"
    labels_map.write_text('name = "spec"\n[columns]\nsource_id = "id"\n[label]\nfrom = "c"\nAGN = ["AGN"]\n'
                          'SFG = ["SFG"]\n')
    pd.DataFrame({"id": ["x"], "c": ["AGN"]}).to_csv(tmp_path / "labels.csv", index=False)
    base = ["update", "--store", str(store), "--catalogue", str(out), "--add", str(tmp_path / "labels.csv"),
            "--columns", str(labels_map), "--scheduler", dask_client.scheduler.address, "--quiet"]
    before = open_store(store).snapshot_id
    for extra, message in ((["--unmatched", "append"], "add --match-radius"),
                           (["--match-radius", "0"], "--match-radius must be > 0"),
                           (["--match-radius", "1", "--survey", "Euclid DR1"], "survey name 'Euclid DR1'"),
                           (["--match-radius", "1", "--survey", "source"], "nepagn already uses"),
                           (["--match-radius", "1"], "needs ra and dec")):
        code = main(base + extra)
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and message in err[0], (extra, err)
    assert open_store(store).snapshot_id == before and not (out / "versions").exists()
