"""`nepagn report`: regenerate the validation figures and tables from stored CV predictions, without retraining."""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from nepagn.errors import NepagnError
from nepagn.files import write_text_atomic

if TYPE_CHECKING:  # imported by run(): matplotlib and scikit-learn are slow to import for --help
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
        help="MODELDIRs (nepagn train) or EVALDIRs (nepagn evaluate) holding oof_predictions.parquet; "
        "[NAME=]DIR+DIR pools runs of one setting that differ only in their CV seeds",
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
        metavar="NAMES",
        help="model whose calibration and per-object uncertainty are shown: the first of this comma list "
        "that a run has (default N; falls back to the run's first model)",
    )
    parser.add_argument(
        "--save-calibration",
        action="store_true",
        help="also fit an isotonic calibrator per model on each directory's held-out predictions "
        "(averaged over seeds) and save it as DIR/calibration/<model>.json",
    )


def _pick_model(models: list[str], wanted: str) -> str:
    """The first of the comma-separated `wanted` names that is among `models`, else the first model."""
    return next((name for name in wanted.split(",") if name.strip() in models), models[0]).strip()


def current_form(command: str) -> str:
    """A recorded command as it is typed today: the experiments that ran as `python -m nepagn.evaluation.<name>`
    are `nepagn evaluate <name>` with the same options."""
    return re.sub(r"python -m nepagn\.evaluation\.(\w+)", lambda m: "nepagn evaluate " + m[1].replace("_", "-"),
                  command)


def _run_section(pred: vf.Predictions, figures: Path, wanted: str) -> tuple[list[str], list[Path]]:
    """Figures and tables of one run (or pooled runs), as Markdown lines, and the figure files written."""
    from nepagn.report import validation_figures as vf

    info = vf.run_info(pred)
    commands = info["command"] if isinstance(info["command"], list) else [info["command"]]
    lines = [
        f"## {pred.name}",
        "",
        f"- protocol: {info['protocol']}, {info['n_folds']}-fold stratified CV, seeds {info['seeds']}",
        f"- data: {info['note'] or 'labelled rows'} ({info['n_rows']} objects, {info['n_agn']} AGN)",
        *(f"- made by: `{current_form(command)}`" for command in commands),
        *(["- pooled from: " + ", ".join(f"`{source}`" for source in pred.sources)] if len(pred.sources) > 1 else []),
        "",
    ]
    paths: list[Path] = []
    models = sorted(pred.oof["model"].unique())
    prefix = f"validation_{pred.name}"
    if any(":" in m for m in models):
        path = vf.ablation_figure(pred, figures / f"{prefix}_ablation.png", "Band-group ablation")
        paths.append(path)
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
            paths.append(path)
            lines += [vf.selection_table(rows), "", f"![colour cuts](figures/{path.name})", ""]
        return lines, paths
    lines += [vf.markdown_table(vf.metrics_table(pred.oof)), ""]
    if len(vf.consensus_members(pred)) > 1 and pred.oof["y_true"].nunique() == 2:
        lines += [
            "Calibrated probabilities and their means, as a catalogue of these models gives them (`p_agn_<model>`, "
            "`p_agn_mean`): each model calibrated per outer fold on its inner held-out scores (isotonic; without "
            "them, on the other outer folds), the class p >= the training folds' AGN fraction (for calibrated "
            "probabilities, the rule of maximum balanced accuracy); mean ± std over (seed, fold):",
            "",
            vf.consensus_table(vf.consensus_metrics(pred)),
            "",
        ]
    if pred.oof["seed"].nunique() > 1:
        lines += [
            "Per-object stability: the std of each object's held-out raw score over the seeds (each seed's model "
            "that held the object out), summarised over objects:",
            "",
            vf.seed_spread_table(vf.seed_spread(pred.oof)),
            "",
        ]
    described = vf.run_description(pred)
    path = vf.roc_figure(pred, figures / f"{prefix}_roc.png", f"ROC\n{described}")
    paths.append(path)
    lines += [f"![ROC](figures/{path.name})", ""]
    model = _pick_model(models, wanted)
    if pred.oof.loc[pred.oof["model"] == model, "y_true"].nunique() == 2:
        path, scores = vf.calibration_figure(
            pred, model, figures / f"{prefix}_calibration.png", f"Reliability of model {model}\n{described}"
        )
        paths.append(path)
        inner_fitted = pred.inner is not None and model in set(pred.inner["model"])
        lines += [
            f"Calibration of model {model} (isotonic, fitted per outer fold on "
            f"{'its inner folds' if inner_fitted else 'the other outer folds'}): Brier "
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
                f"Per-object spread of the raw score, model {model}\n{described}",
            )
            paths.append(path)
            lines += [
                f"Per-object uncertainty of model {model}: std of the held-out raw score over "
                f"{stats['n_seeds']} seeds, "
                f"median {stats['median_std']:.3f}, 90th percentile {stats['p90_std']:.3f}.",
                "",
                f"![uncertainty](figures/{path.name})",
                "",
            ]
    return lines, paths


def save_calibrators(pred: vf.Predictions, directory: Path) -> list[Path]:
    """Fit and save one isotonic calibrator per model from its seed-averaged held-out predictions.

    A MODELDIR whose manifest lists calibrators (fitted by `nepagn train`, hashed, applied by
    build-catalogue) is refused: overwriting them would break its SHA-256 manifest.
    """
    from nepagn.calibration import fit_calibrator, save_calibrator
    from nepagn.model.manifest import MANIFEST, Manifest

    if (directory / MANIFEST).is_file() and Manifest.read(directory, verify=False).data.get("calibration"):
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
    """Write validation_report.md and its figures from the stored predictions of every --models run."""
    from tqdm import tqdm

    from nepagn.report import validation_figures as vf

    out = Path(args.out)
    figures = out / "figures"
    lines = [
        "# Validation report (generated by `nepagn report`; do not edit by hand)",
        "",
        "Metrics: mean ± std over (seed, outer fold) runs, each at the threshold stored with its fold.",
        "ROC curves: mean ± std of each seed's pooled out-of-fold ROC.",
        "",
    ]
    preds = []
    for spec in args.models:
        pred = vf.load_run(spec)
        if pred.oof.empty:
            raise NepagnError(f"{pred.sources[0] / vf.OOF_FILE}: no predictions in the file")
        if args.save_calibration and len(pred.sources) > 1:
            raise NepagnError(f"{spec}: --save-calibration writes into one run directory, not into pooled runs")
        preds.append(pred)
    plain = [pred for pred in preds if not any(":" in m for m in pred.oof["model"].unique())]
    if plain:
        lines += ["## All runs", "", vf.combined_table(plain), ""]
        published = vf.published_table1({m for pred in plain for m in pred.oof["model"].unique()})
        if published:
            lines += [published, ""]
    written: list[Path] = []
    for pred in tqdm(preds, desc="report", unit="run"):
        section, paths = _run_section(pred, figures, args.model)
        lines += section
        written += paths
        if args.save_calibration:
            for path in save_calibrators(pred, pred.sources[0]):
                lines.append(f"- calibrator saved: `{path}`")
            lines.append("")
    out.mkdir(parents=True, exist_ok=True)
    report = out / REPORT_FILE
    write_text_atomic(report, "\n".join(lines) + "\n")
    stale = [path for path in figures.glob("validation_*.png") if path not in set(written)]
    for path in stale:
        path.unlink()
    log.info("wrote %s and %d figures in %s; removed %d figures of runs no longer reported", report,
             len(written), figures, len(stale))
    print(report)
    return 0
