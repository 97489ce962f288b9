"""MODELDIR: the trained networks of a CV run, their records, metrics, figures and a hash manifest.

Layout (docs/training.md describes it for users):
    manifest.json                 model_set_id, inference rule, thresholds, SHA-256 of every file, labels hash
    run.json                      protocol, folds, seeds, training + model configs, feature spec, timings, command
    labels.parquet                source_id, label, y_true of the labelled rows trained on
    folds.parquet                 source_id, seed, fold (the outer validation fold of each row per seed)
    oof_predictions.parquet       source_id, model, fold, seed, y_true, p_agn, threshold, protocol
    inner_predictions.parquet     strict protocol: source_id, model, fold, seed, y_true, p_agn on each inner split
    calibration/<model>.json      isotonic calibrator of the model's p_agn (calibration.calibration_rows)
    domain.json                   the labelled rows' photometric domain (nepagn.domain): band ranges, detected bands
    metrics.json / metrics.csv    per-network metrics on its outer fold; metrics_summary.csv mean/std/n
    table1.md, fig7_history_<model>.png, fig8_roc.png
    networks/<model>/seed<s>/fold<k>/  model.keras, config.json, feature_spec.json, history.csv, split.parquet
    estimators/HGBC/seed<s>/fold<k>/  members.skops, inputs.json, config.json, split.parquet (gradient boosting)
Every manifest member has a `kind` (KERAS_KIND or HGB_KIND); a member without one (older MODELDIRs) is a network.
The folder is written under a temporary name beside the target and renamed when complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nepagn.degrade import TARGET_DEPTH_FILE, TARGET_SAMPLE_FILE, TargetPhotometry
from nepagn.domain import LabelledDomain
from nepagn.features import FeatureSpec
from nepagn.files import atomic_directory, sha256_file, sha256_json
from nepagn.model.config import TrainingConfig
from nepagn.model.decision import DecisionRule
from nepagn.model.fold_result import FoldResult
from nepagn.model.metrics import summarise
from nepagn.schema import LABEL, SOURCE_ID, agn_labels

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MODELSET_FORMAT = "nepagn-modelset/3"  # 2: calibration/; 3: decision.json (classes from p_agn), degradation
OOF_FILE = "oof_predictions.parquet"
INNER_FILE = "inner_predictions.parquet"
BASELINE_OOF_FILE = "baseline_hgb_oof.parquet"  # the HGB-balanced baseline on the same outer folds, threshold 0.5
OOF_DEGRADED_FILE = "oof_degraded_predictions.parquet"  # outer folds scored as degraded copies (with a target)
DECISION_FILE = "decision.json"
KERAS_KIND = "keras"
HGB_KIND = "hgb"
MEMBER_DIRS = {KERAS_KIND: "networks", HGB_KIND: "estimators"}
HGBC_THRESHOLD_NOTE = (
    "; HGBC under either protocol: >= median over its (fold, seed) members of the threshold each chose for "
    "balanced accuracy on its inner out-of-fold scores"
)
HGB_MEMBER_NOTE = "; an HGBC member is the mean P(AGN) of its fold's inner-fold gradient-boosting estimators"
FOLD_ENSEMBLE_RULE = (
    "fold-ensemble: score_agn = mean network output over the {n} networks (folds x seeds x networks per fold) of "
    "each model; "
    "p_agn = the model's calibrator applied to score_agn"
)


def network_files(restart: int) -> tuple[str, str]:
    """File names of a fold's network `restart` and of its training history: model.keras and history.csv for
    the first network, model_r<r>.keras and history_r<r>.csv for network r after it."""
    suffix = "" if restart == 0 else f"_r{restart}"
    return f"model{suffix}.keras", f"history{suffix}.csv"


def labels_hash(source_ids: pd.Series, labels: pd.Series) -> str:
    """SHA-256 over the sorted (source_id, label) pairs the networks were trained on."""
    pairs = sorted(zip(source_ids.astype(str), labels.astype(str), strict=True))
    return hashlib.sha256("\n".join(f"{s}\t{label}" for s, label in pairs).encode()).hexdigest()


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value)}")


def write_modeldir(
    out_dir: Path,
    rows: pd.DataFrame,
    results: list[FoldResult],
    fold_table: dict[int, np.ndarray],
    tasks: list,
    protocol: str,
    training: TrainingConfig,
    spec: FeatureSpec,
    folds: int,
    seeds: list[int],
    wall_seconds: float,
    progress: bool = True,
    baseline: bool = True,
    command: str | None = None,
    target: TargetPhotometry | None = None,
    copies: int = 0,
) -> Path:
    """Write every output of a CV run atomically into `out_dir`; returns out_dir.

    `baseline=False` skips the HGB-balanced baseline (for model sets trained only to classify, not to be compared).
    `target`, `copies`: the target photometry the models trained on degraded copies of (saved with the set).
    """
    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as partial:
        _write_contents(
            partial, rows, results, fold_table, tasks, protocol, training, spec, folds, seeds, wall_seconds, baseline,
            command, target, copies,
        )
    log.info("wrote %s", out_dir)
    return out_dir


@dataclass
class SetRecords:
    """What a MODELDIR holds that is computed from its tasks' results, before any file is written: held-out
    predictions, metrics, the HGB-balanced baseline, calibrators and the thresholds."""

    model_configs: dict[str, Any]
    kinds: dict[str, str]  # model -> member kind
    oof: pd.DataFrame  # out-of-fold predictions of every task
    inner: pd.DataFrame | None  # strict protocol: the inner held-out predictions (calibration data)
    oof_degraded: pd.DataFrame  # out-of-fold predictions on degraded copies (training on a target's depth)
    metric_rows: list[dict[str, Any]]  # per task
    network_summary: pd.DataFrame  # metrics summarised over the models' tasks
    summary: pd.DataFrame  # the same with the baseline's rows
    baseline: tuple[pd.DataFrame, pd.DataFrame] | None  # the baseline's per-fold metrics and predictions
    calibrators: dict[str, Any]  # model -> nepagn.calibration.Calibrator
    calibration: dict[str, Any]  # the manifest's calibration section
    thresholds: dict[str, float]  # model -> the raw-score threshold of its ensemble
    domain: LabelledDomain  # the labelled rows' photometric domain (domain.json)
    decision: DecisionRule | None  # subset cuts on the held-out rows; None with a target (needs the written set)


def fit_records(rows: pd.DataFrame, results: list[FoldResult], fold_table: dict[int, np.ndarray], tasks: list,
                protocol: str, spec: FeatureSpec, baseline: bool, target_given: bool = False) -> SetRecords:
    """Everything a MODELDIR records that is computed, not copied, from its tasks' results; writes nothing.

    The calibrators are fitted on the held-out predictions `calibration_rows` names (strict protocol: the
    inner splits, or with a target the outer folds' degraded copies); a model's threshold is 0.5 for the
    paper's networks, else the median of its members'.
    The decision rule's subset cuts are estimated here on the held-out rows unless `target_given`: then they
    come from the set's own predictions on the target (`_target_decision`, once the members are written).
    """
    from nepagn.calibration import (
        INNER_SPLIT,
        OUT_OF_FOLD,
        OUTER_DEGRADED,
        calibration_rows,
        fit_model_set_calibrators,
    )
    from nepagn.model.baseline import hgb_cross_validation

    source_ids = rows[SOURCE_ID].astype(str).to_numpy()
    y = agn_labels(rows).astype(np.int8)
    model_configs = {task.name: task.config() for task in tasks}
    oof = pd.concat([pd.DataFrame({SOURCE_ID: source_ids[r.outer_rows], "model": r.model, "fold": r.fold,
                                   "seed": r.seed, "y_true": y[r.outer_rows], "p_agn": r.p_outer,
                                   "threshold": r.threshold, "protocol": protocol}) for r in results],
                    ignore_index=True)
    inner = pd.concat([_held_out_frame(r, "inner", source_ids, y) for r in results], ignore_index=True)
    oof_degraded = pd.concat([_held_out_frame(r, "outer_degraded", source_ids, y) for r in results],
                             ignore_index=True)
    metric_rows = [{"model": r.model, "seed": r.seed, "fold": r.fold, "n_validation": len(r.outer_rows),
                    "threshold": r.threshold, "best_epoch": r.best_epoch, "epochs_run": r.epochs_run,
                    "stop_reason": r.stop_reason, **r.metrics} for r in results]
    fitted_on = calibration_rows(protocol, target_given)
    held_out = {INNER_SPLIT: inner, OUT_OF_FOLD: oof, OUTER_DEGRADED: oof_degraded}[fitted_on]
    calibrators, calibration = fit_model_set_calibrators(held_out, list(model_configs), fitted_on)
    network_summary = summary = summarise(pd.DataFrame(metric_rows))
    baseline_frames = None
    if baseline:
        hgb_metrics, hgb_oof = hgb_cross_validation(rows, y, fold_table, spec)
        hgb_oof.insert(0, SOURCE_ID, source_ids[hgb_oof.pop("row").to_numpy()])
        baseline_frames = (hgb_metrics, hgb_oof)
        summary = pd.concat([network_summary, summarise(hgb_metrics)], ignore_index=True)
    kinds = {r.model: r.kind for r in results}
    thresholds = {}
    for name in model_configs:  # a network task's threshold counts once per network, as its members do
        chosen = [r.threshold for r in results if r.model == name for _ in range(max(1, len(r.networks)))]
        thresholds[name] = 0.5 if protocol == "paper" and kinds[name] == KERAS_KIND else float(np.median(chosen))
    domain = LabelledDomain.from_rows(rows, spec.bands)
    in_domain = pd.Series(domain.contains(rows), index=source_ids)
    decision = None if target_given else _held_out_decision(oof, list(model_configs), calibrators, in_domain)
    return SetRecords(model_configs, kinds, oof, inner if protocol == "strict" else None, oof_degraded, metric_rows,
                      network_summary, summary, baseline_frames, calibrators, calibration, thresholds, domain,
                      decision)


def _write_contents(
    root, rows, results, fold_table, tasks, protocol, training, spec, folds, seeds, wall_seconds, baseline, command,
    target, copies,
):
    """Write the MODELDIR's files from its tasks' results and the records fitted on them (fit_records)."""
    from nepagn.calibration import save_calibrator
    from nepagn.domain import write_domain
    from nepagn.model.figures import plot_history, plot_roc, table1_markdown

    records = fit_records(rows, results, fold_table, tasks, protocol, spec, baseline, target is not None)
    model_configs = records.model_configs
    source_ids = rows[SOURCE_ID].astype(str).to_numpy()
    y = agn_labels(rows).astype(np.int8)
    pd.DataFrame({SOURCE_ID: source_ids, LABEL: rows[LABEL].astype(str).to_numpy(), "y_true": y}).to_parquet(
        root / "labels.parquet", index=False
    )
    pd.concat(
        [pd.DataFrame({SOURCE_ID: source_ids, "seed": seed, "fold": f}) for seed, f in fold_table.items()],
        ignore_index=True,
    ).to_parquet(root / "folds.parquet", index=False)

    members: list[dict[str, Any]] = []
    for result in results:
        kind = result.kind
        net_dir = root / MEMBER_DIRS[kind] / result.model / f"seed{result.seed}" / f"fold{result.fold}"
        net_dir.mkdir(parents=True)
        member = {"model": result.model, "seed": result.seed, "fold": result.fold, "kind": kind,
                  "threshold": result.threshold}
        if kind == HGB_KIND:
            from nepagn.model.hgb import INPUTS_FILE, MEMBERS_FILE

            (net_dir / MEMBERS_FILE).write_bytes(result.model_bytes)
            (net_dir / INPUTS_FILE).write_text(result.inputs)
            members.append({**member, "path": str((net_dir / MEMBERS_FILE).relative_to(root)),
                            "inputs": str((net_dir / INPUTS_FILE).relative_to(root))})
        else:
            _write_json(net_dir / "feature_spec.json", result.spec)
            spec_path = str((net_dir / "feature_spec.json").relative_to(root))
            for restart, network in enumerate(result.networks):
                weights, history = network_files(restart)
                (net_dir / weights).write_bytes(network["model_bytes"])
                pd.DataFrame(network["history"]).to_csv(net_dir / history, index=False)
                members.append({**member, "restart": restart, "feature_spec": spec_path,
                                "path": str((net_dir / weights).relative_to(root))})
        _write_json(
            net_dir / "config.json",
            {
                "model": model_configs[result.model],
                **({"training": training.to_dict()} if kind == KERAS_KIND else {}),
                "protocol": protocol,
                "fold": result.fold,
                "seed": result.seed,
                "network_seed": result.network_seed,
                "threshold": result.threshold,
                "best_epoch": result.best_epoch,
                "epochs_run": result.epochs_run,
                "stop_reason": result.stop_reason,
                "seconds": result.seconds,
                **({"networks": [{k: v for k, v in n.items() if k not in ("model_bytes", "history")}
                                 for n in result.networks]} if result.networks else {}),
            },
        )
        pd.DataFrame({SOURCE_ID: source_ids, "role": result.roles.astype(str)}).to_parquet(
            net_dir / "split.parquet", index=False
        )
    records.oof.to_parquet(root / OOF_FILE, index=False)
    if records.inner is not None:
        records.inner.to_parquet(root / INNER_FILE, index=False)
    for name, calibrator in records.calibrators.items():
        save_calibrator(calibrator, root, name)
    if target is not None:
        records.oof_degraded.to_parquet(root / OOF_DEGRADED_FILE, index=False)
        target.save(root)
    write_domain(root, records.domain)
    pd.DataFrame(records.metric_rows).to_csv(root / "metrics.csv", index=False)
    records.summary.to_csv(root / "metrics_summary.csv", index=False)
    _write_json(
        root / "metrics.json",
        {
            "protocol": protocol,
            "folds": folds,
            "seeds": seeds,
            "metric_definitions": "Chen et al. 2021 eqs. 4-7 at each network's threshold; ROC AUC threshold-free",
            "per_network": records.metric_rows,
            "summary": records.network_summary.to_dict(orient="records"),
        },
    )
    if records.baseline is not None:
        hgb_metrics, hgb_oof = records.baseline
        hgb_metrics.to_csv(root / "baseline_hgb_metrics.csv", index=False)
        hgb_oof.to_parquet(root / BASELINE_OOF_FILE, index=False)
    (root / "table1.md").write_text(
        table1_markdown(records.summary, model_configs, protocol, folds, seeds, training.threshold_rule)
    )
    kinds = records.kinds
    for name in model_configs:
        if kinds[name] == KERAS_KIND:  # gradient boosting has no epoch history
            plot_history(root, name, root / f"fig7_history_{name}.png")
    plot_roc(records.oof, root / "fig8_roc.png")

    n_members = len(members) // max(1, len(model_configs))
    _write_json(
        root / "run.json",
        {
            "protocol": protocol,
            "folds": folds,
            "seeds": seeds,
            "models": model_configs,
            "training": training.to_dict(),
            "feature_spec": spec.to_dict(),
            "n_labelled": len(rows),
            "n_agn": int(y.sum()),
            "n_sfg": int(len(y) - y.sum()),
            "wall_seconds": wall_seconds,
            "command": command,
            "network_seconds_total": float(sum(r.seconds for r in results)),
            "degradation": degradation_record(target, copies),
            "versions": _versions(),
        },
    )
    manifest = {
        "format": MODELSET_FORMAT,
        "models": list(model_configs),
        "bands": [band.id for band in spec.bands],
        "protocol": protocol,
        "rule": FOLD_ENSEMBLE_RULE.format(n=n_members) + (HGB_MEMBER_NOTE if HGB_KIND in kinds.values() else ""),
        "threshold_rule": (
            "raw ensemble score (mean p_agn of the members, before calibration) >= 0.5 (paper protocol)"
            if protocol == "paper"
            else "raw ensemble score (mean p_agn of the members, before calibration) >= median over member "
            "networks of the threshold each chose on its inner split"
        ) + (HGBC_THRESHOLD_NOTE if HGB_KIND in kinds.values() else ""),
        "thresholds": records.thresholds,
        "calibration": records.calibration,
        "degradation": degradation_record(target, copies),
        "members": members,
        "model_configs": model_configs,
        "training": training.to_dict(),
        "labels_hash": labels_hash(rows[SOURCE_ID], rows[LABEL]),
    }
    manifest["file_hashes"] = {str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}
    rule = records.decision if target is None else _target_decision(root, manifest, target, records.domain)
    _write_json(root / DECISION_FILE, rule.to_dict())
    manifest["decision"] = rule.to_dict()
    manifest["file_hashes"][DECISION_FILE] = sha256_file(root / DECISION_FILE)
    manifest["model_set_id"] = sha256_json(manifest)
    _write_json(root / MANIFEST, manifest)


def _held_out_frame(result: FoldResult, name: str, source_ids: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    """One member's held-out predictions `name` (inner, outer_degraded) with the copy each was made on."""
    rows = getattr(result, f"{name}_rows")
    return pd.DataFrame({SOURCE_ID: source_ids[rows], "model": result.model, "fold": result.fold,
                         "seed": result.seed, "copy": getattr(result, f"{name}_copy"), "y_true": y[rows],
                         "p_agn": getattr(result, f"p_{name}")})


def degradation_record(target: TargetPhotometry | None, copies: int) -> dict[str, Any]:
    """What the models trained on: the labelled photometry, or degraded copies of it for a named target."""
    if target is None:
        return {"applied": False, "note": "trained on the labelled photometry as it is (no target catalogue given)"}
    return {"applied": True, "copies": copies, "target": target.description, "target_rows": target.n_rows,
            "files": [TARGET_DEPTH_FILE, TARGET_SAMPLE_FILE],
            "method": "labelled rows dimmed to the brightness of random target rows, noise and detection limit of "
                      "the target per band (nepagn.degrade)",
            "augmentation": "none: the training configuration's noise_augment and band_dropout apply only to "
                            "training on the labelled photometry as it is (nepagn.model.augment)"}


def _target_decision(root: Path, manifest: dict[str, Any], target: TargetPhotometry,
                     domain: LabelledDomain) -> DecisionRule:
    """The subset cuts estimated on the model set's own probabilities for random rows of the target catalogue
    (label-free; agn_reliable's on those inside the labelled `domain`); the members are read from the files just
    written."""
    from nepagn.model.inference import ModelSet
    from nepagn.model.manifest import Manifest

    model_set = ModelSet.from_manifest(Manifest(root.resolve(), {**manifest, "model_set_id": "(being written)"}))
    predictions = model_set.predict_proba(target.sample)
    return DecisionRule.fit({name: predictions[f"p_agn_{name}"].to_numpy() for name in model_set.names},
                            {name: predictions[f"score_agn_{name}"].to_numpy() for name in model_set.names},
                            f"the model set's calibrated probabilities on {len(target.sample)} random rows of the "
                            f"target ({target.description})",
                            domain.contains(target.sample))


def _held_out_decision(oof: pd.DataFrame, models: list[str], calibrators: dict[str, Any],
                       in_domain: pd.Series) -> DecisionRule:
    """The subset cuts estimated on every labelled row's out-of-fold raw score (mean over seeds) and its
    calibrated probability, per model, rows aligned across models; `in_domain`: in_labelled_domain by source id."""
    scores, probabilities = [], []
    for name in models:
        rows = oof[oof["model"] == name]
        score = pd.Series(rows["p_agn"].to_numpy(dtype=np.float64), index=rows[SOURCE_ID].to_numpy(), name=name)
        score = score.groupby(level=0).mean()
        calibrator = calibrators.get(name)  # an uncalibrated model's p_agn is its raw score
        p = score.to_numpy() if calibrator is None else calibrator.transform(score.to_numpy())
        scores.append(score)
        probabilities.append(pd.Series(p, index=score.index, name=name))
    score_table, p_table = pd.concat(scores, axis=1), pd.concat(probabilities, axis=1)
    return DecisionRule.fit({name: p_table[name].to_numpy() for name in models},
                            {name: score_table[name].to_numpy() for name in models},
                            "the labelled rows' out-of-fold probabilities (each model's held-out scores, calibrated, "
                            "averaged over seeds and models); no target catalogue was given",
                            in_domain.reindex(p_table.index).to_numpy(dtype=bool))


def _versions() -> dict[str, str]:
    import keras
    import sklearn
    import skops
    import tensorflow as tf

    import nepagn

    return {
        "nepagn": nepagn.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "scikit-learn": sklearn.__version__,
        "skops": skops.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
    }
