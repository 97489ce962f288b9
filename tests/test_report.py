"""`nepagn report` on tiny real runs: a strict CV of a small network and an HGB ablation on mock galaxies."""

from __future__ import annotations

from dataclasses import replace

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from nepagn.bands import get_bands, load_registry
from nepagn.calibration import apply_calibration
from nepagn.cli import main
from nepagn.evaluation.crossval import INNER_FILE, OOF_FILE, run_cv
from nepagn.evaluation.mock import SELECTIONS_FILE, mock_galaxies, selection_table
from nepagn.evaluation.recipes import load_recipe
from nepagn.report.validation_figures import fold_metrics, load_predictions


@pytest.fixture(scope="module")
def galaxies() -> pd.DataFrame:
    return mock_galaxies(n_sources=1500, n_galaxies=240, seed=3)


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory, galaxies):
    """An EVALDIR of a 2-epoch network + HGB (2 folds x 2 seeds) and an HGB ablation EVALDIR with colour cuts."""
    root = tmp_path_factory.mktemp("runs")
    network = load_recipe("N")
    network = replace(network, members=1, training=replace(network.training, max_epochs=2))
    hgb = replace(load_recipe("HGB"), members=1)
    cv_dir = run_cv(galaxies, [network, hgb], load_registry(), root / "tiny_cv", [0, 1], n_folds=2)
    without_mir = tuple(b.id for b in load_registry() if b.group != "MIR")
    bands = {"all": load_registry(), "-MIR": get_bands(without_mir)}
    ablation_dir = run_cv(galaxies, [hgb], bands, root / "tiny_ablation", [0, 1], n_folds=2)
    selection_table(galaxies).to_parquet(ablation_dir / SELECTIONS_FILE, index=False)
    return cv_dir, ablation_dir


def test_cv_predicts_every_object_once_per_seed_and_model(tiny_runs, galaxies):
    cv_dir, _ = tiny_runs
    oof = pd.read_parquet(cv_dir / OOF_FILE)
    counts = oof.groupby(["model", "seed"])["source_id"].nunique()
    assert (counts == len(galaxies)).all() and len(oof) == 2 * 2 * len(galaxies)
    inner = pd.read_parquet(cv_dir / INNER_FILE)
    # inner rows are training rows of their outer fold: never the fold's own validation objects
    merged = inner.merge(oof[["model", "seed", "fold", "source_id"]], on=["model", "seed", "fold", "source_id"])
    assert merged.empty
    assert np.isfinite(oof["threshold"]).all()


def test_report_writes_figures_tables_and_calibrators(tiny_runs, tmp_path):
    cv_dir, ablation_dir = tiny_runs
    status = main(["report", "--models", str(cv_dir), str(ablation_dir), "--out", str(tmp_path), "--model", "N",
                   "--save-calibration"])
    assert status == 0
    text = (tmp_path / "validation_report.md").read_text()
    for expected in ("## tiny_cv", "| N |", "| HGB |", "Brier", "## tiny_ablation", "| -MIR |", "objects (AGN)"):
        assert expected in text
    for kind in ("tiny_cv_roc", "tiny_cv_calibration", "tiny_cv_uncertainty", "tiny_ablation_ablation",
                 "tiny_ablation_selections"):
        image = mpimg.imread(tmp_path / "figures" / f"validation_{kind}.png")
        assert image.shape[0] > 300 and image.shape[1] > 300
    calibrated = apply_calibration(cv_dir, np.array([0.0, 0.5, 1.0]), "N")
    assert ((calibrated >= 0) & (calibrated <= 1)).all() and np.all(np.diff(calibrated) >= 0)


def test_report_table_matches_fold_metrics(tiny_runs):
    cv_dir, _ = tiny_runs
    pred = load_predictions(cv_dir)
    per_fold = fold_metrics(pred.oof)
    assert len(per_fold) == 2 * 2 * 2  # models x seeds x folds
    assert per_fold["roc_auc"].between(0, 1).all()


def test_report_without_predictions_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", "--models", str(tmp_path), "--out", str(tmp_path / "docs")]) == 2
    assert "oof_predictions.parquet" in capsys.readouterr().err
    assert not (tmp_path / "docs" / "validation_report.md").exists()


def test_save_calibration_refuses_a_model_set_that_carries_its_own(tiny_runs, tmp_path, capsys):
    import json
    import shutil

    modeldir = tmp_path / "models"
    shutil.copytree(tiny_runs[0], modeldir, ignore=shutil.ignore_patterns("calibration"))
    (modeldir / "manifest.json").write_text(json.dumps({"calibration": {"fitted_on": "inner_split"}}))
    status = main(["report", "--models", str(modeldir), "--out", str(tmp_path / "docs"), "--save-calibration"])
    assert status == 2 and "already carries the calibrators" in capsys.readouterr().err
    assert not (modeldir / "calibration").exists()


