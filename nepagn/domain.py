"""The labelled training set's photometric domain (MODELDIR/domain.json) and per-row diagnostics against it.

`nepagn train` records, from the labelled rows the networks were trained on: per model band, the
detection fraction and the 1st and 99th percentile of the detected magnitudes, and the distribution
of the number of detected bands. A band counts as detected where both its magnitude and its error
are finite (the rule FeatureSpec uses for an observation).

Per catalogue row, against that record:
- ``n_bands_detected``: how many of the model bands the row detects;
- ``domain_fraction``: the fraction of those detected bands whose magnitude lies inside the labelled
  set's [p1, p99] range of that band (a band the labelled set never detects has no range: outside);
  null where the row detects no band;
- ``in_labelled_domain``: ``n_bands_detected >= min_bands_detected`` and ``domain_fraction >=
  min_domain_fraction``, both thresholds taken from the labelled rows themselves: the lower
  TAIL-quantile (5 %) of each diagnostic over the labelled set. A row is out of the domain where it
  is less typical, on either count, than all but the 5 % least typical labelled rows.
The thresholds are chosen on the labelled set alone (no truth of any inference set is used).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nepagn.bands import Band, get_bands
from nepagn.errors import NepagnError
from nepagn.features import FeatureSpec

log = logging.getLogger(__name__)

DOMAIN_FILE = "domain.json"
DOMAIN_FORMAT = "nepagn-domain/1"
QUANTILES = (0.01, 0.99)
TAIL = 0.05

N_BANDS_DETECTED = "n_bands_detected"
DOMAIN_FRACTION = "domain_fraction"
IN_LABELLED_DOMAIN = "in_labelled_domain"

RULE_TEXT = (
    "in_labelled_domain = n_bands_detected >= {min_bands} and domain_fraction >= {min_fraction:.4f}; "
    "domain_fraction = fraction of the row's detected model bands with magnitude inside the labelled set's "
    "[p{low:g}, p{high:g}] range of that band; both thresholds are the labelled set's lower {tail:g} % quantiles "
    "of the two diagnostics ({labelled_in:.3f} of the labelled rows are in the domain)"
)


@dataclass(frozen=True)
class BandRange:
    """One model band as the labelled set saw it: detections and the magnitude range [mag_low, mag_high]."""

    id: str
    n_detected: int
    detection_fraction: float
    mag_low: float | None
    mag_high: float | None


@dataclass(frozen=True)
class LabelledDomain:
    """The labelled training set's domain and the rule deciding whether a row lies inside it."""

    bands: tuple[BandRange, ...]
    n_labelled: int
    n_bands_histogram: dict[int, int]
    min_bands_detected: int
    min_domain_fraction: float
    labelled_in_domain_fraction: float
    quantiles: tuple[float, float] = QUANTILES
    tail: float = TAIL

    @classmethod
    def from_rows(cls, rows: pd.DataFrame, bands: tuple[Band, ...]) -> LabelledDomain:
        """The domain of the labelled `rows` over the model `bands`, with the rule's thresholds taken from them."""
        if len(rows) == 0:
            raise NepagnError("cannot record a labelled domain from zero labelled rows")
        mags = _detected_magnitudes(rows, bands)
        detected = ~np.isnan(mags)
        ranges = []
        for i, band in enumerate(bands):
            values = mags[detected[:, i], i]
            low, high = np.quantile(values, QUANTILES) if len(values) else (None, None)
            ranges.append(BandRange(band.id, int(len(values)), float(len(values) / len(rows)),
                                    None if low is None else float(low), None if high is None else float(high)))
        counts = detected.sum(axis=1)
        fraction = _fraction_inside(mags, tuple(ranges))
        min_bands = int(np.quantile(counts, TAIL, method="lower"))
        min_fraction = float(np.quantile(np.nan_to_num(fraction, nan=0.0), TAIL, method="lower"))
        inside = _inside(counts, fraction, min_bands, min_fraction)
        return cls(tuple(ranges), len(rows), _histogram(counts), min_bands, min_fraction, float(inside.mean()))

    @property
    def rule(self) -> str:
        """The in_labelled_domain rule in words, with this domain's thresholds."""
        return RULE_TEXT.format(min_bands=self.min_bands_detected, min_fraction=self.min_domain_fraction,
                                low=100 * self.quantiles[0], high=100 * self.quantiles[1], tail=100 * self.tail,
                                labelled_in=self.labelled_in_domain_fraction)

    def diagnose(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per row of `frame` (same index): n_bands_detected (Int16), domain_fraction (float64, null where no band
        is detected) and in_labelled_domain (boolean)."""
        mags = _detected_magnitudes(frame, get_bands([band.id for band in self.bands]))
        counts = (~np.isnan(mags)).sum(axis=1)
        fraction = _fraction_inside(mags, self.bands)
        inside = _inside(counts, fraction, self.min_bands_detected, self.min_domain_fraction)
        return pd.DataFrame(
            {N_BANDS_DETECTED: pd.array(counts.astype(np.int16), dtype="Int16"),
             DOMAIN_FRACTION: fraction,
             IN_LABELLED_DOMAIN: pd.array(inside, dtype="boolean")},
            index=frame.index,
        )

    def contains(self, frame: pd.DataFrame) -> np.ndarray:
        """Per row of `frame`, whether it lies inside the domain (diagnose's in_labelled_domain as a bool array)."""
        return self.diagnose(frame)[IN_LABELLED_DOMAIN].to_numpy(dtype=bool, na_value=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (domain.json)."""
        counts = np.repeat(list(self.n_bands_histogram), list(self.n_bands_histogram.values()))
        return {
            "format": DOMAIN_FORMAT,
            "n_labelled": self.n_labelled,
            "quantiles": list(self.quantiles),
            "tail": self.tail,
            "bands": [asdict(band) for band in self.bands],
            "n_bands_detected": {
                "histogram": {str(k): v for k, v in self.n_bands_histogram.items()},
                "percentiles": {f"p{q:g}": float(np.percentile(counts, q)) for q in (1, 5, 25, 50, 75, 95, 99)},
            },
            "rule": {"min_bands_detected": self.min_bands_detected, "min_domain_fraction": self.min_domain_fraction,
                     "labelled_in_domain_fraction": self.labelled_in_domain_fraction, "text": self.rule},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabelledDomain:
        """Inverse of to_dict."""
        if data.get("format") != DOMAIN_FORMAT:
            raise NepagnError(f"labelled domain format {data.get('format')!r} is not {DOMAIN_FORMAT!r}")
        rule = data["rule"]
        return cls(
            bands=tuple(BandRange(**band) for band in data["bands"]),
            n_labelled=int(data["n_labelled"]),
            n_bands_histogram={int(k): int(v) for k, v in data["n_bands_detected"]["histogram"].items()},
            min_bands_detected=int(rule["min_bands_detected"]),
            min_domain_fraction=float(rule["min_domain_fraction"]),
            labelled_in_domain_fraction=float(rule["labelled_in_domain_fraction"]),
            quantiles=(float(data["quantiles"][0]), float(data["quantiles"][1])),
            tail=float(data["tail"]),
        )


def _detected_magnitudes(frame: pd.DataFrame, bands: tuple[Band, ...]) -> np.ndarray:
    """Magnitudes (rows, bands), NaN where the band is not detected (magnitude or error missing)."""
    return FeatureSpec(bands=bands).observed_magnitudes(frame)


def _fraction_inside(mags: np.ndarray, ranges: tuple[BandRange, ...]) -> np.ndarray:
    """Fraction of each row's detected bands inside the band's [mag_low, mag_high]; NaN with no detection."""
    low = np.array([np.nan if band.mag_low is None else band.mag_low for band in ranges])
    high = np.array([np.nan if band.mag_high is None else band.mag_high for band in ranges])
    detected = ~np.isnan(mags)
    with np.errstate(invalid="ignore"):
        inside = detected & (mags >= low) & (mags <= high)  # NaN limits (band never detected): never inside
    counts = detected.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, inside.sum(axis=1) / counts, np.nan)


def _inside(counts: np.ndarray, fraction: np.ndarray, min_bands: int, min_fraction: float) -> np.ndarray:
    """The rule: enough detected bands (at least one) and a large enough fraction of them inside the ranges."""
    return (counts >= min_bands) & (counts > 0) & (np.nan_to_num(fraction, nan=0.0) >= min_fraction)


def _histogram(counts: np.ndarray) -> dict[int, int]:
    values, numbers = np.unique(counts, return_counts=True)
    return {int(v): int(n) for v, n in zip(values, numbers, strict=True)}


def write_domain(root: Path, domain: LabelledDomain) -> LabelledDomain:
    """Record `domain` (LabelledDomain.from_rows of the labelled rows) in root/domain.json; returns it."""
    (Path(root) / DOMAIN_FILE).write_text(json.dumps(domain.to_dict(), indent=2, sort_keys=True) + "\n")
    log.info("labelled domain: %s", domain.rule)
    return domain


def load_domain(root: Path, file_hashes: dict[str, str]) -> LabelledDomain | None:
    """The MODELDIR's recorded domain, or None where the manifest lists no domain.json (an older model set)."""
    if DOMAIN_FILE not in file_hashes:
        return None
    path = Path(root) / DOMAIN_FILE
    try:
        return LabelledDomain.from_dict(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError, NepagnError) as exc:
        raise NepagnError(f"{path}: not a valid labelled-domain record ({exc})") from exc


def domain_provenance(root: Path, file_hashes: dict[str, str], where: str) -> dict[str, Any]:
    """What a catalogue records about the domain columns: the rule and domain.json's SHA-256, or why they are null.

    Logs a warning (naming `where`) when the model set recorded no domain.
    """
    domain = load_domain(root, file_hashes)
    if domain is None:
        log.warning("%s: the model set %s has no %s (trained before nepagn recorded the labelled domain): "
                    "in_labelled_domain, domain_fraction and n_bands_detected are null; retrain to get them",
                    where, root, DOMAIN_FILE)
        return {"status": "not recorded",
                "reason": f"the model set has no {DOMAIN_FILE}; the domain columns are null"}
    return {"status": "recorded", "file": DOMAIN_FILE, "sha256": file_hashes[DOMAIN_FILE], "rule": domain.rule,
            "min_bands_detected": domain.min_bands_detected, "min_domain_fraction": domain.min_domain_fraction,
            "quantiles": list(domain.quantiles), "tail": domain.tail, "n_labelled": domain.n_labelled}
