"""Summary of a built catalogue: status counts, per-model AGN/SFG counts and fractions (the paper's
Table 2) and the agreement of the models (Figs. 9-10), as a dict, plain text and Markdown.

Counts are taken per partition (`partition_counts`) and added up (`add_counts`), so the whole
catalogue never has to be in memory at once; `summarise` turns the totals into fractions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from nepagn.domain import IN_LABELLED_DOMAIN
from nepagn.pipeline.catalogue_schema import CLASS_AGN, CLASS_SFG, CONSENSUS_CLASS, N_AGN_VOTES, class_column
from nepagn.preprocess import STAR_TEST, STAR_TEST_NOT_APPLIED, STATUS, STATUS_CLASSIFIED, STATUS_LABELLED, STATUSES
from nepagn.schema import HEALPIX_29, LABEL

INFERENCE_SET = "inference_set"
LABELLED_SET = "labelled_set"
SUBSETS = {INFERENCE_SET: STATUS_CLASSIFIED, LABELLED_SET: STATUS_LABELLED}
SKY_MAP_ORDER = 8  # HEALPix order of the AGN-fraction map: nside 256, ~0.05 deg2 per pixel


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


def partition_counts(frame: pd.DataFrame, models: Sequence[str], sky_order: int = SKY_MAP_ORDER) -> dict[str, Any]:
    """Additive integer counts of one catalogue partition, incl. per-HEALPix-pixel counts for the sky map.

    Runs once per partition task, so it works on boolean arrays (the set of models voting AGN is
    counted as a bit code per row), never row by row in Python.
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
    for subset, status_name in SUBSETS.items():
        classified = (status == status_name).to_numpy(dtype=bool) & known.all(axis=1)
        agn = is_agn[classified]
        votes = frame.loc[classified, N_AGN_VOTES].astype(int)
        codes = np.bincount(agn @ bit, minlength=1 << len(models))
        patterns = Counter()
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
        }
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
    return summary


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
        "",
        "AGN fraction = AGN / total over the inference set only (labelled sources excluded).",
        "",
        *_domain_lines(summary[INFERENCE_SET], models),
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


def _domain_lines(block: dict[str, Any], models: Sequence[str]) -> list[str]:
    """How much of the inference set lies in the labelled training domain, and its AGN fraction there."""
    n, inside = block["classified"], block.get("in_labelled_domain", 0)
    if block.get("domain_known", 0) == 0:
        return ["Labelled domain: not recorded by this model set (in_labelled_domain is null; retrain to get it).", ""]
    return [
        f"In the labelled training domain (`in_labelled_domain`): {inside} of {n} sources "
        f"({_percent(inside / n if n else None)}); their classifications are interpolations, the others "
        "extrapolations (docs/catalogue.md).",
        "",
        "| | " + " | ".join(f"Model {m}" for m in models) + " |",
        "|---|" + "---|" * len(models),
        "| AGN fraction, in the domain | "
        + " | ".join(_percent(block["agn_fraction_in_domain"][m]) for m in models) + " |",
        "",
    ]


def to_text(summary: dict[str, Any]) -> str:
    """Plain-text rendering for the terminal (the Markdown with table rules dropped)."""
    rows = []
    for line in to_markdown(summary).splitlines():
        if line and set(line) <= set("|-"):
            continue
        rows.append(line.strip("| ").replace(" | ", "  ").lstrip("# "))
    return "\n".join(rows)
