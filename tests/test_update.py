"""nepagn update: base + updates equals an all-at-once build, only touched partitions recomputed, idempotent,
failures leave the previous version intact, new bands and new labels, versions and pruning."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from nepagn.bands import EXTRA_BANDS_ENV
from nepagn.cli import main
from nepagn.errors import InputError
from nepagn.files import sha256_file
from nepagn.pipeline.build import build_catalogue
from nepagn.resources import catalogs_dir
from nepagn.schema import DEC, LABEL, RA, SOURCE_ID
from nepagn.store import open_store, pixel_of
from nepagn.update.catalogue import UpdateInterrupted
from nepagn.update.plan import INPUT_ID, containing_partition, place_new_sky
from nepagn.update.run import update_catalogue
from nepagn.update.versions import load_index

MOCK_MAP = catalogs_dir() / "columns" / "mock.toml"
PROVENANCE_COLUMNS = ["run_id", "model_set_id"]
DEGRADED = "z_phot"
N_SOURCES, N_BASE, N_NEW, N_FIXED, MAX_ROWS = 1200, 1020, 90, 24, 200


@pytest.fixture(scope="module")
def split_mock(tmp_path_factory):
    """The tiny mock (as in tiny_mock_store) cut into a base (some rows degraded) and two updates."""
    from nepagn.simulate import simulate_catalogue

    root = tmp_path_factory.mktemp("update_inputs")
    full = simulate_catalogue(n_sources=N_SOURCES, seed=1)
    order = np.random.default_rng(7).permutation(len(full))
    base = full.iloc[np.sort(order[:N_BASE])].copy()
    candidates = base[base[DEGRADED].notna()][SOURCE_ID].iloc[::40]
    fixed = base[SOURCE_ID].isin(candidates.iloc[:N_FIXED])  # base rows whose values update 1 corrects
    base.loc[fixed, DEGRADED] = base.loc[fixed, DEGRADED] + 0.7
    base.loc[fixed, RA] = base.loc[fixed, RA] + 2e-5  # remeasured positions (0.07 arcsec) ...
    base.loc[fixed, DEC] = base.loc[fixed, DEC] - 2e-5
    # ... and corrected labels
    base.loc[fixed, LABEL] = np.where(base.loc[fixed, LABEL].fillna("") == "AGN", "SFG", "AGN")
    update1 = pd.concat([full.iloc[np.sort(order[N_BASE:N_BASE + N_NEW])],
                         full[full[SOURCE_ID].isin(base.loc[fixed, SOURCE_ID])]])
    update2 = full.iloc[np.sort(order[N_BASE + N_NEW:])]
    paths = {}
    for name, frame in (("full", full), ("base", base), ("update1", update1), ("update2", update2)):
        paths[name] = root / f"{name}.parquet"
        frame.to_parquet(paths[name], index=False)
    paths["fixed_ids"] = set(base.loc[fixed, SOURCE_ID])
    return paths


@pytest.fixture(scope="module")
def base_build(split_mock, tiny_model_set, dask_client, tmp_path_factory):
    """Base store (MAX_ROWS rows per partition) and its build-catalogue output."""
    return build_from(split_mock["base"], tiny_model_set, dask_client, tmp_path_factory.mktemp("update_base"))


@pytest.fixture(scope="module")
def all_at_once(split_mock, tiny_model_set, dask_client, tmp_path_factory):
    """The same mock built in one go: what base + updates must equal."""
    return build_from(split_mock["full"], tiny_model_set, dask_client, tmp_path_factory.mktemp("update_full"))


def build_from(source: Path, modeldir: Path, client, root: Path) -> Path:
    """Ingest `source` into root/store and build-catalogue it into root/out."""
    from nepagn.columnmap import ColumnMap
    from nepagn.ingest import ingest

    ingest(source, ColumnMap.load(MOCK_MAP), root / "store", max_rows_per_partition=MAX_ROWS)
    build_catalogue(root / "store", modeldir, root / "out", client)
    return root


def fresh_copy(base_build: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the base store and catalogue for one test."""
    shutil.copytree(base_build / "store", tmp_path / "store")
    shutil.copytree(base_build / "out", tmp_path / "out", symlinks=True)
    return tmp_path / "store", tmp_path / "out"


