"""The catalogue's decision rule: classes from calibrated probabilities, and the named AGN subsets.

A model's class is the census cut: the sources most likely to be AGN are called AGN, as many as the
model's own calibrated probabilities expect in a reference sample (the sum of p_agn there). Sources
are ranked by p_agn, and within a step of the isotonic calibrator (many sources share one p_agn) by
the raw score p_agn is a non-decreasing function of, so the cut is stored on the raw score:
``class_<model> = AGN where score_agn_<model> >= s_<model>``. A class and its probability tell one
story (every AGN has p_agn at least that of every SFG), and the class does not depend on how a
training monitor weighted AGN completeness. The classes then add up to the estimated AGN fraction
instead of the far smaller number a 0.5 cut gives where most sources are uncertain (on the mock a
weak model called 1 % AGN at 0.5 where it expected 15 % and the truth is 22 %); at the census cut
the expected precision and completeness of the class are equal.

Two named subsets, in the manner of released AGN catalogues (Assef et al. 2018's R90 / C75), are cut
on the consensus probability ``p_agn_mean`` (the mean of the models' calibrated probabilities):

- ``agn_reliable``: ``p_agn_mean >= t_R`` among the sources inside the labelled training domain
  (``in_labelled_domain``, nepagn.domain), with t_R the lowest cut at which that subset's estimated purity
  is at least 90 %. Only there were the calibrated probabilities tested on held-out labelled rows; outside
  it they are extrapolations, too high on the mock's faint sources (estimated purity 90 %, true 78-83 %
  over three training seeds, docs/validation.md), so a subset promising a purity keeps to the domain;
- ``agn_complete``: ``p_agn_mean >= t_C``, the highest cut at which the subset holds an estimated 75 %
  of the AGN.

The estimates assume the probabilities are calibrated on the sources they are applied to: the
expected number of AGN above a cut is the sum of the probabilities above it. They are made, when the
model set is trained, on a reference sample of probabilities that uses no label: the target
catalogue's sample (training on degraded photometry, nepagn.degrade) or, without a target, the
labelled rows' held-out (out-of-fold) calibrated probabilities. The build re-estimates purity and
completeness on the catalogue itself, per magnitude bin, in its summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from nepagn.errors import NepagnError
from nepagn.model.predictions import P_AGN_MEAN, is_agn_column, p_agn_column, score_agn_column

RELIABLE_PURITY = 0.90
COMPLETE_COMPLETENESS = 0.75
AGN_RELIABLE = "agn_reliable"
AGN_COMPLETE = "agn_complete"
RELIABLE_RULE = (f"in_labelled_domain and p_agn_mean >= reliable_threshold: estimated purity >= {RELIABLE_PURITY:g} "
                 "among the sources inside the labelled training domain")
RELIABLE_RULE_ALL_ROWS = f"p_agn_mean >= reliable_threshold: estimated purity >= {RELIABLE_PURITY:g}"  # older sets
CLASS_RULE = ("class_<model> = AGN where score_agn_<model> >= class_thresholds[<model>], the census cut: the sources "
              "ranked by p_agn_<model> (ties by the raw score it is a non-decreasing map of), as many called AGN as "
              "the model's calibrated probabilities expect in the reference sample (their sum)")


def estimated_purity(p: np.ndarray, threshold: float) -> float | None:
    """Expected AGN fraction among sources with p >= threshold (mean of their probabilities); None if empty."""
    above = np.asarray(p, dtype=np.float64)[np.asarray(p) >= threshold]
    return float(above.mean()) if len(above) else None


def estimated_completeness(p: np.ndarray, threshold: float) -> float | None:
    """Expected share of all AGN that have p >= threshold (sum above over the total sum); None if no AGN expected."""
    p = np.asarray(p, dtype=np.float64)
    total = p.sum()
    return float(p[p >= threshold].sum() / total) if total > 0 else None


def _cuts(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every distinct value of p as a cut (descending), with the count and probability sum of {p >= cut}."""
    ordered = np.sort(np.asarray(p, dtype=np.float64)[np.isfinite(p)])[::-1]
    last_of_tie = np.flatnonzero(np.r_[ordered[1:] != ordered[:-1], True]) if len(ordered) else np.empty(0, int)
    return ordered[last_of_tie], last_of_tie + 1.0, np.cumsum(ordered)[last_of_tie]


