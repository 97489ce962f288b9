"""Labelled photometry degraded to the depth and band coverage of the catalogue it will classify.

The labelled sources of a survey (spectroscopic or X-ray) are bright and detected in most bands; the
sources a catalogue is built for are fainter and detected in fewer bands. A classifier trained on the
labelled photometry as it is learns rules that fail on the faint sources (on the mock NEP-Wide
catalogue every model called 70-90 % of the inference set AGN where the truth is 22 %). The remedy
here: train on copies of the labelled sources made to look like the target catalogue.

`TargetPhotometry.fit` reads the target's unlabelled rows (the sources to classify; no truth or label
is used) and keeps, per band, the relation between a detected magnitude and its quoted error (binned
medians, non-decreasing towards faint magnitudes) and the faintest signal-to-noise the target detects,
plus a random sample of target rows. `TargetPhotometry.degrade` makes copies of labelled rows:

1. each copy draws one target row from the sample and is dimmed by ``dm = max(0, median over the bands
   both detect of (m_target - m_labelled))``: its brightness follows the target's, its colours stay its own;
2. per band, Gaussian flux noise is added so that the copy's total noise equals the target's at the new
   magnitude (the noise the labelled measurement already has is kept, not counted twice);
3. a band stays detected only where the noisy flux reaches the target's faintest detection
   signal-to-noise; its error is the target's error at the copy's magnitude.

Bands the labelled row lacks stay missing (survey coverage is shared by both, as they lie in the same
field); a band the target never detects is missing in every copy. What degradation does not do:
redshift a source. Faint sources are also at higher redshift, where colours differ; that part of
the shift remains (docs/validation.md measures what is left).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nepagn.bands import Band, get_bands
from nepagn.errors import NepagnError
from nepagn.schema import LABEL, SOURCE_ID

log = logging.getLogger(__name__)

TARGET_FORMAT = "nepagn-target-photometry/1"
TARGET_DEPTH_FILE = "target_depth.json"
TARGET_SAMPLE_FILE = "target_sample.parquet"
COPY = "degraded_copy"  # copy number of a degraded row (0..copies-1)
ROW = "labelled_row"  # position of the labelled row a copy was made from
MIN_DETECTIONS = 20  # fewer target detections of a band: no depth model, copies lose the band
ERROR_BINS = 40
SNR_QUANTILE = 1.0  # percent: the faintest detections define the detection limit
SAMPLE_ROWS = 4096
MAG_ERROR = 2.5 / np.log(10.0)  # 1.0857: magnitude error of a unit signal-to-noise ratio


@dataclass(frozen=True)
class BandDepth:
    """How the target catalogue measures one band: error against magnitude, and its detection limit."""

    id: str
    n_detected: int
    mag: tuple[float, ...] = ()  # bin medians of detected magnitudes, increasing
    err: tuple[float, ...] = ()  # median quoted error in those bins, non-decreasing
    snr_min: float = float("inf")  # the faintest signal-to-noise the target detects (1st percentile)

    @property
    def modelled(self) -> bool:
        """False where the target detects the band too rarely to model it (copies then lose the band)."""
        return len(self.mag) > 0

    def error_at(self, mag: np.ndarray) -> np.ndarray:
        """The target's error at magnitudes `mag`: interpolated, background-limited beyond the faintest bin."""
        mag = np.asarray(mag, dtype=np.float64)
        grid_mag, grid_err = np.asarray(self.mag), np.asarray(self.err)
        out = np.interp(mag, grid_mag, grid_err)
        faint = mag > grid_mag[-1]
        out[faint] = grid_err[-1] * 10.0 ** (0.4 * (mag[faint] - grid_mag[-1]))
        return out


