"""Training protocol: Eq. 3 termination, CV bookkeeping, determinism, MODELDIR, Dask, ModelSet round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from nepagn.calibration import Calibrator, brier, fit_calibrator
from nepagn.errors import InputError, NepagnError
from nepagn.model.baseline import BASELINE_MODEL
from nepagn.model.config import ModelConfig, load_model_config, load_training_config
from nepagn.model.cv import stratified_folds
from nepagn.model.inference import ModelSet
from nepagn.model.loop import fit_network
from nepagn.model.termination import TerminationTracker, should_stop
from nepagn.model.training import train_model_set
from nepagn.simulate import simulate_catalogue

BANDS = ("hsc_g", "hsc_i", "akari_n2", "akari_n4", "akari_s11", "akari_l18w")


@pytest.fixture(scope="module")
def mock():
    """A small mock catalogue and its labelled rows (the labelled fraction is realistic: ~2 %)."""
    catalogue = simulate_catalogue(8000, seed=3)
    labelled = catalogue[catalogue["label"].notna()].reset_index(drop=True)
    assert (labelled["label"] == "AGN").sum() >= 6
    return catalogue, labelled


# --- Eq. 3 on synthetic monitor sequences -------------------------------------------------------------


def test_eq3_stops_once_monitor_fell_by_more_than_delta_over_m_epochs():
    # Table 1 Model A: M = 4, delta = -0.10
    assert not should_stop([1.0, 1.2, 1.3, 1.3, 1.25], 4, -0.10)  # 1.25 - 1.0 = +0.25
    assert not should_stop([1.3, 1.3, 1.3, 1.3, 1.21], 4, -0.10)  # fell by 0.09 only
    assert should_stop([1.3, 1.3, 1.3, 1.3, 1.19], 4, -0.10)  # fell by 0.11
    assert not should_stop([2.0, 1.0, 0.5], 4, -0.10)  # fewer than M + 1 epochs: never


def test_eq3_positive_delta_is_classic_patience():
    assert should_stop([1.0, 1.005, 1.01], 2, 0.05)  # improved by less than delta over M epochs


def test_tracker_keeps_best_epoch_and_respects_cap():
    tracker = TerminationTracker(patience_m=2, delta=-0.1, max_epochs=100)
    decisions = [tracker.update(v) for v in (1.0, 1.5, 1.4, 1.3)]
    assert decisions[-1] == (False, True) and tracker.stop_reason == "eq3"  # 1.3 - 1.5 = -0.2 < -0.1
    assert tracker.best_epoch == 1 and tracker.best_value == 1.5
    capped = TerminationTracker(patience_m=2, delta=-0.1, max_epochs=3)
    assert [capped.update(v)[1] for v in (1.0, 1.1, 1.2)] == [False, False, True]
    assert capped.stop_reason == "max_epochs"


def test_smoothed_eq3_rides_out_a_one_epoch_dip_and_stops_on_a_sustained_fall():
    """A noisy monitor (one epoch falls by more than |delta| and recovers) stops Eq. 3 as written; averaged
    over M epochs it trains on, and still stops once the monitor has really fallen. The best epoch is the
    best smoothed one, not a lucky single epoch."""
    noisy = [1.0, 1.2, 1.3, 1.35, 1.2, 1.36, 1.38, 1.4, 1.41, 1.42]
    raw = TerminationTracker(patience_m=2, delta=-0.1, max_epochs=100)
    assert [raw.update(v)[1] for v in noisy[:5]][-1] and raw.stop_reason == "eq3"  # 1.2 - 1.3 < -0.1 at epoch 4
    smoothed = TerminationTracker(patience_m=2, delta=-0.1, max_epochs=100, window=2)
    assert not any(smoothed.update(v)[1] for v in noisy)
    falling = [1.42, 1.2, 1.1, 1.0]
    stops = [smoothed.update(v)[1] for v in falling]
    assert stops.index(True) == 1 and smoothed.stop_reason == "eq3"  # mean(1.42, 1.2) - mean(1.41, 1.42) < -0.1
    lucky = TerminationTracker(patience_m=2, delta=-1.0, max_epochs=100, window=2)
    for v in (1.0, 1.6, 1.0, 1.3, 1.35, 1.36):
        lucky.update(v)
    assert lucky.best_epoch == 5 and lucky.best_value == pytest.approx(1.355)  # not the single 1.6 at epoch 1


def test_model_configs_match_table_1():
    table1 = {"A": (4, 1.5, -0.10), "B": (4, 3.0, -0.15), "C": (6, 5.0, -0.20)}
    for name, (m, n, delta) in table1.items():
        cfg = load_model_config(name)
        assert (cfg.alpha, cfg.gamma, cfg.patience_m, cfg.weight_n, cfg.delta) == (0.99, 2.0, m, n, delta)


# --- a real short training --------------------------------------------------------------------------------


def test_real_training_stops_by_eq3_and_restores_best_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (200, 6, 2, 1)).astype("float32")
    y = (rng.random(200) < 0.3).astype(int)
    x[y == 1, 3:, 0, 0] += 1.5
    # a hair-trigger rule (any fall of the monitor) must fire long before the cap
    eager = ModelConfig("T", alpha=0.99, gamma=2.0, patience_m=1, weight_n=1.5, delta=-1e-9)
    result = fit_network(x[:150], y[:150], x[150:], y[150:], eager, load_training_config(), seed=1, max_epochs=400)
    assert result.stop_reason == "eq3" and result.epochs_run < 400
    monitor = result.history["monitor"]
    assert result.best_epoch == int(np.argmax(monitor))
    p = np.asarray(result.model(x[150:], training=False)).ravel()
    pred = p >= 0.5
    truth = y[150:].astype(bool)
    restored = 1.5 * np.sum(pred & truth) / truth.sum() + np.mean(pred == truth)
    assert restored == pytest.approx(monitor[result.best_epoch])


def test_weight_average_monitors_and_keeps_the_averaged_network():
    """training.weight_average: the monitor reads the running average of the weights, and the network kept is
    that average at the best epoch (it reproduces the best monitor value), not the last weights trained."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (200, 6, 2, 1)).astype("float32")
    y = (rng.random(200) < 0.3).astype(int)
    x[y == 1, 3:, 0, 0] += 1.5
    model = ModelConfig("T", alpha=0.5, gamma=2.0, patience_m=1, weight_n=1.5, delta=-1e-9)
    plain = fit_network(x[:150], y[:150], x[150:], y[150:], model, load_training_config(batch_size=32), seed=1,
                        max_epochs=12)
    averaged = fit_network(x[:150], y[:150], x[150:], y[150:], model,
                           load_training_config(batch_size=32, weight_average=0.9), seed=1, max_epochs=12)
    assert averaged.history["loss"][:2] == plain.history["loss"][:2]  # the same training steps ...
    assert averaged.history["val_loss"][0] != plain.history["val_loss"][0]  # ... monitored through the average
    p = np.asarray(averaged.model(x[150:], training=False)).ravel()
    truth = y[150:].astype(bool)
    kept = 1.5 * np.sum((p >= 0.5) & truth) / truth.sum() + np.mean((p >= 0.5) == truth)
    assert kept == pytest.approx(averaged.history["monitor"][averaged.best_epoch])
    with pytest.raises(NepagnError, match="weight_average"):
        load_training_config(weight_average=1.0)