def purity_threshold(p: np.ndarray, purity: float) -> float | None:
    """The lowest cut t with estimated purity of {p >= t} at least `purity`; None where no cut reaches it."""
    cuts, counts, sums = _cuts(p)
    reach = np.flatnonzero(sums / np.maximum(counts, 1) >= purity)
    return float(cuts[reach[-1]]) if len(reach) else None


def completeness_threshold(p: np.ndarray, completeness: float) -> float | None:
    """The highest cut t whose subset {p >= t} holds at least `completeness` of the expected AGN."""
    cuts, _, sums = _cuts(p)
    if len(cuts) == 0 or sums[-1] <= 0:
        return None
    return float(cuts[int(np.flatnonzero(sums / sums[-1] >= completeness)[0])])


def census_threshold(p: np.ndarray, score: np.ndarray) -> float:
    """The raw-score cut s at which the number of sources with score >= s comes closest to the expected number
    of AGN, the sum of their calibrated probabilities p (p a non-decreasing map of score).

    Sources with equal scores are all in or all out; returns +inf where calling nobody comes closest.
    """
    p, score = np.asarray(p, dtype=np.float64), np.asarray(score, dtype=np.float64)
    ok = np.isfinite(p) & np.isfinite(score)
    expected = float(p[ok].sum())
    cuts, counts, _ = _cuts(score[ok])
    if len(cuts) == 0:
        return float("inf")
    best = int(np.argmin(np.abs(counts - expected)))
    return float(cuts[best]) if abs(counts[best] - expected) < expected else float("inf")


