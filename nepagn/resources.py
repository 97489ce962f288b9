"""Locate and read the data files that ship with nepagn (band registry, column maps, configs)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from nepagn.errors import NepagnError

PACKAGE_ROOT = Path(__file__).resolve().parent
_SOURCE_ROOT = PACKAGE_ROOT.parent


def _data_root(name: str) -> Path:
    """Return the folder `name` (catalogs/ or configs/) in a source tree or an installed wheel."""
    for candidate in (_SOURCE_ROOT / name, PACKAGE_ROOT / "_data" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"nepagn data folder {name!r} not found next to {PACKAGE_ROOT}")


def catalogs_dir() -> Path:
    """Folder of catalogue descriptions: band registry and column maps."""
    return _data_root("catalogs")


def configs_dir() -> Path:
    """Folder of run configurations: model hyperparameters and pipeline defaults."""
    return _data_root("configs")


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML configuration file; a missing or malformed file is a NepagnError naming it."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise NepagnError(f"{path}: configuration file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise NepagnError(f"{path}: not valid TOML: {exc}") from exc