@dataclass(frozen=True)
class TargetPhotometry:
    """The photometric depth of a target catalogue, fitted on its unlabelled rows; makes degraded copies."""

    bands: tuple[BandDepth, ...]
    sample: pd.DataFrame  # target rows (magnitudes and errors of the bands) drawn at random
    n_rows: int
    description: str = ""

    @classmethod
    def fit(
        cls, frame: pd.DataFrame, bands: tuple[Band, ...], description: str = "", seed: int = 0,
        sample_rows: int = SAMPLE_ROWS,
    ) -> TargetPhotometry:
        """Fit on the target's rows (the sources to classify): per band error curve and detection limit.

        Parameters
        ----------
        frame
            Target rows in the canonical schema; only the band magnitude and error columns are read.
        bands
            The model bands.
        description
            What the target is (e.g. the store and its snapshot id), kept for provenance.
        seed
            Seed of the random sample of target rows kept for brightness matching.
        sample_rows
            How many target rows to keep.
        """
        if len(frame) == 0:
            raise NepagnError("the target catalogue has no rows to classify; cannot fit its photometric depth")
        mags, errs = _photometry(frame, bands)
        depths = tuple(_band_depth(band.id, mags[:, j], errs[:, j]) for j, band in enumerate(bands))
        rng = np.random.default_rng(seed)
        take = np.sort(rng.choice(len(frame), size=min(sample_rows, len(frame)), replace=False))
        sample = _as_frame(mags[take], errs[take], bands)
        lost = [depth.id for depth in depths if not depth.modelled]
        if lost:
            log.info("target detects %d band(s) fewer than %d times; degraded copies lose them: %s", len(lost),
                     MIN_DETECTIONS, lost)
        return cls(depths, sample, len(frame), description)

    @property
    def band_ids(self) -> tuple[str, ...]:
        return tuple(depth.id for depth in self.bands)

    def for_bands(self, bands: tuple[Band, ...]) -> TargetPhotometry:
        """The same target for another band list: bands it never measured have no depth (copies lose them)."""
        known = {depth.id: depth for depth in self.bands}
        depths = tuple(known.get(band.id, BandDepth(band.id, 0)) for band in bands)
        columns = [c for band in bands for c in (band.mag_column, band.err_column) if c in self.sample.columns]
        return TargetPhotometry(depths, self.sample[columns], self.n_rows, self.description)

    def degrade(self, frame: pd.DataFrame, copies: int, seed: int) -> pd.DataFrame:
        """`copies` degraded copies of every row of `frame`, as a canonical frame.

        The result has the model bands' magnitude and error columns, `source_id` and `label` of the row
        copied (where `frame` has them), `degraded_copy` (0..copies-1) and `labelled_row` (the row's
        position in `frame`), rows ordered by labelled row, then copy. Deterministic for a seed.
        """
        if copies < 1:
            raise ValueError(f"copies must be >= 1, not {copies}")
        bands = get_bands(self.band_ids)
        rng = np.random.default_rng(seed)
        mags, errs = _photometry(frame, bands)
        rows = np.repeat(np.arange(len(frame)), copies)
        mags, errs = mags[rows], errs[rows]
        target_mags, _ = _photometry(self.sample, bands)
        drawn = target_mags[rng.integers(0, len(target_mags), size=len(rows))]
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # rows sharing no band with their draw
                shift = np.nanmedian(drawn - mags, axis=1)
        shift = np.maximum(np.nan_to_num(shift, nan=0.0), 0.0)
        new_mags, new_errs = _observe_at_target(mags, errs, mags + shift[:, None], self.bands, rng)
        out = _as_frame(new_mags, new_errs, bands)
        for column in (SOURCE_ID, LABEL):
            if column in frame.columns:
                out.insert(0 if column == SOURCE_ID else 1, column, frame[column].to_numpy()[rows])
        out[COPY] = np.tile(np.arange(copies), len(frame))
        out[ROW] = rows
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description without the sample (which goes to its own Parquet file)."""
        return {
            "format": TARGET_FORMAT,
            "description": self.description,
            "n_rows": self.n_rows,
            "sample_rows": len(self.sample),
            "bands": [
                {"id": d.id, "n_detected": d.n_detected, "mag": list(d.mag), "err": list(d.err),
                 "snr_min": d.snr_min if np.isfinite(d.snr_min) else None}
                for d in self.bands
            ],
        }

    def save(self, directory: str | Path) -> list[Path]:
        """Write target_depth.json and target_sample.parquet into `directory`; returns both paths."""
        directory = Path(directory)
        depth, sample = directory / TARGET_DEPTH_FILE, directory / TARGET_SAMPLE_FILE
        depth.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        self.sample.to_parquet(sample, index=False)
        return [depth, sample]

    @classmethod
    def load(cls, directory: str | Path) -> TargetPhotometry | None:
        """The target photometry saved in `directory`, or None where none was saved (trained without one)."""
        directory = Path(directory)
        depth_path = directory / TARGET_DEPTH_FILE
        if not depth_path.is_file():
            return None
        data = json.loads(depth_path.read_text())
        if data.get("format") != TARGET_FORMAT:
            raise NepagnError(f"{depth_path}: unknown format {data.get('format')!r}; expected {TARGET_FORMAT}")
        depths = tuple(
            BandDepth(b["id"], int(b["n_detected"]), tuple(b["mag"]), tuple(b["err"]),
                      float("inf") if b["snr_min"] is None else float(b["snr_min"]))
            for b in data["bands"]
        )
        sample = pd.read_parquet(directory / TARGET_SAMPLE_FILE)
        return cls(depths, sample, int(data["n_rows"]), str(data.get("description", "")))


def _photometry(frame: pd.DataFrame, bands: tuple[Band, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Magnitudes and errors (float64, NaN where not detected: either value missing or not finite)."""
    from nepagn.features import FeatureSpec

    spec = FeatureSpec(bands=bands)
    mags = spec.observed_magnitudes(frame)
    errs = np.full_like(mags, np.nan)
    present = [j for j, band in enumerate(bands) if band.err_column in frame.columns]
    if present:
        block = frame[[bands[j].err_column for j in present]].to_numpy(dtype=np.float64, na_value=np.nan)
        errs[:, present] = block
    errs[np.isnan(mags) | ~np.isfinite(errs) | (errs <= 0)] = np.nan
    mags[np.isnan(errs)] = np.nan
    return mags, errs


