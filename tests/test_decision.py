"""The catalogue's decision rule (nepagn.model.decision): census cut, named subsets, legacy model sets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nepagn.errors import NepagnError
from nepagn.model.decision import (
    AGN_COMPLETE,
    AGN_RELIABLE,
    ClassDecision,
    DecisionRule,
    census_threshold,
    completeness_threshold,
    estimated_completeness,
    estimated_purity,
    purity_threshold,
)


def test_census_cut_calls_as_many_agn_as_the_probabilities_expect():
    p = np.array([0.9, 0.8, 0.6, 0.3, 0.2, 0.1, 0.05, 0.05])  # expects 3.0 AGN
    score = p + 0.01
    cut = census_threshold(p, score)
    assert cut == 0.61 and int((score >= cut).sum()) == 3
    rng = np.random.default_rng(0)
    raw = rng.beta(1, 5, 20000)
    q = np.round(raw, 1)  # a coarse, isotonic-like calibration: many sources share one probability
    cut = census_threshold(q, raw)
    assert abs((raw >= cut).mean() - q.mean()) < 1e-3
    # the ranking is that of the probabilities: every source called AGN is at least as probable as every other
    assert q[raw >= cut].min() >= q[raw < cut].max()
    # fewer than half an AGN expected, or every score equal: nothing is called AGN
    assert census_threshold(np.full(10, 0.01), np.full(10, 0.3)) == float("inf")
    assert census_threshold(np.full(1000, 0.13), np.full(1000, 0.5)) == float("inf")


def test_subset_cuts_reach_their_estimated_purity_and_completeness():
    p = np.array([0.99, 0.95, 0.92, 0.7, 0.5, 0.4, 0.1, 0.05])
    reliable = purity_threshold(p, 0.90)
    assert reliable == 0.92 and estimated_purity(p, reliable) >= 0.90
    assert estimated_purity(p, 0.7) < 0.90  # one step lower is no longer pure enough
    complete = completeness_threshold(p, 0.75)
    assert estimated_completeness(p, complete) >= 0.75
    assert estimated_completeness(p, np.nextafter(complete, 1.0)) < 0.75  # the highest such cut
    assert purity_threshold(np.full(5, 0.3), 0.9) is None


def test_rule_from_reference_probabilities_and_its_json_round_trip():
    rng = np.random.default_rng(1)
    a, b = rng.beta(1, 4, 5000), rng.beta(1, 6, 5000)
    rule = DecisionRule.fit({"A": a, "B": b}, {"A": a, "B": b}, "a test sample", np.ones(5000, bool))
    assert set(rule.class_thresholds) == {"A", "B"} and rule.n_reference == 5000
    assert abs(rule.reference_agn_fraction - np.mean((a + b) / 2)) < 1e-12
    back = DecisionRule.from_dict(json.loads(json.dumps(rule.to_dict())))
    assert back == rule
    flags = rule.subsets(np.array([0.0, rule.complete_threshold, np.nan, 1.0]), np.ones(4, bool))
    assert flags[AGN_COMPLETE].tolist() == [False, True, False, True]
    # beta(1, 4) and beta(1, 6) probabilities never average 0.9 above any cut: the reliable subset is empty
    assert rule.reliable_threshold is None and not flags[AGN_RELIABLE].any()
    sure = np.r_[np.full(50, 0.97), np.full(950, 0.02)]
    confident = DecisionRule.fit({"A": sure}, {"A": sure}, "confident", np.ones(1000, bool))
    assert confident.reliable_threshold == 0.97
    assert confident.subsets(np.array([0.97, 0.5]), np.ones(2, bool))[AGN_RELIABLE].tolist() == [True, False]


def test_agn_reliable_keeps_to_the_labelled_domain_and_estimates_its_cut_there():
    # inside the domain the probabilities hold; outside, a block of sources the calibrator calls 0.95 that a
    # user cannot check: they must neither lower the cut nor enter the subset
    inside_p = np.r_[np.full(40, 0.93), np.full(40, 0.8), np.full(920, 0.05)]
    outside_p = np.r_[np.full(500, 0.95), np.full(500, 0.1)]
    p = np.r_[inside_p, outside_p]
    in_domain = np.r_[np.ones(1000, bool), np.zeros(1000, bool)]
    rule = DecisionRule.fit({"A": p}, {"A": p}, "a test sample", in_domain)
    assert rule.reliable_in_domain and rule.n_reference_in_domain == 1000 and rule.n_reference == 2000
    assert rule.reliable_threshold == 0.93  # on all rows, the outside block would have let 0.8 in
    assert DecisionRule.fit({"A": p}, {"A": p}, "all rows", np.ones(2000, bool)).reliable_threshold == 0.8
    flags = rule.subsets(np.array([0.95, 0.95, 0.93, np.nan]), np.array([False, True, True, True]))
    assert flags[AGN_RELIABLE].tolist() == [False, True, True, False]
    assert flags[AGN_COMPLETE].tolist() == [True, True, True, False]  # agn_complete counts every source
    with pytest.raises(NepagnError, match="in_labelled_domain"):
        rule.subsets(np.array([0.95]))
    # a rule recorded before agn_reliable kept to the domain keeps its meaning: no domain flags needed
    old = {key: value for key, value in rule.to_dict().items() if key not in ("reliable_in_domain",
                                                                               "n_reference_in_domain")}
    legacy = DecisionRule.from_dict(old)
    assert not legacy.reliable_in_domain
    assert legacy.subsets(np.array([0.95, 0.5]))[AGN_RELIABLE].tolist() == [True, False]
    assert "in_labelled_domain" in rule.to_dict()["subsets"][AGN_RELIABLE]


def test_classes_follow_the_cut_on_p_agn_and_legacy_sets_keep_their_raw_thresholds():
    rule = DecisionRule({"A": 0.3}, 0.8, 0.2, "x", 10, 0.2)
    new = ClassDecision.from_manifest({"decision": rule.to_dict(), "thresholds": {"A": 0.9}})
    p, score = np.array([0.2, 0.3, np.nan]), np.array([0.25, 0.35, np.nan])
    assert new.is_agn("A", p, score).tolist() == [False, True, False]
    p, score = np.array([0.2, 0.3, np.nan]), np.array([0.95, 0.1, np.nan])
    legacy = ClassDecision.from_manifest({"thresholds": {"A": 0.9}})
    assert not legacy.has_subsets
    assert legacy.is_agn("A", p, score).tolist() == [True, False, False]
    assert "raw score" in legacy.record()["class_rule"]