@dataclass(frozen=True)
class DecisionRule:
    """The per-model class cuts (on the raw score, ranked as p_agn) and the subsets' cuts on p_agn_mean."""

    class_thresholds: dict[str, float]
    reliable_threshold: float | None
    complete_threshold: float | None
    estimated_on: str
    n_reference: int
    reference_agn_fraction: float | None
    reliable_purity: float = RELIABLE_PURITY
    complete_completeness: float = COMPLETE_COMPLETENESS
    # agn_reliable keeps to the labelled domain, its cut estimated there (False: rules recorded before it did)
    reliable_in_domain: bool = False
    n_reference_in_domain: int | None = None

    @classmethod
    def fit(cls, p_by_model: dict[str, np.ndarray], score_by_model: dict[str, np.ndarray],
            estimated_on: str, in_domain: np.ndarray) -> DecisionRule:
        """Cuts estimated from a reference sample of every model's calibrated probabilities and raw scores (no
        labels used); the subsets use the probabilities' mean over the models, p_agn_mean.

        in_domain: per reference row, whether it lies inside the labelled training domain
        (nepagn.domain.IN_LABELLED_DOMAIN); agn_reliable's cut is estimated on those rows alone.
        """
        stacked = np.column_stack([np.asarray(p, dtype=np.float64) for p in p_by_model.values()])
        p_mean = stacked.mean(axis=1)
        finite = np.isfinite(p_mean)
        inside = finite & np.asarray(in_domain, dtype=bool)
        return cls(
            class_thresholds={name: census_threshold(p, score_by_model[name]) for name, p in p_by_model.items()},
            reliable_threshold=purity_threshold(p_mean[inside], RELIABLE_PURITY),
            complete_threshold=completeness_threshold(p_mean[finite], COMPLETE_COMPLETENESS),
            estimated_on=estimated_on,
            n_reference=int(finite.sum()),
            reference_agn_fraction=float(p_mean[finite].mean()) if finite.any() else None,
            reliable_in_domain=True,
            n_reference_in_domain=int(inside.sum()),
        )

    def subsets(self, p_mean: np.ndarray, in_domain: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """agn_reliable and agn_complete for consensus probabilities (False where p_mean is NaN or no cut, and for
        agn_reliable outside the labelled domain: `in_domain`, per row, needed where the rule keeps to it)."""
        p_mean = np.asarray(p_mean, dtype=np.float64)
        out = {}
        for name, cut in ((AGN_RELIABLE, self.reliable_threshold), (AGN_COMPLETE, self.complete_threshold)):
            out[name] = np.zeros(len(p_mean), dtype=bool) if cut is None else np.nan_to_num(p_mean, nan=-1.0) >= cut
        if self.reliable_in_domain:
            if in_domain is None:
                raise NepagnError("this model set's agn_reliable keeps to the labelled domain: the rows' "
                                  "in_labelled_domain flags are needed (LabelledDomain.diagnose)")
            out[AGN_RELIABLE] &= pd.array(in_domain, dtype="boolean").fillna(False).to_numpy(dtype=bool)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record for the manifest and provenance (a cut of +inf, nothing called AGN, as null)."""
        cuts = {name: (None if not np.isfinite(cut) else cut) for name, cut in self.class_thresholds.items()}
        return {**asdict(self), "class_thresholds": cuts, "class_rule": CLASS_RULE,
                "subsets": {AGN_RELIABLE: RELIABLE_RULE if self.reliable_in_domain else RELIABLE_RULE_ALL_ROWS,
                            AGN_COMPLETE: "p_agn_mean >= complete_threshold: estimated completeness >= "
                                          f"{COMPLETE_COMPLETENESS:g}"}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DecisionRule:
        """Inverse of to_dict."""
        fields = set(cls.__dataclass_fields__)
        values = {key: value for key, value in data.items() if key in fields}
        values["class_thresholds"] = {name: float("inf") if cut is None else float(cut)
                                      for name, cut in values.get("class_thresholds", {}).items()}
        return cls(**values)


LEGACY_RULE = ("class_<model> = AGN where the raw score score_agn_<model> >= the threshold the model set recorded "
               "(model sets trained before classes were taken from p_agn); no named subsets")


@dataclass(frozen=True)
class ClassDecision:
    """How a model set turns predictions into classes and subsets: its DecisionRule, or the legacy raw-score
    thresholds of model sets trained before the rule existed (those have no subsets)."""

    rule: DecisionRule | None
    legacy_thresholds: dict[str, float]

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> ClassDecision:
        """The decision recorded in a model-set manifest."""
        section = manifest.get("decision")
        thresholds = {name: float(value) for name, value in (manifest.get("thresholds") or {}).items()}
        return cls(DecisionRule.from_dict(section) if section else None, thresholds)

    @property
    def has_subsets(self) -> bool:
        return self.rule is not None

    def is_agn(self, model: str, p_agn: np.ndarray, score: np.ndarray) -> np.ndarray:
        """True where the model calls the source AGN (False where it did not classify it: NaN inputs)."""
        if self.rule is not None:
            cut = self.rule.class_thresholds[model]
            return np.nan_to_num(np.asarray(score, dtype=np.float64), nan=-np.inf) >= cut
        threshold = self.legacy_thresholds.get(model, 0.5)
        return np.nan_to_num(np.asarray(score, dtype=np.float64), nan=-np.inf) >= threshold

    def decide(self, probabilities: pd.DataFrame, models: Sequence[str],
               in_domain: np.ndarray | pd.Series | None = None) -> pd.DataFrame:
        """Classes and subsets from a model set's predict_proba output (same index).

        Parameters
        ----------
        probabilities : DataFrame
            p_agn_<m> and score_agn_<m> for each of `models`.
        models : sequence of str
            The models, in the model set's order (the consensus mean adds them left to right).
        in_domain : array of bool, optional
            Per row, in_labelled_domain (LabelledDomain.diagnose); needed where the rule's agn_reliable keeps
            to the labelled domain.

        Returns
        -------
        DataFrame
            is_agn_<m> (bool) per model; p_agn_mean, the mean of the models' p_agn (NaN where one is NaN);
            and, where the rule has them, the subsets agn_reliable / agn_complete (bool) cut on p_agn_mean.
        """
        out: dict[str, np.ndarray] = {}
        p_agn = [probabilities[p_agn_column(model)].to_numpy(dtype="float64") for model in models]
        for model, p in zip(models, p_agn, strict=True):
            out[is_agn_column(model)] = self.is_agn(model, p, probabilities[score_agn_column(model)].to_numpy())
        p_mean = p_agn[0].copy()
        for p in p_agn[1:]:  # left to right, as the catalogue's consensus has always added them
            p_mean += p
        out[P_AGN_MEAN] = p_mean / len(models)
        if self.rule is not None:
            out.update(self.rule.subsets(out[P_AGN_MEAN], None if in_domain is None else np.asarray(in_domain)))
        return pd.DataFrame(out, index=probabilities.index)

    def record(self) -> dict[str, Any]:
        """Provenance: the class rule and the subset cuts (or the legacy thresholds)."""
        if self.rule is None:
            return {"class_rule": LEGACY_RULE, "thresholds": self.legacy_thresholds}
        return self.rule.to_dict()
