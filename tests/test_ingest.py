"""Ingest: every input format, Dask or in-process, validation errors, quarantine, row conservation, real sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from frame_checks import assert_same_rows

from nepagn.cli import main
from nepagn.columnmap import ColumnMap
from nepagn.errors import InputError, NepagnError
from nepagn.ingest import ingest, spatial_alignment
from nepagn.readers import plan_chunks, read_chunk
from nepagn.resources import catalogs_dir
from nepagn.store import open_store, pixel_of, spatial_index

MAP = """
name = "survey"
missing = [99, -99]

[columns]
source_id = "ID"
ra = "RAJ2000"
dec = "DEJ2000"
z_spec = { from = "zsp", missing = [-0.999] }

[label]
from = "cls"
AGN = [1]
SFG = [0]
unlabelled = [-1]

[bands]
hsc_g = { mag = "g", err = "g_err" }
akari_n2 = { mag = "N2", err = "N2_err" }
"""


@pytest.fixture
def cmap(tmp_path) -> ColumnMap:
    path = tmp_path / "survey.toml"
    path.write_text(MAP)
    return ColumnMap.load(path)


def survey(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """A foreign-named survey catalogue around the NEP with sentinels, gaps and labels."""
    rng = np.random.default_rng(seed)
    g = rng.normal(23, 1, n).round(3)
    g[rng.random(n) < 0.1] = 99.0
    n2 = rng.normal(19, 1, n).round(3)
    n2[rng.random(n) < 0.3] = np.nan
    return pd.DataFrame(
        {
            "ID": [f"NEP{i:06d}" for i in range(n)],
            "RAJ2000": (270.0 + rng.normal(0, 1.2, n)).round(7),
            "DEJ2000": (66.56 + rng.normal(0, 0.45, n)).round(7),
            "zsp": np.where(rng.random(n) < 0.8, -0.999, rng.uniform(0, 3, n).round(4)),
            "cls": rng.choice([1, 0, -1], n, p=[0.05, 0.15, 0.8]),
            "g": g,
            "g_err": np.where(g == 99.0, 99.0, rng.uniform(0.01, 0.2, n).round(4)),
            "N2": n2,
            "N2_err": np.where(np.isnan(n2), np.nan, 0.05),
        }
    )


def write_input(frame: pd.DataFrame, path):
    """The survey frame as Parquet, CSV, FITS or VOTable, by suffix."""
    from astropy.table import Table

    suffix = path.name.split(".", 1)[1]
    if suffix == "parquet":
        frame.to_parquet(path, row_group_size=700)
    elif suffix == "csv":
        frame.to_csv(path, index=False)
    elif suffix == "fits":
        Table.from_pandas(frame).write(path)
    else:
        Table.from_pandas(frame).write(path, format="votable")
    return path


def store_frame(store_path) -> pd.DataFrame:
    store = open_store(store_path)
    return pd.concat([store.read_partition(p) for p in store.partitions], ignore_index=True)


@pytest.mark.parametrize("suffix", ["parquet", "csv", "fits", "vot"])
def test_every_format_ingests_to_the_same_rows(tmp_path, cmap, suffix):
    raw = survey()
    source = write_input(raw, tmp_path / f"survey.{suffix}")
    report = ingest(source, cmap, tmp_path / "store", max_rows_per_partition=800, chunk_rows=1000)
    assert report.rows_read == report.rows_written == len(raw) and report.rows_quarantined == 0
    store = open_store(tmp_path / "store")
    assert max(p.num_rows for p in store.partitions) <= 800 and len(report.orders) >= 1
    got = store_frame(tmp_path / "store")
    assert_same_rows(got.drop(columns=["_healpix_29"]), cmap.apply(raw))
    assert np.isnan(got.loc[got["source_id"] == "NEP000000", "z_spec"]).all() == (raw["zsp"][0] == -0.999)
    assert (pixel_of(got["_healpix_29"], 29) == spatial_index(got["ra"], got["dec"])).all()


def test_lsdb_pandas_and_pyarrow_read_the_ingested_rows(tmp_path, cmap):
    import lsdb
    import pyarrow.dataset as ds

    raw = survey(2000, seed=3)
    ingest(write_input(raw, tmp_path / "in.parquet"), cmap, tmp_path / "store", max_rows_per_partition=500)
    expected = cmap.apply(raw)
    assert_same_rows(lsdb.open_catalog(tmp_path / "store").compute()[list(expected.columns)], expected)
    assert_same_rows(pd.read_parquet(tmp_path / "store" / "dataset")[list(expected.columns)], expected)
    via_arrow = ds.dataset(tmp_path / "store" / "dataset", format="parquet").to_table().to_pandas()
    assert_same_rows(via_arrow[list(expected.columns)], expected)


def test_dask_ingest_is_identical_to_in_process(tmp_path, cmap, dask_client):
    source = write_input(survey(), tmp_path / "in.parquet")
    ingest(source, cmap, tmp_path / "local", max_rows_per_partition=700, chunk_rows=300)
    report = ingest(source, cmap, tmp_path / "dask", max_rows_per_partition=700, chunk_rows=300, client=dask_client)
    assert report.rows_written == 3000
    assert open_store(tmp_path / "dask").snapshot_id == open_store(tmp_path / "local").snapshot_id


def _set(column, rows, value):
    def edit(frame):
        frame[column] = frame[column].astype(object)
        frame.loc[rows, column] = value
        return frame

    return edit


@pytest.mark.parametrize(
    "edit, column, rows, message",
    [
        (_set("RAJ2000", [1, 2, 3], 400.0), "ra", 3, "RA"),
        (_set("DEJ2000", [5], -95.0), "dec", 1, "Dec"),
        (_set("RAJ2000", [6, 7], np.nan), "ra/dec", 2, "position missing"),
        (_set("ID", [2500], "NEP000010"), "source_id", 2, "duplicate source ids"),
        (_set("ID", [4], np.nan), "source_id", 1, "source id missing"),
        (_set("g", [8, 9], 55.0), "hsc_g_mag", 2, "AB magnitude outside"),
        (_set("N2_err", [0], -0.1), "akari_n2_magerr", 1, "magnitude error"),
        (_set("N2", [11, 12, 13], "bright"), "N2", 3, "non-numeric"),
        (_set("cls", [14], 5), "cls", 1, "label value"),
    ],
)
def test_bad_input_fails_with_file_column_and_rows(tmp_path, cmap, edit, column, rows, message):
    source = write_input(edit(survey()), tmp_path / "bad.csv")
    with pytest.raises(InputError, match=message) as error:
        ingest(source, cmap, tmp_path / "store", chunk_rows=1000)
    assert (error.value.column, error.value.rows) == (column, rows)
    assert str(source) in str(error.value)
    assert not (tmp_path / "store").exists()  # nothing left behind that could look like a store


def test_missing_input_column_fails_before_reading(tmp_path, cmap):
    source = write_input(survey().drop(columns=["N2_err"]), tmp_path / "bad.parquet")
    with pytest.raises(InputError, match="does not have") as error:
        ingest(source, cmap, tmp_path / "store")
    assert error.value.column == "N2_err"


def test_quarantine_keeps_every_row_accounted_for(tmp_path, cmap):
    raw = survey()
    raw.loc[[1, 2], "RAJ2000"] = 400.0
    raw.loc[2500, "ID"] = "NEP000010"
    raw["N2"] = raw["N2"].astype(object)
    raw.loc[11, "N2"] = "bright"
    source = write_input(raw, tmp_path / "bad.csv")
    quarantine = tmp_path / "rejected.csv"
    report = ingest(source, cmap, tmp_path / "store", chunk_rows=1000, quarantine_path=quarantine)
    rejected = pd.read_csv(quarantine)
    assert sorted(rejected["input_row"]) == [1, 2, 10, 11, 2500]
    assert report.rows_quarantined == 5 and report.rows_written == 2995
    assert report.rows_written + report.rows_quarantined == report.rows_read == len(raw)
    reasons = dict(zip(rejected["input_row"], rejected["reason"], strict=True))
    assert "RA" in reasons[1] and "duplicate" in reasons[10] and "duplicate" in reasons[2500]
    assert "non-numeric" in reasons[11]
    stored = store_frame(tmp_path / "store")
    assert len(stored) == 2995 and "NEP000010" not in set(stored["source_id"])


def test_quarantine_reasons_quote_each_rows_own_value(tmp_path, cmap):
    """Each quarantined row's reason quotes its own bad value (not the column's first), the raw text included."""
    raw = survey(400)
    raw["RAJ2000"] = raw["RAJ2000"].astype(object)
    raw.loc[[3, 7], "RAJ2000"] = [400.0, -5.0]
    raw["N2"] = raw["N2"].astype(object)
    raw.loc[[11, 12], "N2"] = ["bright", "n/a?"]
    raw.loc[[20, 21], "cls"] = [5, 7]
    source = write_input(raw, tmp_path / "bad.csv")
    ingest(source, cmap, tmp_path / "store", quarantine_path=tmp_path / "rejected.parquet")
    reasons = pd.read_parquet(tmp_path / "rejected.parquet").set_index("input_row")["reason"]
    assert reasons[3] == "column 'ra': RA (deg) outside [0, 360], got 400.0"
    assert reasons[7] == "column 'ra': RA (deg) outside [0, 360], got -5.0"
    assert reasons[11] == "column 'N2': non-numeric values (for akari_n2_mag), got 'bright'"
    assert reasons[12] == "column 'N2': non-numeric values (for akari_n2_mag), got 'n/a?'"
    assert reasons[20].endswith("got '5'") and reasons[21].endswith("got '7'") and "label value" in reasons[21]


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_damaged_gzip_input_is_a_one_line_error(tmp_path, cmap, dask_client, capsys, damage):
    """A truncated (EOFError) or corrupt (zlib.error / BadGzipFile) .csv.gz: exit 2, one line, no store left."""
    import gzip

    data = gzip.compress(survey(3000).to_csv(index=False).encode())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:  # the first deflate block damaged: zlib.error (not an OSError) while even the header is read
        data = data[:20] + bytes(b ^ 0x5A for b in data[20:84]) + data[84:]
    source = tmp_path / "survey.csv.gz"
    source.write_bytes(data)
    for extra in (["--in-process"], ["--scheduler", dask_client.scheduler.address]):  # the error crosses from a worker
        out = tmp_path / f"store{len(extra)}"
        assert main(["ingest", str(source), "--columns", str(cmap.path), "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"nepagn ingest: error: {source}: cannot read as csv"), err
        assert not out.exists()


def test_failed_reingest_leaves_the_old_store_intact(tmp_path, cmap):
    good = write_input(survey(), tmp_path / "good.parquet")
    ingest(good, cmap, tmp_path / "store")
    before = open_store(tmp_path / "store").snapshot_id
    with pytest.raises(NepagnError, match="not empty"):
        ingest(good, cmap, tmp_path / "store")
    bad = write_input(_set("DEJ2000", [5], -95.0)(survey()), tmp_path / "bad.csv")
    with pytest.raises(InputError):
        ingest(bad, cmap, tmp_path / "store", overwrite=True)
    assert open_store(tmp_path / "store").snapshot_id == before


def test_spatial_alignment_is_lowest_order_under_threshold():
    rng = np.random.default_rng(1)
    healpix = spatial_index(270 + rng.normal(0, 1, 20000), 66.5 + rng.normal(0, 0.4, 20000))
    partitions = spatial_alignment(healpix, 1500)
    assert sum(rows for _, _, rows in partitions) == 20000
    assert max(rows for _, _, rows in partitions) <= 1500
    for order, pixel, rows in partitions:
        assert rows == int((pixel_of(healpix, order) == pixel).sum())
        if order > 0:  # the parent pixel would have been too big
            assert int((pixel_of(healpix, order - 1) == pixel >> 2).sum()) > 1500


def test_csv_byte_chunks_read_every_row_once(tmp_path):
    raw = survey(500)
    source = write_input(raw, tmp_path / "in.csv")
    chunks = plan_chunks(source, chunk_bytes=997)
    assert len(chunks) > 10
    back = pd.concat([read_chunk(chunk) for chunk in chunks], ignore_index=True)
    assert back["ID"].tolist() == raw["ID"].tolist()


def test_real_sample_ingests_without_positions(tmp_path, poliszczuk_csv):
    import lsdb

    cmap = ColumnMap.load(catalogs_dir() / "columns" / "poliszczuk2021.toml")
    report = ingest(poliszczuk_csv, cmap, tmp_path / "store", max_rows_per_partition=500)
    assert report.rows_written == 1547 and not report.positions and report.partitions == 4
    store = open_store(tmp_path / "store")
    assert not store.has_positions and store.num_rows == 1547 and len(store.bands) == 14
    frame = store_frame(tmp_path / "store")
    ids = pd.read_csv(poliszczuk_csv, usecols=["AKR_ID"])["AKR_ID"].astype(str).tolist()
    assert frame["source_id"].tolist() == ids  # input order kept
    assert frame["label"].value_counts().to_dict() == {"SFG": 1348, "AGN": 199}
    assert frame["ra"].isna().all() and frame["_healpix_29"].is_unique
    assert len(lsdb.open_catalog(tmp_path / "store").compute()) == 1547


def test_mock_catalogue_ingests_with_the_mock_map(tmp_path):
    from nepagn.simulate import simulate_catalogue  # a broken import must fail here, not skip

    mock = simulate_catalogue(1500, seed=2)
    mock.to_parquet(tmp_path / "mock.parquet")
    cmap = ColumnMap.load(catalogs_dir() / "columns" / "mock.toml")
    report = ingest(tmp_path / "mock.parquet", cmap, tmp_path / "store", max_rows_per_partition=400)
    assert report.rows_written == 1500
    got = store_frame(tmp_path / "store")
    assert_same_rows(got[list(mock.columns)], mock)


def test_cli_ingest_success_and_one_line_error(tmp_path, cmap, capsys):
    source = write_input(survey(300), tmp_path / "in.csv")
    assert main(["ingest", str(source), "--columns", str(cmap.path), "--out", str(tmp_path / "s"), "--in-process"]) == 0
    assert open_store(tmp_path / "s").num_rows == 300
    bad = write_input(_set("g", [3], 55.0)(survey(300)), tmp_path / "bad.csv")
    args = ["ingest", str(bad), "--columns", str(cmap.path), "--out", str(tmp_path / "t"), "--in-process"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("nepagn ingest: error:") and "hsc_g_mag" in err[-1] and "(1 row)" in err[-1]


def test_positionless_duplicates_quarantined_to_parquet(tmp_path, poliszczuk_csv):
    raw = pd.read_csv(poliszczuk_csv, dtype=str)
    raw.loc[1000, "AKR_ID"] = raw.loc[3, "AKR_ID"]
    source = tmp_path / "dup.parquet"
    raw.to_parquet(source, row_group_size=300)  # six read chunks
    cmap = ColumnMap.load(catalogs_dir() / "columns" / "poliszczuk2021.toml")
    report = ingest(
        source,
        cmap,
        tmp_path / "store",
        max_rows_per_partition=400,
        quarantine_path=tmp_path / "q.parquet",
        chunk_rows=300,
    )
    rejected = pd.read_parquet(tmp_path / "q.parquet")
    assert rejected["input_row"].tolist() == [3, 1000] and report.rows_written == 1545
    frame = store_frame(tmp_path / "store")
    expected = raw.drop(index=[3, 1000])["AKR_ID"].tolist()
    assert frame["source_id"].tolist() == expected  # input order kept across blocks and chunks
