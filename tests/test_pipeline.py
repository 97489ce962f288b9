"""build-catalogue on a real LocalCluster: row conservation, consensus, readback, provenance, resume."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from nepagn.calibration import Calibrator
from nepagn.files import canonical_json
from nepagn.model.predictions import p_agn_column, score_agn_column
from nepagn.pipeline.build import BuildInterrupted, build_catalogue
from nepagn.pipeline.catalogue_schema import class_column
from nepagn.pipeline.partition_task import model_loads
from nepagn.pipeline.provenance import PROVENANCE_KEY
from nepagn.pipeline.summary import CONSENSUS, partition_counts
from nepagn.preprocess import PreprocessConfig, preprocess
from nepagn.store import open_store

MODELS = ["A", "B", "C"]


@pytest.fixture(scope="module")
def catalogue(reference_build) -> pd.DataFrame:
    return pd.read_parquet(reference_build.parquet)


@pytest.fixture(scope="module")
def store_frame(tiny_mock_store) -> pd.DataFrame:
    return open_store(tiny_mock_store).to_dask().compute(scheduler="synchronous")


def _data(path) -> pd.DataFrame:
    """A catalogue file's rows in a canonical order, for comparing builds."""
    return pd.read_parquet(path).sort_values("source_id", ignore_index=True)


def test_every_input_source_exactly_once(catalogue, store_frame):
    assert len(catalogue) == len(store_frame)
    assert catalogue["source_id"].is_unique
    assert set(catalogue["source_id"]) == set(store_frame["source_id"])
    merged = store_frame.merge(catalogue, on="source_id", suffixes=("_in", ""))
    np.testing.assert_array_equal(merged["ra_in"], merged["ra"])
    np.testing.assert_array_equal(merged["_healpix_29_in"], merged["_healpix_29"])


def test_status_and_redshift_follow_preprocess(catalogue, store_frame):
    expected = preprocess(store_frame).set_index("source_id")
    got = catalogue.set_index("source_id").loc[expected.index]
    assert (got["status"] == expected["status"]).all()
    np.testing.assert_array_equal(got["z_used"].to_numpy(), expected["z_used"].to_numpy())
    assert set(catalogue["status"]) <= {"classified", "star", "no_redshift", "labelled"}
    assert {"classified", "star", "labelled"} <= set(catalogue["status"])
    assert (catalogue["training_object"] == (catalogue["status"] == "labelled")).all()
    assert (catalogue.loc[catalogue["status"] == "labelled", "label"].notna()).all()


def test_model_set_predict_gives_the_catalogues_classes(catalogue, tiny_mock_store, tiny_model_set):
    """ModelSet.predict (classes by the set's own stored decision) on the store's rows equals the catalogue's
    classes, consensus probability and subsets: the pipeline adds no threshold of its own."""
    from nepagn.model.inference import ModelSet
    from nepagn.preprocess import STATUS
    from nepagn.store import open_store

    store = open_store(tiny_mock_store)
    rows = pd.concat([store.read_partition(p) for p in store.partitions], ignore_index=True)
    done = catalogue[catalogue[STATUS].isin(["classified", "labelled"])].set_index("source_id")
    rows = rows.set_index("source_id").loc[done.index]
    model_set = ModelSet.load(tiny_model_set)
    classes, probabilities = model_set.predict(rows), model_set.predict_proba(rows)
    for m in MODELS:
        assert (classes[f"is_agn_{m}"] == (done[class_column(m)] == "AGN")).all()
        np.testing.assert_array_equal(probabilities[p_agn_column(m)], done[p_agn_column(m)])
    np.testing.assert_array_equal(classes["p_agn_mean"], done["p_agn_mean"])
    for name in ("agn_reliable", "agn_complete"):
        assert (classes[name] == done[name].astype(bool)).all()


