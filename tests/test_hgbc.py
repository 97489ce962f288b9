"""HGBC as a catalogue model: `nepagn train` fits the evaluated recipe, ModelSet loads it, build-catalogue writes it.

Real training on a small mock's labelled rows (networks on the session's LocalCluster), real skops files,
real catalogue read back."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from nepagn.bands import get_bands
from nepagn.calibration import Calibrator, fit_calibrator
from nepagn.cli import main
from nepagn.errors import NepagnError
from nepagn.evaluation.crossval import FoldTask, run_fold
from nepagn.model.baseline import BASELINE_MODEL
from nepagn.model.hgb import TRUSTED_TYPES, hgb_inputs, load_members
from nepagn.model.inference import ModelSet
from nepagn.model.manifest import Manifest
from nepagn.model.recipes import load_recipe
from nepagn.model.training import train_model_set
from nepagn.simulate import simulate_catalogue

BANDS = ("hsc_g", "hsc_i", "akari_n2", "akari_n4", "akari_s11", "akari_l18w")


@pytest.fixture(scope="module")
def mock():
    """A small mock catalogue and its labelled rows (~160, ~20 AGN)."""
    catalogue = simulate_catalogue(8000, seed=3)
    return catalogue, catalogue[catalogue["label"].notna()].reset_index(drop=True)


@pytest.fixture(scope="module")
def strict_set(mock, dask_client, tmp_path_factory):
    """Model A (2 epochs) and HGBC, strict protocol, 3 folds, trained on the LocalCluster."""
    _, labelled = mock
    return train_model_set(labelled, tmp_path_factory.mktemp("hgbc") / "strict", models=("A", "HGBC"), folds=3,
                           protocol="strict", seeds=(0,), client=dask_client, max_epochs=2, bands=BANDS,
                           progress=False, baseline=False)


@pytest.fixture(scope="module")
def paper_hgbc(mock, tmp_path_factory):
    """HGBC alone under the paper protocol, 2 seeds, in this process."""
    _, labelled = mock
    return train_model_set(labelled, tmp_path_factory.mktemp("hgbc") / "paper", models=("HGBC",), folds=3,
                           protocol="paper", seeds=(0, 1), bands=BANDS, progress=False)


class _NotAnEstimator:
    """A type skops does not trust: what a crafted members file could hold."""


def _manifest(root) -> dict:
    return json.loads((root / "manifest.json").read_text())


def test_train_hgbc_is_the_evaluated_recipe_fold_for_fold(mock, strict_set):
    """Out-of-fold and inner scores of `nepagn train`'s HGBC equal the evaluation code's HGBC on the same fold."""
    _, labelled = mock
    evaluated = run_fold(FoldTask(load_recipe("HGBC"), get_bands(BANDS), 0, 1, 3), labelled)
    for name, columns in (("oof_predictions.parquet", ["source_id", "p_agn", "threshold"]),
                          ("inner_predictions.parquet", ["source_id", "p_agn"])):
        trained = pd.read_parquet(strict_set / name)
        mine = trained[(trained["model"] == "HGBC") & (trained["fold"] == 1)].reset_index(drop=True)
        theirs = evaluated["oof" if name.startswith("oof") else "inner"]
        pd.testing.assert_frame_equal(mine[columns], theirs[columns], check_dtype=False)


def test_strict_modeldir_holds_hgbc_members_thresholds_and_calibration(mock, strict_set):
    _, labelled = mock
    manifest = _manifest(strict_set)
    assert manifest["models"] == ["A", "HGBC"]
    hgbc = [m for m in manifest["members"] if m["model"] == "HGBC"]
    assert {m["kind"] for m in manifest["members"] if m["model"] == "A"} == {"keras"}
    assert [m["kind"] for m in hgbc] == ["hgb"] * 3
    for member in hgbc:
        assert member["path"].startswith("estimators/HGBC/seed0/") and member["path"] in manifest["file_hashes"]
        assert member["inputs"] in manifest["file_hashes"]
    assert manifest["thresholds"]["HGBC"] == pytest.approx(float(np.median([m["threshold"] for m in hgbc])))
    assert "HGBC" in manifest["threshold_rule"] and "HGBC" in manifest["rule"]
    oof = pd.read_parquet(strict_set / "oof_predictions.parquet")
    assert sorted(oof.loc[oof["model"] == "HGBC", "source_id"]) == sorted(labelled["source_id"].astype(str))
    # inner scores: every training row of a fold once (one inner-fold estimator held it out), never the outer fold
    inner = pd.read_parquet(strict_set / "inner_predictions.parquet")
    inner = inner[inner["model"] == "HGBC"]
    for fold in range(3):
        split = pd.read_parquet(strict_set / f"estimators/HGBC/seed0/fold{fold}/split.parquet")
        rows = inner.loc[inner["fold"] == fold, "source_id"]
        assert rows.is_unique and set(rows) == set(split.loc[split["role"] == "train", "source_id"])
    assert manifest["calibration"]["fitted_on"] == "inner_split"
    refit = fit_calibrator(inner["p_agn"].to_numpy(), inner["y_true"].to_numpy())
    saved = Calibrator.from_json((strict_set / "calibration" / "HGBC.json").read_text())
    assert (saved.x, saved.y, saved.n_fit) == (refit.x, refit.y, len(inner))
    metrics = pd.read_csv(strict_set / "metrics.csv")
    assert sorted(metrics.loc[metrics["model"] == "HGBC", "fold"]) == [0, 1, 2]


def test_paper_protocol_hgbc_alone_keeps_its_inner_threshold_and_calibrates_out_of_fold(paper_hgbc):
    manifest = _manifest(paper_hgbc)
    assert manifest["models"] == ["HGBC"] and len(manifest["members"]) == 6
    chosen = [m["threshold"] for m in manifest["members"]]
    assert manifest["thresholds"]["HGBC"] == pytest.approx(float(np.median(chosen))) != 0.5
    assert not (paper_hgbc / "inner_predictions.parquet").exists()
    assert manifest["calibration"]["fitted_on"] == "out_of_fold"
    assert manifest["calibration"]["models"]["HGBC"]["n_fit"] == 2 * len(pd.read_parquet(paper_hgbc / "labels.parquet"))
    assert not (paper_hgbc / "fig7_history_HGBC.png").exists() and (paper_hgbc / "fig8_roc.png").is_file()
    assert {"HGBC", BASELINE_MODEL} <= set(pd.read_csv(paper_hgbc / "metrics_summary.csv")["model"])


def _direct_member_scores(root, manifest, frame) -> np.ndarray:
    """Each HGBC member's score computed here from its skops file and inputs.json, without ModelSet."""
    scores = []
    for member in (m for m in manifest["members"] if m["model"] == "HGBC"):
        estimators = sio.load(root / member["path"], trusted=TRUSTED_TYPES)
        inputs = json.loads((root / member["inputs"]).read_text())
        per_estimator = []
        for estimator, item in zip(estimators, inputs, strict=True):
            x = hgb_inputs(frame, get_bands(item["bands"]), item["colours"])[:, item["columns"]]
            per_estimator.append(estimator.predict_proba(x)[:, 1])
        scores.append(np.mean(per_estimator, axis=0))
    return np.vstack(scores)


