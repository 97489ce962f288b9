"""The HATS store: what LSDB, hats, pandas and pyarrow read back, atomicity, hashes, metadata."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from frame_checks import assert_same_rows

from nepagn.errors import NepagnError
from nepagn.store import finalize_store, open_store, partition_path, pixel_of, spatial_index, write_partition
from nepagn.voparquet import read_column_meta

ORDER = 6


def catalogue(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """A small canonical catalogue around the NEP (positions, two bands, labels with nulls)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "source_id": pd.array([f"src{i:05d}" for i in range(n)], dtype="string"),
            "ra": 270.0 + rng.normal(0, 1.0, n),
            "dec": 66.56 + rng.normal(0, 0.4, n),
            "z_phot": rng.uniform(0, 3, n),
            "label": pd.array(rng.choice(["AGN", "SFG", None], n), dtype="string"),
            "hsc_g_mag": rng.normal(23, 1, n).astype("float32"),
            "hsc_g_magerr": rng.uniform(0.01, 0.2, n).astype("float32"),
        }
    )
    frame.loc[rng.random(n) < 0.2, "hsc_g_mag"] = np.nan
    return frame


def write_store(root, frame: pd.DataFrame, order: int = ORDER, finalize: bool = True):
    pixels = pixel_of(spatial_index(frame["ra"].to_numpy(), frame["dec"].to_numpy()), order)
    for pixel, rows in frame.groupby(pixels):
        write_partition(root, order, int(pixel), rows)
    return finalize_store(root, "test") if finalize else None


def test_store_reads_back_identically_with_pyarrow_pandas_lsdb_and_hats(tmp_path):
    import hats
    import lsdb

    frame = catalogue()
    store = write_store(tmp_path / "store", frame)
    assert store.num_rows == len(frame) == int(store.properties["hats_nrows"])
    assert sum(p.num_rows for p in store.partitions) == len(frame)
    columns = list(frame.columns)

    via_pyarrow = ds.dataset(tmp_path / "store" / "dataset", format="parquet").to_table().to_pandas()
    via_pandas = pd.read_parquet(tmp_path / "store" / "dataset")
    via_lsdb = lsdb.open_catalog(tmp_path / "store").compute()
    via_store = pd.concat([store.read_partition(p) for p in store.partitions])
    assert hats.read_hats(tmp_path / "store").catalog_info.total_rows == len(frame)
    for got in (via_pyarrow, via_pandas, via_lsdb, via_store):
        assert_same_rows(got[columns], frame)
    assert (via_store["_healpix_29"].to_numpy() == spatial_index(via_store["ra"], via_store["dec"])).all()


def test_store_metadata_units_bands_and_dask(tmp_path):
    store = write_store(tmp_path / "store", catalogue())
    assert [band.id for band in store.bands] == ["hsc_g"]
    assert store.column_meta["ra"]["unit"] == "deg"
    assert store.column_meta["hsc_g_mag"] == {
        "unit": "mag",
        "ucd": "phot.mag",
        "description": store.column_meta["hsc_g_mag"]["description"],
    }
    assert read_column_meta(pq.read_schema(store.partitions[0].path))["hsc_g_magerr"]["unit"] == "mag"
    frame = store.to_dask(columns=["source_id", "hsc_g_mag"])
    assert frame.npartitions == len(store.partitions)
    assert len(frame.compute()) == store.num_rows
    assert all(p.path == partition_path(store.path, p.order, p.pixel) for p in store.partitions)


def test_units_readable_by_astropy_voparquet(tmp_path):
    from astropy.table import Table

    frame = catalogue().drop(columns=["label"])  # astropy's reader cannot size all-null string columns
    store = write_store(tmp_path / "store", frame)
    table = Table.read(store.partitions[0].path, format="parquet.votable")
    assert str(table["ra"].unit) == "deg" and str(table["hsc_g_mag"].unit) == "mag"


def test_interrupted_write_reads_as_incomplete(tmp_path):
    root = tmp_path / "store"
    write_store(root, catalogue(), finalize=False)
    with pytest.raises(NepagnError, match="incomplete"):
        open_store(root)
    store = finalize_store(root, "test")
    # writing into a finished store makes it incomplete again until the next finalize
    write_partition(
        root, store.partitions[0].order, store.partitions[0].pixel, store.read_partition(store.partitions[0])
    )
    with pytest.raises(NepagnError, match="incomplete"):
        open_store(root)
    assert finalize_store(root, "test").num_rows == store.num_rows


def test_leftover_temp_files_are_not_data(tmp_path):
    root = tmp_path / "store"
    store = write_store(root, catalogue())
    leftover = store.partitions[0].path.with_name(".Npix=1.parquet.deadbeef.tmp")
    leftover.write_bytes(b"half a file")
    assert finalize_store(root, "test").num_rows == store.num_rows
    assert not leftover.exists()


def test_partition_rows_must_lie_in_the_pixel(tmp_path):
    frame = catalogue(50)
    pixel = int(pixel_of(spatial_index(frame["ra"][:1], frame["dec"][:1]), ORDER)[0])
    with pytest.raises(NepagnError, match="do not lie in HEALPix pixel"):
        write_partition(tmp_path / "store", ORDER, pixel, frame)


def test_stale_partitions_only_removed_when_asked(tmp_path):
    root = tmp_path / "store"
    store = write_store(root, catalogue())
    keep = [(p.order, p.pixel) for p in store.partitions[1:]]
    with pytest.raises(NepagnError, match="not in the final set"):
        finalize_store(root, "test", partitions=keep)
    smaller = finalize_store(root, "test", partitions=keep, remove_stale=True)
    assert smaller.num_rows == store.num_rows - store.partitions[0].num_rows
    assert not store.partitions[0].path.exists()


def test_hashes_identify_content(tmp_path):
    frame = catalogue()
    first = write_store(tmp_path / "a", frame)
    second = write_store(tmp_path / "b", frame)
    assert first.snapshot_id == second.snapshot_id == open_store(tmp_path / "a").snapshot_id
    changed = frame.copy()
    changed.loc[0, "hsc_g_mag"] = 10.0
    third = write_store(tmp_path / "c", changed)
    assert third.snapshot_id != first.snapshot_id
    differing = [
        p
        for p, q in zip(first.partitions, third.partitions, strict=True)
        if first.partition_hash(p) != third.partition_hash(q)
    ]
    assert len(differing) == 1


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda root: None, "not a directory"),
        (lambda root: root.mkdir(), "not a HATS catalogue"),
    ],
)
def test_open_store_rejects_non_stores(tmp_path, setup, message):
    root = tmp_path / "nothing"
    setup(root)
    with pytest.raises(NepagnError, match=message):
        open_store(root)
