"""Summary of a built catalogue: status counts, per-model AGN/SFG counts and fractions (the paper's
Table 2), the AGN fraction each model's own probabilities estimate (with warnings where the classes
depart from it), per-magnitude-bin fractions and the named subsets' estimated purity and completeness,
and the agreement of the models (Figs. 9-10), as a dict, plain text and Markdown.

Counts and probability sums are taken per partition (`partition_counts`) and added up (`add_counts`),
so the whole catalogue never has to be in memory at once; `summarise` turns the totals into fractions.
The estimated AGN fraction of a set of sources is the mean of their calibrated probabilities: it is
right where the probabilities are calibrated on those sources, which training cannot guarantee for
sources unlike the labelled ones (docs/catalogue.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from nepagn.domain import IN_LABELLED_DOMAIN
from nepagn.model.decision import AGN_COMPLETE, AGN_RELIABLE, RELIABLE_PURITY
from nepagn.model.predictions import P_AGN_MEAN, p_agn_column
from nepagn.pipeline.catalogue_schema import (
    CLASS_AGN,
    CLASS_SFG,
    CONSENSUS_CLASS,
    N_AGN_VOTES,
    class_column,
)
from nepagn.preprocess import STAR_TEST, STAR_TEST_NOT_APPLIED, STATUS, STATUS_CLASSIFIED, STATUS_LABELLED, STATUSES
from nepagn.schema import HEALPIX_29, LABEL

INFERENCE_SET = "inference_set"
LABELLED_SET = "labelled_set"
SUBSETS = {INFERENCE_SET: STATUS_CLASSIFIED, LABELLED_SET: STATUS_LABELLED}
SKY_MAP_ORDER = 8  # HEALPix order of the AGN-fraction map: nside 256, ~0.05 deg2 per pixel
CONSENSUS = "mean"  # key of the consensus probability p_agn_mean in the probability sums
NOT_DETECTED = "not detected"
FRACTION_WARNING = 0.03  # a model's called AGN fraction this far from its own estimate is flagged
SUBSETS_OF_MEAN = (AGN_RELIABLE, AGN_COMPLETE)


def magnitude_bins(magnitudes: np.ndarray) -> np.ndarray:
    """1-mag bin label of each magnitude ("21-22"), NOT_DETECTED where missing."""
    mags = np.asarray(magnitudes, dtype=np.float64)
    low = np.floor(np.nan_to_num(mags, nan=0.0)).astype(np.int64)
    labels = np.char.add(np.char.add(low.astype(str), "-"), (low + 1).astype(str)).astype(object)
    labels[~np.isfinite(mags)] = NOT_DETECTED
    return labels


def probability_arrays(frame: pd.DataFrame, models: Sequence[str]) -> dict[str, np.ndarray]:
    """The columns probability_sums adds up, read once per partition: p_agn of each model and of the consensus
    (float64, NaN where missing) and the named subsets' flags (bool)."""
    columns = {m: p_agn_column(m) for m in models} | {CONSENSUS: P_AGN_MEAN}
    arrays = {key: frame[column].to_numpy(dtype="float64", na_value=np.nan) for key, column in columns.items()}
    for name in SUBSETS_OF_MEAN:
        if name in frame:
            arrays[name] = frame[name].to_numpy(dtype=bool, na_value=False)
    return arrays


def probability_sums(arrays: dict[str, np.ndarray], models: Sequence[str], rows: np.ndarray) -> dict[str, Any]:
    """Additive sums over the selected rows of `probability_arrays`: per model (and the consensus) sum of p and of
    p (1 - p), and the named subsets' counts and probability sums."""
    sums: dict[str, Any] = {}
    for key in (*models, CONSENSUS):
        p = arrays[key][rows]
        p = p[np.isfinite(p)]
        sums[key] = {"n": int(len(p)), "sum": float(p.sum()), "var": float((p * (1 - p)).sum())}
    p_mean = arrays[CONSENSUS][rows]
    for name in SUBSETS_OF_MEAN:
        if name not in arrays:
            continue
        flag = arrays[name][rows]
        sums[name] = {"n": int(flag.sum()), "sum": float(np.nansum(p_mean[flag]))}
    return sums


