"""Load a MODELDIR's networks once and classify catalogue partitions fast.

The inference networks are chosen by the rule recorded in the manifest (default: the mean of all
fold networks of each model, the raw score score_agn_<name>, with its spread over them as
score_agn_<name>_std). p_agn_<name> is that score mapped by the model's calibrator (MODELDIR/
calibration/<name>.json, fitted by `nepagn train` on held-out single-network scores; see
nepagn.calibration for why a map fitted on single networks is applied to their mean). A model set
without calibrators (older MODELDIRs) gives p_agn_<name> = score_agn_<name> and logs a warning.
Every weight and calibrator file is checked against its SHA-256 on load. All member networks of a
model, whatever their feature specs, run as one ONNX Runtime session per batch of rows (nepagn.model.stacked:
batch normalisation folded, the members' weights read from the Keras networks); no per-row and no per-member
Python. The session is built once per model and process, on first use, with the Dask worker's thread count.
The labelled training set's recorded domain (MODELDIR/domain.json, nepagn.domain) is loaded as
`ModelSet.domain`; None for model sets trained before it was recorded.

Members of kind "hgb" (model HGBC; nepagn.model.hgb) are gradient-boosting members: each is the mean
P(AGN) of its (fold, seed)'s inner-fold estimators, loaded with skops after the hash check, and they
enter score_agn / score_agn_std / p_agn exactly as networks do. Members without a kind are networks.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from nepagn.bands import Band, get_bands
from nepagn.calibration import Calibrator, ModelCalibration, warn_if_uncalibrated
from nepagn.domain import LabelledDomain, load_domain
from nepagn.errors import NepagnError
from nepagn.features import FeatureSpec
from nepagn.model.decision import ClassDecision
from nepagn.model.hgb import HgbMember, load_members
from nepagn.model.manifest import Manifest
from nepagn.model.modeldir import HGB_KIND, KERAS_KIND, MANIFEST
from nepagn.model.predictions import p_agn_column, score_agn_column, score_agn_std_column
from nepagn.model.stacked import StackedMembers, fold_networks

log = logging.getLogger(__name__)

BATCH_ROWS = 256  # every network call sees exactly this many rows (the last batch zero-padded)


class ModelSet:
    """The trained Models (A, B, C) of one MODELDIR, ready to predict p_agn for canonical frames."""

    def __init__(
        self,
        root: Path,
        manifest: Manifest,
        members: dict[str, list],
        specs: dict[str, list[FeatureSpec]],
        calibrators: dict[str, Calibrator | None],
        domain: LabelledDomain | None = None,
        hgb_members: dict[str, list[list[HgbMember]]] | None = None,
    ):
        self.root = Path(root)
        self.manifest = manifest
        self._members = members  # per model, its member networks as loaded
        self._calibrators = calibrators
        self.domain = domain
        self._hgb_members = hgb_members or {}
        self._member_groups = {name: _group_members(members[name], specs[name]) for name in members}
        self._sessions: dict[str, StackedMembers] = {}  # model name -> its members' session, built on first use

    @classmethod
    def load(cls, modeldir: str | Path, verify: bool = True) -> ModelSet:
        """Load a MODELDIR: its manifest, every member (networks, HGBC folds) and calibrator.

        Parameters
        ----------
        modeldir : str or Path
            The model set.
        verify : bool
            Check every file against the manifest's SHA-256 first (Manifest.read).

        Returns
        -------
        ModelSet
            Ready for `predict_proba` and `predict` on frames of canonical columns.
        """
        return cls.from_manifest(Manifest.read(modeldir, verify=verify))

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> ModelSet:
        """Load the members and calibrators a manifest names (already read, or being written by training)."""
        root = manifest.root
        by_kind: dict[str, list[dict]] = {}
        for member in manifest.members:  # a member without a kind (older MODELDIRs) is a network
            by_kind.setdefault(member.get("kind", KERAS_KIND), []).append(member)
        unknown = sorted(set(by_kind) - {KERAS_KIND, HGB_KIND})
        if unknown:
            raise NepagnError(f"{root / MANIFEST}: unknown member kind(s) {unknown}")
        hgb_members: dict[str, list[list[HgbMember]]] = {}
        for member in by_kind.get(HGB_KIND, []):
            fold_members = load_members(root / member["path"], root / member["inputs"])
            hgb_members.setdefault(member["model"], []).append(fold_members)
        members, specs = _load_networks(root, by_kind.get(KERAS_KIND, []))
        calibrations = manifest.calibration
        calibrators = {
            name: Calibrator.from_json((root / item.file).read_text()) if item.file is not None else None
            for name, item in calibrations.items()
        }
        warn_if_uncalibrated(calibrations, f"model set {manifest.model_set_id[:12]}")
        log.info("loaded model set %s from %s (%s)", manifest.model_set_id[:12], root, manifest.rule)
        domain = load_domain(root, manifest.file_hashes)
        return cls(root, manifest, members, specs, calibrators, domain, hgb_members)

    @property
    def names(self) -> list[str]:
        return list(self.manifest.names)

    @property
    def bands(self) -> tuple[Band, ...]:
        return get_bands(self.manifest.bands)

    @property
    def rule(self) -> str:
        return self.manifest.rule

    @property
    def thresholds(self) -> dict[str, float]:
        return self.manifest.thresholds

    @property
    def decision(self) -> ClassDecision:
        """How classes and subsets follow from the predictions (nepagn.model.decision); legacy raw-score
        thresholds for model sets trained before classes were taken from p_agn."""
        return self.manifest.decision

    @property
    def calibration(self) -> dict[str, ModelCalibration]:
        """Per model, how its p_agn is calibrated (or why it is not), as the manifest records it."""
        return self.manifest.calibration

    @property
    def model_set_id(self) -> str:
        return self.manifest.model_set_id

    @property
    def file_hashes(self) -> dict[str, str]:
        return self.manifest.file_hashes

    @property
    def labels_hash(self) -> str | None:
        return self.manifest.labels_hash

    def predict_proba(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per model, for every row (same index): p_agn_<name>, the calibrated probability (float64; the raw
        score where the model has no calibrator), score_agn_<name>, the raw member mean, and
        score_agn_<name>_std, the member spread (ddof=0); scores are float32 as the networks give them,
        float64 for HGBC. Column names: nepagn.model.predictions."""
        out: dict[str, np.ndarray] = {}
        inputs: dict[str, np.ndarray] = {}
        photometry: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}  # the frame's columns, read once
        for name in self.names:
            if name in self._hgb_members:
                stacked = self._hgb_scores(name, frame)
            else:
                arrays = []
                for key, (spec, _) in self._groups(name).items():
                    if key not in inputs:
                        bands = tuple(band.id for band in spec.bands)
                        if bands not in photometry:
                            photometry[bands] = spec.photometry(frame)
                        inputs[key] = spec.transform_photometry(*photometry[bands])
                    arrays.append(inputs[key])
                stacked = self._run(name, arrays)  # (members, rows)
            score = stacked.mean(axis=0)
            calibrator = self._calibrators[name]
            raw = score.astype(np.float64)
            out[p_agn_column(name)] = calibrator.transform(raw) if calibrator is not None else raw
            out[score_agn_column(name)] = score
            out[score_agn_std_column(name)] = stacked.std(axis=0)
        return pd.DataFrame(out, index=frame.index)  # one frame at the end, not a column insert per output

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Classes by the model set's own stored decision (ModelSet.decision), for every row (same index):
        is_agn_<name> (True for AGN) per model, the consensus p_agn_mean and, where the decision has them,
        the named subsets agn_reliable / agn_complete (ClassDecision.decide; agn_reliable keeps to the rows inside
        the labelled domain, ModelSet.domain, where the rule says so)."""
        in_domain = self.domain.contains(frame) if self.domain is not None else None
        return self.decision.decide(self.predict_proba(frame), self.names, in_domain)

    def _hgb_scores(self, name: str, frame: pd.DataFrame) -> np.ndarray:
        """(members, rows): each HGBC member's score, the mean of its inner-fold estimators as in training."""
        if len(frame) == 0:
            return np.empty((len(self._hgb_members[name]), 0))
        return np.vstack([np.mean([e.predict(frame) for e in estimators], axis=0)
                          for estimators in self._hgb_members[name]])

    def _groups(self, name: str) -> dict[str, tuple[FeatureSpec, list]]:
        """Member networks of `name` grouped by identical feature spec (one group for the paper default)."""
        return self._member_groups[name]

    def _run(self, name: str, inputs: list[np.ndarray]) -> np.ndarray:
        """All member networks of model `name` in one session call per batch of rows; returns (members, rows).

        `inputs` holds one array per member group (nepagn.model.stacked reads each member's own). Every call
        has the same shape, BATCH_ROWS rows (the last batch padded with zeros, whose outputs are dropped):
        the float32 kernels picked can depend on the batch size, so a fixed shape makes a row's score
        a function of the row alone, not of which rows share its partition or how many there are.
        """
        n_rows = len(inputs[0])
        session = self._sessions.get(name)
        if session is None:
            session = self._sessions[name] = _session(self._groups(name))
        if n_rows == 0:
            return np.empty((session.members, 0), dtype=np.float32)
        parts = []
        for start in range(0, n_rows, BATCH_ROWS):
            batch = np.stack([x[start : start + BATCH_ROWS] for x in inputs])
            if batch.shape[1] < BATCH_ROWS:  # only the last batch is padded
                pad = np.zeros((batch.shape[0], BATCH_ROWS - batch.shape[1], *batch.shape[2:]), dtype=batch.dtype)
                batch = np.concatenate([batch, pad], axis=1)
            parts.append(session(batch))
        return np.concatenate(parts, axis=1)[:, :n_rows]