# --- CV bookkeeping ---------------------------------------------------------------------------------------


def test_threshold_rules_on_hand_made_scores():
    from nepagn.model.metrics import best_balanced_threshold, choose_threshold

    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.6, 0.3, 0.5, 0.2, 0.1, 0.1, 0.05])
    # balanced accuracy: at 0.6 completeness 2/3 and specificity 1 (0.833); at 0.3 1 and 4/5 (0.9): 0.3 wins
    assert best_balanced_threshold(y, p) == 0.3
    # Eq. 3's monitor N * completeness + accuracy rewards AGN completeness N times: with N = 5 the lowest
    # score that catches every AGN wins, with N = 0 (accuracy alone) the cut that misclassifies fewest
    assert choose_threshold(y, p, 5.0) == 0.3
    assert choose_threshold(y, p, 0.0) == 0.6


def test_equal_completeness_threshold_balances_the_classes():
    from nepagn.model.metrics import best_balanced_threshold, equal_completeness_threshold

    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.45, 0.35, 0.6, 0.4, 0.3, 0.2, 0.15, 0.1, 0.05, 0.02])
    # at 0.4 three of four AGN and six of eight SFG: completeness 0.75 each; at 0.35 every AGN but six of
    # eight SFG (balanced accuracy 0.875, the maximum): the rules differ
    assert equal_completeness_threshold(y, p) == 0.4
    assert best_balanced_threshold(y, p) == 0.35
    # equally far from balance at 0.7 (no AGN, half the SFG) and 0.5 (the AGN, half the SFG): the one with
    # the higher balanced accuracy wins
    assert equal_completeness_threshold(np.array([1, 0, 0]), np.array([0.5, 0.7, 0.2])) == 0.5


