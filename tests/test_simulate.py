"""The mock NEP-Wide catalogue: sample sizes, schema, determinism, observation model, coverage, science, writers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from nepagn import cli
from nepagn.bands import load_registry
from nepagn.schema import canonical_columns
from nepagn.simulate import (
    catalogue,
    footprint,
    group_counts,
    iter_catalogue_chunks,
    simulate_catalogue,
    write_catalogue,
)

BANDS = load_registry()


@pytest.fixture(scope="module")
def default_mock() -> pd.DataFrame:
    """The catalogue at the paper's size (91,861 sources), simulated once for the module."""
    return simulate_catalogue()


@pytest.fixture(scope="module")
def small_mock() -> pd.DataFrame:
    return simulate_catalogue(3000, seed=1)


def _flagged_star(frame: pd.DataFrame) -> pd.Series:
    return frame["chi2_gal"] > frame["chi2_star"]


def test_sample_sizes_at_default_size_match_the_paper(default_mock):
    m = default_mock
    assert len(m) == 91_861
    assert (m["label"] == "SFG").sum() == 1_615
    assert (m["label"] == "AGN").sum() == 255
    unlabelled = m["label"].isna()
    has_z = m["z_spec"].notna() | m["z_phot"].notna()
    assert (unlabelled & has_z).sum() == 89_343
    assert (unlabelled & has_z & _flagged_star(m)).sum() == 23_795
    assert (unlabelled & has_z & ~_flagged_star(m)).sum() == 65_548
    assert (~has_z).sum() == 648
    assert m.loc[m["label"].notna(), "z_spec"].notna().all()


def test_sample_sizes_scale_with_n_sources():
    counts = group_counts(10_000)
    assert sum(counts.values()) == 10_000
    assert counts["labelled_agn"] == round(10_000 * 255 / 91_861)
    assert counts["star_flagged"] == round(10_000 * 23_795 / 91_861)


def test_schema_order_and_dtypes(small_mock):
    expected = canonical_columns(BANDS, with_truth=True)
    assert list(small_mock.columns) == [c.name for c in expected]
    for column in expected:
        assert str(small_mock[column.name].dtype).startswith(column.dtype) or (
            column.dtype == "string" and isinstance(small_mock[column.name].dtype, pd.StringDtype)
        ), column.name
    assert small_mock["source_id"].is_unique
    assert set(small_mock["label"].dropna()) <= {"AGN", "SFG"}
    assert set(small_mock["label_source"].dropna()) <= {"spec", "xray"}
    assert set(small_mock["true_class"]) == {"AGN", "SFG", "star"}
    assert small_mock["label"].isna().equals(small_mock["label_source"].isna())


def test_deterministic_per_seed_and_seeds_differ():
    first = simulate_catalogue(1500, seed=7)
    pd.testing.assert_frame_equal(first, simulate_catalogue(1500, seed=7))
    other = simulate_catalogue(1500, seed=8)
    assert not np.allclose(first["ra"], other["ra"])


def test_chunks_concatenate_to_the_whole_catalogue(monkeypatch):
    monkeypatch.setattr(catalogue, "BLOCK_ROWS", 1000)  # several generation blocks in a small test
    whole = simulate_catalogue(2500, seed=3)
    chunks = list(iter_catalogue_chunks(2500, seed=3, chunk_rows=700))
    assert [len(c) for c in chunks] == [700, 700, 700, 400]
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)


def test_blocks_simulated_on_the_cluster_give_the_same_catalogue(monkeypatch, dask_client):
    """build-catalogue simulates the mock's blocks on its workers while the client loads TensorFlow: the catalogue
    (and so the mock file a rerun reuses) is the one this process simulates, and the client's own work runs once."""
    monkeypatch.setattr(catalogue, "BLOCK_ROWS", 1000)  # the plan is made here: three blocks, one task each
    done_here = []
    on_cluster = simulate_catalogue(2500, seed=3, client=dask_client, meanwhile=lambda: done_here.append(True))
    pd.testing.assert_frame_equal(on_cluster, simulate_catalogue(2500, seed=3))
    assert done_here == [True]
    with pytest.raises(ValueError, match="seed must be >= 0"):
        simulate_catalogue(2500, seed=-1, client=dask_client)