def test_model_set_predicts_hgbc_as_its_saved_estimators_do(mock, strict_set):
    catalogue, labelled = mock
    manifest = _manifest(strict_set)
    ms = ModelSet.load(strict_set)
    part = catalogue.iloc[:400].set_index(pd.RangeIndex(5000, 5400))
    predicted = ms.predict_proba(part)
    assert list(predicted.columns) == ["p_agn_A", "score_agn_A", "score_agn_A_std",
                                       "p_agn_HGBC", "score_agn_HGBC", "score_agn_HGBC_std"]
    direct = _direct_member_scores(strict_set, manifest, part)
    np.testing.assert_allclose(predicted["score_agn_HGBC"].to_numpy(), direct.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(predicted["score_agn_HGBC_std"].to_numpy(), direct.std(axis=0), rtol=1e-9, atol=1e-15)
    calibrator = Calibrator.from_json((strict_set / "calibration" / "HGBC.json").read_text())
    np.testing.assert_array_equal(predicted["p_agn_HGBC"].to_numpy(),
                                  calibrator.transform(predicted["score_agn_HGBC"].to_numpy()))
    # the saved fold-1 member is the one that made fold 1's out-of-fold predictions
    oof = pd.read_parquet(strict_set / "oof_predictions.parquet")
    oof = oof[(oof["model"] == "HGBC") & (oof["fold"] == 1)]
    own = labelled.set_index(labelled["source_id"].astype(str)).loc[oof["source_id"]]
    np.testing.assert_allclose(_direct_member_scores(strict_set, manifest, own)[1], oof["p_agn"], rtol=1e-12)


def test_tampered_or_untrusted_hgbc_files_are_refused(strict_set, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(strict_set, copy)
    with (copy / "estimators/HGBC/seed0/fold2/members.skops").open("ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(NepagnError, match="fold2/members.skops: SHA-256 differs"):
        ModelSet.load(copy)
    with pytest.raises(NepagnError, match="fold2/members.skops: SHA-256 differs"):
        Manifest.read(copy)
    # a skops file holding a type nepagn does not trust is refused by name, even without the hash check
    untrusted = tmp_path / "untrusted.skops"
    sio.dump([_NotAnEstimator()], untrusted)
    with pytest.raises(NepagnError, match="untrusted.skops: holds types nepagn does not load"):
        load_members(untrusted, strict_set / "estimators/HGBC/seed0/fold0/inputs.json")


def test_a_manifest_whose_networks_have_no_kind_still_loads(mock, strict_set, tmp_path):
    """MODELDIRs written before members had a kind: a member without one is a Keras network."""
    catalogue, _ = mock
    copy = tmp_path / "old"
    shutil.copytree(strict_set, copy)
    manifest = _manifest(copy)
    for member in manifest["members"]:
        if member["kind"] == "keras":
            del member["kind"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    rows = catalogue.iloc[:50]
    old, new = ModelSet.load(copy).predict_proba(rows), ModelSet.load(strict_set).predict_proba(rows)
    pd.testing.assert_frame_equal(old, new)


def test_build_catalogue_writes_hgbc_columns_votes_and_provenance(strict_set, tiny_mock_store, dask_client, tmp_path):
    out = tmp_path / "catalogue"
    status = main(["build-catalogue", "--store", str(tiny_mock_store), "--models", str(strict_set), "--out", str(out),
                   "--scheduler", dask_client.scheduler.address, "--quiet"])
    assert status == 0
    catalogue = pd.read_parquet(out / "catalogue.parquet")
    rule = ModelSet.load(strict_set).decision.rule
    done = catalogue[catalogue["status"].isin(["classified", "labelled"])]
    assert len(done) and done[["p_agn_HGBC", "score_agn_HGBC", "score_agn_HGBC_std"]].notna().all().all()
    assert (done["class_HGBC"] == np.where(done["score_agn_HGBC"] >= rule.class_thresholds["HGBC"], "AGN", "SFG")).all()
    assert (done["class_HGBC"] == "AGN").any() and (done["class_HGBC"] == "SFG").any()
    # HGBC votes like every model of the set: 2 voters here, so a 1-1 split has no consensus class
    votes = (done["class_A"] == "AGN").astype(int) + (done["class_HGBC"] == "AGN").astype(int)
    assert (done["n_agn_votes"].astype(int) == votes).all()
    assert done.loc[votes == 1, "consensus_class"].isna().all() and (votes == 1).any()
    np.testing.assert_allclose(done["p_agn_mean"], done[["p_agn_A", "p_agn_HGBC"]].mean(axis=1))
    assert catalogue.loc[catalogue["status"] == "star", ["p_agn_HGBC", "class_HGBC"]].isna().all().all()
    provenance = json.loads((out / "provenance.json").read_text())
    manifest = _manifest(strict_set)
    assert provenance["models"]["names"] == ["A", "HGBC"]
    assert provenance["models"]["file_sha256"] == manifest["file_hashes"]
    assert provenance["models"]["calibration"]["models"]["HGBC"]["status"] == "calibrated"
    assert {"scikit-learn", "skops"} <= set(provenance["software"])
    from astropy.table import Table

    assert "p_agn_HGBC" in Table.read(out / "catalogue.fits").colnames
