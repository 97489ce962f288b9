"""A MODELDIR's manifest.json, read and verified in one place, without loading TensorFlow.

The manifest (written by nepagn.model.modeldir) names the models, their bands, the inference rule,
the decision, the calibrators, the labels the set trained on and the SHA-256 of every file in the
set; its `model_set_id` is the hash of all that. Every reader of a model set (the ModelSet that
classifies, build-catalogue and update on the client, `nepagn train` and `nepagn report`) goes
through `Manifest.read`, which checks each listed file against its hash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nepagn.calibration import ModelCalibration, calibration_provenance, manifest_calibration
from nepagn.errors import NepagnError
from nepagn.files import sha256_file
from nepagn.model.decision import ClassDecision
from nepagn.model.modeldir import MANIFEST

NOT_RECORDED = "not recorded (model set trained before nepagn recorded its training photometry)"
REQUIRED_KEYS = ("models", "bands", "thresholds", "model_set_id", "file_hashes", "members")


@dataclass(frozen=True)
class Manifest:
    """What a MODELDIR says about itself.

    Attributes
    ----------
    root : Path
        The MODELDIR, resolved.
    data : dict
        manifest.json as written (its keys are the MODELDIR format; see nepagn.model.modeldir).
    """

    root: Path
    data: dict[str, Any]

    @classmethod
    def read(cls, modeldir: str | Path, verify: bool = True) -> Manifest:
        """Read MODELDIR/manifest.json and, with `verify`, check every listed file against its SHA-256.

        Raises
        ------
        NepagnError
            No manifest, a manifest that is not valid JSON or lacks a required key, a listed file that
            is missing or whose hash differs (the model set was modified). The message names the file.
        """
        root = Path(modeldir)
        path = root / MANIFEST
        if not path.is_file():
            raise NepagnError(f"{root}: not a model set (no {MANIFEST}); train one with `nepagn train`")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise NepagnError(f"{path}: not a valid model-set manifest ({exc})") from exc
        missing = [key for key in REQUIRED_KEYS if not isinstance(data, dict) or key not in data]
        if missing:
            raise NepagnError(f"{path}: not a valid model-set manifest (no {', '.join(missing)})")
        manifest = cls(root.resolve(), data)
        try:  # every view of it parses: a malformed manifest fails here, not in the middle of a build
            for view in ("thresholds", "calibration", "decision"):
                getattr(manifest, view)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise NepagnError(f"{path}: not a valid model-set manifest ({exc!r})") from exc
        if verify:
            manifest.verify()
        return manifest

    def verify(self) -> None:
        """Check every file the manifest lists against its SHA-256; NepagnError naming the first that differs."""
        for relative, expected in self.file_hashes.items():
            member = self.root / relative
            if not member.is_file():
                raise NepagnError(f"{member}: listed in the manifest but missing")
            if sha256_file(member) != expected:
                raise NepagnError(f"{member}: SHA-256 differs from the manifest; the model set was modified")

    @property
    def names(self) -> tuple[str, ...]:
        """The models of the set, e.g. ('A', 'B', 'C')."""
        return tuple(self.data["models"])

    @property
    def bands(self) -> tuple[str, ...]:
        """Registry ids of the bands the models read."""
        return tuple(self.data["bands"])

    @property
    def members(self) -> list[dict[str, Any]]:
        """One record per trained member (network or HGBC fold): model, kind, paths, seed, fold."""
        return list(self.data["members"])

    @property
    def thresholds(self) -> dict[str, float]:
        """Per model, the raw-score threshold training chose on held-out rows."""
        return {name: float(self.data["thresholds"][name]) for name in self.names}

    @property
    def model_set_id(self) -> str:
        return str(self.data["model_set_id"])

    @property
    def rule(self) -> str:
        """How a model's members are combined into its score (the inference rule, in words)."""
        return str(self.data.get("rule", ""))

    @property
    def file_hashes(self) -> dict[str, str]:
        return dict(self.data["file_hashes"])

    @property
    def labels_hash(self) -> str | None:
        """SHA-256 of the (source_id, label) pairs the set trained on; None if not recorded."""
        value = self.data.get("labels_hash")
        return None if value is None else str(value)

    @property
    def calibration(self) -> dict[str, ModelCalibration]:
        """Per model, how its p_agn is calibrated (or why it is not)."""
        return manifest_calibration(self.data)

    @property
    def calibration_record(self) -> dict[str, Any]:
        """The calibration as provenance records it."""
        return calibration_provenance(self.data)

    @property
    def decision(self) -> ClassDecision:
        """How classes and subsets follow from the predictions (nepagn.model.decision)."""
        return ClassDecision.from_manifest(self.data)

    @property
    def degradation(self) -> dict[str, Any]:
        """What photometry the set trained on (older sets: not recorded)."""
        return dict(self.data.get("degradation") or {"applied": False, "note": NOT_RECORDED})
