"""Model (Table 1) and training configuration, read from configs/models/<name>.toml and configs/training.toml."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nepagn.errors import NepagnError
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
    features: dict[str, Any] = field(
        default_factory=lambda: {"missing": "zero", "mask_channel": False, "standardise": False}
    )

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


def load_training_config(path: str | Path | None = None, **overrides: Any) -> TrainingConfig:
    """The training defaults (configs/training.toml, or `path`), with non-None `overrides` applied."""
    data = read_toml(Path(path) if path else configs_dir() / "training.toml")
    data.update({key: value for key, value in overrides.items() if value is not None})
    known = set(TrainingConfig.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise NepagnError(f"unknown training configuration keys {unknown}; known: {sorted(known)}")
    return TrainingConfig(**data)