def _load_networks(root: Path, networks: list[dict]) -> tuple[dict[str, list], dict[str, list[FeatureSpec]]]:
    """The manifest's network members (Keras; imported only when there are any) and their feature specs."""
    members: dict[str, list] = {}
    specs: dict[str, list[FeatureSpec]] = {}
    if not networks:
        return members, specs
    import keras

    import nepagn.model.focal_loss  # noqa: F401  (registers FocalLoss for deserialisation)

    for member in networks:
        members.setdefault(member["model"], []).append(keras.models.load_model(root / member["path"], compile=False))
        specs.setdefault(member["model"], []).append(
            FeatureSpec.from_dict(json.loads((root / member["feature_spec"]).read_text()))
        )
    return members, specs


def _group_members(networks: list, specs: list[FeatureSpec]) -> dict[str, tuple[FeatureSpec, list]]:
    """Networks keyed by their feature spec's canonical JSON, so members that share inputs share one array."""
    groups: dict[str, tuple[FeatureSpec, list]] = {}
    for network, spec in zip(networks, specs, strict=True):
        key = json.dumps(spec.to_dict(), sort_keys=True)
        groups.setdefault(key, (spec, []))[1].append(network)
    return groups


def _session(groups: dict[str, tuple[FeatureSpec, list]]) -> StackedMembers:
    """One session running every member network of a model, in group order, on a batch of each group's
    inputs, batch normalisation folded in (nepagn.model.stacked), with this process's thread bound."""
    from nepagn.cluster import session_threads

    networks, input_index = [], []
    for index, (_, members) in enumerate(groups.values()):
        networks.extend(members)
        input_index.extend([index] * len(members))
    _, n_bands, n_channels, _ = networks[0].input_shape
    return StackedMembers(fold_networks(networks, input_index), int(n_bands), int(n_channels), session_threads())