def binned_counts(arrays: dict[str, np.ndarray], is_agn: np.ndarray, models: Sequence[str], rows: np.ndarray,
                  magnitudes: np.ndarray) -> dict[str, Any]:
    """Per 1-mag bin of the summary band: sources, AGN called per model (is_agn: rows x models), probability sums
    and subsets (`probability_arrays`)."""
    labels = magnitude_bins(magnitudes[rows])
    selected = np.flatnonzero(rows)
    out: dict[str, Any] = {}
    for label in np.unique(labels):
        in_bin = np.zeros(len(rows), dtype=bool)
        in_bin[selected[labels == label]] = True
        out[str(label)] = {
            "n": int(in_bin.sum()),
            "agn_per_model": {m: int(is_agn[in_bin, i].sum()) for i, m in enumerate(models)},
            "probability": probability_sums(arrays, models, in_bin),
        }
    return out


def sky_counts(frame: pd.DataFrame, order: int) -> dict[str, dict[str, int]]:
    """Per HEALPix pixel (nested, at `order`, ascending): sources with a consensus class, and those with AGN."""
    has_class = frame[CONSENSUS_CLASS].notna().to_numpy(dtype=bool)
    pixels = frame[HEALPIX_29].to_numpy(dtype="int64")[has_class] >> (2 * (29 - order))
    is_agn = frame[CONSENSUS_CLASS].eq(CLASS_AGN).to_numpy(dtype=bool, na_value=False)[has_class]
    unique, which, sizes = np.unique(pixels, return_inverse=True, return_counts=True)
    agn = np.bincount(which, weights=is_agn, minlength=len(unique))
    return {
        "classified": {str(p): int(n) for p, n in zip(unique, sizes, strict=True)},
        "agn": {str(p): int(n) for p, n in zip(unique, agn, strict=True)},
    }


def agn_patterns(models: Sequence[str]) -> list[str]:
    """Every set of models that can vote AGN, as strings: "" (none), "A", ..., "ABC"."""
    return [""] + ["".join(c) for k in range(1, len(models) + 1) for c in combinations(models, k)]


def partition_counts(
    frame: pd.DataFrame, models: Sequence[str], sky_order: int = SKY_MAP_ORDER, magnitudes: np.ndarray | None = None
) -> dict[str, Any]:
    """Additive counts and sums of one catalogue partition, incl. per-HEALPix-pixel counts for the sky map.

    Runs once per partition task, so it works on boolean arrays (the set of models voting AGN is
    counted as a bit code per row), never row by row in Python. magnitudes: the summary band's
    magnitude of every row (same order), for the per-magnitude-bin table; None: no such table.
    """
    status = frame[STATUS]
    counts: dict[str, Any] = {
        "rows": len(frame),
        "sky": sky_counts(frame, sky_order),
        "status": {name: int((status == name).sum()) for name in STATUSES},
        "star_test_not_applied": int((frame[STAR_TEST] == STAR_TEST_NOT_APPLIED).sum()),
        "labels": {name: int((frame[LABEL] == name).sum()) for name in (CLASS_AGN, CLASS_SFG)},
    }
    known = np.stack([frame[class_column(m)].notna().to_numpy(dtype=bool) for m in models], axis=1)
    is_agn = np.stack(
        [frame[class_column(m)].eq(CLASS_AGN).to_numpy(dtype=bool, na_value=False) for m in models], axis=1
    )
    bit = 1 << np.arange(len(models), dtype=np.int64)
    flag = frame[IN_LABELLED_DOMAIN] if IN_LABELLED_DOMAIN in frame else pd.Series(pd.NA, index=frame.index)
    domain_known = flag.notna().to_numpy(dtype=bool)
    in_domain = flag.eq(True).to_numpy(dtype=bool, na_value=False)
    consensus_agn = frame[CONSENSUS_CLASS].eq(CLASS_AGN).to_numpy(dtype=bool, na_value=False)
    arrays = probability_arrays(frame, models)
    for subset, status_name in SUBSETS.items():
        classified = (status == status_name).to_numpy(dtype=bool) & known.all(axis=1)
        agn = is_agn[classified]
        votes = frame.loc[classified, N_AGN_VOTES].astype(int)
        codes = np.bincount(agn @ bit, minlength=1 << len(models))
        patterns: Counter[str] = Counter()
        for code in np.flatnonzero(codes):
            patterns["".join(m for i, m in enumerate(models) if code >> i & 1)] += int(codes[code])
        counts[subset] = {
            "classified": int(classified.sum()),
            "agn_per_model": {m: int(agn[:, i].sum()) for i, m in enumerate(models)},
            "votes": {str(v): int((votes == v).sum()) for v in range(len(models) + 1)},
            "agn_patterns": {p: int(patterns.get(p, 0)) for p in agn_patterns(models)},
            "domain_known": int(domain_known[classified].sum()),
            "in_labelled_domain": int(in_domain[classified].sum()),
            "agn_per_model_in_domain": {m: int(agn[in_domain[classified], i].sum()) for i, m in enumerate(models)},
            "agn_consensus_in_domain": int(consensus_agn[classified & in_domain].sum()),
            "probability": probability_sums(arrays, models, classified),
            "probability_in_domain": probability_sums(arrays, models, classified & in_domain),
            "probability_out_of_domain": probability_sums(arrays, models, classified & domain_known & ~in_domain),
        }
        if magnitudes is not None:
            counts[subset]["bins"] = binned_counts(arrays, is_agn, models, classified, np.asarray(magnitudes))
    return counts


