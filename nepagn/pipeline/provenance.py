"""Provenance of a built catalogue: content hashes that decide what a resumed build may reuse,
and the record (versions, inputs, models, configs, times) written beside and into the catalogue."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import nepagn

# Bump when the catalogue's columns or their meaning change: partitions built by another
# format version are never reused by a resumed build.
# 2: p_agn_<model> calibrated, raw score_agn_<model> and score_agn_<model>_std (was p_agn_<model>_std).
# 3: the labelled-domain columns n_bands_detected, domain_fraction, in_labelled_domain (nepagn.domain).
# 4: classes cut on the calibrated p_agn (census cut), the subsets agn_reliable and agn_complete.
CATALOGUE_FORMAT_VERSION = "4"

PROVENANCE_KEY = b"nepagn.provenance"
VERSIONED_PACKAGES = (
    "dask", "distributed", "tensorflow", "keras", "numpy", "pandas", "pyarrow", "astropy", "hats", "lsdb", "healpy",
    "scikit-learn", "skops",  # HGBC members
)


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal text (and hashes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(config: Mapping[str, Any]) -> str:
    """Hash of the settings that change a catalogue partition's content, plus the format version."""
    payload = {"catalogue_format_version": CATALOGUE_FORMAT_VERSION, "config": config}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


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


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write text to a temporary file beside `path`, then rename it into place (mode as open() gives it)."""
    from nepagn.files import make_public

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        make_public(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
