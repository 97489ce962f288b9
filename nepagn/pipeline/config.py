"""build-catalogue settings: configs/pipeline.toml, optionally overridden by a user's TOML file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nepagn.errors import NepagnError
from nepagn.preprocess import PreprocessConfig
from nepagn.resources import configs_dir, read_toml

DEFAULT_CONFIG = "pipeline.toml"
SECTIONS = ("preprocess", "store", "catalogue", "summary", "mock", "quick_training")


@dataclass(frozen=True)
class PipelineConfig:
    """The sections of pipeline.toml, as read (defaults merged with overrides)."""

    values: dict[str, dict[str, Any]]

    @property
    def preprocess(self) -> PreprocessConfig:
        return PreprocessConfig.from_mapping(self.values["preprocess"])

    @property
    def max_rows_per_partition(self) -> int:
        return int(self.values["store"]["max_rows_per_partition"])

    @property
    def catalogue_name(self) -> str:
        return str(self.values["catalogue"]["name"])

    @property
    def summary_band(self) -> str:
        """Registry band id of the summary's per-magnitude-bin tables."""
        return str(self.values["summary"]["magnitude_band"])

    @property
    def mock(self) -> dict[str, Any]:
        return dict(self.values["mock"])

    @property
    def quick_training(self) -> dict[str, Any]:
        return dict(self.values["quick_training"])


def load_pipeline_config(override: str | Path | None = None) -> PipelineConfig:
    """The shipped defaults, with the sections/keys of `override` replacing them; unknown keys are an error."""
    values = read_toml(configs_dir() / DEFAULT_CONFIG)
    if override is not None:
        path = Path(override)
        for section, entries in read_toml(path).items():
            if section not in SECTIONS or not isinstance(entries, dict):
                raise NepagnError(f"{path}: unknown section [{section}]; expected one of {list(SECTIONS)}")
            known = set(values[section])
            if section == "preprocess":  # every rule PreprocessConfig knows, also those the shipped file leaves out
                known |= set(PreprocessConfig.__dataclass_fields__)
            unknown = sorted(set(entries) - known)
            if unknown:
                raise NepagnError(f"{path}: unknown keys {unknown} in [{section}]; known: {sorted(known)}")
            values[section].update(entries)
    config = PipelineConfig(values)
    try:
        config.preprocess  # noqa: B018 - validates the [preprocess] section now, not mid-build
    except ValueError as exc:
        raise NepagnError(f"[preprocess]: {exc}") from exc
    from nepagn.bands import get_bands

    try:
        get_bands([config.summary_band])
    except (KeyError, ValueError, NepagnError) as exc:
        raise NepagnError(f"[summary] magnitude_band: {exc}") from exc
    return config
