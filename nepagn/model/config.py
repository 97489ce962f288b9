"""Model (Table 1) and training configuration, read from configs/models/<name>.toml and configs/training.toml."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nepagn.errors import NepagnError
from nepagn.model.augment import check_augmentation
from nepagn.resources import configs_dir, read_toml


@dataclass(frozen=True)
class ModelConfig:
    """One of the paper's Models: focal loss alpha, gamma (Eq. 2) and termination M, N, delta (Eq. 3)."""

    name: str
    alpha: float
    gamma: float
    patience_m: int
    weight_n: float
    delta: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainingConfig:
    """Optimiser, regularisation, epoch cap and feature options shared by all models of a run."""

    learning_rate: float = 1e-3
    l2: float = 1e-4
    dropout: float = 0.2
    batch_size: int = 0
    max_epochs: int = 3000
    inner_fraction: float = 0.1
    networks: int = 1  # networks per (model, fold, seed), differently initialised; their mean predicts
    threshold_rule: str = "balanced_accuracy"  # strict protocol: nepagn.model.metrics.THRESHOLD_RULES
    smooth_monitor: bool = False  # Eq. 3 and the best epoch on the monitor's mean over M epochs (termination)
    weight_average: float = 0.0  # > 0: the monitor and the kept network use this exponential average of the weights
    noise_augment: float = 0.0  # > 0: each epoch the fit rows' magnitudes move by this many times their errors
    band_dropout: float = 0.0  # > 0: each epoch each detected band of a fit row is hidden with this probability
    features: dict[str, Any] = field(
        default_factory=lambda: {"missing": "zero", "mask_channel": False, "standardise": False}
    )

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.weight_average) < 1.0:
            raise ValueError(f"weight_average must be in [0, 1) (0: off), not {self.weight_average}")
        check_augmentation(float(self.noise_augment), float(self.band_dropout))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_model_config(name_or_path: str | Path) -> ModelConfig:
    """A Model config by name (A, B, C in configs/models/) or by path to a TOML file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = configs_dir() / "models" / f"{name_or_path}.toml"
    data = read_toml(path)
    try:
        return ModelConfig(
            name=str(data.get("name", path.stem)),
            alpha=float(data["alpha"]),
            gamma=float(data["gamma"]),
            patience_m=int(data["patience_m"]),
            weight_n=float(data["weight_n"]),
            delta=float(data["delta"]),
        )
    except KeyError as exc:
        raise NepagnError(f"{path}: missing key {exc.args[0]!r}") from exc


DEFAULT_COPIES = 10  # degraded copies per labelled row when training for a target catalogue (nepagn.degrade)
RECIPES = {"catalogue": ("training_catalogue.toml", "strict"), "paper": ("training.toml", "paper")}


def recipe_protocol(recipe: str) -> str:
    """The protocol a named training recipe uses (catalogue: strict; paper: paper)."""
    return RECIPES[recipe][1]


def load_training_config(path: str | Path | None = None, recipe: str = "paper", **overrides: Any) -> TrainingConfig:
    """A training configuration: the named recipe's TOML (`paper`: configs/training.toml, the literal protocol;
    `catalogue`: configs/training_catalogue.toml) or `path`, with non-None `overrides` applied."""
    if recipe not in RECIPES:
        raise NepagnError(f"unknown training recipe {recipe!r}; expected one of {sorted(RECIPES)}")
    source = Path(path) if path else configs_dir() / RECIPES[recipe][0]
    data = read_toml(source)
    data.update({key: value for key, value in overrides.items() if value is not None})
    known = set(TrainingConfig.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise NepagnError(f"unknown training configuration keys {unknown}; known: {sorted(known)}")
    from nepagn.model.metrics import THRESHOLD_RULES

    rule = data.get("threshold_rule", TrainingConfig.threshold_rule)
    if rule not in THRESHOLD_RULES:
        raise NepagnError(f"{source}: threshold_rule {rule!r} is not one of {sorted(THRESHOLD_RULES)}")
    try:
        return TrainingConfig(**data)
    except ValueError as exc:  # a value out of its range (TrainingConfig.__post_init__)
        raise NepagnError(f"{source}: {exc}") from exc
