"""`nepagn report` on tiny real runs: a strict CV of a small network and an HGB ablation on mock galaxies."""

from __future__ import annotations

import shutil
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
from nepagn.model.baseline import BASELINE_MODEL
from nepagn.model.modeldir import BASELINE_OOF_FILE
from nepagn.model.recipes import load_recipe
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


def test_report_gives_every_models_per_object_spread_over_seeds(tiny_runs, tmp_path):
    """Issue 14's stability: for each model, the median and 90th percentile over objects of the std of an
    object's held-out score over the seeds, recomputed here from the stored predictions."""
    cv_dir, _ = tiny_runs
    assert main(["report", "--models", str(cv_dir), "--out", str(tmp_path), "--model", "N"]) == 0
    text = (tmp_path / "validation_report.md").read_text()
    oof = pd.read_parquet(cv_dir / OOF_FILE)
    for model in ("N", "HGB"):
        spread = oof[oof["model"] == model].groupby("source_id")["p_agn"].std()
        assert spread.notna().all() and spread.median() > 0
        assert f"| {model} | {spread.median():.3f} | {spread.quantile(0.9):.3f} | 2 |" in text


def test_report_table_matches_fold_metrics(tiny_runs, tmp_path):
    """The report's table row of each model is the mean ± std of its per-fold metrics (read from the report)."""
    cv_dir, _ = tiny_runs
    pred = load_predictions(cv_dir)
    per_fold = fold_metrics(pred.oof)
    assert len(per_fold) == 2 * 2 * 2  # models x seeds x folds
    assert main(["report", "--models", str(cv_dir), "--out", str(tmp_path), "--model", "N"]) == 0
    text = (tmp_path / "validation_report.md").read_text()
    section = text[text.index(f"## {cv_dir.name}"):]
    for model in ("N", "HGB"):
        row = next(line for line in section.splitlines() if line.startswith(f"| {model} |"))
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        folds = per_fold[per_fold["model"] == model]
        for column, metric in enumerate(("roc_auc", "balanced_accuracy", "agn_completeness", "precision",
                                         "sfg_completeness", "accuracy"), start=1):
            expected = f"{folds[metric].mean():.3f} ± {folds[metric].std(ddof=1):.3f}"
            assert cells[column] == expected, (model, metric, row)
        assert cells[-1] == "4"  # 2 seeds x 2 folds


def test_report_without_predictions_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", "--models", str(tmp_path), "--out", str(tmp_path / "docs")]) == 2
    assert "oof_predictions.parquet" in capsys.readouterr().err
    assert not (tmp_path / "docs" / "validation_report.md").exists()


def test_save_calibration_refuses_a_model_set_that_carries_its_own(tiny_model_set, tmp_path, capsys):
    import shutil

    modeldir = tmp_path / "models"
    shutil.copytree(tiny_model_set, modeldir)
    before = {path.name: path.read_bytes() for path in (modeldir / "calibration").iterdir()}
    status = main(["report", "--models", str(modeldir), "--out", str(tmp_path / "docs"), "--save-calibration"])
    assert status == 2 and "already carries the calibrators" in capsys.readouterr().err
    assert {path.name: path.read_bytes() for path in (modeldir / "calibration").iterdir()} == before


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
    for model in ("A", "B", "C", BASELINE_MODEL):
        assert f"| {tiny_model_set.name} | {model} |" in text
    assert "| A (paper) | 0.884 | 0.854 | 0.851 | 0.851 |" in text  # Chen et al. 2021 Table 1: AUC, AGN, SFG, acc.
    assert "Calibration of model B" in text  # the first of N,B that the model set has


@pytest.fixture(scope="module")
def strict_set_with_hgbc(tmp_path_factory):
    """A strict MODELDIR of networks A, B and HGBC (2 folds, 2 epochs) on a small mock's labelled rows."""
    from nepagn.model.training import train_model_set
    from nepagn.simulate import simulate_catalogue

    catalogue = simulate_catalogue(8000, seed=3)
    labelled = catalogue[catalogue["label"].notna()].reset_index(drop=True)
    return train_model_set(labelled, tmp_path_factory.mktemp("sets") / "strict", models=["A", "B", "HGBC"],
                           folds=2, protocol="strict", max_epochs=2, progress=False, networks=1,
                           bands=("hsc_g", "hsc_i", "akari_n2", "akari_n4", "akari_s11", "akari_l18w"))


