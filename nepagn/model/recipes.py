"""Classifier recipes (Models A, B, C of the paper, N, HGB, HGBC) as nepagn.model.fold_fit fits them on a fold.

A recipe says how one outer fold is trained: network or gradient boosting, focal-loss and Eq. 3
settings, feature options, how many inner-fold members form the ensemble and how the AGN
threshold is chosen on inner rows. Models A, B, C keep the paper's settings (configs/models,
configs/training.toml); N reads its extra [training], [features], [ensemble] tables from
configs/models/N.toml.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from typing import Any

from nepagn.errors import NepagnError
from nepagn.model.config import ModelConfig, TrainingConfig, load_model_config, load_training_config
from nepagn.model.metrics import THRESHOLD_RULES as METRIC_THRESHOLD_RULES
from nepagn.resources import configs_dir

HGB = "HGB"
HGBC = "HGBC"  # HGB on magnitudes, errors and every pairwise colour of the band set
THRESHOLD_RULES = ("eq3", *METRIC_THRESHOLD_RULES)  # Eq. 3's monitor, or a rule of nepagn.model.metrics


@dataclass(frozen=True)
class Recipe:
    """How one classifier is trained and thresholded on an outer fold's training rows."""

    name: str
    kind: str  # "network" or "hgb"
    model: ModelConfig | None = None
    training: TrainingConfig | None = None
    features: dict[str, Any] = field(default_factory=dict)
    members: int = 1  # 1: one network early-stopped on a stratified inner split; k > 1: inner k-fold ensemble
    threshold_rule: str = "eq3"

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary written into the run record."""
        return {
            "name": self.name,
            "kind": self.kind,
            "model": self.model.to_dict() if self.model else None,
            "training": self.training.to_dict() if self.training else None,
            "features": self.features,
            "members": self.members,
            "threshold_rule": self.threshold_rule,
        }


def catalogue_recipe(name: str) -> Recipe:
    """Model `name` (A, B, C) with the catalogue's training recipe (configs/training_catalogue.toml): one
    network per fold, early-stopped by Eq. 3 on an inner split, threshold by the recipe's rule there."""
    training = load_training_config(recipe="catalogue")
    return Recipe(f"{name}-catalogue", "network", load_model_config(name), training, dict(training.features), 1,
                  training.threshold_rule)


def load_recipe(name: str, max_epochs: int | None = None) -> Recipe:
    """The recipe of model `name` (A, B, C, N or any configs/models/<name>.toml; HGB / HGBC for gradient boosting)."""
    if name == HGB:
        return Recipe(HGB, "hgb", members=3, threshold_rule="balanced_accuracy")
    if name == HGBC:
        return Recipe(HGBC, "hgb", features={"colours": "all_pairs"}, members=3, threshold_rule="balanced_accuracy")
    path = configs_dir() / "models" / f"{name}.toml"
    if not path.is_file():
        raise NepagnError(f"{path}: no configuration for model {name!r}")
    with path.open("rb") as handle:
        extra = tomllib.load(handle)
    model = load_model_config(name)
    training = load_training_config(**extra.get("training", {}))
    if max_epochs is not None:
        training = replace(training, max_epochs=int(max_epochs))
    features = dict(training.features)
    features.update(extra.get("features", {}))
    ensemble = extra.get("ensemble", {})
    rule = ensemble.get("threshold", "eq3")
    if rule not in THRESHOLD_RULES:
        raise NepagnError(f"{path}: [ensemble] threshold must be one of {THRESHOLD_RULES}, not {rule!r}")
    return Recipe(name, "network", model, training, features, int(ensemble.get("members", 1)), rule)