def test_consensus_is_consistent_with_per_model_classes(catalogue, tiny_model_set):
    from nepagn.model.inference import ModelSet

    rule = ModelSet.load(tiny_model_set).decision.rule
    classified = catalogue["status"].isin(["classified", "labelled"])
    done = catalogue[classified]
    votes = sum((done[class_column(m)] == "AGN").astype(int) for m in MODELS)
    assert (done["n_agn_votes"].astype(int) == votes).all()
    assert (done["consensus_class"] == np.where(votes >= 2, "AGN", "SFG")).all()
    assert (done["unanimous"] == votes.isin([0, 3])).all()
    np.testing.assert_allclose(done["p_agn_mean"], done[[p_agn_column(m) for m in MODELS]].mean(axis=1))
    for m in MODELS:
        # the census cut on the raw score, ranked as the calibrated probability: every AGN at least as probable
        cut = rule.class_thresholds[m]
        assert (done[class_column(m)] == np.where(done[score_agn_column(m)] >= cut, "AGN", "SFG")).all()
        is_agn = done[class_column(m)] == "AGN"
        if is_agn.any() and (~is_agn).any():
            assert done.loc[is_agn, p_agn_column(m)].min() >= done.loc[~is_agn, p_agn_column(m)].max()
        assert done[f"score_agn_{m}_std"].notna().all()
    # the named subsets follow their recorded cuts on p_agn_mean; agn_reliable only inside the labelled domain
    in_domain = done["in_labelled_domain"].to_numpy(dtype=bool, na_value=False)
    for name, cut in (("agn_reliable", rule.reliable_threshold), ("agn_complete", rule.complete_threshold)):
        expected = np.zeros(len(done), bool) if cut is None else (done["p_agn_mean"] >= cut).to_numpy()
        if name == "agn_reliable":
            assert rule.reliable_in_domain
            expected &= in_domain
        assert (done[name].to_numpy(dtype=bool) == expected).all()
    rest = catalogue[~classified]
    nulls = [p_agn_column(m) for m in MODELS] + [score_agn_column(m) for m in MODELS]
    flags = ["n_agn_votes", "consensus_class", "unanimous", "agn_reliable", "agn_complete"]
    assert rest[nulls + flags].isna().all().all()


def test_p_agn_is_the_model_sets_calibrator_applied_to_the_raw_score(catalogue, tiny_model_set):
    done = catalogue[catalogue["status"].isin(["classified", "labelled"])]
    for m in MODELS:
        calibrator = Calibrator.from_json((tiny_model_set / "calibration" / f"{m}.json").read_text())
        np.testing.assert_array_equal(done[p_agn_column(m)].to_numpy(),
                                      calibrator.transform(done[score_agn_column(m)].to_numpy()))
        assert done[p_agn_column(m)].between(0, 1).all()
    # alpha = 0.99 scores are far above the AGN fraction; the calibrated probabilities are not
    assert (done[score_agn_column("A")] != done[p_agn_column("A")]).any()


def test_provenance_per_row_and_per_catalogue(reference_build, catalogue, tiny_model_set, tiny_mock_store):
    manifest = json.loads((tiny_model_set / "manifest.json").read_text())
    assert (catalogue["run_id"] == reference_build.run_id).all()
    assert (catalogue["model_set_id"] == manifest["model_set_id"]).all()
    record = json.loads((reference_build.out_dir / "provenance.json").read_text())
    assert record["run_id"] == reference_build.run_id
    assert record["input"]["snapshot_id"] == open_store(tiny_mock_store).snapshot_id
    assert record["models"]["file_sha256"] == manifest["file_hashes"]
    calibration = record["models"]["calibration"]
    assert calibration["status"] == "calibrated" and calibration["method"] == "isotonic"
    assert calibration["fitted_on"] == "out_of_fold"  # tiny_model_set: paper protocol, no inner split
    for m in MODELS:
        entry = calibration["models"][m]
        assert entry["sha256"] == manifest["file_hashes"][f"calibration/{m}.json"]
    assert {"nepagn", "dask", "distributed", "tensorflow", "keras"} <= set(record["software"])
    assert record["started_utc"] <= record["finished_utc"]
    in_parquet = json.loads(pq.read_schema(reference_build.parquet).metadata[PROVENANCE_KEY])
    assert in_parquet["run_id"] == record["run_id"] and in_parquet["models"] == record["models"]