def current_catalogue(out: Path) -> pd.DataFrame:
    """The current version's single-file catalogue (OUTDIR itself before the first update), sorted by id."""
    folder = out / "current" if (out / "current").exists() else out
    return pd.read_parquet(folder / "catalogue.parquet").sort_values(SOURCE_ID, ignore_index=True)


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under root (symlinks as their target text)."""
    return {str(p.relative_to(root)): (str(p.readlink()) if p.is_symlink() else sha256_file(p))
            for p in sorted(root.rglob("*")) if p.is_file() or p.is_symlink()}


def partitions_holding(store_path: Path, ids: set[str]) -> set[tuple[int, int]]:
    store = open_store(store_path)
    return {(p.order, p.pixel) for p in store.partitions
            if store.read_partition(p, [SOURCE_ID])[SOURCE_ID].astype(str).isin(ids).any()}


@pytest.fixture(scope="module")
def updated(base_build, split_mock, dask_client, tmp_path_factory):
    """Base + update 1 + update 1 again + update 2, with each run's result and the store after update 1."""
    tmp = tmp_path_factory.mktemp("updated")
    store, out = fresh_copy(base_build, tmp)
    first = update_catalogue(store, out, split_mock["update1"], MOCK_MAP, dask_client)
    store_after_first = tmp / "store_after_first"
    shutil.copytree(store, store_after_first)
    index_after_first = (out / "versions.json").read_text()
    again = update_catalogue(store, out, split_mock["update1"], MOCK_MAP, dask_client)
    unchanged = {"index": (out / "versions.json").read_text() == index_after_first,
                 "store": open_store(store).snapshot_id == open_store(store_after_first).snapshot_id}
    second = update_catalogue(store, out, split_mock["update2"], MOCK_MAP, dask_client)
    return {"store": store, "out": out, "first": first, "again": again, "second": second,
            "store_after_first": store_after_first, "unchanged": unchanged}


def test_base_plus_updates_equals_building_everything_at_once(updated, all_at_once):
    incremental = current_catalogue(updated["out"])
    reference = current_catalogue(all_at_once / "out")
    assert len(incremental) == len(reference) == N_SOURCES
    assert list(incremental.columns) == list(reference.columns)
    for column in reference.columns:
        if column in PROVENANCE_COLUMNS:
            continue
        left, right = incremental[column], reference[column]
        if pd.api.types.is_float_dtype(right):
            np.testing.assert_allclose(left.to_numpy(float), right.to_numpy(float), rtol=0, atol=1e-6,
                                       equal_nan=True, err_msg=column)
        else:
            assert left.astype(object).where(left.notna(), None).tolist() == \
                right.astype(object).where(right.notna(), None).tolist(), column
    summary = json.loads((updated["out"] / "current" / "summary.json").read_text())
    assert summary == json.loads((all_at_once / "out" / "summary.json").read_text())


def test_only_partitions_with_new_or_changed_rows_were_recomputed(updated, split_mock):
    index = load_index(updated["out"])
    first = next(e for e in index["versions"] if e["version"] == 1)
    touched_ids = set(pd.read_parquet(split_mock["update1"])[SOURCE_ID])
    expected = partitions_holding(updated["store_after_first"], touched_ids)
    assert {tuple(k) for k in first["partitions_computed"]} == expected
    assert first["partitions_reused"], "untouched partitions must be reused, not recomputed"
    assert first["changes"]["rows_new"] == N_NEW and first["changes"]["rows_updated"] == len(split_mock["fixed_ids"])
    assert first["changes"]["rows_unchanged"] == 0
    assert set(updated["first"].computed) == expected


