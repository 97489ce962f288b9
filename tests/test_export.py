"""Export: one FITS table (astropy, STILTS) or one VOParquet file, with units, UCDs, descriptions and every row.

The streaming FITS writer (nepagn.fits_writer) is tested here on partition files written directly:
what astropy reads back must equal what pyarrow reads from the partitions, column by column.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import nepagn.fits_writer
from nepagn.cli import main
from nepagn.errors import NepagnError
from nepagn.export import export_store
from nepagn.fits_writer import FITS_COMMENT_WIDTH, write_fits_table
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


def test_fits_gz_export_is_compressed(store, tmp_path):
    from astropy.table import Table

    out = export_store(store, tmp_path / "cat.fits.gz", columns=["source_id", "ra"])
    assert out.read_bytes()[:2] == b"\x1f\x8b"  # gzip magic: the name does not lie
    assert len(Table.read(out)) == store.num_rows


def test_export_refuses_bad_requests(store, tmp_path):
    with pytest.raises(NepagnError, match="no columns"):
        export_store(store, tmp_path / "a.fits", columns=["colour"])
    with pytest.raises(NepagnError, match=r"\['ra'\] are selected more than once"):
        export_store(store, tmp_path / "a.fits", columns=["ra", "source_id", "ra"])
    assert not (tmp_path / "a.fits").exists()
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


@pytest.mark.skipif(shutil.which("stilts") is None, reason="STILTS not installed (Debian package `stilts`)")
def test_stilts_reads_descriptions_longer_than_one_header_card(tmp_path):
    """TOPCAT/STILTS show the whole TCOMMn, continued over CONTINUE cards, not the first 68 characters."""
    files = _write_partitions(tmp_path / "parts", [_partition(20, 1, text_width=3)])
    out = tmp_path / "long.fits"
    write_fits_table(files, out, WRITER_META)
    meta = subprocess.run(["stilts", "tpipe", f"in={out}", "omode=meta"], capture_output=True, text=True, check=True)
    line = next(row for row in meta.stdout.splitlines() if "n2_mag(Float)" in row)
    assert line.rstrip().endswith(WRITER_META["n2_mag"]["description"].rstrip()), line


# --- the streaming FITS writer on partition files ---

WRITER_META = {
    "ra": {"unit": "deg", "ucd": "pos.eq.ra;meta.main", "description": "Right ascension (ICRS)"},
    "n2_mag": {"unit": "mag", "ucd": "phot.mag", "description": "AB magnitude, " + "a long band label " * 6},
    "votes": {"ucd": "meta.number", "description": "Number of models voting AGN"},
}


def _partition(n: int, seed: int, text_width: int) -> pd.DataFrame:
    """Rows of every column type the catalogue has: floats (with nulls), nullable ints, text, booleans."""
    rng = np.random.default_rng(seed)
    null = rng.random(n) < 0.3
    return pd.DataFrame(
        {
            "source_id": pd.array([f"s{seed}-{i}" for i in range(n)], dtype="string"),
            "ra": rng.uniform(260, 280, n),
            "n2_mag": np.where(null, np.nan, rng.normal(19, 1, n)).astype("float32"),
            "healpix": rng.integers(0, 2**60, n, dtype="int64"),
            "votes": pd.array(np.where(null, None, rng.integers(0, 4, n)), dtype="Int16"),
            "label": pd.array(np.where(null, None, "x" * text_width), dtype="string"),
            "training": rng.random(n) < 0.5,
            "unanimous": pd.array(np.where(null, None, rng.random(n) < 0.5), dtype="boolean"),
        }
    )


def _write_partitions(folder, frames) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, frame in enumerate(frames):
        path = folder / f"part{index}.parquet"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
        paths.append(path)
    return paths


def test_streamed_fits_equals_the_partitions(tmp_path):
    from astropy.io import fits
    from astropy.table import Table

    frames = [_partition(300, 1, text_width=3), _partition(0, 2, 1), _partition(250, 3, text_width=17),
              _partition(40, 4, text_width=5)]
    files = _write_partitions(tmp_path / "parts", frames)
    out = tmp_path / "cat.fits"
    assert write_fits_table(files, out, WRITER_META, {"RUN_ID": ("r1", "build id")}) == 590
    expected = pa.concat_tables([pq.read_table(path) for path in files]).to_pandas()

    header = fits.getheader(out, 1)
    assert header["EXTNAME"] == "CATALOGUE" and header["RUN_ID"] == "r1" and header["NAXIS2"] == 590
    names = [header[f"TTYPE{i}"] for i in range(1, header["TFIELDS"] + 1)]
    assert names == list(expected.columns)  # column order kept
    index = {name: i for i, name in enumerate(names, start=1)}
    assert header[f"TFORM{index['label']}"] == "17A"  # the widest partition's width wins
    assert header[f"TUNIT{index['ra']}"] == "deg" and header[f"TUCD{index['ra']}"] == "pos.eq.ra;meta.main"
    description = WRITER_META["n2_mag"]["description"].rstrip()
    assert len(description) > FITS_COMMENT_WIDTH and header[f"TCOMM{index['n2_mag']}"] == description  # not cut
    assert header["LONGSTRN"] == "OGIP 1.0"
    assert header[f"TNULL{index['votes']}"] == -32768 and f"TNULL{index['healpix']}" not in header

    table = Table.read(out, mask_invalid=False)  # NaN and empty strings as written; TNULL still masks
    for name in ("ra", "n2_mag", "healpix"):  # numbers exactly, NaN for null floats
        np.testing.assert_array_equal(np.asarray(table[name]), expected[name].to_numpy())
    assert table["n2_mag"].dtype.newbyteorder("=") == np.float32 and str(table["n2_mag"].unit) == "mag"
    votes = expected["votes"]
    np.testing.assert_array_equal(np.ma.getmaskarray(table["votes"]), votes.isna().to_numpy())
    np.testing.assert_array_equal(np.ma.filled(table["votes"], -1), votes.fillna(-1).to_numpy(dtype=int))
    for name in ("source_id", "label"):  # null text -> empty string
        assert list(table[name]) == expected[name].fillna("").tolist()
    np.testing.assert_array_equal(np.asarray(table["training"]), expected["training"].to_numpy())
    np.testing.assert_array_equal(np.asarray(table["unanimous"]),  # null boolean -> F
                                  expected["unanimous"].fillna(False).to_numpy(dtype=bool))


def test_streamed_fits_with_no_rows_and_selected_columns(tmp_path):
    from astropy.table import Table

    files = _write_partitions(tmp_path / "parts", [_partition(0, 1, 1), _partition(0, 2, 1)])
    out = tmp_path / "empty.fits"
    assert write_fits_table(files, out, WRITER_META, columns=["label", "ra"], extname="CATALOG") == 0
    table = Table.read(out)
    assert len(table) == 0 and table.colnames == ["label", "ra"]


def test_unreadable_partition_names_the_file_and_leaves_no_output(tmp_path):
    files = _write_partitions(tmp_path / "parts", [_partition(50, 1, 3), _partition(50, 2, 3)])
    files[1].write_bytes(b"not parquet")
    with pytest.raises(NepagnError, match=f"{files[1]}: cannot read partition file"):
        write_fits_table(files, tmp_path / "out" / "cat.fits", WRITER_META)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_interrupted_write_leaves_the_old_file_and_no_partial_one(tmp_path, monkeypatch):
    files = _write_partitions(tmp_path / "parts", [_partition(50, 1, 3), _partition(50, 2, 3)])
    out = tmp_path / "out" / "cat.fits"
    out.parent.mkdir()
    out.write_bytes(b"previous")
    calls = []
    real_records = nepagn.fits_writer._records

    def failing_records(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_records(*args)

    monkeypatch.setattr(nepagn.fits_writer, "_records", failing_records)
    with pytest.raises(KeyboardInterrupt):
        write_fits_table(files, out, WRITER_META)
    assert out.read_bytes() == b"previous" and list(out.parent.iterdir()) == [out]


def test_partitions_of_different_types_are_refused(tmp_path):
    first, second = _partition(10, 1, 3), _partition(10, 2, 3)
    second["ra"] = second["ra"].astype("float32")
    files = _write_partitions(tmp_path / "parts", [first, second])
    with pytest.raises(NepagnError, match=f"{files[1]}: column types differ"):
        write_fits_table(files, tmp_path / "cat.fits", WRITER_META)
    assert not (tmp_path / "cat.fits").exists()