def test_errors_follow_each_band_depth(small_mock):
    for band in BANDS:
        mag = small_mock[band.mag_column].to_numpy(float)
        err = small_mock[band.err_column].to_numpy(float)
        detected = ~np.isnan(mag)
        assert np.array_equal(detected, ~np.isnan(err)), band.id
        if not detected.any():
            continue
        assert (mag[detected] <= band.depth_ab + 1e-4).all(), band.id
        snr = 5.0 * 10.0 ** (-0.4 * (mag[detected] - band.depth_ab))
        np.testing.assert_allclose(err[detected], np.hypot(1.0857 / snr, 0.003), rtol=1e-3, err_msg=band.id)
    near_depth = []
    for band in BANDS:
        mag, err = small_mock[band.mag_column], small_mock[band.err_column]
        near_depth.append(err[(mag > band.depth_ab - 0.05)])
    assert np.median(pd.concat(near_depth)) == pytest.approx(0.217, abs=0.01)


def test_missing_bands_follow_survey_coverage(small_mock):
    covered = footprint.coverage(small_mock["ra"].to_numpy(), small_mock["dec"].to_numpy(), BANDS)
    detected = small_mock[[b.mag_column for b in BANDS]].notna().to_numpy()
    assert not (detected & ~covered).any()
    hsc_i = [b.id for b in BANDS].index("hsc_i")
    wircam = [b.id for b in BANDS].index("wircam_j")
    assert 0.8 < covered[:, hsc_i].mean() < 0.99 and covered[:, wircam].mean() < 0.3
    assert detected[covered[:, hsc_i], hsc_i].mean() > 0.9  # HSC is deep: missing mostly means not covered
    akari = [i for i, b in enumerate(BANDS) if b.facility == "AKARI"]
    assert detected[:, akari].any(axis=1).all()  # the catalogue is AKARI-selected


def test_positions_inside_the_nep_wide_field(small_mock):
    x, y = footprint.to_tangent_plane(small_mock["ra"].to_numpy(), small_mock["dec"].to_numpy())
    radius = np.hypot(x, y)
    assert radius.max() <= footprint.FIELD_RADIUS_DEG + 1e-6
    assert np.pi * footprint.FIELD_RADIUS_DEG**2 == pytest.approx(5.4)
    assert np.median(radius) == pytest.approx(footprint.FIELD_RADIUS_DEG / np.sqrt(2), rel=0.05)


def test_chi2_separates_stars_mostly_but_not_perfectly(default_mock):
    m = default_mock[default_mock["label"].isna() & default_mock["z_phot"].notna()]
    flagged = _flagged_star(m)
    star = m["true_class"] == "star"
    assert 0.95 < star[flagged].mean() < 1.0
    assert 0.0 < star[~flagged].mean() < 0.03


def test_labelled_sources_are_biased_bright(default_mock):
    m = default_mock
    galaxies = m["true_class"] != "star"
    labelled = m["label"].notna()
    assert m.loc[labelled, "hsc_r_mag"].median() < m.loc[galaxies & ~labelled, "hsc_r_mag"].median() - 1.0


def test_photometric_redshifts_have_realistic_scatter(default_mock):
    lab = default_mock[default_mock["label"] == "SFG"]
    dz = (lab["z_phot"] - lab["z_spec"]) / (1.0 + lab["z_spec"])
    nmad = 1.4826 * np.median(np.abs(dz - np.median(dz)))
    assert 0.01 < nmad < 0.1
    assert 0.01 < (np.abs(dz) > 0.15).mean() < 0.15