def test_partition_that_grows_past_the_threshold_is_split(base_build, dask_client, tmp_path):
    import lsdb

    store, out = fresh_copy(base_build, tmp_path)
    largest = max(open_store(store).partitions, key=lambda p: p.num_rows)
    rows = open_store(store).read_partition(largest)
    extra = MAX_ROWS - len(rows) + 20
    clones = rows.sample(extra, replace=True, random_state=0).reset_index(drop=True)
    clones[SOURCE_ID] = [f"CLONE{i:05d}" for i in range(extra)]
    clones[RA] = clones[RA] + np.random.default_rng(0).normal(0, 1e-5, extra)
    clones.drop(columns=["_healpix_29"]).to_parquet(tmp_path / "dense.parquet", index=False)
    result = update_catalogue(store, out, tmp_path / "dense.parquet", MOCK_MAP, dask_client)
    key = f"{largest.order}/{largest.pixel}"
    assert key in result.splits
    children = result.splits[key]
    assert all(order > largest.order and pixel >> 2 * (order - largest.order) == largest.pixel
               for order, pixel in children)
    updated_store = open_store(store)
    assert max(p.num_rows for p in updated_store.partitions) <= MAX_ROWS
    assert updated_store.num_rows == N_BASE + extra
    assert {tuple(k) for k in load_index(out)["versions"][1]["partitions_computed"]} == set(children)
    assert len(lsdb.open_catalog(store).compute()) == N_BASE + extra
    assert len(current_catalogue(out)) == N_BASE + extra
    assert len(lsdb.open_catalog(out / "current" / "catalogue").compute()) == N_BASE + extra
    assert len(Table.read(out / "current" / "catalogue.fits")) == N_BASE + extra


def test_rows_record_which_input_and_run_produced_them(updated, split_mock):
    store = open_store(updated["store"])
    rows = store.to_dask(columns=[SOURCE_ID, INPUT_ID, DEGRADED]).compute().set_index(SOURCE_ID)
    update1_ids = set(pd.read_parquet(split_mock["update1"])[SOURCE_ID])
    update2_ids = set(pd.read_parquet(split_mock["update2"])[SOURCE_ID])
    assert rows.loc[sorted(update1_ids), INPUT_ID].str.startswith("update1.parquet@").all()
    assert rows.loc[sorted(update2_ids), INPUT_ID].str.startswith("update2.parquet@").all()
    others = rows.index.difference(sorted(update1_ids | update2_ids))
    assert rows.loc[others, INPUT_ID].str.endswith("@base").all()
    index = load_index(updated["out"])
    catalogue = current_catalogue(updated["out"]).set_index(SOURCE_ID)
    run_of_version = {e["version"]: e["run_id"] for e in index["versions"]}
    assert catalogue.loc[sorted(update2_ids), "run_id"].eq(run_of_version[2]).all()
    assert set(catalogue["run_id"]) <= set(run_of_version.values())
    assert [i["input_id"] for i in index["versions"][2]["inputs"]] == [rows.loc[sorted(update2_ids)[0], INPUT_ID]]


def test_second_identical_update_is_a_no_op(updated):
    again = updated["again"]
    assert not again.created and again.version == 1 and again.computed == []
    assert updated["unchanged"] == {"index": True, "store": True}
    assert again.changes["rows_unchanged"] == N_NEW + N_FIXED


def test_previous_versions_stay_readable_until_pruned(updated, tmp_path):
    out, store = tmp_path / "out", tmp_path / "store"
    shutil.copytree(updated["out"], out, symlinks=True)
    shutil.copytree(updated["store"], store)
    shutil.copytree(Path(f"{updated['store']}.previous"), Path(f"{store}.previous"))
    base = pd.read_parquet(out / "catalogue.parquet")
    version1 = pd.read_parquet(out / "versions" / "v0001" / "catalogue.parquet")
    assert len(base) == N_BASE and len(version1) == N_BASE + N_NEW
    assert main(["update", "--store", str(store), "--catalogue", str(out), "--prune", "--keep", "2"]) == 0
    assert [e["version"] for e in load_index(out)["versions"] if e.get("pruned")] == [0]
    assert not (out / "catalogue.parquet").exists() and (out / "versions" / "v0001").is_dir()
    assert not (Path(f"{store}.previous") / "v0000").exists() and (Path(f"{store}.previous") / "v0001").is_dir()
    assert len(current_catalogue(out)) == N_SOURCES
    assert main(["update", "--store", str(store), "--catalogue", str(out), "--list"]) == 0


