"""Export: one FITS table (astropy, STILTS) or one VOParquet file, with units, UCDs, descriptions and every row."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from nepagn.cli import main
from nepagn.errors import NepagnError
from nepagn.export import export_store
from nepagn.store import finalize_store, open_store, pixel_of, spatial_index, write_partition
from nepagn.voparquet import read_column_meta


@pytest.fixture
def store(tmp_path):
    rng = np.random.default_rng(5)
    n = 1200
    frame = pd.DataFrame(
        {
            "source_id": pd.array([f"id{i}" for i in range(n)], dtype="string"),
            "ra": 270.0 + rng.normal(0, 1.0, n),
            "dec": 66.5 + rng.normal(0, 0.4, n),
            "z_spec": np.where(rng.random(n) < 0.7, np.nan, rng.uniform(0, 2, n)),
            "label": pd.array(rng.choice(["AGN", "SFG", None], n), dtype="string"),
            "akari_n2_mag": rng.normal(19, 1, n).astype("float32"),
            "akari_n2_magerr": rng.uniform(0.01, 0.1, n).astype("float32"),
        }
    )
    pixels = pixel_of(spatial_index(frame["ra"], frame["dec"]), 5)
    for pixel, rows in frame.groupby(pixels):
        write_partition(tmp_path / "store", 5, int(pixel), rows)
    finalize_store(tmp_path / "store", "export-test")
    return open_store(tmp_path / "store")


def _all_rows(store) -> pd.DataFrame:
    frame = pd.concat([store.read_partition(p) for p in store.partitions], ignore_index=True)
    return frame.sort_values("source_id", ignore_index=True)


def test_fits_export_has_rows_units_ucds_and_descriptions(store, tmp_path):
    from astropy.io import fits
    from astropy.table import Table

    out = export_store(store, tmp_path / "cat.fits")
    table = Table.read(out)
    assert len(table) == store.num_rows
    assert str(table["ra"].unit) == "deg" and str(table["akari_n2_mag"].unit) == "mag"
    header = fits.getheader(out, 1)
    names = [header[f"TTYPE{i}"] for i in range(1, header["TFIELDS"] + 1)]
    n2 = names.index("akari_n2_mag") + 1
    assert header[f"TUCD{n2}"] == "phot.mag" and "AKARI/IRC N2" in header[f"TCOMM{n2}"]
    got = table.to_pandas().sort_values("source_id", ignore_index=True)
    expected = _all_rows(store)
    np.testing.assert_array_equal(got["akari_n2_mag"], expected["akari_n2_mag"])
    np.testing.assert_array_equal(got["z_spec"], expected["z_spec"])  # NaN stays NaN
    labels = table["label"]
    assert int(np.ma.count_masked(labels)) == int(expected["label"].isna().sum())  # null string read back as null


def test_parquet_export_is_one_voparquet_file(store, tmp_path):
    out = export_store(store, tmp_path / "cat.parquet", columns=["source_id", "ra", "dec", "akari_n2_mag"])
    table = pq.read_table(out)
    assert table.num_rows == store.num_rows and table.column_names == ["source_id", "ra", "dec", "akari_n2_mag"]
    meta = read_column_meta(table.schema)
    assert meta["akari_n2_mag"]["unit"] == "mag" and meta["dec"]["ucd"] == "pos.eq.dec;meta.main"
    from astropy.table import Table

    assert str(Table.read(out, format="parquet.votable")["ra"].unit) == "deg"


def test_export_refuses_bad_requests(store, tmp_path):
    with pytest.raises(NepagnError, match="no columns"):
        export_store(store, tmp_path / "a.fits", columns=["colour"])
    with pytest.raises(NepagnError, match=".fits or .parquet"):
        export_store(store, tmp_path / "a.txt")
    (tmp_path / "b.fits").write_bytes(b"")
    with pytest.raises(NepagnError, match="exists"):
        export_store(store, tmp_path / "b.fits")
    assert main(["export", str(tmp_path / "no-store"), "--out", str(tmp_path / "c.fits")]) == 2
    assert not (tmp_path / "c.fits").exists()


def test_cli_export_fits(store, tmp_path):
    assert main(["export", str(store.path), "--out", str(tmp_path / "cli.fits")]) == 0
    from astropy.table import Table

    assert len(Table.read(tmp_path / "cli.fits")) == store.num_rows


@pytest.mark.skipif(shutil.which("stilts") is None, reason="STILTS not installed (Debian package `stilts`)")
def test_stilts_reads_the_fits_export(store, tmp_path):
    out = export_store(store, tmp_path / "cat.fits")
    meta = subprocess.run(["stilts", "tpipe", f"in={out}", "omode=meta"], capture_output=True, text=True, check=True)
    assert f"Rows:    {store.num_rows}" in meta.stdout
    assert "ra(Double)/deg" in meta.stdout and "akari_n2_mag(Float)/mag" in meta.stdout