def test_consensus_is_the_mean_of_each_models_per_fold_calibrated_probability(strict_set_with_hgbc, tmp_path):
    """What a catalogue's p_agn_mean would score, strictly: every model calibrated on its own fold's inner
    scores, their mean, and the class at the training folds' AGN fraction; recomputed here by hand."""
    from sklearn.metrics import roc_auc_score

    from nepagn.calibration import fit_calibrator
    from nepagn.report.validation_figures import consensus_metrics

    pred = load_predictions(strict_set_with_hgbc)
    per_fold = consensus_metrics(pred)
    # the HGB-balanced baseline is no member; with HGBC, the networks' own mean is given too
    assert set(per_fold["model"]) == {"A", "B", "HGBC", "mean of A, B, HGBC", "mean of A, B"}
    seed, fold = 0, 1
    oof, inner = pred.oof, pred.inner
    p = []
    for model in ("A", "B", "HGBC"):
        mine = inner[(inner["model"] == model) & (inner["seed"] == seed) & (inner["fold"] == fold)]
        calibrator = fit_calibrator(mine["p_agn"].to_numpy(), mine["y_true"].to_numpy())
        outer = oof[(oof["model"] == model) & (oof["seed"] == seed) & (oof["fold"] == fold)].sort_values("source_id")
        p.append(calibrator.transform(outer["p_agn"].to_numpy()))
    mean, y = np.mean(p, axis=0), outer["y_true"].to_numpy()
    a = oof[(oof["model"] == "A") & (oof["seed"] == seed)]
    prior = a.loc[a["fold"] != fold, "y_true"].mean()
    row = per_fold[(per_fold["model"] == "mean of A, B, HGBC") & (per_fold["seed"] == seed)
                   & (per_fold["fold"] == fold)].iloc[0]
    assert row["roc_auc"] == pytest.approx(roc_auc_score(y, mean))
    assert row["brier"] == pytest.approx(np.mean((mean - y) ** 2))
    called = mean >= prior
    assert row["balanced_accuracy"] == pytest.approx((called[y == 1].mean() + (~called[y == 0]).mean()) / 2)

    assert main(["report", "--models", str(strict_set_with_hgbc), "--out", str(tmp_path)]) == 0
    text = (tmp_path / "validation_report.md").read_text()
    assert "| mean of A, B, HGBC |" in text and "the class p >= the training folds' AGN fraction" in text


def test_older_model_sets_baseline_stored_as_hgb_is_read_under_its_own_name(tiny_model_set, tmp_path):
    """MODELDIRs written before the baseline was renamed call it "HGB", the name of a different recipe."""
    older = tmp_path / "older_set"
    shutil.copytree(tiny_model_set, older)
    stored = pd.read_parquet(older / BASELINE_OOF_FILE)
    assert set(stored["model"]) == {BASELINE_MODEL}
    stored.assign(model="HGB").to_parquet(older / BASELINE_OOF_FILE, index=False)
    models = load_predictions(older).oof["model"]
    assert BASELINE_MODEL in set(models) and "HGB" not in set(models)


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


# --- figures as they would appear in a paper (issue 16 item 19) ---


def _sky_summary() -> dict:
    """Counts of a small sky at order 8: 14 well-filled pixels and two with 1 and 2 classified sources."""
    import healpy as hp

    centre = hp.ang2pix(256, 270.0, 66.56, nest=True, lonlat=True)
    pixels = [int(p) for p in range(centre - 8, centre + 8)]
    classified = {str(p): 40 for p in pixels}
    agn = {str(p): 10 + i for i, p in enumerate(pixels)}
    classified[str(pixels[0])], agn[str(pixels[0])] = 1, 0  # 0/1 is not an AGN fraction of 0
    classified[str(pixels[1])], agn[str(pixels[1])] = 2, 0
    return {"sky": {"order": 8, "classified": classified, "agn": agn}}


