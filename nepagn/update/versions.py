"""Catalogue versions in OUTDIR: an index (versions.json, the commit point of every update), a `current`
link, and pruning.

Version 0 is the catalogue `nepagn build-catalogue` wrote into OUTDIR itself; version N >= 1 lives in
OUTDIR/versions/vNNNN/ with the same files (catalogue/ HATS, catalogue.parquet, catalogue.fits,
provenance.json, summary.*). A version directory is written under a temporary name and only listed in
versions.json once complete, so a failed update never leaves a version that looks complete.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from nepagn.errors import NepagnError
from nepagn.files import write_text_atomic
from nepagn.pipeline.provenance import utc_now

log = logging.getLogger(__name__)

INDEX = "versions.json"
VERSIONS_DIR = "versions"
CURRENT_LINK = "current"
FORMAT = "nepagn-catalogue-versions/1"
BASE_OUTPUTS = ("catalogue", "catalogue.parquet", "catalogue.fits", "provenance.json", "summary.txt", "summary.md",
                "summary.json", "figures", ".build")


def version_name(number: int) -> str:
    return f"v{number:04d}"


def version_path(out_dir: Path, entry: dict[str, Any]) -> Path:
    """The directory holding a version's files (OUTDIR itself for version 0)."""
    return (Path(out_dir) / entry["path"]).resolve()


def load_index(out_dir: Path) -> dict[str, Any] | None:
    """The versions index of OUTDIR, or None before the first update."""
    path = Path(out_dir) / INDEX
    if not path.is_file():
        return None
    index = json.loads(path.read_text())
    if index.get("format") != FORMAT:
        raise NepagnError(f"{path}: not a nepagn versions index (format {index.get('format')!r})")
    return index


def current_entry(index: dict[str, Any]) -> dict[str, Any]:
    """The entry of the current version."""
    return entry_of(index, index["current"])


def entry_of(index: dict[str, Any], number: int) -> dict[str, Any]:
    for entry in index["versions"]:
        if entry["version"] == number:
            return entry
    raise NepagnError(f"catalogue version {number} is not in the index")


def commit(out_dir: Path, index: dict[str, Any], entry: dict[str, Any]) -> None:
    """Add `entry` as the current version: versions.json is rewritten atomically, then `current` points at it."""
    index["versions"].append(entry)
    index["current"] = entry["version"]
    write_index(out_dir, index)


def write_index(out_dir: Path, index: dict[str, Any]) -> None:
    """Write versions.json atomically and point OUTDIR/current at the current version's directory."""
    out_dir = Path(out_dir)
    write_text_atomic(out_dir / INDEX, json.dumps(index, indent=2, sort_keys=True, default=str) + "\n")
    target = current_entry(index)["path"]
    link = out_dir / CURRENT_LINK
    temp = out_dir / f".{CURRENT_LINK}.tmp"
    temp.unlink(missing_ok=True)
    os.symlink(target, temp, target_is_directory=True)
    os.replace(temp, link)


def remove_incomplete(out_dir: Path, index: dict[str, Any] | None) -> None:
    """Delete version directories that no index entry lists (left by updates that failed)."""
    root = Path(out_dir) / VERSIONS_DIR
    if not root.is_dir():
        return
    listed = {Path(entry["path"]).name for entry in (index or {"versions": []})["versions"]}
    for path in root.iterdir():
        if path.name not in listed:
            log.warning("removing %s, left by an update that did not complete", path)
            shutil.rmtree(path, ignore_errors=True)


def next_number(index: dict[str, Any]) -> int:
    return max(entry["version"] for entry in index["versions"]) + 1


def prune(out_dir: Path, index: dict[str, Any], keep: int = 1, store_path: Path | None = None) -> list[int]:
    """Remove all but the `keep` newest versions (the current one always stays) and the store versions they
    were built from (beside `store_path`, default: the store the index names); returns the versions removed."""
    from nepagn.update.apply_sources import previous_stores_dir

    if keep < 1:
        raise NepagnError(f"--keep must be at least 1, got {keep}")
    live = [entry for entry in index["versions"] if not entry.get("pruned")]
    newest = {entry["version"] for entry in sorted(live, key=lambda e: e["version"])[-keep:]}
    newest.add(index["current"])
    removed = []
    for entry in live:
        if entry["version"] in newest:
            continue
        entry["pruned"] = utc_now()
        removed.append(entry["version"])
    write_index(out_dir, index)  # the index stops listing them as readable before any file goes
    for entry in index["versions"]:
        if entry["version"] not in removed:
            continue
        if entry["version"] == 0:
            for name in BASE_OUTPUTS:
                path = Path(out_dir) / name
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        else:
            shutil.rmtree(version_path(out_dir, entry), ignore_errors=True)
        store = store_path or entry.get("store", {}).get("path")
        if store:
            shutil.rmtree(previous_stores_dir(Path(store)) / version_name(entry["version"]), ignore_errors=True)
        log.info("pruned catalogue version %d", entry["version"])
    return removed