def test_training_config_names_its_threshold_rule(tmp_path):
    assert load_training_config(recipe="catalogue").threshold_rule == "equal_completeness"
    assert load_training_config(recipe="paper").threshold_rule == "balanced_accuracy"
    bad = tmp_path / "training.toml"
    bad.write_text('threshold_rule = "youden"\n')
    with pytest.raises(NepagnError, match=r"training\.toml: threshold_rule 'youden' is not one of"):
        load_training_config(bad)


def test_the_default_builds_quick_set_trains_with_the_catalogue_recipe():
    from nepagn.pipeline.config import load_pipeline_config
    from nepagn.pipeline.inputs import quick_training_config

    settings = load_pipeline_config().quick_training
    training = quick_training_config(settings)
    assert training.threshold_rule == load_training_config(recipe="catalogue").threshold_rule == "equal_completeness"
    assert training.batch_size == settings["batch_size"] == 128


def test_stratified_folds_validate_every_row_once():
    y = np.array([1] * 30 + [0] * 170)
    folds = stratified_folds(y, 10, seed=4)
    assert set(np.unique(folds)) == set(range(10))
    for fold in range(10):
        assert 2 <= y[folds == fold].sum() <= 4  # 3 AGN per fold, stratified
    assert not np.array_equal(folds, stratified_folds(y, 10, seed=5))
    np.testing.assert_array_equal(folds, stratified_folds(y, 10, seed=4))


@pytest.fixture(scope="module")
def paper_run(mock, tmp_path_factory):
    _, labelled = mock
    out = tmp_path_factory.mktemp("runs") / "paper"
    return train_model_set(
        labelled, out, models=("A",), folds=3, seeds=(0, 1), max_epochs=4, bands=BANDS, progress=False
    )


def test_modeldir_oof_covers_every_labelled_row_once_per_seed(mock, paper_run):
    _, labelled = mock
    oof = pd.read_parquet(paper_run / "oof_predictions.parquet")
    assert list(oof.columns[:6]) == ["source_id", "model", "fold", "seed", "y_true", "p_agn"]
    for seed in (0, 1):
        ids = oof.loc[oof["seed"] == seed, "source_id"]
        assert ids.is_unique and set(ids) == set(labelled["source_id"].astype(str))
    truth = dict(zip(labelled["source_id"].astype(str), labelled["label"] == "AGN", strict=True))
    assert (oof["y_true"].astype(bool) == oof["source_id"].map(truth)).all()
    folds = pd.read_parquet(paper_run / "folds.parquet")
    merged = oof.merge(folds, on=["source_id", "seed"], suffixes=("", "_assigned"))
    assert (merged["fold"] == merged["fold_assigned"]).all()


def test_modeldir_records_metrics_hashes_and_figures(paper_run):
    manifest = json.loads((paper_run / "manifest.json").read_text())
    assert len(manifest["members"]) == 6 and manifest["thresholds"] == {"A": 0.5}
    assert all(name in manifest["file_hashes"] for name in ("oof_predictions.parquet", "table1.md", "fig8_roc.png"))
    metrics = pd.read_csv(paper_run / "metrics.csv")
    assert len(metrics) == 6 and metrics["roc_auc"].between(0, 1).all()
    summary = pd.read_csv(paper_run / "metrics_summary.csv").set_index("model")
    assert summary.loc["A", "n_runs"] == 6 and summary.loc[BASELINE_MODEL, "n_runs"] == 6
    assert summary.loc["A", "accuracy_mean"] == pytest.approx(metrics["accuracy"].mean())
    for name in ("fig7_history_A.png", "fig8_roc.png", "baseline_hgb_metrics.csv"):
        assert (paper_run / name).stat().st_size > 0
    table1 = (paper_run / "table1.md").read_text()
    assert f"Thresholds of the class metrics: the networks: 0.5, as the paper; {BASELINE_MODEL} baseline: 0.5" in table1
    history = pd.read_csv(paper_run / "networks/A/seed0/fold0/history.csv")
    assert len(history) == 4 and {"loss", "monitor", "agn_completeness"} <= set(history.columns)