def test_agn_fraction_map_has_ra_dec_axes_and_does_not_paint_sparse_pixels_as_zero():
    from matplotlib.collections import PolyCollection

    from nepagn.pipeline.catalogue_figures import agn_fraction_sky_figure

    figure = agn_fraction_sky_figure(_sky_summary())
    ax = figure.axes[0]
    assert ax.get_xlabel() == "RA (deg)" and ax.get_ylabel() == "Dec (deg)"
    left, right = ax.get_xlim()
    assert left > right  # east to the left
    figure.canvas.draw()
    assert [t.get_text() for t in ax.get_xticklabels() if t.get_text()] and \
        [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    coloured, sparse = [c for c in ax.collections if isinstance(c, PolyCollection)]
    np.testing.assert_allclose(np.sort(coloured.get_array()), np.sort([(12 + i) / 40 for i in range(14)]))
    assert len(sparse.get_paths()) == 2 and sparse.get_array() is None and sparse.get_hatch()
    bar_label = figure.axes[1].yaxis.label
    assert bar_label.get_text() == "AGN fraction (consensus class)"
    assert bar_label.get_fontsize() <= ax.xaxis.label.get_fontsize()
    import matplotlib.pyplot as plt

    plt.close(figure)


def test_selection_figure_draws_no_empty_panel_and_names_the_cuts_it_leaves_out(tiny_runs):
    import matplotlib.pyplot as plt

    from nepagn.report.validation_figures import MIN_PER_CLASS, selection_fig, selection_rows

    _, ablation_dir = tiny_runs
    pred = load_predictions(ablation_dir)
    model = next(m for m in pred.oof["model"].unique() if m.endswith(":all"))
    rows = selection_rows(pred, model)
    assert len(rows) >= 2
    # one cut now applies to only two objects, one of each class
    sel = pred.selections.copy()
    thin = rows.iloc[0]["selection"]
    column = f"sel_{thin}_applicable"
    y = sel["y_true"].astype(bool)
    keep = sel.index.isin([sel[y & sel[column]].index[0], sel[~y & sel[column]].index[0]])
    sel[column] = sel[column] & keep
    pred = replace(pred, selections=sel)
    rows = selection_rows(pred, model)
    shown = rows[[min(r["n_agn"], r["n"] - r["n_agn"]) >= MIN_PER_CLASS for _, r in rows.iterrows()]]
    figure = selection_fig(pred, model, "cuts")
    visible = [ax for ax in figure.axes if ax.axison]
    assert len(visible) == len(shown) and thin not in set(shown["selection"])
    for ax in visible:  # a ROC curve (many points) and the cut's point, never clipped at the frame
        lines = ax.get_lines()
        assert any(len(line.get_xdata()) > 100 for line in lines)
        stars = [line for line in lines if line.get_marker() == "*"]
        assert len(stars) == 1 and not stars[0].get_clip_on()
    notes = " ".join(text.get_text() for text in figure.texts)
    assert "Not shown" in notes and rows.set_index("selection").loc[thin, "label"] in notes
    plt.close(figure)


def test_mock_coverage_titles_give_each_bands_own_detected_fraction(tmp_path):
    from nepagn.report.mock_figures import COVERAGE_PANELS, coverage_figure, percent
    from nepagn.simulate import simulate_catalogue

    mock = simulate_catalogue(4000, seed=0)
    titles = coverage_figure(mock, tmp_path / "coverage.png")
    by_band = dict(zip([band for band, _ in COVERAGE_PANELS], titles, strict=True))
    for band in ("irac3", "irac4", "mips24"):
        fraction = mock[f"{band}_mag"].notna().mean()
        assert by_band[band].endswith(f": {percent(fraction)} detected"), by_band[band]
    assert "IRAC 5.8" in by_band["irac3"] and "MIPS 24" in by_band["mips24"] and "IRAC" not in by_band["mips24"]
    assert percent(0.0011) == "0.11 %" and percent(0.045) == "4.5 %" and percent(0.62) == "62 %"


def test_calibration_histogram_counts_objects_and_uncertainty_axes_say_raw_score(tiny_runs):
    import matplotlib.pyplot as plt

    from nepagn.report.validation_figures import calibration_fig, run_description, uncertainty_fig

    cv_dir, _ = tiny_runs
    pred = load_predictions(cv_dir)
    n_objects = pred.oof["source_id"].nunique()
    assert len(pred.oof[pred.oof["model"] == "N"]) == 2 * n_objects  # one prediction per object and seed
    figure, _ = calibration_fig(pred, "N", "title")
    hist = figure.axes[1]
    assert hist.get_ylabel() == "objects (mean of 2 seeds)"
    for patch in hist.patches:  # each step histogram sums to the objects, not to objects x seeds
        heights = patch.get_xy()[1:-1:2, 1]
        assert heights.sum() == pytest.approx(n_objects)
    plt.close(figure)
    figure, _ = uncertainty_fig(pred, "N", "title")
    labels = [figure.axes[0].get_xlabel(), figure.axes[0].get_ylabel(), figure.axes[1].get_xlabel()]
    assert all("raw score" in label for label in labels) and not any("p_agn" in label for label in labels)
    plt.close(figure)
    described = run_description(pred)
    assert cv_dir.name not in described and f"{n_objects} objects" in described and "2 seeds" in described


def test_a_command_recorded_before_nepagn_evaluate_is_shown_as_typed_today():
    """EVALDIRs written before the `nepagn evaluate` subcommand recorded `python -m nepagn.evaluation.<name>`;
    the report shows the command a user can run now, and it parses with the same options."""
    import shlex

    from nepagn.cli import build_parser
    from nepagn.commands.report import current_form

    recorded = ("python -m nepagn.evaluation.real_sample --data sample.csv --bands optnir --models HGB,HGBC "
                "--seeds 0,1 --workers 1 --out runs/real")
    shown = current_form(recorded)
    assert shown == ("nepagn evaluate real-sample --data sample.csv --bands optnir --models HGB,HGBC --seeds 0,1 "
                     "--workers 1 --out runs/real")
    argv = shlex.split(shown)[1:]
    args = build_parser(argv).parse_args(argv)
    assert (args.experiment, args.bands, args.models, args.out) == ("real-sample", "optnir", "HGB,HGBC", "runs/real")
    assert current_form("nepagn train --out m") == "nepagn train --out m"
