"""Focal loss (Eq. 2 of Chen et al. 2021) against values computed by hand from the formula."""

import math

import numpy as np
import pytest

from nepagn.model.focal_loss import FocalLoss


def eq2(y: float, p: float, alpha: float, gamma: float) -> float:
    return -y * alpha * (1 - p) ** gamma * math.log(p) - (1 - y) * (1 - alpha) * p**gamma * math.log(1 - p)


def test_hand_computed_values_model_a():
    # y=1, p=0.8: 0.99 * 0.2^2 * -ln 0.8 = 0.99 * 0.04 * 0.2231435513 = 0.0088364846
    loss = FocalLoss(alpha=0.99, gamma=2.0)
    assert float(loss(np.array([1.0]), np.array([[0.8]]))) == pytest.approx(0.0088364846, rel=1e-5)
    # y=0, p=0.3: 0.01 * 0.3^2 * -ln 0.7 = 0.01 * 0.09 * 0.3566749439 = 0.000321007
    assert float(loss(np.array([0.0]), np.array([[0.3]]))) == pytest.approx(0.000321007, rel=1e-5)


def test_alpha_weights_agn_term_and_one_minus_alpha_the_sfg_term():
    loss = FocalLoss(alpha=0.75, gamma=0.0)
    # gamma = 0 reduces Eq. 2 to alpha-weighted cross-entropy
    assert float(loss(np.array([1.0]), np.array([[0.5]]))) == pytest.approx(0.75 * math.log(2), rel=1e-6)
    assert float(loss(np.array([0.0]), np.array([[0.5]]))) == pytest.approx(0.25 * math.log(2), rel=1e-6)


def test_batch_mean_matches_formula():
    y = np.array([1, 0, 1, 0, 1], dtype=np.float32)
    p = np.array([0.9, 0.1, 0.2, 0.7, 0.55], dtype=np.float32)
    expected = np.mean([eq2(a, b, 0.99, 2.0) for a, b in zip(y, p, strict=True)])
    assert float(FocalLoss(0.99, 2.0)(y, p[:, None])) == pytest.approx(expected, rel=1e-5)


def test_confident_wrong_answers_cost_more_than_right_ones():
    loss = FocalLoss(0.99, 2.0)
    assert float(loss(np.array([1.0]), np.array([[0.05]]))) > 100 * float(loss(np.array([1.0]), np.array([[0.95]])))


def test_config_round_trip():
    restored = FocalLoss.from_config(FocalLoss(0.9, 3.0).get_config())
    assert (restored.alpha, restored.gamma) == (0.9, 3.0)