def test_model_set_round_trip_and_predict(mock, paper_run):
    catalogue, labelled = mock
    ms = ModelSet.load(paper_run)
    assert ms.names == ["A"] and [b.id for b in ms.bands] == list(BANDS)
    assert "fold-ensemble" in ms.rule and ms.thresholds == {"A": 0.5}
    assert len(ms.model_set_id) == 64 and len(ms.labels_hash) == 64
    part = catalogue.iloc[:500].set_index(pd.RangeIndex(1000, 1500))
    predicted = ms.predict_proba(part)
    assert list(predicted.columns) == ["p_agn_A", "score_agn_A", "score_agn_A_std"]
    assert predicted.index.equals(part.index)
    assert predicted["score_agn_A"].between(0, 1).all() and (predicted["score_agn_A_std"] >= 0).all()
    # p_agn is the model set's calibrator applied to the raw ensemble score
    calibrator = Calibrator.from_json((paper_run / "calibration" / "A.json").read_text())
    np.testing.assert_array_equal(
        predicted["p_agn_A"].to_numpy(), calibrator.transform(predicted["score_agn_A"].to_numpy(dtype="float64"))
    )
    assert ms.calibration["A"].calibrated and ms.calibration["A"].fitted_on == "out_of_fold"
    # the ensemble mean is the mean of the member networks, computed independently here
    import keras

    from nepagn.features import FeatureSpec

    spec = FeatureSpec(bands=BANDS)
    manifest = json.loads((paper_run / "manifest.json").read_text())
    outputs = [np.asarray(keras.models.load_model(paper_run / m["path"], compile=False)(
        spec.transform(part.iloc[:5]), training=False)).ravel() for m in manifest["members"]]
    assert len(outputs) == 6  # 3 folds x 2 seeds
    np.testing.assert_allclose(predicted["score_agn_A"].to_numpy()[:5], np.mean(outputs, axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(predicted["score_agn_A_std"].to_numpy()[:5], np.std(outputs, axis=0), rtol=1e-4,
                               atol=1e-6)
    member = keras.models.load_model(paper_run / "networks/A/seed1/fold2/model.keras", compile=False)
    oof = pd.read_parquet(paper_run / "oof_predictions.parquet")
    row = oof[(oof["seed"] == 1) & (oof["fold"] == 2)].iloc[0]
    own = labelled[labelled["source_id"].astype(str) == row["source_id"]]
    assert float(np.asarray(member(spec.transform(own), training=False)).ravel()[0]) == pytest.approx(
        row["p_agn"], rel=1e-5
    )


def test_paper_modeldir_calibrates_on_the_out_of_fold_predictions(paper_run):
    manifest = json.loads((paper_run / "manifest.json").read_text())
    section = manifest["calibration"]
    assert section["method"] == "isotonic" and section["fitted_on"] == "out_of_fold"
    assert section["models"]["A"]["file"] == "calibration/A.json" and "calibration/A.json" in manifest["file_hashes"]
    assert not (paper_run / "inner_predictions.parquet").exists()  # the paper protocol has no inner split
    oof = pd.read_parquet(paper_run / "oof_predictions.parquet")
    refit = fit_calibrator(oof["p_agn"].to_numpy(), oof["y_true"].to_numpy())
    saved = Calibrator.from_json((paper_run / "calibration" / "A.json").read_text())
    assert (saved.x, saved.y, saved.n_fit) == (refit.x, refit.y, len(oof))  # all seeds' out-of-fold scores, pooled


def test_model_set_detects_a_modified_weight_file(paper_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(paper_run, copy)
    with (copy / "networks/A/seed0/fold1/model.keras").open("ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(NepagnError, match="SHA-256"):
        ModelSet.load(copy)


def test_training_is_deterministic_per_seed(mock, paper_run, tmp_path):
    _, labelled = mock
    again = train_model_set(
        labelled, tmp_path / "again", models=("A",), folds=3, seeds=(0, 1), max_epochs=4, bands=BANDS, progress=False
    )
    first = pd.read_parquet(paper_run / "oof_predictions.parquet")
    second = pd.read_parquet(again / "oof_predictions.parquet")
    pd.testing.assert_frame_equal(first, second)


@pytest.fixture(scope="module")
def strict_run(mock, tmp_path_factory):
    """Model B (focal loss, alpha 0.99) under the strict protocol, 3 full-batch epochs: raw scores far too high."""
    _, labelled = mock
    return train_model_set(
        labelled,
        tmp_path_factory.mktemp("runs") / "strict",
        models=("B",),
        folds=3,
        protocol="strict",
        seeds=(0,),
        max_epochs=3,
        bands=BANDS,
        progress=False,
        feature_options={"standardise": True},
    )


def test_strict_protocol_never_monitors_on_the_outer_fold(mock, strict_run):
    _, labelled = mock
    out = strict_run
    split = pd.read_parquet(out / "networks/B/seed0/fold1/split.parquet")
    assert set(split["role"]) == {"train", "inner_monitor", "validation"}
    folds = pd.read_parquet(out / "folds.parquet")
    validation = set(folds.loc[folds["fold"] == 1, "source_id"])
    assert set(split.loc[split["role"] == "validation", "source_id"]) == validation
    assert not validation & set(split.loc[split["role"] == "inner_monitor", "source_id"])
    manifest = json.loads((out / "manifest.json").read_text())
    chosen = [m["threshold"] for m in manifest["members"]]
    assert manifest["thresholds"]["B"] == pytest.approx(float(np.median(chosen)))
    spec = json.loads((out / "networks/B/seed0/fold1/feature_spec.json").read_text())
    assert spec["standardise"] and spec["scale"] is not None
    assert ModelSet.load(out).predict_proba(labelled.iloc[:20])["p_agn_B"].notna().all()


def test_table1_says_which_threshold_its_class_metrics_are_at(strict_run):
    from nepagn.model.figures import threshold_sentence

    assert "the networks: maximum balanced accuracy on their inner held-out rows" in (
        strict_run / "table1.md").read_text()
    sentence = threshold_sentence("strict", "equal_completeness", ["A", "B", "HGBC"])
    assert "equal AGN and SFG completeness" in sentence and "HGBC: maximum balanced accuracy" in sentence
    assert "baseline" not in sentence


def test_strict_modeldir_calibrates_on_the_inner_splits_only(strict_run):
    manifest = json.loads((strict_run / "manifest.json").read_text())
    assert manifest["calibration"]["fitted_on"] == "inner_split"
    assert manifest["file_hashes"]["calibration/B.json"] and manifest["file_hashes"]["inner_predictions.parquet"]
    inner = pd.read_parquet(strict_run / "inner_predictions.parquet")
    for fold in range(3):
        split = pd.read_parquet(strict_run / f"networks/B/seed0/fold{fold}/split.parquet")
        mine = inner.loc[inner["fold"] == fold, "source_id"]
        assert set(mine) == set(split.loc[split["role"] == "inner_monitor", "source_id"])  # never the outer fold
    refit = fit_calibrator(inner["p_agn"].to_numpy(), inner["y_true"].to_numpy())
    saved = Calibrator.from_json((strict_run / "calibration" / "B.json").read_text())
    assert (saved.x, saved.y, saved.n_fit) == (refit.x, refit.y, len(inner))


def test_calibrated_p_agn_beats_the_raw_score_on_unseen_labelled_data(strict_run):
    """Labelled sources of another mock (never trained, monitored or calibrated on): Brier calibrated <= raw."""
    held_out = simulate_catalogue(8000, seed=11)
    held_out = held_out[held_out["label"].notna()]
    y = (held_out["label"] == "AGN").to_numpy().astype(int)
    predicted = ModelSet.load(strict_run).predict_proba(held_out)
    raw, calibrated = predicted["score_agn_B"].to_numpy(dtype="float64"), predicted["p_agn_B"].to_numpy()
    assert raw.mean() > y.mean() + 0.2  # alpha = 0.99 inflates the raw score far above the AGN fraction
    assert brier(y, calibrated) <= brier(y, raw)
    assert abs(calibrated.mean() - y.mean()) < abs(raw.mean() - y.mean())


def test_training_on_a_local_cluster_with_processes(mock, dask_client, tmp_path):
    _, labelled = mock
    out = train_model_set(
        labelled,
        tmp_path / "dask",
        models=("A", "C"),
        folds=2,
        seeds=(0,),
        client=dask_client,
        max_epochs=3,
        bands=BANDS,
        progress=False,
    )
    metrics = pd.read_csv(out / "metrics.csv")
    assert sorted(zip(metrics["model"], metrics["fold"], strict=True)) == [("A", 0), ("A", 1), ("C", 0), ("C", 1)]
    assert ModelSet.load(out).names == ["A", "C"]


def test_bad_labels_and_existing_output_are_clear_errors(mock, paper_run, tmp_path):
    _, labelled = mock
    bad = labelled.copy()
    bad.loc[0, "label"] = "QSO"
    with pytest.raises(InputError, match="label"):
        train_model_set(bad, tmp_path / "bad", models=("A",), folds=3, max_epochs=2, bands=BANDS, progress=False)
    with pytest.raises(NepagnError, match="already exists"):
        train_model_set(labelled, paper_run, models=("A",), folds=3, max_epochs=2, bands=BANDS, progress=False)
    few = labelled[labelled["label"] == "SFG"].head(20).copy()
    few.loc[few.index[:2], "label"] = "AGN"
    with pytest.raises(InputError, match="needs >= 3 rows of each class"):
        train_model_set(few, tmp_path / "few", models=("A",), folds=3, max_epochs=2, bands=BANDS, progress=False)
    assert not (tmp_path / "bad").exists() and not (tmp_path / "few").exists()


# --- training on degraded copies (a target catalogue's depth) ------------------------------------------


@pytest.fixture(scope="module")
def degraded_inputs(mock):
    """The mock's labelled rows, its target photometry (the rows to classify) and 3-fold assignments."""
    from nepagn.bands import get_bands
    from nepagn.degrade import TargetPhotometry
    from nepagn.preprocess import STATUS, preprocess

    catalogue, labelled = mock
    rows = preprocess(catalogue)
    target = TargetPhotometry.fit(rows[rows[STATUS] == "classified"], get_bands(BANDS), "mock seed 3")
    y = (labelled["label"] == "AGN").to_numpy()
    return labelled, target, stratified_folds(y, 3, 0)


def test_degraded_network_never_fits_or_monitors_copies_of_held_out_sources(degraded_inputs):
    from nepagn.bands import get_bands
    from nepagn.features import FeatureSpec
    from nepagn.model.metrics import equal_completeness_threshold
    from nepagn.model.training import TrainingTask, train_one

    labelled, target, folds = degraded_inputs
    spec = FeatureSpec(bands=get_bands(BANDS), standardise=True, mask_channel=True, colour_channel=True)
    training = load_training_config(recipe="catalogue", batch_size=64, networks=1)
    task = TrainingTask(load_model_config("A"), 0, 0, "strict", training, spec.to_dict(), max_epochs=2, copies=3)
    result = train_one(task, labelled, folds, target)
    outer = np.flatnonzero(folds == 0)
    monitor = np.flatnonzero(result.roles == "inner_monitor")
    # the monitor (Eq. 3, threshold, calibration) is every copy of the inner rows, and of nothing else
    assert sorted(result.inner_rows.tolist()) == sorted(np.repeat(monitor, 3).tolist())
    assert set(result.inner_copy) == {0, 1, 2}
    assert not set(monitor) & set(outer)
    # the outer fold is scored as it is and as degraded copies of its own rows only
    assert len(result.p_outer) == len(outer)
    assert sorted(result.outer_degraded_rows.tolist()) == sorted(np.repeat(outer, 3).tolist())
    assert np.isfinite(result.p_outer_degraded).all()
    assert spec.n_channels == 4 and result.spec["colour_channel"]
    # the threshold is the configured rule's on the monitor copies' ensemble scores
    y = (labelled["label"] == "AGN").to_numpy()
    assert result.threshold == equal_completeness_threshold(y[result.inner_rows], result.p_inner)


def test_training_data_keeps_every_copy_of_a_source_on_one_side(degraded_inputs):
    from nepagn.model.training_data import TrainingData

    labelled, target, folds = degraded_inputs
    y = (labelled["label"] == "AGN").to_numpy()
    data = TrainingData.make(labelled, y, target, copies=4, seed=1)
    fit, held = data.rows(np.flatnonzero(folds != 0)), data.rows(np.flatnonzero(folds == 0))
    assert len(fit) + len(held) == 4 * len(labelled)
    assert not set(data.objects[fit]) & set(data.objects[held])
    assert (data.y == y[data.objects]).all()
    plain = TrainingData.make(labelled, y, None, copies=4, seed=1)
    assert not plain.degraded and (plain.rows(np.arange(5)) == np.arange(5)).all()


def test_degraded_hgbc_inner_members_hold_out_whole_sources(degraded_inputs):
    from nepagn.model.hgb_training import HgbTask, train_hgb_one

    labelled, target, folds = degraded_inputs
    result = train_hgb_one(HgbTask("HGBC", 1, 0, "strict", BANDS, copies=2), labelled, folds, target)
    train = np.flatnonzero(folds != 1)
    # each training source is held out by exactly one inner member, with both its copies
    counts = pd.Series(result.inner_rows).value_counts()
    assert set(counts.index) == set(train) and (counts == 2).all()
    assert sorted(result.outer_degraded_rows.tolist()) == sorted(np.repeat(np.flatnonzero(folds == 1), 2).tolist())


def test_degraded_copies_are_not_augmented(degraded_inputs):
    """The recipe's noise_augment / band_dropout redraw the labelled photometry as it is; a network trained on
    degraded copies (already redrawn at the target's depth) trains exactly as with augmentation off, while the
    same task without a target does not."""
    from nepagn.bands import get_bands
    from nepagn.features import FeatureSpec
    from nepagn.model.training import TrainingTask, train_one

    labelled, target, folds = degraded_inputs
    spec = FeatureSpec(bands=get_bands(BANDS), standardise=True, mask_channel=True, colour_channel=True)
    results = {}
    for name, augment in (("off", {"noise_augment": 0.0, "band_dropout": 0.0}),
                          ("on", {"noise_augment": 1.0, "band_dropout": 0.2})):
        training = load_training_config(recipe="catalogue", batch_size=64, networks=1, **augment)
        task = TrainingTask(load_model_config("A"), 0, 0, "strict", training, spec.to_dict(), max_epochs=3, copies=2)
        results[name, "target"] = train_one(task, labelled, folds, target)
        results[name, "as it is"] = train_one(task, labelled, folds, None)
    assert np.array_equal(results["off", "target"].p_outer, results["on", "target"].p_outer)
    assert not np.array_equal(results["off", "as it is"].p_outer, results["on", "as it is"].p_outer)


def test_model_set_trained_on_a_target_records_it_and_its_decision_rule(degraded_inputs, tmp_path):
    from nepagn.degrade import TargetPhotometry

    labelled, target, _ = degraded_inputs
    root = train_model_set(labelled, tmp_path / "m", models=["A"], folds=2, protocol="strict", max_epochs=2,
                           bands=BANDS, progress=False, baseline=False, target=target, copies=2,
                           feature_options={"standardise": True})
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["degradation"]["applied"] and manifest["degradation"]["copies"] == 2
    assert manifest["degradation"]["augmentation"].startswith("none")
    assert "target_depth.json" in manifest["file_hashes"] and "decision.json" in manifest["file_hashes"]
    assert TargetPhotometry.load(root).n_rows == target.n_rows
    oof_degraded = pd.read_parquet(root / "oof_degraded_predictions.parquet")
    assert len(oof_degraded) == 2 * len(labelled) and set(oof_degraded["copy"]) == {0, 1}
    inner = pd.read_parquet(root / "inner_predictions.parquet")
    assert set(inner["copy"]) == {0, 1}  # calibration saw degraded held-out copies
    decision = manifest["decision"]
    assert "target" in decision["estimated_on"] and decision["n_reference"] == len(target.sample)
    # the census cut: on the reference sample, as many AGN called as expected
    ms = ModelSet.load(root)
    predicted = ms.predict_proba(target.sample)
    p, score = predicted["p_agn_A"].to_numpy(), predicted["score_agn_A"].to_numpy()
    cut = ms.decision.rule.class_thresholds["A"]
    assert abs(int((score >= cut).sum()) - p.sum()) <= max(1, int((score == cut).sum()))


@pytest.fixture(scope="module")
def three_network_run(mock, tmp_path_factory):
    """Model A with --networks 3: three differently initialised networks per (fold, seed), strict protocol."""
    _, labelled = mock
    return train_model_set(labelled, tmp_path_factory.mktemp("runs") / "three", models=["A"], folds=2,
                           protocol="strict", max_epochs=2, bands=BANDS, progress=False, baseline=False, networks=3,
                           feature_options={"standardise": True})


def _outer_scores(root, labelled, fold):
    """Each network of Model A's fold `fold` (seed 0) on that fold's outer rows, in restart order, and the rows."""
    import keras

    from nepagn.features import FeatureSpec

    manifest = json.loads((root / "manifest.json").read_text())
    members = sorted((m for m in manifest["members"] if m["fold"] == fold), key=lambda m: m["restart"])
    spec = FeatureSpec.from_dict(json.loads((root / members[0]["feature_spec"]).read_text()))
    oof = pd.read_parquet(root / "oof_predictions.parquet")
    rows = oof[oof["fold"] == fold]
    x = spec.transform(labelled.set_index("source_id").loc[rows["source_id"]].reset_index())
    return [np.asarray(keras.models.load_model(root / m["path"], compile=False)(x, training=False)).ravel()
            for m in members], rows


def test_several_networks_per_fold_are_one_ensemble(mock, three_network_run):
    """--networks 3: three differently initialised networks per fold, stored as members; their mean is the
    fold's out-of-fold score and the model set's ensemble."""
    _, labelled = mock
    root = three_network_run
    manifest = json.loads((root / "manifest.json").read_text())
    assert len(manifest["members"]) == 6
    assert sorted(m["restart"] for m in manifest["members"] if m["fold"] == 0) == [0, 1, 2]
    scores, rows = _outer_scores(root, labelled, 0)
    assert not np.allclose(scores[0], scores[1])  # different initialisations
    np.testing.assert_allclose(rows["p_agn"].to_numpy(), np.mean(scores, axis=0), rtol=1e-5, atol=1e-6)
    assert len(ModelSet.load(root)._members["A"]) == 6


def test_restart_selection_reads_inner_rows_only(mock, three_network_run, strict_run):
    """`nepagn evaluate restarts`: the network kept per fold is chosen on the inner monitoring rows, so
    scrambling the outer folds' labels and photometry changes every outer score but not one choice."""
    from sklearn.metrics import roc_auc_score

    from nepagn.evaluation.restarts import restart_scores

    _, labelled = mock
    scores = restart_scores(three_network_run, labelled)
    assert list(scores["fold"]) == [0, 1] and set(scores["networks"]) == {3}
    oof = pd.read_parquet(three_network_run / "oof_predictions.parquet")
    for row in scores.itertuples():  # the networks' mean is the fold's stored out-of-fold score
        fold = oof[oof["fold"] == row.fold]
        assert row.mean == pytest.approx(roc_auc_score(fold["y_true"], fold["p_agn"]), abs=1e-6)
        assert row.kept_by_outer_auc >= max(row.kept_by_monitor, row.kept_by_inner_auc, row.single)
    networks, rows = _outer_scores(three_network_run, labelled, 0)  # the mean of 2, over the 3 pairs
    pairs = [roc_auc_score(rows["y_true"], (networks[i] + networks[j]) / 2) for i, j in ((0, 1), (0, 2), (1, 2))]
    assert scores.loc[0, "mean_of_2"] == pytest.approx(np.mean(pairs), abs=1e-6)

    outer = pd.read_parquet(three_network_run / "networks/A/seed0/fold0/split.parquet")
    outer = set(outer.loc[outer["role"] == "validation", "source_id"])
    scrambled = labelled.copy()
    hit = scrambled["source_id"].astype(str).isin(outer).to_numpy()
    scrambled.loc[hit, "label"] = np.where(scrambled.loc[hit, "label"] == "AGN", "SFG", "AGN")
    mags = [f"{band}_mag" for band in BANDS]
    scrambled.loc[hit, mags] = scrambled.loc[hit, mags].to_numpy()[::-1]
    again = restart_scores(three_network_run, scrambled)
    assert list(again.loc[0, ["network_kept_by_monitor", "network_kept_by_inner_auc"]]) == \
        list(scores.loc[0, ["network_kept_by_monitor", "network_kept_by_inner_auc"]])
    assert again.loc[0, "mean"] != pytest.approx(scores.loc[0, "mean"], abs=1e-3)
    # fold 1 trained and monitored on fold 0's outer rows: its kept epochs' monitors and outer scores stay
    unchanged = ["network_kept_by_monitor", "mean", "single", "kept_by_outer_auc"]
    pd.testing.assert_series_equal(again.loc[1, unchanged], scores.loc[1, unchanged])

    with pytest.raises(NepagnError, match="nothing to select among"):
        restart_scores(strict_run, labelled)


def test_restarts_command_names_a_missing_input(three_network_run, tmp_path, capsys):
    from nepagn.cli import main

    out = tmp_path / "restarts.csv"
    args = ["evaluate", "restarts", str(three_network_run), "--data", str(tmp_path / "absent.csv"), "--out", str(out)]
    assert main(args) == 2
    assert "absent.csv: not found (--data)" in capsys.readouterr().err and not out.exists()


def test_history_figure_marks_each_networks_own_best_epoch(tmp_path):
    """A fold of several networks of different lengths: each history is drawn with its own best epoch (the
    task's median best epoch lies beyond the shorter history and stopped the MODELDIR from being written)."""
    from nepagn.model.figures import _histories, plot_history

    fold = tmp_path / "networks" / "A" / "seed0" / "fold0"
    fold.mkdir(parents=True)
    columns = ["epoch", "loss", "val_loss", "agn_completeness", "sfg_completeness", "accuracy", "monitor"]
    for name, epochs in (("history.csv", 3), ("history_r1.csv", 9), ("history_r2.csv", 9)):
        pd.DataFrame({c: np.arange(epochs, dtype=float) for c in columns}).to_csv(fold / name, index=False)
    (fold / "config.json").write_text(json.dumps({"best_epoch": 7, "networks": [
        {"best_epoch": 2}, {"best_epoch": 7}, {"best_epoch": 8}]}))
    assert [(p.name, best) for p, best in _histories(tmp_path / "networks" / "A")] == [
        ("history.csv", 2), ("history_r1.csv", 7), ("history_r2.csv", 8)]
    plot_history(tmp_path, "A", tmp_path / "fig.png")
    assert (tmp_path / "fig.png").stat().st_size > 1000
