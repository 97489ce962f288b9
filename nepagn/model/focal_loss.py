"""Focal loss exactly as Eq. 2 of Chen et al. 2021: alpha weights the AGN (y=1) term, 1 - alpha the SFG term."""

from __future__ import annotations

import keras
from keras import ops

EPSILON = 1e-7


def focal_loss_terms(y_true, p, alpha: float, gamma: float):
    """Per-sample loss -y a (1-p)^g log p - (1-y)(1-a) p^g log(1-p), with p clipped to [eps, 1-eps]."""
    y = ops.cast(y_true, p.dtype)
    p = ops.clip(p, EPSILON, 1.0 - EPSILON)
    agn = -y * alpha * ops.power(1.0 - p, gamma) * ops.log(p)
    sfg = -(1.0 - y) * (1.0 - alpha) * ops.power(p, gamma) * ops.log(1.0 - p)
    return agn + sfg


@keras.saving.register_keras_serializable(package="nepagn")
class FocalLoss(keras.losses.Loss):
    """Eq. 2 averaged over the batch; `alpha` and `gamma` as in Table 1 (Models A-C: 0.99 and 2)."""

    def __init__(self, alpha: float = 0.99, gamma: float = 2.0, name: str = "focal_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.alpha = float(alpha)
        self.gamma = float(gamma)

    def call(self, y_true, y_pred):
        y_pred = ops.reshape(y_pred, (-1,))
        y_true = ops.reshape(y_true, (-1,))
        return focal_loss_terms(y_true, y_pred, self.alpha, self.gamma)

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha, "gamma": self.gamma}