@pytest.fixture(scope="module")
def hgb_seed_runs(tmp_path_factory, galaxies):
    """HGB CVs of the same galaxies over seeds 0, 1 and 1 again: runs that pool, and one that must not."""
    root = tmp_path_factory.mktemp("seed_runs")
    hgb = replace(load_recipe("HGB"), members=1)
    return [run_cv(galaxies, [hgb], load_registry(), root / name, seeds, n_folds=2)
            for name, seeds in (("seed0", [0]), ("seed1", [1]), ("seed1_again", [1]))]


def test_pooled_runs_report_as_one_run_over_all_their_seeds(hgb_seed_runs, tmp_path):
    seed0, seed1, _ = hgb_seed_runs
    status = main(["report", "--models", f"hgb_pooled={seed0}+{seed1}", str(seed0), "--out", str(tmp_path)])
    assert status == 0
    text = (tmp_path / "validation_report.md").read_text()
    pooled_row = next(line for line in text.splitlines() if line.startswith("| hgb_pooled | HGB |"))
    single_row = next(line for line in text.splitlines() if line.startswith("| seed0 | HGB |"))
    assert pooled_row.endswith("| 4 |") and single_row.endswith("| 2 |")  # 2 seeds x 2 folds vs 1 x 2
    assert "seeds [0, 1]" in text and f"`{seed1}`" in text
    pooled = fold_metrics(pd.concat([load_predictions(seed0).oof, load_predictions(seed1).oof]))
    auc = f"{pooled['roc_auc'].mean():.3f} ± {pooled['roc_auc'].std(ddof=1):.3f}"
    assert auc in pooled_row
    assert (tmp_path / "figures" / "validation_hgb_pooled_roc.png").is_file()


def test_pooling_refuses_runs_that_share_a_seed_or_differ_in_objects(hgb_seed_runs, tmp_path, capsys):
    _, seed1, seed1_again = hgb_seed_runs
    assert main(["report", "--models", f"{seed1}+{seed1_again}", "--out", str(tmp_path)]) == 2
    assert "seed 1 is also in" in capsys.readouterr().err
    other = tmp_path / "other_labels"
    other.mkdir()
    oof = pd.read_parquet(seed1_again / OOF_FILE)
    oof.loc[0, "y_true"] = 1 - oof.loc[0, "y_true"]
    oof.assign(seed=5).to_parquet(other / OOF_FILE, index=False)
    assert main(["report", "--models", f"{seed1}+{other}", "--out", str(tmp_path)]) == 2
    assert "objects or labels differ" in capsys.readouterr().err
    assert not (tmp_path / "validation_report.md").exists()


def test_report_of_a_model_set_shows_its_hgb_baseline_and_the_published_table(tiny_model_set, tmp_path):
    assert main(["report", "--models", str(tiny_model_set), "--out", str(tmp_path), "--model", "N,B"]) == 0
    text = (tmp_path / "validation_report.md").read_text()
    for model in ("A", "B", "C", "HGB"):
        assert f"| {tiny_model_set.name} | {model} |" in text
    assert "| A (paper) | 0.884 | 0.854 | 0.851 | 0.851 |" in text  # Chen et al. 2021 Table 1: AUC, AGN, SFG, acc.
    assert "Calibration of model B" in text  # the first of N,B that the model set has


def test_report_removes_figures_of_runs_it_no_longer_reports(hgb_seed_runs, tmp_path):
    seed0, seed1, _ = hgb_seed_runs
    figures = tmp_path / "figures"
    assert main(["report", "--models", str(seed0), str(seed1), "--out", str(tmp_path)]) == 0
    assert (figures / "validation_seed1_roc.png").is_file()
    (figures / "mock_coverage.png").write_bytes(b"not the report's")
    assert main(["report", "--models", str(seed0), "--out", str(tmp_path)]) == 0
    assert (figures / "validation_seed0_roc.png").is_file()
    assert not (figures / "validation_seed1_roc.png").exists()
    assert (figures / "mock_coverage.png").is_file()  # figures of other tools are left alone


def test_selection_table_quotes_no_classifier_auc_where_a_cut_applies_to_a_handful():
    from nepagn.report.validation_figures import selection_table

    rows = pd.DataFrame([
        {"label": "IRAC cut", "n": 2, "n_agn": 1, "tpr": 1.0, "fpr": 0.0, "precision": 1.0,
         "network_tpr_at_fpr": 0.6, "network_auc": 0.6, "network_auc_std": 0.55},
        {"label": "WISE cut", "n": 40, "n_agn": 10, "tpr": 0.9, "fpr": 0.1, "precision": 0.75,
         "network_tpr_at_fpr": 0.8, "network_auc": 0.93, "network_auc_std": 0.02},
    ])
    irac, wise = selection_table(rows).splitlines()[2:]
    assert "0.600" not in irac and "fewer than 5 objects of a class" in irac
    assert wise.endswith("| 0.800 | 0.930 ± 0.020 |")
