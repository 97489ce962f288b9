"""`nepagn report`: regenerate the validation figures and tables from stored CV predictions, without retraining."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from tqdm import tqdm

from nepagn.calibration import fit_calibrator, save_calibrator
from nepagn.errors import NepagnError
from nepagn.model.modeldir import MANIFEST
from nepagn.report import validation_figures as vf

NAME = "report"
HELP = "regenerate validation figures (PNG) and tables (Markdown) from MODELDIRs / EVALDIRs, without retraining"
REPORT_FILE = "validation_report.md"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models",
        nargs="+",
        action="extend",
        required=True,
        metavar="DIR",
        help="MODELDIRs (nepagn train) or EVALDIRs (nepagn.evaluation) holding oof_predictions.parquet",
    )
    parser.add_argument(
        "--out",
        default="docs",
        metavar="DIR",
        help=f"where {REPORT_FILE} and figures/validation_*.png go (default docs)",
    )
    parser.add_argument(
        "--model",
        default="N",
        metavar="NAME",
        help="model whose calibration and per-object uncertainty are shown (default N; "
        "falls back to the first model of a directory)",
    )
    parser.add_argument(
        "--save-calibration",
        action="store_true",
        help="also fit an isotonic calibrator per model on each directory's held-out predictions "
        "(averaged over seeds) and save it as DIR/calibration/<model>.json",
    )


def _pick_model(models: list[str], wanted: str) -> str:
    return wanted if wanted in models else models[0]


def _run_section(pred: vf.Predictions, figures: Path, wanted: str) -> list[str]:
    """Figures and tables of one directory, as Markdown lines."""
    run = pred.run
    lines = [f"## {pred.name}", ""]
    if run:
        seeds = run.get("seeds", "?")
        lines += [
            f"- protocol: {run.get('protocol', '?')}, {run.get('n_folds', '?')}-fold stratified CV, seeds {seeds}",
            f"- data: {run.get('note', '')} ({run.get('n_rows', '?')} objects, {run.get('n_agn', '?')} AGN)",
            f"- made by: `{run.get('command', '?')}`",
            "",
        ]
    models = sorted(pred.oof["model"].unique())
    prefix = f"validation_{pred.name}"
    if any(":" in m for m in models):
        path = vf.ablation_figure(pred, figures / f"{prefix}_ablation.png", "Band-group ablation")
        lines += [vf.ablation_table(pred), "", f"![ablation](figures/{path.name})", ""]
        full = [m for m in models if m.endswith(":all")]
        if pred.selections is not None and full:
            rows = vf.selection_rows(pred, full[0])
            path = vf.selection_figure(
                pred,
                full[0],
                figures / f"{prefix}_selections.png",
                f"Colour cuts vs {full[0]} (all bands), on the objects each cut applies to",
            )
            lines += [vf.selection_table(rows), "", f"![colour cuts](figures/{path.name})", ""]
        return lines
    lines += [vf.markdown_table(vf.metrics_table(pred.oof)), ""]
    path = vf.roc_figure(pred, figures / f"{prefix}_roc.png", f"ROC, {pred.name}")
    lines += [f"![ROC](figures/{path.name})", ""]
    model = _pick_model(models, wanted)
    if pred.oof.loc[pred.oof["model"] == model, "y_true"].nunique() == 2:
        path, scores = vf.calibration_figure(
            pred, model, figures / f"{prefix}_calibration.png", f"Reliability of model {model}, {pred.name}"
        )
        lines += [
            f"Calibration of model {model} (isotonic, fitted per outer fold on "
            f"{'its inner folds' if pred.inner is not None else 'the other outer folds'}): Brier "
            f"{scores['brier_raw_mean']:.4f} ± {scores['brier_raw_std']:.4f} before, "
            f"{scores['brier_cal_mean']:.4f} ± {scores['brier_cal_std']:.4f} after "
            f"(AGN fraction {scores['agn_fraction']:.3f}).",
            "",
            f"![calibration](figures/{path.name})",
            "",
        ]
        if pred.oof["seed"].nunique() > 1:
            path, stats = vf.uncertainty_figure(
                pred,
                model,
                figures / f"{prefix}_uncertainty.png",
                f"Per-object spread of p_agn, model {model}, {pred.name}",
            )
            lines += [
                f"Per-object uncertainty of model {model}: std of held-out p_agn over {stats['n_seeds']} seeds, "
                f"median {stats['median_std']:.3f}, 90th percentile {stats['p90_std']:.3f}.",
                "",
                f"![uncertainty](figures/{path.name})",
                "",
            ]
    return lines


def save_calibrators(pred: vf.Predictions, directory: Path) -> list[Path]:
    """Fit and save one isotonic calibrator per model from its seed-averaged held-out predictions.

    A MODELDIR whose manifest lists calibrators (fitted by `nepagn train`, hashed, applied by
    build-catalogue) is refused: overwriting them would break its SHA-256 manifest.
    """
    manifest_path = directory / MANIFEST
    if manifest_path.is_file() and json.loads(manifest_path.read_text()).get("calibration"):
        raise NepagnError(f"{directory}: this model set already carries the calibrators `nepagn train` fitted "
                          "(listed in its manifest); --save-calibration would overwrite them")
    paths = []
    for model, group in pred.oof.groupby("model"):
        per_object = group.groupby("source_id").agg(p=("p_agn", "mean"), y=("y_true", "first"))
        calibrator = fit_calibrator(
            per_object["p"].to_numpy(),
            per_object["y"].to_numpy(),
            fitted_on=f"{len(per_object)} held-out predictions, mean over "
            f"{group['seed'].nunique()} seeds, {directory.name}",
        )
        paths.append(save_calibrator(calibrator, directory, str(model)))
    return paths


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    figures = out / "figures"
    lines = [
        "# Validation report (generated by `nepagn report`; do not edit by hand)",
        "",
        "Metrics: mean ± std over (seed, outer fold) runs, each at the threshold stored with its fold.",
        "ROC curves: mean ± std of each seed's pooled out-of-fold ROC.",
        "",
    ]
    directories = [Path(d) for d in args.models]
    preds = []
    for directory in directories:
        pred = vf.load_predictions(directory)
        if pred.oof.empty:
            raise NepagnError(f"{directory / vf.OOF_FILE}: no predictions in the file")
        preds.append(pred)
    plain = [pred for pred in preds if not any(":" in m for m in pred.oof["model"].unique())]
    if plain:
        lines += ["## All runs", "", vf.combined_table(plain), ""]
    for directory, pred in tqdm(list(zip(directories, preds, strict=True)), desc="report", unit="dir"):
        lines += _run_section(pred, figures, args.model)
        if args.save_calibration:
            for path in save_calibrators(pred, directory):
                lines.append(f"- calibrator saved: `{path}`")
            lines.append("")
    out.mkdir(parents=True, exist_ok=True)
    report = out / REPORT_FILE
    tmp = report.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(report)
    log.info("wrote %s and %d figures in %s", report, len(list(figures.glob("validation_*.png"))), figures)
    print(report)
    return 0