def _band_depth(band_id: str, mags: np.ndarray, errs: np.ndarray) -> BandDepth:
    """Error curve (binned medians, made non-decreasing) and detection limit of one band in the target."""
    detected = np.isfinite(mags)
    n = int(detected.sum())
    if n < MIN_DETECTIONS:
        return BandDepth(band_id, n)
    mag, err = mags[detected], errs[detected]
    edges = np.unique(np.quantile(mag, np.linspace(0.0, 1.0, ERROR_BINS + 1)))
    which = np.clip(np.digitize(mag, edges[1:-1]), 0, len(edges) - 2)
    filled = np.unique(which)
    grid_mag = np.array([np.median(mag[which == k]) for k in filled])
    grid_err = np.maximum.accumulate(np.array([np.median(err[which == k]) for k in filled]))
    snr_min = float(np.percentile(MAG_ERROR / err, SNR_QUANTILE))
    return BandDepth(band_id, n, tuple(float(v) for v in grid_mag), tuple(float(v) for v in grid_err), snr_min)


def _observe_at_target(
    mags: np.ndarray, errs: np.ndarray, dimmed: np.ndarray, depths: tuple[BandDepth, ...], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Noisy magnitudes and errors of dimmed sources as the target would measure them (NaN: not detected)."""
    new_mags = np.full_like(mags, np.nan)
    new_errs = np.full_like(mags, np.nan)
    flux = 10.0 ** (-0.4 * dimmed)  # any zero point: only ratios matter
    noise_kept = flux * errs / MAG_ERROR  # the labelled measurement's own noise, dimmed with the source
    for j, depth in enumerate(depths):
        seen = np.flatnonzero(np.isfinite(dimmed[:, j]))
        if not depth.modelled or len(seen) == 0:
            continue
        noise_target = flux[seen, j] * depth.error_at(dimmed[seen, j]) / MAG_ERROR
        extra = np.sqrt(np.maximum(noise_target**2 - noise_kept[seen, j] ** 2, 0.0))
        observed = flux[seen, j] + rng.standard_normal(len(seen)) * extra
        positive = observed > 0
        mag = np.where(positive, -2.5 * np.log10(np.where(positive, observed, 1.0)), np.inf)
        err = depth.error_at(np.where(positive, mag, 99.0))
        detected = positive & (MAG_ERROR / err >= depth.snr_min)
        new_mags[seen[detected], j] = mag[detected]
        new_errs[seen[detected], j] = err[detected]
    return new_mags, new_errs


def _as_frame(mags: np.ndarray, errs: np.ndarray, bands: tuple[Band, ...]) -> pd.DataFrame:
    """Canonical float32 magnitude and error columns, interleaved per band."""
    data = {}
    for j, band in enumerate(bands):
        data[band.mag_column] = mags[:, j].astype(np.float32)
        data[band.err_column] = errs[:, j].astype(np.float32)
    return pd.DataFrame(data)


MAX_TARGET_ROWS = 200_000  # rows read from a large store to fit the target's depth


def target_from_store(
    store_path: str | Path, bands: tuple[Band, ...], preprocess_config: Any = None, seed: int = 0,
    max_rows: int = MAX_TARGET_ROWS,
) -> TargetPhotometry:
    """The photometric depth of the sources a build of `store_path` classifies (status `classified`).

    Partitions are read in a random order (seeded) until `max_rows` target rows are in hand, so a very
    large store costs a bounded read; only the columns preprocessing and the bands need are read.
    """
    from nepagn.preprocess import STATUS, STATUS_CLASSIFIED, PreprocessConfig, preprocess
    from nepagn.schema import CHI2_GAL, CHI2_STAR, Z_PHOT, Z_SPEC
    from nepagn.store import open_store

    store = open_store(store_path)
    wanted = [SOURCE_ID, Z_SPEC, Z_PHOT, CHI2_GAL, CHI2_STAR, LABEL]
    wanted += [c for band in bands for c in (band.mag_column, band.err_column)]
    columns = [c for c in wanted if c in store.columns]
    order = np.random.default_rng(seed).permutation(len(store.partitions))
    parts, have = [], 0
    for index in order:
        frame = preprocess(store.read_partition(store.partitions[index], columns),
                           preprocess_config or PreprocessConfig())
        chosen = frame[(frame[STATUS] == STATUS_CLASSIFIED).to_numpy(dtype=bool)]
        parts.append(chosen)
        have += len(chosen)
        if have >= max_rows:
            break
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    if len(rows) == 0:
        raise NepagnError(f"{store_path}: the store has no source to classify (status classified); "
                          "cannot fit the target photometry")
    description = f"store {Path(store_path).resolve()} (snapshot {store.snapshot_id[:12]}), " \
                  f"{len(rows)} sources to classify read"
    log.info("target photometry from %s", description)
    return TargetPhotometry.fit(rows, bands, description, seed=seed)