def test_update_interrupted_half_way_leaves_the_previous_version_intact(updated, dask_client, tmp_path):
    out, store = tmp_path / "out", tmp_path / "store"
    shutil.copytree(updated["out"], out, symlinks=True)
    shutil.copytree(updated["store"], store)
    remeasured = open_store(store).to_dask().compute().iloc[::10]
    remeasured[DEGRADED] = remeasured[DEGRADED] + 0.01
    remeasured.drop(columns=[INPUT_ID, "_healpix_29"]).to_parquet(tmp_path / "update3.parquet", index=False)
    before_out, before_store = tree_digest(out), open_store(store).snapshot_id
    with pytest.raises(UpdateInterrupted):
        update_catalogue(store, out, tmp_path / "update3.parquet", MOCK_MAP, dask_client, limit_partitions=1)
    assert tree_digest(out) == before_out
    assert open_store(store).snapshot_id == before_store
    assert not list(tmp_path.glob(".store.staging-*"))
    result = update_catalogue(store, out, tmp_path / "update3.parquet", MOCK_MAP, dask_client)
    assert result.version == 3 and result.changes["rows_updated"] == remeasured[DEGRADED].notna().sum()
    assert len(current_catalogue(out)) == N_SOURCES


def test_bad_rows_in_an_update_change_nothing_and_name_file_and_column(base_build, split_mock, dask_client,
                                                                       tmp_path):
    store, out = fresh_copy(base_build, tmp_path)
    bad = pd.read_parquet(split_mock["update2"])
    bad["hsc_g_mag"] = bad["hsc_g_mag"].astype(object)
    bad.loc[bad.index[len(bad) // 2], "hsc_g_mag"] = "bright"  # half way down the file
    bad_path = tmp_path / "bad_update.csv"
    bad.to_csv(bad_path, index=False)
    before = open_store(store).snapshot_id
    with pytest.raises(InputError) as error:
        update_catalogue(store, out, bad_path, MOCK_MAP, dask_client)
    assert "bad_update.csv" in str(error.value) and "hsc_g_mag" in str(error.value)
    assert open_store(store).snapshot_id == before
    assert not (out / "versions").exists() or not list((out / "versions").iterdir())
    code = main(["update", "--store", str(store), "--catalogue", str(out), "--add", str(bad_path),
                 "--columns", str(MOCK_MAP), "--scheduler", dask_client.scheduler.address])
    assert code == 2


NEW_BAND = "euclid_h,Euclid,NISP,H,1.77,24.0,NIR\n"


def test_new_band_is_added_to_the_store_and_existing_models_ignore_it(base_build, dask_client, tmp_path,
                                                                      monkeypatch):
    monkeypatch.delenv(EXTRA_BANDS_ENV, raising=False)
    store, out = fresh_copy(base_build, tmp_path)
    registry = tmp_path / "bands_euclid.csv"
    registry.write_text("id,facility,instrument,filter,wavelength_um,depth_ab,group\n" + NEW_BAND)
    column_map = tmp_path / "euclid.toml"
    column_map.write_text('name = "euclid"\n[columns]\nsource_id = "id"\n[bands]\n'
                          'euclid_h = { mag = "H", err = "H_err" }\n')
    ids = open_store(store).to_dask(columns=[SOURCE_ID]).compute()[SOURCE_ID].iloc[::7].tolist()
    frame = pd.DataFrame({"id": ids, "H": np.linspace(19, 23, len(ids)), "H_err": 0.05})
    frame.to_csv(tmp_path / "euclid.csv", index=False)
    before = current_catalogue(out)
    with pytest.raises(InputError, match="euclid_h"):  # not registered yet: --band-registry is needed
        update_catalogue(store, out, tmp_path / "euclid.csv", column_map, dask_client)
    result = update_catalogue(store, out, tmp_path / "euclid.csv", column_map, dask_client, band_registry=registry)
    assert result.created and result.new_bands == ["euclid_h"] and result.computed == []
    updated_store = open_store(store)
    assert {"euclid_h_mag", "euclid_h_magerr"} <= set(updated_store.columns)
    values = updated_store.to_dask(columns=[SOURCE_ID, "euclid_h_mag"]).compute().set_index(SOURCE_ID)
    np.testing.assert_allclose(values.loc[ids, "euclid_h_mag"], frame["H"], rtol=1e-6)
    assert values["euclid_h_mag"].isna().sum() == len(values) - len(ids)
    assert (store / "nepagn_bands.csv").read_text().strip().endswith(NEW_BAND.strip())
    after = current_catalogue(out)
    pd.testing.assert_frame_equal(after.drop(columns=PROVENANCE_COLUMNS), before.drop(columns=PROVENANCE_COLUMNS))
    again = update_catalogue(store, out, tmp_path / "euclid.csv", column_map, dask_client)  # registered in the store
    assert not again.created


def test_new_labels_mark_models_stale_and_are_recorded(base_build, tiny_model_set, dask_client, tmp_path, capsys):
    store, out = fresh_copy(base_build, tmp_path)
    frame = open_store(store).to_dask(columns=[SOURCE_ID, LABEL, "true_class"]).compute()
    fresh = frame[frame[LABEL].isna() & frame["true_class"].isin(["AGN", "SFG"])].head(30)
    labels = pd.DataFrame({"id": fresh[SOURCE_ID], "spec_class": fresh["true_class"].astype(str)})
    labels.to_csv(tmp_path / "labels.csv", index=False)
    column_map = tmp_path / "labels.toml"
    column_map.write_text('name = "spec"\n[columns]\nsource_id = "id"\n[label]\nfrom = "spec_class"\n'
                          'AGN = ["AGN"]\nSFG = ["SFG"]\n')
    assert main(["update", "--store", str(store), "--catalogue", str(out), "--add", str(tmp_path / "labels.csv"),
                 "--columns", str(column_map), "--quiet", "--scheduler", dask_client.scheduler.address]) == 0
    assert "models are STALE" in capsys.readouterr().out
    entry = load_index(out)["versions"][1]
    labels = entry["labels"]
    assert labels["changed_by_update"] and labels["models_stale"]
    assert labels["labelled_after"] == labels["labelled_before"] + 30
    manifest = json.loads((tiny_model_set / "manifest.json").read_text())
    assert entry["models"]["labels_hash"] == labels["model_hash"] == manifest["labels_hash"]
    assert {tuple(k) for k in entry["partitions_computed"]} == partitions_holding(store, set(fresh[SOURCE_ID]))
    catalogue = current_catalogue(out).set_index(SOURCE_ID)
    assert (catalogue.loc[fresh[SOURCE_ID], "status"] == "labelled").all()
    with pytest.raises(InputError, match="not in the store"):
        unknown = pd.DataFrame({"id": ["nobody"], "spec_class": ["AGN"]})
        unknown.to_csv(tmp_path / "unknown.csv", index=False)
        update_catalogue(store, out, tmp_path / "unknown.csv", column_map, dask_client)


def test_new_sky_area_gets_partitions_that_do_not_overlap_existing_ones():
    existing = [(2, 100), (3, 404)]
    healpix = (np.int64(101) << 54) + np.random.default_rng(0).integers(0, 1 << 54, 60)
    healpix = healpix[[key is None for key in containing_partition(healpix, existing)]]  # outside (3, 404)
    placed = place_new_sky(healpix, existing, max_rows=10)
    assert all(order >= 3 for order, _ in placed)
    for order, pixel in placed:
        for other_order, other_pixel in existing:
            low = min(order, other_order)
            assert (pixel >> 2 * (order - low)) != (other_pixel >> 2 * (other_order - low))
    covered = np.zeros(len(healpix), dtype=int)
    for order, pixel in placed:
        covered += pixel_of(healpix, order) == pixel
    assert (covered == 1).all()


def test_positions_and_labels_of_updated_rows_replace_the_stored_ones(updated, split_mock):
    store = open_store(updated["store"])
    rows = store.to_dask(columns=[SOURCE_ID, RA, DEC, LABEL, DEGRADED]).compute().set_index(SOURCE_ID)
    full = pd.read_parquet(split_mock["full"]).set_index(SOURCE_ID)
    base = pd.read_parquet(split_mock["base"]).set_index(SOURCE_ID)
    fixed = sorted(split_mock["fixed_ids"])
    for column in (RA, DEC, DEGRADED):
        assert (base.loc[fixed, column] != full.loc[fixed, column]).all(), column  # the update really changes them
        np.testing.assert_array_equal(rows.loc[fixed, column], full.loc[fixed, column])
    assert (base.loc[fixed, LABEL].fillna("") != full.loc[fixed, LABEL].fillna("")).all()
    assert rows.loc[fixed, LABEL].fillna("").tolist() == full.loc[fixed, LABEL].fillna("").tolist()
    catalogue = current_catalogue(updated["out"]).set_index(SOURCE_ID)
    np.testing.assert_array_equal(catalogue.loc[fixed, RA], full.loc[fixed, RA])
    assert ((catalogue.loc[fixed, "status"] == "labelled") == full.loc[fixed, LABEL].notna()).all()


def test_retrain_trains_on_the_grown_labelled_set_and_rebuilds_with_it(base_build, dask_client, tmp_path):
    """Runs in CI (one epoch per network): --retrain is the path that changes the models a catalogue is made with."""
    store, out = fresh_copy(base_build, tmp_path)
    frame = open_store(store).to_dask(columns=[SOURCE_ID, LABEL, "true_class"]).compute()
    fresh = frame[frame[LABEL].isna() & frame["true_class"].isin(["AGN", "SFG"])].head(30)
    pd.DataFrame({"id": fresh[SOURCE_ID], "spec_class": fresh["true_class"].astype(str)}).to_csv(
        tmp_path / "labels.csv", index=False)
    column_map = tmp_path / "labels.toml"
    column_map.write_text('name = "spec"\n[columns]\nsource_id = "id"\n[label]\nfrom = "spec_class"\n'
                          'AGN = ["AGN"]\nSFG = ["SFG"]\n')
    result = update_catalogue(store, out, tmp_path / "labels.csv", column_map, dask_client, retrain=True,
                              max_epochs=1)
    assert not result.labels.models_stale and result.modeldir.parent == out.resolve() / "models"
    entry = load_index(out)["versions"][1]
    assert entry["models"]["modeldir"] == str(result.modeldir) and entry["partitions_reused"] == []
    trained = pd.read_parquet(result.modeldir / "labels.parquet")
    assert set(fresh[SOURCE_ID]) <= set(trained[SOURCE_ID])


def test_update_of_an_older_format_catalogue_recomputes_every_partition(split_mock, tiny_model_set, dask_client,
                                                                         tmp_path, monkeypatch):
    """A catalogue built by a nepagn of catalogue format 2 (before the labelled-domain columns) is rebuilt whole."""
    import nepagn.pipeline.provenance as provenance

    with monkeypatch.context() as older:  # the settings hash of format 2, as that nepagn recorded it
        older.setattr(provenance, "CATALOGUE_FORMAT_VERSION", "2")
        root = build_from(split_mock["base"], tiny_model_set, dask_client, tmp_path)
    path = root / "out" / "provenance.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "catalogue_format_version": "2"}))
    result = update_catalogue(root / "store", root / "out", split_mock["update1"], MOCK_MAP, dask_client)
    assert not result.reused and len(result.computed) == len(open_store(root / "store").partitions)
    current = current_catalogue(root / "out")
    record = json.loads((root / "out" / "current" / "provenance.json").read_text())
    assert record["catalogue_format_version"] == provenance.CATALOGUE_FORMAT_VERSION == "5"
    assert record["models"]["domain"]["status"] == "recorded"
    classified = current["status"].isin(["classified", "labelled"])
    assert current.loc[classified, "in_labelled_domain"].notna().all()
    # format 4 on: every partition has the named subsets, classes cut on p_agn
    assert current.loc[classified, ["agn_reliable", "agn_complete"]].notna().all().all()


def test_update_checks_its_arguments_before_touching_the_store(base_build, split_mock, tmp_path, capsys):
    store, out = fresh_copy(base_build, tmp_path)
    before = open_store(store).snapshot_id
    for extra, message in ((["--models", str(tmp_path / "nomodels")], "not a model set"),
                           (["--band-registry", str(tmp_path / "none.csv")], "band registry file not found")):
        code = main(["update", "--store", str(store), "--catalogue", str(out), "--add", str(split_mock["update1"]),
                     "--columns", "mock", *extra])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and message in err[0], err
    assert open_store(store).snapshot_id == before and not (out / "versions").exists()


def test_list_and_prune_check_the_store_and_catalogue_first(base_build, tmp_path, capsys):
    for store, out, message in (
        (tmp_path / "notastore", base_build / "out", "no store there"),
        (base_build / "store", tmp_path / "nothing", "no catalogue there"),
    ):
        for action in (["--list"], ["--prune"]):
            code = main(["update", "--store", str(store), "--catalogue", str(out), *action])
            err = capsys.readouterr().err.strip().splitlines()
            assert code == 2 and len(err) == 1 and message in err[0], (action, err)


def test_second_update_of_the_same_store_and_catalogue_stops_at_once(base_build, split_mock, dask_client, tmp_path):
    """A real second `nepagn update` process, while a first holds the locks, changes nothing and says who holds them."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    store, out = fresh_copy(base_build, tmp_path)
    before = open_store(store).snapshot_id

    def update(path: Path) -> list[str]:
        return [sys.executable, "-m", "nepagn.cli", "update", "--store", str(store), "--catalogue", str(out),
                "--add", str(path), "--columns", "mock", "--scheduler", dask_client.scheduler.address, "--quiet"]

    first = subprocess.Popen(update(split_mock["update1"]), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lock = tmp_path / ".store.nepagn.lock"  # beside the store: the update swaps the store folder itself
        deadline = time.monotonic() + 300
        while first.poll() is None and time.monotonic() < deadline:
            try:
                if json.loads(lock.read_text())["pid"] == first.pid:
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.02)
        assert first.poll() is None, first.communicate()[1][-3000:]
        os.kill(first.pid, signal.SIGSTOP)
        try:
            second = subprocess.run(update(split_mock["update2"]), capture_output=True, text=True, timeout=300)
        finally:
            os.kill(first.pid, signal.SIGCONT)
        _, first_err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode == 2, second.stderr[-3000:]
    assert "another nepagn process is writing here" in second.stderr and f"pid {first.pid}" in second.stderr
    assert first.returncode == 0, first_err[-3000:]
    index = load_index(out)
    assert [entry["version"] for entry in index["versions"]] == [0, 1]  # only the first update was applied
    assert open_store(store).snapshot_id != before
    update2_ids = set(pd.read_parquet(split_mock["update2"])[SOURCE_ID])
    assert not update2_ids & set(open_store(store).to_dask(columns=[SOURCE_ID]).compute()[SOURCE_ID])