def test_domain_columns_are_the_labelled_domain_diagnostics_and_the_rule_is_recorded(
        reference_build, catalogue, store_frame, tiny_model_set):
    from nepagn.model.inference import ModelSet

    domain = ModelSet.load(tiny_model_set).domain
    assert domain is not None
    by_id = catalogue.set_index("source_id")
    classified = by_id["status"].isin(["classified", "labelled"])
    rows = store_frame.set_index("source_id").loc[by_id.index[classified]]
    expected = domain.diagnose(rows)
    got = by_id.loc[classified, list(expected.columns)]  # single-file Parquet: int16 -> float, boolean -> object
    np.testing.assert_array_equal(got["n_bands_detected"].to_numpy(float), expected["n_bands_detected"].to_numpy(float))
    np.testing.assert_array_equal(got["domain_fraction"].to_numpy(), expected["domain_fraction"].to_numpy())
    assert got["in_labelled_domain"].notna().all() and got["in_labelled_domain"].any()
    assert got["in_labelled_domain"].tolist() == expected["in_labelled_domain"].tolist()
    assert by_id.loc[~classified, list(expected.columns)].isna().all().all()
    # the labelled rows the domain was recorded from are in it as often as domain.json says
    labelled = got[by_id.loc[classified, "status"] == "labelled"]["in_labelled_domain"].astype(bool)
    assert labelled.mean() == pytest.approx(domain.labelled_in_domain_fraction)
    record = json.loads((reference_build.out_dir / "provenance.json").read_text())["models"]["domain"]
    manifest = json.loads((tiny_model_set / "manifest.json").read_text())
    assert record["status"] == "recorded" and record["sha256"] == manifest["file_hashes"]["domain.json"]
    assert record["rule"] == domain.rule and record["min_bands_detected"] == domain.min_bands_detected
    assert record == json.loads(pq.read_schema(reference_build.parquet).metadata[PROVENANCE_KEY])["models"]["domain"]


def test_a_modified_domain_json_is_refused(tiny_model_set, tmp_path):
    from nepagn.errors import NepagnError
    from nepagn.model.inference import ModelSet
    from nepagn.model.manifest import Manifest

    root = tmp_path / "models"
    shutil.copytree(tiny_model_set, root)
    record = json.loads((root / "domain.json").read_text())
    record["rule"]["min_bands_detected"] = 0  # widen the domain without retraining
    (root / "domain.json").write_text(json.dumps(record))
    for load in (ModelSet.load, Manifest.read):
        with pytest.raises(NepagnError, match="domain.json: SHA-256 differs from the manifest"):
            load(root)


def test_one_manifest_reader_names_the_file_of_a_malformed_manifest(tiny_model_set, tmp_path):
    """Every reader of a MODELDIR goes through Manifest.read: a manifest that is not JSON, lacks a key or
    holds a malformed decision fails there, naming manifest.json, before any work."""
    from nepagn.errors import NepagnError
    from nepagn.model.manifest import MANIFEST, Manifest

    manifest = Manifest.read(tiny_model_set)
    assert manifest.names == ("A", "B", "C") and len(manifest.model_set_id) == 64
    assert set(manifest.thresholds) == set(manifest.names) and manifest.decision.has_subsets
    good = json.loads((tiny_model_set / MANIFEST).read_text())
    broken = {"json": "{not json", "key": json.dumps({k: v for k, v in good.items() if k != "members"}),
              "decision": json.dumps({**good, "decision": {"class_rule": "census"}})}
    for what, text in broken.items():
        root = tmp_path / what
        shutil.copytree(tiny_model_set, root)
        (root / MANIFEST).write_text(text)
        with pytest.raises(NepagnError, match=f"{root / MANIFEST}: not a valid model-set manifest"):
            Manifest.read(root, verify=False)


