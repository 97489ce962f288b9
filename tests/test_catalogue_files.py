"""The built catalogue's files as astronomers' tools read them (astropy, STILTS), and catalogues without redshifts.

Issue 16 items 16, 16a, 17 and 8 (simulate --out). The builds run on the session's LocalCluster.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from nepagn.fits_writer import FITS_COMMENT_WIDTH
from nepagn.pipeline.build import build_catalogue
from nepagn.preprocess import PreprocessConfig
from nepagn.voparquet import read_column_meta


def test_astropy_reads_catalogue_parquet_with_units_and_descriptions(reference_build):
    """Table.read of the single-file VOParquet: it raised TypeError on text columns holding nulls."""
    from astropy.table import Table

    expected = pd.read_parquet(reference_build.parquet)
    meta = read_column_meta(pq.read_schema(reference_build.parquet))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "No table::len::... found in metadata" guessing either
        table = Table.read(reference_build.parquet)
    assert len(table) == len(expected) and table.colnames == list(expected.columns)
    assert str(table["ra"].unit) == "deg" and table["p_agn_A"].description == meta["p_agn_A"]["description"]
    np.testing.assert_array_equal(np.asarray(table["ra"]), expected["ra"].to_numpy())
    np.testing.assert_array_equal(np.asarray(table["p_agn_A"]), expected["p_agn_A"].to_numpy(float))
    classes = expected["class_A"]
    assert list(table["class_A"][classes.notna().to_numpy()]) == classes.dropna().tolist()
    assert set(table["class_A"][classes.isna().to_numpy()]) == {"None"}  # astropy's reading of a null text cell


def test_astropy_votable_reader_merges_every_column_but_nullable_booleans(reference_build, tmp_path):
    """format="parquet.votable" stacks the VOTable header's (masked) columns onto the data: every column
    type of the catalogue merges except a boolean holding nulls (astropy reads it as objects). Without
    those columns the whole catalogue reads, with units, UCDs and descriptions."""
    from astropy.table import Table

    from nepagn.voparquet import string_lengths, with_voparquet_metadata

    table = pq.read_table(reference_build.parquet)
    nullable_bools = [f.name for f in table.schema if str(f.type) == "bool" and table[f.name].null_count]
    kept = table.drop_columns(nullable_bools).replace_schema_metadata(None)
    meta = read_column_meta(table.schema)
    kept = kept.cast(with_voparquet_metadata(kept.schema, meta, string_lengths(kept)))
    pq.write_table(kept, tmp_path / "no_null_bools.parquet")
    read = Table.read(tmp_path / "no_null_bools.parquet", format="parquet.votable")
    assert len(read) == table.num_rows and str(read["dec"].unit) == "deg"
    assert read["ra"].meta["ucd"] == "pos.eq.ra;meta.main" and read["class_A"].description


def test_catalogue_fits_keeps_whole_descriptions(reference_build):
    from astropy.io import fits

    header = fits.getheader(reference_build.fits, 1)
    meta = read_column_meta(pq.read_schema(reference_build.parquet))
    names = [header[f"TTYPE{i}"] for i in range(1, header["TFIELDS"] + 1)]
    long = [name for name in names if len(meta.get(name, {}).get("description", "")) > FITS_COMMENT_WIDTH]
    assert long, "the catalogue has descriptions longer than one header card"
    for name in names:
        if meta.get(name, {}).get("description"):
            assert header[f"TCOMM{names.index(name) + 1}"] == meta[name]["description"], name
    if shutil.which("stilts"):  # what TOPCAT shows
        out = subprocess.run(["stilts", "tpipe", f"in={reference_build.fits}", "omode=meta"], capture_output=True,
                             text=True, check=True).stdout
        for name in long:
            assert meta[name]["description"] in out, name


@pytest.fixture(scope="module")
def store_without_redshifts(tmp_path_factory):
    """The tiny mock ingested with a column map that has positions and bands but no redshift column."""
    from nepagn.columnmap import ColumnMap
    from nepagn.ingest import ingest
    from nepagn.simulate import simulate_catalogue

    root = tmp_path_factory.mktemp("no_redshift")
    simulate_catalogue(n_sources=1500, seed=1).drop(columns=["z_spec", "z_phot"]).to_parquet(
        root / "noz.parquet", index=False)
    (root / "noz.toml").write_text('name = "noz"\ncanonical_bands = true\n[columns]\nsource_id = "source_id"\n'
                                   'ra = "ra"\ndec = "dec"\nchi2_gal = "chi2_gal"\nchi2_star = "chi2_star"\n'
                                   '[label]\nfrom = "label"\nAGN = ["AGN"]\nSFG = ["SFG"]\n')
    ingest(root / "noz.parquet", ColumnMap.load(root / "noz.toml"), root / "store", max_rows_per_partition=500)
    return root / "store"


def test_a_build_that_classifies_nothing_says_so_and_why(store_without_redshifts, tiny_model_set, dask_client,
                                                          tmp_path, caplog):
    with caplog.at_level("WARNING", logger="nepagn.pipeline.build"):
        result = build_catalogue(store_without_redshifts, tiny_model_set, tmp_path / "out", dask_client)
    status = result.summary["status"]
    assert status["classified"] == 0 and status["no_redshift"] > 0
    # the tiny model set's agn_reliable is empty too, and says so in a warning of its own
    (few,) = [warning for warning in result.warnings if "agn_reliable" not in warning]
    assert "--redshift-rule none" in few
    assert few.startswith(f"classified 0 of {status['no_redshift'] + status.get('star', 0)} unlabelled sources")
    assert any("--redshift-rule none" in record.getMessage() for record in caplog.records)


def test_redshift_rule_none_classifies_a_catalogue_without_redshifts(store_without_redshifts, tiny_model_set,
                                                                     dask_client, tmp_path):
    from nepagn.cli import main

    out = tmp_path / "out"
    code = main(["build-catalogue", "--store", str(store_without_redshifts), "--models", str(tiny_model_set),
                 "--out", str(out), "--redshift-rule", "none", "--scheduler", dask_client.scheduler.address,
                 "--quiet"])
    assert code == 0
    catalogue = pd.read_parquet(out / "catalogue.parquet")
    assert "no_redshift" not in set(catalogue["status"])
    classified = catalogue[catalogue["status"] == "classified"]
    assert len(classified) > 0.5 * len(catalogue) and classified["z_used"].isna().all()
    assert classified["consensus_class"].isin(["AGN", "SFG"]).all()
    record = json.loads((out / "provenance.json").read_text())
    assert record["configs"]["pipeline"]["preprocess"]["redshift_rule"] == "none"
    # the default rule leaves the config hash of catalogues built before the rule existed unchanged
    assert "redshift_rule" not in PreprocessConfig().to_dict()


def test_simulate_output_respects_the_umask(tmp_path):
    out = tmp_path / "mock.parquet"
    result = subprocess.run([sys.executable, "-m", "nepagn.cli", "simulate", "--n-sources", "50", "--out", str(out),
                             "--no-progress"], capture_output=True, text=True, preexec_fn=lambda: os.umask(0o022))
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.stat().st_mode & 0o777 == 0o644  # mkstemp's 0600 would hide it from colleagues
