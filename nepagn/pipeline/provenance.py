"""Provenance of a built catalogue: content hashes that decide what a resumed build may reuse,
and the record (versions, inputs, models, configs, times) written beside and into the catalogue."""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import nepagn
from nepagn.files import canonical_json, sha256_json, write_text_atomic

# Bump when the catalogue's columns or their meaning change: partitions built by another
# format version are never reused by a resumed build.
# 2: p_agn_<model> calibrated, raw score_agn_<model> and score_agn_<model>_std (was p_agn_<model>_std).
# 3: the labelled-domain columns n_bands_detected, domain_fraction, in_labelled_domain (nepagn.domain).
# 4: classes cut on the calibrated p_agn (census cut), the subsets agn_reliable and agn_complete.
# 5: agn_reliable keeps to the labelled domain (its purity estimated there), for model sets whose rule says so.
CATALOGUE_FORMAT_VERSION = "5"

PROVENANCE_KEY = b"nepagn.provenance"
VERSIONED_PACKAGES = (
    "dask", "distributed", "tensorflow", "keras", "numpy", "pandas", "pyarrow", "astropy", "hats", "lsdb", "healpy",
    "onnxruntime",  # runs the networks at inference (nepagn.model.stacked)
    "scikit-learn", "skops",  # HGBC members
)


def config_hash(config: Mapping[str, Any]) -> str:
    """Hash of the settings that change a catalogue partition's content, plus the format version."""
    payload = {"catalogue_format_version": CATALOGUE_FORMAT_VERSION, "config": config}
    return sha256_json(payload)


def build_run_id(input_id: str, model_set_id: str, config_digest: str) -> str:
    """Content-derived id of a build: equal for a resumed and a clean build of the same inputs."""
    text = canonical_json({"input": input_id, "models": model_set_id, "config": config_digest})
    return "run-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def partition_key(partition_hash: str, model_set_id: str, config_digest: str, run_id: str) -> str:
    """Key stored with an output partition: it may be reused only when all four agree."""
    text = canonical_json(
        {"partition": partition_hash, "models": model_set_id, "config": config_digest, "run_id": run_id}
    )
    return hashlib.sha256(text.encode()).hexdigest()


def software_versions() -> dict[str, str]:
    """Versions of nepagn, Python and the libraries that shape the result."""
    versions = {"nepagn": nepagn.__version__, "python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def utc_now() -> str:
    """The current time in ISO 8601, UTC."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Provenance:
    """Everything needed to say how a catalogue was made and to remake it."""

    run_id: str
    model_set_id: str
    config_hash: str
    input: dict[str, Any]
    column_map: dict[str, Any] | None
    models: dict[str, Any]
    configs: dict[str, Any]
    started_utc: str
    finished_utc: str | None = None
    software: dict[str, str] = field(default_factory=software_versions)
    execution: dict[str, Any] = field(default_factory=dict)
    catalogue_format_version: str = CATALOGUE_FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, JSON-serialisable."""
        return asdict(self)

    def to_json(self) -> str:
        """Indented JSON text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str)

    def write(self, path: str | Path) -> Path:
        """Write provenance.json atomically."""
        return write_text_atomic(path, self.to_json() + "\n")