def test_readback_by_pandas_pyarrow_astropy_and_lsdb(reference_build, catalogue):
    import lsdb
    from astropy.io import fits
    from astropy.table import Table

    table = pq.read_table(reference_build.parquet)
    assert table.num_rows == len(catalogue)
    assert b"IVOA.VOTable-Parquet.content" in table.schema.metadata

    fits_table = Table.read(reference_build.fits)
    assert len(fits_table) == len(catalogue)
    assert str(fits_table["ra"].unit) == "deg"
    ids = np.char.decode(np.asarray(fits_table["source_id"]), "ascii")
    np.testing.assert_array_equal(ids, catalogue["source_id"].to_numpy(dtype=str))
    header = fits.getheader(reference_build.fits, 1)
    index = fits_table.colnames.index("p_agn_A") + 1
    assert header[f"TCOMM{index}"].startswith("P(AGN) of Model A, calibrated (isotonic, fitted on outer folds)")
    votable = table.schema.metadata[b"IVOA.VOTable-Parquet.content"].decode()
    assert "calibrated (isotonic, fitted on outer folds): score_agn_A mapped by MODELDIR/calibration/A.json" in votable
    assert header["RUN_ID"] == reference_build.run_id
    domain_index = fits_table.colnames.index("in_labelled_domain") + 1
    assert header[f"TCOMM{domain_index}"].startswith("In the labelled training domain")
    in_domain = catalogue["in_labelled_domain"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    np.testing.assert_array_equal(np.asarray(fits_table["in_labelled_domain"]), in_domain)
    assert "Share of detected model bands inside the labelled [p1, p99] range" in votable
    votes = np.ma.filled(fits_table["n_agn_votes"], -1)
    np.testing.assert_array_equal(votes, catalogue["n_agn_votes"].fillna(-1).to_numpy(dtype=int))
    unanimous = catalogue["unanimous"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    np.testing.assert_array_equal(np.asarray(fits_table["unanimous"]), unanimous)  # FITS: null logical -> F

    hats = lsdb.open_catalog(reference_build.catalogue_dir).compute()
    assert len(hats) == len(catalogue)
    assert set(hats["source_id"]) == set(catalogue["source_id"])


def test_summary_counts_match_the_catalogue(reference_build, catalogue):
    summary = json.loads((reference_build.out_dir / "summary.json").read_text())
    expected = partition_counts(catalogue, MODELS)
    assert summary["rows"] == len(catalogue)
    assert summary["status"] == expected["status"]
    table2 = summary["inference_set"]["table2"]
    inference = catalogue[catalogue["status"] == "classified"]
    for m in MODELS:
        assert table2[m]["AGN"] == int((inference[class_column(m)] == "AGN").sum())
        assert table2[m]["AGN"] + table2[m]["SFG"] == len(inference)
    assert sum(summary["inference_set"]["votes"].values()) == len(inference)
    inside = inference[inference["in_labelled_domain"].eq(True)]
    assert summary["inference_set"]["in_labelled_domain"] == len(inside) > 0
    for m in MODELS:
        assert summary["inference_set"]["agn_per_model_in_domain"][m] == int((inside[class_column(m)] == "AGN").sum())
    assert summary["inference_set"]["agn_consensus_in_domain"] == int((inside["consensus_class"] == "AGN").sum())
    # estimated fractions inside and outside the labelled domain: the mean p there, per model and consensus
    outside = inference[inference["in_labelled_domain"].eq(False)]
    for where, rows in (("in_domain", inside), ("out_of_domain", outside)):
        estimates = summary["inference_set"][f"estimates_{where}"]
        for key, column in [*((m, p_agn_column(m)) for m in MODELS), (CONSENSUS, "p_agn_mean")]:
            assert estimates[key]["estimated"] == pytest.approx(rows[column].mean())
    markdown = (reference_build.out_dir / "summary.md").read_text()
    assert "Table 2" in markdown
    assert f"In the labelled training domain (`in_labelled_domain`): {len(inside)} of" in markdown
    for name in ("agreement.png", "agn_fraction_map.png"):
        assert (reference_build.out_dir / "figures" / name).stat().st_size > 1000


def test_each_worker_loads_the_model_set_once(reference_build, dask_client):
    loads = dask_client.run(model_loads)
    per_worker = [counts.get(reference_build.model_set_id, 0) for counts in loads.values()]
    assert max(per_worker) == 1  # several partitions per worker, one load per worker process


def test_interrupted_build_resumes_and_equals_a_clean_build(reference_build, tiny_mock_store, tiny_model_set,
                                                            dask_client, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(BuildInterrupted, match="rerun"):
        build_catalogue(tiny_mock_store, tiny_model_set, out, dask_client, limit_partitions=3)
    assert not (out / "catalogue.parquet").exists()
    assert not (out / "catalogue" / "properties").exists()  # the HATS store does not read as complete
    done_before = {p.name for p in (out / ".build" / "done").iterdir()}
    assert len(done_before) == 3

    resumed = build_catalogue(tiny_mock_store, tiny_model_set, out, dask_client)
    total = len(open_store(tiny_mock_store).partitions)
    assert len(resumed.reused) == 3 and len(resumed.computed) == total - 3
    recorded = json.loads((out / "provenance.json").read_text())["execution"]
    assert len(recorded["partitions_computed"]) == total - 3
    assert {f"Norder={o}_Npix={p}.json" for o, p in recorded["partitions_reused"]} == done_before
    pd.testing.assert_frame_equal(_data(resumed.parquet), _data(reference_build.parquet))


def test_changed_partition_or_config_is_recomputed(reference_build, tiny_mock_store, tiny_model_set, dask_client,
                                                   tmp_path):
    out = tmp_path / "out"
    shutil.copytree(reference_build.out_dir, out)
    # a damaged output partition is rebuilt, the others reused
    first = sorted((out / "catalogue" / "dataset").rglob("Npix=*.parquet"))[0]
    first.write_bytes(b"not parquet")
    again = build_catalogue(tiny_mock_store, tiny_model_set, out, dask_client)
    assert len(again.computed) == 1
    pd.testing.assert_frame_equal(_data(again.parquet), _data(reference_build.parquet))
    # another star rule changes every partition's key
    no_stars = build_catalogue(tiny_mock_store, tiny_model_set, out, dask_client,
                               preprocess_config=PreprocessConfig(star_rule="none"))
    assert not no_stars.reused and no_stars.run_id != reference_build.run_id
    statuses = set(pd.read_parquet(no_stars.parquet, columns=["status"])["status"])
    assert "star" not in statuses


def _with_decision(model_set: Path, root: Path, decision: dict) -> Path:
    """A copy of `model_set` whose decision.json (and manifest) say `decision`, with a consistent model-set id."""
    shutil.copytree(model_set, root)
    (root / "decision.json").write_text(json.dumps(decision, indent=2, sort_keys=True) + "\n")
    manifest = json.loads((root / "manifest.json").read_text())
    del manifest["model_set_id"]
    manifest["decision"] = decision
    manifest["file_hashes"]["decision.json"] = hashlib.sha256((root / "decision.json").read_bytes()).hexdigest()
    manifest["model_set_id"] = hashlib.sha256(canonical_json(manifest).encode()).hexdigest()
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return root


def test_agn_reliable_leaves_out_sources_outside_the_labelled_domain(tiny_model_set, catalogue, tiny_mock_store,
                                                                     dask_client, tmp_path):
    """With a reliable cut that sources on both sides of the domain reach, the build's agn_reliable holds the
    in-domain ones only; a rule recorded before that (no reliable_in_domain) keeps every source above its cut."""
    done = catalogue[catalogue["status"].isin(["classified", "labelled"])]
    cut = float(done["p_agn_mean"].quantile(0.7))
    inside = done["in_labelled_domain"].to_numpy(dtype=bool)
    above = (done["p_agn_mean"] >= cut).to_numpy()
    assert (above & inside).any() and (above & ~inside).any()
    decision = {**json.loads((tiny_model_set / "decision.json").read_text()), "reliable_threshold": cut}
    older = {key: value for key, value in decision.items()
             if key not in ("reliable_in_domain", "n_reference_in_domain")}
    for name, rule, expected in (("in_domain", decision, above & inside), ("older", older, above)):
        models = _with_decision(tiny_model_set, tmp_path / name / "models", rule)
        built = pd.read_parquet(build_catalogue(tiny_mock_store, models, tmp_path / name / "out", dask_client).parquet)
        built = built.set_index("source_id").loc[done["source_id"]]
        assert (built["agn_reliable"].to_numpy(dtype=bool) == expected).all(), name


@pytest.fixture(scope="module")
def uncalibrated_model_set(tiny_model_set, tmp_path_factory) -> Path:
    """tiny_model_set as a MODELDIR written before `nepagn train` calibrated: no calibration/, no domain.json,
    no decision.json (classes from raw-score thresholds), manifest format 1."""
    root = tmp_path_factory.mktemp("old_models") / "models"
    shutil.copytree(tiny_model_set, root)
    shutil.rmtree(root / "calibration")
    (root / "domain.json").unlink()
    (root / "decision.json").unlink()
    manifest = json.loads((root / "manifest.json").read_text())
    del manifest["calibration"], manifest["model_set_id"], manifest["decision"], manifest["degradation"]
    manifest["format"] = "nepagn-modelset/1"
    manifest["file_hashes"] = {k: v for k, v in manifest["file_hashes"].items()
                               if not k.startswith("calibration/") and k not in ("domain.json", "decision.json")}
    manifest["model_set_id"] = hashlib.sha256(canonical_json(manifest).encode()).hexdigest()
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return root


def test_model_set_without_calibration_or_domain_still_builds_and_says_so(uncalibrated_model_set, catalogue,
                                                                         tiny_mock_store, dask_client, tmp_path,
                                                                         caplog):
    with caplog.at_level(logging.WARNING, logger="nepagn"):
        result = build_catalogue(tiny_mock_store, uncalibrated_model_set, tmp_path / "out", dask_client)
    assert "UNCALIBRATED" in caplog.text
    assert "has no domain.json" in caplog.text
    models = json.loads((result.out_dir / "provenance.json").read_text())["models"]
    assert models["domain"]["status"] == "not recorded"
    record = models["calibration"]
    assert record["status"] == "uncalibrated"
    assert all(entry["status"] == "uncalibrated" for entry in record["models"].values())
    old = pd.read_parquet(result.parquet).sort_values("source_id", ignore_index=True)
    new = catalogue.sort_values("source_id", ignore_index=True)
    domain_columns = ["n_bands_detected", "domain_fraction", "in_labelled_domain"]
    assert list(old.columns) == list(new.columns) and old[domain_columns].isna().all().all()
    thresholds = json.loads((uncalibrated_model_set / "manifest.json").read_text())["thresholds"]
    done = old["status"].isin(["classified", "labelled"])
    for m in MODELS:
        np.testing.assert_array_equal(old[p_agn_column(m)].to_numpy(), old[score_agn_column(m)].to_numpy())
        # same networks: same raw scores; an older set keeps the raw-score thresholds it recorded
        np.testing.assert_array_equal(old[score_agn_column(m)].to_numpy(), new[score_agn_column(m)].to_numpy())
        expected = np.where(old.loc[done, score_agn_column(m)] >= thresholds[m], "AGN", "SFG")
        assert (old.loc[done, class_column(m)] == expected).all()
    # it has no decision rule, so no named subsets: null, not False
    assert old[["agn_reliable", "agn_complete"]].isna().all().all()
    assert models["decision"]["class_rule"].startswith("class_<model> = AGN where the raw score")
    from astropy.io import fits
    from astropy.table import Table

    names = Table.read(result.fits).colnames
    assert "UNCALIBRATED" in fits.getheader(result.fits, 1)[f"TCOMM{names.index('p_agn_A') + 1}"]


def test_consensus_of_four_voters_on_hand_made_predictions():
    """Four voters: a 2-2 split has no consensus class; a voter that did not score a row leaves it unclassified."""
    from nepagn.model.decision import ClassDecision, DecisionRule
    from nepagn.pipeline.catalogue_schema import catalogue_columns
    from nepagn.pipeline.merge import merge_partition

    models = ["A", "B", "C", "HGBC"]
    rule = DecisionRule({m: 0.5 for m in models}, 0.9, 0.3, "hand-made", 4, 0.5)
    decision = ClassDecision(rule, {})
    frame = pd.DataFrame({"source_id": ["s0", "s1", "s2", "s3"], "status": ["classified"] * 4,
                          "label": pd.array([None] * 4, dtype="string"), "_healpix_29": np.arange(4, dtype="int64")})
    scores = {"A": [0.9, 0.9, 0.1, 0.9], "B": [0.9, 0.9, 0.1, 0.9], "C": [0.9, 0.1, 0.1, 0.9],
              "HGBC": [0.9, 0.1, 0.1, np.nan]}
    predictions = pd.DataFrame({col: values for m in models for col, values in
                                ((f"p_agn_{m}", scores[m]), (f"score_agn_{m}", scores[m]),
                                 (f"score_agn_{m}_std", [0.0] * 4))})
    from nepagn.calibration import ModelCalibration

    columns = catalogue_columns(models, with_std=True, with_truth=False,
                                calibration={m: ModelCalibration(m, reason="test") for m in models},
                                decision=decision)
    predictions = predictions.join(decision.decide(predictions, models))  # as the partition task does
    merged = merge_partition(frame, predictions, models, "run", "set", columns)
    assert merged["n_agn_votes"].tolist()[:3] == [4, 2, 0]
    consensus = merged["consensus_class"]
    assert consensus[0] == "AGN" and pd.isna(consensus[1]) and consensus[2] == "SFG"  # 2-2: no majority
    assert merged["unanimous"].tolist()[:3] == [True, False, True]
    # HGBC did not score s3: no consensus, no votes, no mean, no subsets
    assert pd.isna(merged.loc[3, "consensus_class"]) and pd.isna(merged.loc[3, "n_agn_votes"])
    assert np.isnan(merged.loc[3, "p_agn_mean"]) and pd.isna(merged.loc[3, "agn_reliable"])
    assert merged["agn_complete"].tolist()[:3] == [True, True, False]  # p_agn_mean 0.9, 0.5, 0.1 against 0.3