def add_counts(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Sum nested integer counts of several partitions."""
    total: dict[str, Any] = {}
    for part in parts:
        _add_into(total, part)
    return total


def _add_into(total: dict[str, Any], part: dict[str, Any]) -> None:
    for key, value in part.items():
        if isinstance(value, dict):
            _add_into(total.setdefault(key, {}), value)
        else:
            total[key] = total.get(key, 0) + value


def summarise(counts: dict[str, Any], models: Sequence[str], sky_order: int = SKY_MAP_ORDER) -> dict[str, Any]:
    """Counts plus the Table 2 rows (AGN, SFG, total, AGN fraction per model) and agreement fractions."""
    summary = {"models": list(models), **counts}
    summary["sky"] = {"order": sky_order, **counts.get("sky", {"classified": {}, "agn": {}})}
    for subset in SUBSETS:
        block = counts[subset]
        n = block["classified"]
        block["table2"] = {
            m: {
                "AGN": block["agn_per_model"][m],
                "SFG": n - block["agn_per_model"][m],
                "total": n,
                "agn_fraction": block["agn_per_model"][m] / n if n else None,
            }
            for m in models
        }
        unanimous = block["votes"]["0"] + block["votes"][str(len(models))]
        block["unanimous_fraction"] = unanimous / n if n else None
        block["votes_fraction"] = {v: c / n if n else None for v, c in block["votes"].items()}
        inside = block.get("in_labelled_domain", 0)
        block["agn_fraction_in_domain"] = {
            m: block.get("agn_per_model_in_domain", {}).get(m, 0) / inside if inside else None for m in models
        }
        if "agn_consensus_in_domain" in block:
            block["agn_fraction_in_domain"][CONSENSUS] = block["agn_consensus_in_domain"] / inside if inside else None
        if "probability" in block:
            block["estimates"] = fraction_estimates(block["agn_per_model"], block["probability"], n, models)
            for where in ("in_domain", "out_of_domain"):
                if f"probability_{where}" in block:
                    block[f"estimates_{where}"] = fraction_estimates({}, block[f"probability_{where}"], 0, models)
            block["subsets"] = subset_estimates(block["probability"])
            block["warnings"] = fraction_warnings(block["estimates"], models)
        for item in block.get("bins", {}).values():
            item["estimates"] = fraction_estimates(item["agn_per_model"], item["probability"], item["n"], models)
            item["subsets"] = subset_estimates(item["probability"])
        if "bins" in block:
            block["bins"] = dict(sorted(block["bins"].items(), key=lambda kv: _bin_order(kv[0])))
    return summary


def _bin_order(label: str) -> float:
    return float("inf") if label == NOT_DETECTED else float(label.split("-")[0])


def fraction_estimates(agn_per_model: dict[str, int], probability: dict[str, Any], n: int,
                       models: Sequence[str]) -> dict[str, Any]:
    """Per model: the AGN fraction its classes call, the fraction its calibrated probabilities estimate
    (their mean) and that estimate's statistical error (sqrt of sum p (1 - p), over n); for the consensus
    p_agn_mean also the spread of the models' estimates."""
    out: dict[str, Any] = {}
    for key in [*models, CONSENSUS]:
        sums = probability.get(key, {"n": 0})
        count = sums["n"]
        out[key] = {
            "called": agn_per_model[key] / n if key in agn_per_model and n else None,
            "estimated": sums["sum"] / count if count else None,
            "stat_error": float(np.sqrt(sums["var"])) / count if count else None,
        }
    estimates = [out[m]["estimated"] for m in models if out[m]["estimated"] is not None]
    out[CONSENSUS]["model_spread"] = float(np.std(estimates, ddof=1)) if len(estimates) > 1 else None
    return out


def subset_estimates(probability: dict[str, Any]) -> dict[str, Any]:
    """Size, estimated purity (mean p_agn_mean inside) and estimated completeness (its share of the
    expected AGN, sum of p_agn_mean) of each named subset."""
    total = probability.get(CONSENSUS, {}).get("sum", 0.0)
    out = {}
    for name in SUBSETS_OF_MEAN:
        if name not in probability:
            continue
        item = probability[name]
        out[name] = {"n": item["n"], "purity": item["sum"] / item["n"] if item["n"] else None,
                     "completeness": item["sum"] / total if total > 0 else None}
    return out


def fraction_warnings(estimates: dict[str, Any], models: Sequence[str]) -> list[str]:
    """Plain warnings where a model's classes call an AGN fraction far from what its own probabilities say."""
    warnings = []
    for m in models:
        called, estimated = estimates[m]["called"], estimates[m]["estimated"]
        if called is None or estimated is None or abs(called - estimated) <= FRACTION_WARNING:
            continue
        warnings.append(
            f"Model {m} calls {_percent(called)} of these sources AGN, but its calibrated probabilities estimate "
            f"{_percent(estimated)}: its classes are not a census of AGN here (its class cut was set where it "
            "would be, on a reference sample unlike these sources, or it is an older model set); quote the "
            "estimated fraction."
        )
    spread = estimates[CONSENSUS].get("model_spread")
    if spread is not None and spread > FRACTION_WARNING:
        warnings.append(f"The models' estimated AGN fractions differ by {_percent(spread)} (std): the estimate is "
                        "less certain than its statistical error says.")
    return warnings


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def to_markdown(summary: dict[str, Any]) -> str:
    """Markdown tables: statuses, Table 2 for the inference set, and the models' agreement."""
    models = summary["models"]
    status = summary["status"]
    lines = [
        "# Catalogue summary",
        "",
        f"Sources: {summary['rows']}",
        "",
        "| status | sources |",
        "|---|---|",
        *[f"| {name} | {count} |" for name, count in status.items()],
        "",
        f"Star test not applied (rule off or chi2 missing): {summary['star_test_not_applied']} sources.",
        "",
        "## Inference result (status `classified`; cf. Chen et al. 2021, Table 2)",
        "",
        "| | " + " | ".join(f"Model {m}" for m in models) + " | labelled data |",
        "|---|" + "---|" * (len(models) + 1),
    ]
    table2 = summary[INFERENCE_SET]["table2"]
    labels = summary["labels"]
    lines += [
        "| AGN | " + " | ".join(str(table2[m]["AGN"]) for m in models) + f" | {labels['AGN']} |",
        "| SFG | " + " | ".join(str(table2[m]["SFG"]) for m in models) + f" | {labels['SFG']} |",
        "| Total | " + " | ".join(str(table2[m]["total"]) for m in models) + f" | {labels['AGN'] + labels['SFG']} |",
        "| AGN fraction | " + " | ".join(_percent(table2[m]["agn_fraction"]) for m in models) + " | |",
        *_estimate_row(summary[INFERENCE_SET], models),
        "",
        "AGN fraction = AGN / total over the inference set only (labelled sources excluded). Chen et al. 2021 "
        "(Table 2, the real NEP-Wide catalogue) found 25-34 %.",
        "",
        *_estimate_lines(summary[INFERENCE_SET], models),
        *_training_lines(summary.get("model_set")),
        *_subset_lines(summary[INFERENCE_SET], ((summary.get("model_set") or {}).get("decision") or {})),
        *_bin_lines(summary[INFERENCE_SET], models, summary.get("magnitude_band")),
        *_truth_lines(summary.get("truth"), models),
        *_domain_lines(summary[INFERENCE_SET], models, (summary.get("model_set") or {}).get("domain_recorded")),
        "## Agreement of the models (cf. Figs. 9-10)",
        "",
    ]
    for subset, title in ((INFERENCE_SET, "inference set"), (LABELLED_SET, "labelled sources")):
        block = summary[subset]
        lines += [
            f"### {title} ({block['classified']} sources)",
            "",
            "| AGN votes | sources | fraction |",
            "|---|---|---|",
            *[
                f"| {votes} of {len(models)} | {count} | {_percent(block['votes_fraction'][votes])} |"
                for votes, count in block["votes"].items()
            ],
            "",
            f"Unanimous: {_percent(block['unanimous_fraction'])}.",
            "",
            "| models voting AGN | sources |",
            "|---|---|",
            *[f"| {pattern or 'none'} | {count} |" for pattern, count in block["agn_patterns"].items()],
            "",
        ]
    return "\n".join(lines)


def _fraction_with_error(item: dict[str, Any]) -> str:
    if item.get("estimated") is None:
        return "n/a"
    return f"{_percent(item['estimated'])} ± {_percent(item['stat_error'])}"


def _estimate_row(block: dict[str, Any], models: Sequence[str]) -> list[str]:
    """The Table 2 row of the AGN fractions the models' calibrated probabilities estimate."""
    if "estimates" not in block:
        return []
    estimates = block["estimates"]
    return ["| estimated AGN fraction (mean p_agn) | "
            + " | ".join(_fraction_with_error(estimates[m]) for m in models) + " | |"]


def _estimate_lines(block: dict[str, Any], models: Sequence[str]) -> list[str]:
    """The consensus estimate of the AGN fraction and every warning about the classes' fractions."""
    if "estimates" not in block:
        return []
    consensus = block["estimates"][CONSENSUS]
    spread = consensus.get("model_spread")
    lines = [
        f"Estimated AGN fraction of the inference set (mean of p_agn_mean): **{_fraction_with_error(consensus)}** "
        "(statistical)" + (f", spread over the models {_percent(spread)}" if spread is not None else "") + ". "
        "It holds where the probabilities are calibrated for these sources; see docs/catalogue.md for what was "
        "measured on the mock.",
        "",
    ]
    for warning in block.get("warnings", []):
        lines += [f"**WARNING**: {warning}", ""]
    return lines


def _training_lines(model_set: dict[str, Any] | None) -> list[str]:
    """What photometry the model set trained on, so a reader can weigh the classes of faint sources."""
    if not model_set:
        return []
    degradation = model_set.get("degradation") or {}
    if degradation.get("applied"):
        text = (f"Models trained on labelled photometry degraded to the depth of {degradation.get('target')} "
                f"({degradation.get('copies')} copies per labelled source).")
    else:
        text = ("**WARNING**: the models trained on the labelled photometry as it is, not degraded to this "
                "catalogue's depth: on faint, sparsely detected sources their classes extrapolate (on the mock "
                "such models called 70-90 % of the inference set AGN where the truth is 22 %).")
    return [text, ""]


def subset_warnings(decision: dict[str, Any]) -> list[str]:
    """A warning where the model set's decision rule left `agn_reliable` empty: no cut reached its estimated purity.

    Why: an empty `agn_reliable` reads as "no reliable AGN here" where it means "these models' probabilities never
    promise 90 % purity"; it happens when one model's calibrated probabilities top out low, which drags the
    consensus mean down (docs/validation.md, "Two degraded copies").
    """
    warnings = []
    if "reliable_threshold" in decision and decision["reliable_threshold"] is None:  # no key: a set without subsets
        where = " inside the labelled domain" if decision.get("reliable_in_domain") else ""
        purity = 100 * decision.get("reliable_purity", RELIABLE_PURITY)
        warnings.append(
            f"{AGN_RELIABLE} is empty: no cut on {P_AGN_MEAN} reaches an estimated purity of {purity:g} %{where} on "
            "the model set's reference sample. The consensus is the mean of the models' calibrated probabilities, "
            "so one model whose probabilities top out low keeps every source below the cut; it says nothing about "
            f"how many AGN there are. Use {AGN_COMPLETE}, or train the models with more seeds or networks "
            "(`nepagn train`) and pass --models.")
    return warnings


def _subset_lines(block: dict[str, Any], decision: dict[str, Any]) -> list[str]:
    """The named subsets: size, estimated purity and completeness (and where agn_reliable is drawn from)."""
    subsets = block.get("subsets") or {}
    if not subsets:
        return []
    lines = ["### Named AGN subsets (estimated from the calibrated probabilities)", "",
             "| subset | sources | estimated purity | estimated completeness |", "|---|---|---|---|"]
    for name, item in subsets.items():
        lines.append(f"| {name} | {item['n']} | {_percent(item['purity'])} | {_percent(item['completeness'])} |")
    for warning in subset_warnings(decision):
        lines += ["", f"**WARNING**: {warning}"]
    if decision.get("reliable_in_domain"):
        lines += ["", f"{AGN_RELIABLE} holds sources inside the labelled training domain only (`in_labelled_domain`), "
                  "where the calibrated probabilities were tested on held-out labelled rows; outside it they are "
                  "extrapolations, for which no purity is promised (docs/catalogue.md, \"Classes and named subsets\")."]
    return [*lines, ""]


def _bin_lines(block: dict[str, Any], models: Sequence[str], band: str | None) -> list[str]:
    """Per 1-mag bin of the summary band: called and estimated AGN fractions, and the subsets."""
    bins = block.get("bins")
    if not bins:
        return []
    lines = [
        f"### Per magnitude bin ({band})",
        "",
        "| mag | sources | " + " | ".join(f"called AGN, {m}" for m in models)
        + " | estimated AGN (p_agn_mean) | agn_reliable: n, est. purity | agn_complete: n, est. completeness |",
        "|---|---|" + "---|" * (len(models) + 3),
    ]
    for label, item in bins.items():
        est, sub = item["estimates"], item.get("subsets", {})
        cells = [_percent(est[m]["called"]) for m in models] + [_fraction_with_error(est[CONSENSUS])]
        for name, key in ((AGN_RELIABLE, "purity"), (AGN_COMPLETE, "completeness")):
            entry = sub.get(name)
            cells.append(f"{entry['n']}, {_percent(entry[key])}" if entry else "n/a")
        lines.append(f"| {label} | {item['n']} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _truth_lines(truth: dict[str, Any] | None, models: Sequence[str]) -> list[str]:
    """Against the simulation truth (mock catalogues only): what a real catalogue cannot show."""
    if not truth:
        return []
    keys = [*models, CONSENSUS]
    names = [f"Model {m}" for m in models] + ["consensus (p_agn_mean)"]
    overall = truth["overall"]

    def row(title: str, metric: str, fmt) -> str:
        return f"| {title} | " + " | ".join(fmt(overall[k].get(metric)) for k in keys) + " |"

    number = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    lines = [
        "## Against the simulation truth (mock catalogue: `true_class`)",
        "",
        f"True AGN fraction of the inference set: **{_percent(truth['true_agn_fraction'])}** "
        f"({truth['n']} sources; stars count as not AGN).",
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(keys),
        row("called AGN fraction", "called", _percent),
        row("estimated AGN fraction", "estimated", _percent),
        row("ROC AUC", "roc_auc", number),
        row("Brier score", "brier", number),
        f"| Brier score of the constant true fraction | {number(truth['brier_constant'])} |" + " |" * (len(keys) - 1),
        row("precision of class AGN", "precision", _percent),
        row("completeness of class AGN", "completeness", _percent),
        "",
    ]
    subsets = truth.get("subsets") or {}
    if subsets:
        lines += ["| subset | sources | true purity | true completeness |", "|---|---|---|---|"]
        lines += [f"| {name} | {item['n']} | {_percent(item['purity'])} | {_percent(item['completeness'])} |"
                  for name, item in subsets.items()]
        lines.append("")
    if truth.get("bins"):
        lines += [
            f"Per magnitude bin ({truth['band']}): true fraction, estimated fraction (p_agn_mean), ROC AUC and "
            "Brier score of p_agn_mean against the constant, purity/completeness of the subsets.",
            "",
            "| mag | sources | true AGN | estimated | ROC AUC | Brier | Brier, constant | agn_reliable purity | "
            "agn_complete completeness |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for label, item in truth["bins"].items():
            lines.append(
                f"| {label} | {item['n']} | {_percent(item['true_agn_fraction'])} | {_percent(item['estimated'])} | "
                f"{number(item['roc_auc'])} | {number(item['brier'])} | {number(item['brier_constant'])} | "
                f"{_percent(item['reliable_purity'])} | {_percent(item['complete_completeness'])} |"
            )
        lines.append("")
    return lines


def _domain_lines(block: dict[str, Any], models: Sequence[str], recorded: bool | None = None) -> list[str]:
    """How much of the inference set lies in the labelled training domain, and its AGN fraction there.

    recorded: whether the model set has a labelled domain (None: judge from the rows, as older summaries did).
    """
    n, inside = block["classified"], block.get("in_labelled_domain", 0)
    if recorded is None:
        recorded = block.get("domain_known", 0) > 0
    if not recorded:
        return ["Labelled domain: not recorded by this model set (in_labelled_domain is null; retrain to get it).", ""]
    if n == 0:
        return ["Labelled domain: recorded by the model set; no source of the inference set was classified.", ""]
    keys = [*models, CONSENSUS]
    lines = [
        f"In the labelled training domain (`in_labelled_domain`): {inside} of {n} sources "
        f"({_percent(inside / n)}); their classifications are interpolations, the others "
        "extrapolations (docs/catalogue.md).",
        "",
        "| | " + " | ".join(f"Model {m}" for m in models) + " | consensus (class; p_agn_mean) |",
        "|---|" + "---|" * len(keys),
        "| AGN fraction called, in the domain | "
        + " | ".join(_percent(block["agn_fraction_in_domain"].get(key)) for key in keys) + " |",
    ]
    for where, label in (("in_domain", "in the domain"), ("out_of_domain", "outside the domain")):
        estimates = block.get(f"estimates_{where}")
        if estimates:
            lines.append(f"| estimated AGN fraction, {label} | "
                         + " | ".join(_percent(estimates[key]["estimated"]) for key in keys) + " |")
    if block.get("estimates_out_of_domain"):
        lines += ["", "Outside the domain the probabilities are extrapolations from the labelled sources: on the "
                  "mock's default build they estimated 31-35 % AGN there where the truth is 23 %, and 16-18 % inside "
                  "it against a true 19 % (six training seeds; docs/validation.md, \"From training seed to training "
                  "seed\"). Read the estimated fraction of the whole catalogue with that in mind."]
    return [*lines, ""]


def to_text(summary: dict[str, Any]) -> str:
    """Plain-text rendering for the terminal: the Markdown with its tables column-aligned and rules dropped."""
    rows: list[str] = []
    table: list[list[str]] = []

    def flush() -> None:
        if table:
            widths = [max(len(row[i]) if i < len(row) else 0 for row in table) for i in range(max(map(len, table)))]
            rows.extend("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in table)
            table.clear()

    for line in to_markdown(summary).splitlines():
        if line.startswith("|"):
            if not set(line) <= set("|- "):
                table.append([cell.strip().replace("`", "") for cell in line.strip().strip("|").split("|")])
            continue
        flush()
        rows.append(line.lstrip("# ").replace("**", "").replace("`", ""))
    flush()
    return "\n".join(rows)
