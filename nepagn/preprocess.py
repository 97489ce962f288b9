"""Galaxy selection before inference: which redshift is used, star removal, and a per-row status.

Follows Chen et al. 2021 (Sect. 2.1, Fig. 2): sources with neither a spectroscopic nor a
photometric redshift are kept but not classified; unlabelled sources whose LePhare galaxy fit
is worse than the stellar fit (chi2_gal > chi2_star) are stars; the remaining unlabelled
sources form the inference set. Labelled sources (spec/X-ray AGN or SFG) keep status
`labelled` and are still run through the networks, so users get predictions for them too.

The networks themselves do not use redshift: the redshift cut is the paper's sample definition,
not an input requirement. `redshift_rule = "none"` turns it off, so a catalogue without redshifts
(positions and bands only) is classified too; its rows then have a null z_used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from nepagn.schema import CHI2_GAL, CHI2_STAR, LABEL, Z_PHOT, Z_SPEC

STATUS_CLASSIFIED = "classified"
STATUS_STAR = "star"
STATUS_NO_REDSHIFT = "no_redshift"
STATUS_LABELLED = "labelled"
STATUSES = (STATUS_CLASSIFIED, STATUS_STAR, STATUS_NO_REDSHIFT, STATUS_LABELLED)

STAR_TEST_GALAXY = "galaxy"
STAR_TEST_STAR = "star"
STAR_TEST_NOT_APPLIED = "not_applied"

Z_TYPE_SPEC = "spec"
Z_TYPE_PHOT = "phot"

Z_USED, Z_TYPE, STATUS, STAR_TEST, TO_CLASSIFY = "z_used", "z_type", "status", "star_test", "to_classify"

STAR_RULES = ("chi2", "none")
REDSHIFT_RULES = ("required", "none")


@dataclass(frozen=True)
class PreprocessConfig:
    """Rules of the galaxy selection.

    star_rule: "chi2" flags a star where chi2_gal > chi2_star + chi2_margin (the paper's rule,
    margin 0); "none" applies no star removal. classify_labelled: run the networks on labelled
    sources too (they keep status `labelled`). redshift_rule: "required" (the paper's sample:
    sources with neither spec-z nor photo-z get status no_redshift and are not classified) or
    "none" (no redshift cut: such sources are classified as well).
    """

    star_rule: str = "chi2"
    chi2_margin: float = 0.0
    classify_labelled: bool = True
    redshift_rule: str = "required"

    def __post_init__(self) -> None:
        if self.star_rule not in STAR_RULES:
            raise ValueError(f"unknown star_rule {self.star_rule!r}; expected one of {STAR_RULES}")
        if self.redshift_rule not in REDSHIFT_RULES:
            raise ValueError(f"unknown redshift_rule {self.redshift_rule!r}; expected one of {REDSHIFT_RULES}")
        if not np.isfinite(self.chi2_margin):
            raise ValueError(f"chi2_margin must be finite, got {self.chi2_margin!r}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> PreprocessConfig:
        """Build from a config section (e.g. [preprocess] of configs/pipeline.toml); unknown keys are an error."""
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown preprocess settings {unknown}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for provenance and config hashing.

        redshift_rule appears only when it is not the default "required": catalogues built before
        the rule existed keep their config hash, so their builds still resume and update.
        """
        values = asdict(self)
        if values["redshift_rule"] == "required":
            del values["redshift_rule"]
        return values


def choose_redshift(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """The redshift each source uses (spec-z where present, else photo-z) and its type ("spec"/"phot"/null)."""
    z_spec = _numeric(frame, Z_SPEC).to_numpy()
    z_phot = _numeric(frame, Z_PHOT).to_numpy()
    has_spec = ~np.isnan(z_spec)
    z_type = np.where(has_spec, Z_TYPE_SPEC, Z_TYPE_PHOT).astype(object)
    z_type[~has_spec & np.isnan(z_phot)] = None
    return (
        pd.Series(np.where(has_spec, z_spec, z_phot), index=frame.index, dtype="float64"),
        pd.Series(pd.array(z_type, dtype="string"), index=frame.index),
    )


def star_test(frame: pd.DataFrame, config: PreprocessConfig) -> pd.Series:
    """Per-row outcome of the star test: "star", "galaxy", or "not_applied" (rule off or chi2 missing)."""
    if config.star_rule == "none" or CHI2_GAL not in frame or CHI2_STAR not in frame:
        return pd.Series(STAR_TEST_NOT_APPLIED, index=frame.index, dtype="string")
    chi2_gal = _numeric(frame, CHI2_GAL).to_numpy()
    chi2_star = _numeric(frame, CHI2_STAR).to_numpy()
    testable = ~np.isnan(chi2_gal) & ~np.isnan(chi2_star)
    outcome = np.full(len(frame), STAR_TEST_NOT_APPLIED, dtype=object)
    outcome[testable] = STAR_TEST_GALAXY
    outcome[testable & (chi2_gal > chi2_star + config.chi2_margin)] = STAR_TEST_STAR
    return pd.Series(pd.array(outcome, dtype="string"), index=frame.index)


def preprocess(frame: pd.DataFrame, config: PreprocessConfig | None = None) -> pd.DataFrame:
    """Add z_used, z_type, star_test, status and to_classify to a canonical frame; no row is dropped.

    Status precedence: labelled (has a ground-truth label) > no_redshift > star > classified
    (no_redshift only under redshift_rule "required").
    to_classify marks the rows the networks run on: status classified, plus labelled ones
    when config.classify_labelled is set.
    """
    config = config or PreprocessConfig()
    out = frame.copy()
    z_used, z_type = choose_redshift(frame)
    stars = star_test(frame, config)
    labelled = frame[LABEL].notna() if LABEL in frame else pd.Series(False, index=frame.index)
    labelled = labelled.astype(bool)

    status = np.full(len(frame), STATUS_CLASSIFIED, dtype=object)
    status[(stars == STAR_TEST_STAR).to_numpy(dtype=bool)] = STATUS_STAR
    if config.redshift_rule == "required":
        status[z_used.isna().to_numpy()] = STATUS_NO_REDSHIFT
    status[labelled.to_numpy()] = STATUS_LABELLED

    to_classify = status == STATUS_CLASSIFIED
    if config.classify_labelled:
        to_classify = to_classify | (status == STATUS_LABELLED)

    out[Z_USED] = z_used
    out[Z_TYPE] = z_type
    out[STAR_TEST] = stars
    out[STATUS] = pd.array(status, dtype="string")
    out[TO_CLASSIFY] = to_classify.astype(bool)
    return out


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    """A float64 column with non-finite values as NaN; all-NaN where the column is absent."""
    if column not in frame:
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    values = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return values.where(np.isfinite(values))
