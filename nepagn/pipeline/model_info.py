"""What the client needs to know about a MODELDIR, read from its manifest without loading TensorFlow.

A thin adapter over nepagn.model's manifest.json (the workers load the networks with
nepagn.model.inference.ModelSet): model names, thresholds, model-set id, file SHA-256s and the
calibration each model's p_agn carries, with every listed file checked against its hash before the
build starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nepagn.calibration import ModelCalibration, calibration_provenance, manifest_calibration
from nepagn.errors import NepagnError
from nepagn.model.decision import ClassDecision
from nepagn.model.modeldir import MANIFEST
from nepagn.pipeline.provenance import sha256_file

NOT_RECORDED = "not recorded (model set trained before nepagn recorded its training photometry)"


def degradation_of(manifest: dict[str, Any]) -> dict[str, Any]:
    """What photometry a model set trained on, as its manifest records it (older sets: not recorded)."""
    return dict(manifest.get("degradation") or {"applied": False, "note": NOT_RECORDED})


@dataclass(frozen=True)
class ModelSetInfo:
    """Names (e.g. A, B, C), decision thresholds, id, rule, file hashes and calibration of a model set."""

    path: Path
    names: tuple[str, ...]
    thresholds: dict[str, float]
    model_set_id: str
    rule: str
    file_hashes: dict[str, str]
    calibration: dict[str, ModelCalibration]
    calibration_record: dict[str, Any]
    decision: ClassDecision
    degradation: dict[str, Any]


def read_model_set_info(modeldir: str | Path) -> ModelSetInfo:
    """Read MODELDIR/manifest.json and verify every listed file's SHA-256; NepagnError if anything is off."""
    root = Path(modeldir)
    path = root / MANIFEST
    if not path.is_file():
        raise NepagnError(f"{root}: not a model set (no {MANIFEST}); train one with `nepagn train`")
    try:
        manifest = json.loads(path.read_text())
        names = tuple(manifest["models"])
        info = ModelSetInfo(
            path=root.resolve(),
            names=names,
            thresholds={name: float(manifest["thresholds"][name]) for name in names},
            model_set_id=str(manifest["model_set_id"]),
            rule=str(manifest.get("rule", "")),
            file_hashes=dict(manifest["file_hashes"]),
            calibration=manifest_calibration(manifest),
            calibration_record=calibration_provenance(manifest),
            decision=ClassDecision.from_manifest(manifest),
            degradation=degradation_of(manifest),
        )
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise NepagnError(f"{path}: not a valid model-set manifest ({exc})") from exc
    for relative, expected in info.file_hashes.items():
        member = root / relative
        if not member.is_file():
            raise NepagnError(f"{member}: listed in the manifest but missing")
        if sha256_file(member) != expected:
            raise NepagnError(f"{member}: SHA-256 differs from the manifest; the model set was modified")
    return info