def test_agn_and_sfg_differ_in_mid_ir_colour_but_overlap(default_mock):
    lab = default_mock[default_mock["label"].notna()]
    colour = lab["akari_n2_mag"] - lab["akari_n4_mag"]
    agn, sfg = colour[lab["label"] == "AGN"].dropna(), colour[lab["label"] == "SFG"].dropna()
    assert agn.median() - sfg.median() > 0.4  # AGN hot dust makes N2-N4 red
    assert (agn < sfg.quantile(0.9)).mean() > 0.1  # host-dominated AGN look like SFGs
    irac = lab["irac1_mag"] - lab["irac2_mag"]
    assert irac[lab["label"] == "AGN"].median() > irac[lab["label"] == "SFG"].median()


def test_classification_is_possible_but_not_trivial(default_mock):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    lab = default_mock[default_mock["label"].notna()]
    photometry = lab[[c for c in lab.columns if c.endswith(("_mag", "_magerr"))]]
    features = photometry.loc[:, photometry.notna().sum() >= 50].to_numpy()  # bands seen in the labelled set
    target = (lab["label"] == "AGN").to_numpy()
    from threadpoolctl import threadpool_limits

    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    with threadpool_limits(1):  # OpenMP on a shared 2-core CI machine oversubscribes badly
        model = HistGradientBoostingClassifier(max_iter=100, random_state=0)
        auc = cross_val_score(model, features, target, cv=folds, scoring="roc_auc")
    assert 0.80 < auc.mean() < 0.96, auc


@pytest.mark.parametrize("suffix", [".parquet", ".fits", ".csv"])
def test_cli_writes_files_that_standard_readers_open(tmp_path, suffix):
    out = tmp_path / f"mock{suffix}"
    status = cli.main(["simulate", "--n-sources", "1200", "--seed", "2", "--out", str(out), "--chunk-rows", "500",
                       "--no-progress"])
    assert status == 0 and out.is_file()
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left behind
    expected = simulate_catalogue(1200, seed=2)
    if suffix == ".parquet":
        table = pq.read_table(out)
        assert table.num_rows == 1200 and table.column_names == list(expected.columns)
        assert b"IVOA.VOTable-Parquet.content" in table.schema.metadata
        import io

        from astropy.io import votable
        from astropy.table import Table

        # astropy 8's parquet.votable reader cannot read null strings (label), so read the VOParquet header itself
        header = Table.read(votable.parse(io.BytesIO(table.schema.metadata[b"IVOA.VOTable-Parquet.content"])))
        assert header.colnames == list(expected.columns)
        assert str(header["hsc_i_mag"].unit) == "mag" and str(header["ra"].unit) == "deg"
        np.testing.assert_array_equal(table["hsc_i_mag"].to_numpy(zero_copy_only=False), expected["hsc_i_mag"])
    elif suffix == ".fits":
        from astropy.table import Table

        table = Table.read(out)
        assert len(table) == 1200 and str(table["akari_n2_mag"].unit) == "mag"
        np.testing.assert_allclose(np.asarray(table["dec"]), expected["dec"])
    else:
        frame = pd.read_csv(out)
        assert frame.shape == expected.shape
        np.testing.assert_allclose(frame["akari_n2_mag"], expected["akari_n2_mag"], rtol=1e-6)
        assert frame["source_id"].tolist() == expected["source_id"].tolist()


def test_cli_rejects_unknown_extension_with_one_line(tmp_path, capsys):
    status = cli.main(["simulate", "--n-sources", "100", "--out", str(tmp_path / "mock.xlsx")])
    assert status == 2
    assert "unsupported output extension" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_leaves_nothing(tmp_path):
    def failing_chunks():
        yield simulate_catalogue(200, seed=0)
        raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError):
        write_catalogue(failing_chunks(), tmp_path / "mock.parquet")
    assert list(tmp_path.iterdir()) == []


def test_cli_draws_the_mock_figures_beside_the_catalogue(tmp_path):
    figures = tmp_path / "figures"
    assert cli.main(["simulate", "--n-sources", "3000", "--out", str(tmp_path / "mock.parquet"), "--figures",
                     str(figures), "--no-progress"]) == 0
    names = sorted(path.name for path in figures.iterdir())
    assert names == ["mock_colours.png", "mock_coverage.png", "mock_detected_fraction.png", "mock_redshift.png"]
    assert all((figures / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for name in names)

