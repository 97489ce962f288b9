"""Columns of the public AGN/SFG catalogue: names, dtypes, units, UCDs and descriptions.

One place defines them, so the HATS store, the single Parquet (VOParquet), the FITS table and
docs/catalogue.md all describe the same columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from nepagn.calibration import ModelCalibration
from nepagn.domain import DOMAIN_FRACTION, IN_LABELLED_DOMAIN, N_BANDS_DETECTED
from nepagn.model.decision import AGN_COMPLETE, AGN_RELIABLE, ClassDecision
from nepagn.model.predictions import P_AGN_MEAN, p_agn_column, score_agn_column, score_agn_std_column
from nepagn.preprocess import STAR_TEST, STATUS, Z_TYPE, Z_USED
from nepagn.schema import (
    CORE_COLUMNS,
    DEC,
    HEALPIX_COLUMN,
    LABEL,
    LABEL_SOURCE,
    RA,
    SOURCE_ID,
    TRUE_CLASS,
    TRUTH_COLUMNS,
    Column,
)

TRAINING_OBJECT = "training_object"
N_AGN_VOTES = "n_agn_votes"
CONSENSUS_CLASS = "consensus_class"
UNANIMOUS = "unanimous"
RUN_ID = "run_id"
MODEL_SET_ID = "model_set_id"

CLASS_AGN = "AGN"
CLASS_SFG = "SFG"


def class_column(model: str) -> str:
    """Column of one model's class (AGN / SFG)."""
    return f"class_{model}"


def _class_description(model: str, decision: ClassDecision) -> str:
    if decision.rule is None:
        return (f"Class from Model {model}: AGN if score_agn_{model} >= the threshold the (older) model set "
                "recorded, else SFG")
    cut = decision.rule.class_thresholds[model]
    return (f"Class from Model {model}: AGN if score_agn_{model} >= {cut:.6g} (census cut: the most probable "
            f"AGN by p_agn_{model}, as many as expected), else SFG")


def _subset_description(what: str, decision: ClassDecision, field: str) -> str:
    if decision.rule is None:
        return f"AGN subset ({what}); null: the model set predates the subsets (retrain)"
    cut = getattr(decision.rule, field)
    where = f"p_agn_mean >= {cut:.4f}" if cut is not None else "empty (no cut reaches it)"
    if field == "reliable_threshold" and decision.rule.reliable_in_domain and cut is not None:
        where = f"in_labelled_domain and {where} (purity estimated inside the domain only)"
    return f"AGN subset, {what}: {where}; null if not classified (provenance models.decision)"


def _core(name: str) -> Column:
    return next(column for column in CORE_COLUMNS + TRUTH_COLUMNS if column.name == name)


def catalogue_columns(
    models: Sequence[str], with_std: bool, with_truth: bool, calibration: Mapping[str, ModelCalibration],
    decision: ClassDecision,
) -> tuple[Column, ...]:
    """The catalogue's columns in output order for a model set (names, e.g. A, B, C).

    calibration: per model, how the model set calibrates its p_agn (nepagn.calibration.manifest_calibration);
    the p_agn descriptions say it in their first 68 characters, which is what FITS TCOMM keeps.
    decision: how the model set makes classes and subsets (the class and subset descriptions state it).
    """
    columns = [
        _core(SOURCE_ID),
        _core(RA),
        _core(DEC),
        HEALPIX_COLUMN,
        Column(Z_USED, "float64", None, "src.redshift",
               "Redshift used: z_spec where present, else z_phot; null if neither"),
        Column(Z_TYPE, "string", None, "meta.code", "Type of z_used: spec or phot; null if no redshift"),
        Column(STATUS, "string", None, "meta.code.class",
               "classified (inference set), labelled (ground truth, also run through the networks), "
               "star (LePhare chi2_gal > chi2_star, not classified), no_redshift (not classified)"),
        Column(STAR_TEST, "string", None, "meta.code",
               "Star test outcome: galaxy, star, or not_applied (rule off or chi2 columns missing)"),
        _core(LABEL),
        _core(LABEL_SOURCE),
        Column(TRAINING_OBJECT, "bool", None, "meta.code",
               "True where the source has a ground-truth label, i.e. it may be in the networks' training set"),
    ]
    for model in models:
        item = calibration[model]
        how = (f"{score_agn_column(model)} mapped by MODELDIR/{item.file}" if item.calibrated
               else f"equal to {score_agn_column(model)} ({item.reason})")
        columns.append(Column(p_agn_column(model), "float64", None, "stat.probability",
                              f"P(AGN) of Model {model}, {item.phrase}: {how}; null if not classified"))
        columns.append(Column(score_agn_column(model), "float64", None, "stat.value",
                              f"Raw score of Model {model} (mean of its members' outputs, uncalibrated)"))
        if with_std:
            columns.append(Column(score_agn_std_column(model), "float64", None, "stat.stdev",
                                  f"Spread (std) of score_agn_{model} over its members (folds/seeds)"))
        columns.append(Column(class_column(model), "string", None, "src.class", _class_description(model, decision)))
    columns += [
        Column(N_AGN_VOTES, "Int16", None, "meta.number", f"Number of models (of {len(models)}) voting AGN"),
        Column(CONSENSUS_CLASS, "string", None, "src.class",
               "Majority class over the models (null on a tie or if not classified)"),
        Column(UNANIMOUS, "boolean", None, "meta.code", "True where all models give the same class"),
        Column(P_AGN_MEAN, "float64", None, "stat.probability",
               f"Mean of p_agn_{'/'.join(models)} over the models (as calibrated as they are; the mean "
               "itself is not recalibrated)"),
        Column(AGN_RELIABLE, "boolean", None, "meta.code",
               _subset_description("estimated purity >= 90 %", decision, "reliable_threshold")),
        Column(AGN_COMPLETE, "boolean", None, "meta.code",
               _subset_description("estimated completeness >= 75 %", decision, "complete_threshold")),
        Column(N_BANDS_DETECTED, "Int16", None, "meta.number",
               "Number of model bands detected (magnitude and error present); null if not classified or "
               "the model set has no domain.json"),
        Column(DOMAIN_FRACTION, "float64", None, "stat.value",
               "Share of detected model bands inside the labelled [p1, p99] range; that range per band is in "
               "MODELDIR/domain.json; null if no band detected, not classified or no domain.json"),
        Column(IN_LABELLED_DOMAIN, "boolean", None, "meta.code",
               "In the labelled training domain (rule: provenance models.domain): n_bands_detected and "
               "domain_fraction at least the labelled set's 5 % quantiles; null if not classified or no domain.json"),
    ]
    if with_truth:
        columns.append(_core(TRUE_CLASS))
    columns += [
        Column(RUN_ID, "string", None, "meta.id",
               "Build id: hash of input snapshot, model set and pipeline config (equal for resumed and clean builds)"),
        Column(MODEL_SET_ID, "string", None, "meta.id", "Id of the trained model set that classified the row"),
    ]
    return tuple(columns)
