"""Network inputs from canonical columns: the ONE function that builds the (n, n_bands, n_channels, 1) array.

Training and inference both go through `FeatureSpec.transform`, so a model sees its inputs built
the same way at both stages. The paper's rule (Chen et al. 2021, section 2.2) is the default:
magnitude and error side by side per band, a missing value replaced by 0, no scaling.

Options beyond the paper, all fitted on training rows only (`fit`):
- ``missing="median"``: a missing value is replaced by that band's median over the training rows;
- ``mask_channel=True``: a third column per band, 1.0 where the magnitude was observed, else 0.0;
- ``standardise=True``: magnitudes and errors are centred and scaled per band with the mean and
  standard deviation of the observed training values, before missing values are filled.
- ``colour_channel=True``: a further column per band, the colour from that band to the next redder band
  the source is detected in (m_band - m_next), centred and scaled per band on the training rows; 0
  (the training mean) where the band or every redder band is missing. The paper's (1 x 2) kernels see
  one band at a time, so without it colours, what separates AGN from star-forming galaxies, can only be
  formed in the dense layers.

A catalogue that lacks some of the spec's band columns gets those bands as missing for every row
(logged once per call), never a crash: a model trained on 44 bands can still classify a catalogue
that only has 14 of them, exactly as the paper treats an undetected band.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from nepagn.bands import Band, get_bands, load_registry
from nepagn.errors import InputError

log = logging.getLogger(__name__)

MISSING_RULES = ("zero", "median")
OPTIONS = ("missing", "mask_channel", "standardise", "colour_channel")  # a recipe's [features] keys


def _resolve_bands(bands: Sequence[Band] | Sequence[str] | None) -> tuple[Band, ...]:
    if bands is None:
        return load_registry()
    given = tuple(bands)
    resolved = tuple(band for band in given if isinstance(band, Band))
    if len(resolved) == len(given):  # all Band already
        return resolved
    return get_bands([str(band) for band in given])


@dataclass(frozen=True)
class FeatureSpec:
    """How canonical band columns become network inputs: band list, missing-value rule, mask, scaling."""

    bands: tuple[Band, ...] = field(default_factory=load_registry)
    missing: str = "zero"
    mask_channel: bool = False
    standardise: bool = False
    # one row per band: fill_values (mag median, err median), scale (mag mean, mag std, err mean, err std),
    # colour_scale (colour mean, colour std); typed variadic as from_dict takes saved rows without checking lengths
    fill_values: tuple[tuple[float, ...], ...] | None = None
    scale: tuple[tuple[float, ...], ...] | None = None
    colour_channel: bool = False
    colour_scale: tuple[tuple[float, ...], ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "bands", _resolve_bands(self.bands))
        if self.missing not in MISSING_RULES:
            raise ValueError(f"missing must be one of {MISSING_RULES}, not {self.missing!r}")
        if not self.bands:
            raise ValueError("a FeatureSpec needs at least one band")

    @property
    def n_bands(self) -> int:
        return len(self.bands)

    @property
    def n_channels(self) -> int:
        """Columns per band in the input array: magnitude, error, and the observed flag and colour if asked for."""
        return 2 + int(self.mask_channel) + int(self.colour_channel)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.n_bands, self.n_channels, 1)

    @property
    def needs_fit(self) -> bool:
        return self.missing == "median" or self.standardise or self.colour_channel

    @property
    def is_fitted(self) -> bool:
        return (
            (self.missing != "median" or self.fill_values is not None)
            and (not self.standardise or self.scale is not None)
            and (not self.colour_channel or self.colour_scale is not None)
        )

    def fit(self, train_frame: pd.DataFrame) -> FeatureSpec:
        """A copy with medians / scaling taken from `train_frame` (training rows only); no-op for the paper default."""
        if not self.needs_fit:
            return self
        mags, errs = self.photometry(train_frame)
        scale = None
        if self.standardise:
            scale = tuple(
                (
                    _nanstat(np.nanmean, mags[:, i]),
                    _nanstd(mags[:, i]),
                    _nanstat(np.nanmean, errs[:, i]),
                    _nanstd(errs[:, i]),
                )
                for i in range(self.n_bands)
            )
        fill = None
        if self.missing == "median":
            fill = tuple(
                (_nanstat(np.nanmedian, mags[:, i]), _nanstat(np.nanmedian, errs[:, i])) for i in range(self.n_bands)
            )
        colour_scale = None
        if self.colour_channel:
            colours = next_band_colours(mags)
            colour_scale = tuple(
                (_nanstat(np.nanmean, colours[:, i]), _nanstd(colours[:, i])) for i in range(self.n_bands)
            )
        return replace(self, fill_values=fill, scale=scale, colour_scale=colour_scale)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Float32 array (n, n_bands, n_channels, 1) for the rows of `frame`, in its row order."""
        return self.transform_photometry(*self.photometry(frame))

    def transform_photometry(self, mags: np.ndarray, errs: np.ndarray) -> np.ndarray:
        """`transform` of the arrays `photometry` returned (not modified)."""
        if not self.is_fitted:
            raise ValueError(
                "this FeatureSpec needs fit(train_frame) before transform (median fill or standardisation)"
            )
        observed = ~np.isnan(mags)
        out = np.zeros((len(mags), self.n_bands, self.n_channels, 1), dtype=np.float32)
        values = [mags, errs]
        if self.scale is not None:
            stats = np.asarray(self.scale, dtype=np.float64)
            values = [(mags - stats[:, 0]) / stats[:, 1], (errs - stats[:, 2]) / stats[:, 3]]
        if self.fill_values is not None:
            fill = np.asarray(self.fill_values, dtype=np.float64)
            if self.scale is not None:
                fill = np.stack([(fill[:, 0] - stats[:, 0]) / stats[:, 1], (fill[:, 1] - stats[:, 2]) / stats[:, 3]], 1)
            values = [np.where(np.isnan(v), fill[:, k], v) for k, v in enumerate(values)]
        if self.colour_channel:
            stats = np.asarray(self.colour_scale, dtype=np.float64)
            values.append((next_band_colours(mags) - stats[:, 0]) / stats[:, 1])
        channels = [0, 1, *([2 + int(self.mask_channel)] if self.colour_channel else [])]  # the mask is channel 2
        for channel, value in zip(channels, values, strict=True):
            np.copyto(out[:, :, channel, 0], value, where=~np.isnan(value))  # missing stays 0, cast to float32
        if self.mask_channel:
            out[:, :, 2, 0] = observed
        return out

    def observed_magnitudes(self, frame: pd.DataFrame) -> np.ndarray:
        """Magnitudes as float64 (n, n_bands), NaN where the band is not observed (magnitude or error missing)."""
        return self.photometry(frame)[0]

    def photometry(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Magnitudes and errors of this spec's bands as float64 (n, n_bands), NaN where missing (absent columns
        are all-missing): what `transform_photometry` takes. Specs with the same bands give the same arrays,
        so a caller with several fitted specs (one per fold) reads the frame's columns once."""
        n = len(frame)
        absent = [band.id for band in self.bands if band.mag_column not in frame.columns]
        if absent:
            log.info(
                "catalogue lacks %d of %d bands; treated as missing for every row: %s",
                len(absent),
                self.n_bands,
                absent,
            )
        mags = np.full((n, self.n_bands), np.nan)
        errs = np.full((n, self.n_bands), np.nan)
        for target, names in ((mags, [band.mag_column for band in self.bands]),
                              (errs, [band.err_column for band in self.bands])):
            present = [i for i, column in enumerate(names) if column in frame.columns]
            if present:
                target[:, present] = _as_float_block(frame, [names[i] for i in present])
        # a magnitude without its error (or the reverse) is not an observation the network can use
        missing = np.isnan(mags) | np.isnan(errs)
        mags[missing] = np.nan
        errs[missing] = np.nan
        return mags, errs

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description, saved beside each model."""
        return {
            "bands": [band.id for band in self.bands],
            "missing": self.missing,
            "mask_channel": self.mask_channel,
            "standardise": self.standardise,
            "fill_values": [list(pair) for pair in self.fill_values] if self.fill_values is not None else None,
            "scale": [list(row) for row in self.scale] if self.scale is not None else None,
            **({"colour_channel": True,
                "colour_scale": [list(row) for row in self.colour_scale] if self.colour_scale is not None else None}
               if self.colour_channel else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        """Inverse of to_dict."""
        fill = data.get("fill_values")
        scale = data.get("scale")
        colour_scale = data.get("colour_scale")
        return cls(
            bands=get_bands(data["bands"]),
            missing=data.get("missing", "zero"),
            mask_channel=bool(data.get("mask_channel", False)),
            standardise=bool(data.get("standardise", False)),
            fill_values=tuple(tuple(float(v) for v in pair) for pair in fill) if fill is not None else None,
            scale=tuple(tuple(float(v) for v in row) for row in scale) if scale is not None else None,
            colour_channel=bool(data.get("colour_channel", False)),
            colour_scale=tuple(tuple(float(v) for v in row) for row in colour_scale) if colour_scale is not None
            else None,
        )


def next_band_colours(mags: np.ndarray) -> np.ndarray:
    """Per band, m_band - m_next for the next redder band the row detects (NaN where there is none).

    `mags` (n, n_bands) in band order (increasing wavelength), NaN where not detected.
    """
    colours = np.full_like(mags, np.nan)
    following = np.full(len(mags), np.nan)  # the nearest detected magnitude redward of the current band
    for j in range(mags.shape[1] - 1, -1, -1):
        colours[:, j] = mags[:, j] - following
        following = np.where(np.isnan(mags[:, j]), following, mags[:, j])
    return colours


def _as_float_block(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """`columns` of `frame` as float64 (n, len(columns)), NaN where missing or not finite.

    Numeric columns (the canonical float32 bands) are converted in one block, which is several times
    faster per partition than column by column; any other column goes through `_as_float`, which
    parses numeric text and rejects the rest.
    """
    block = frame[columns]
    if all(pd.api.types.is_numeric_dtype(dtype) for dtype in block.dtypes):
        values = block.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.where(np.isfinite(values), values, np.nan)
    return np.column_stack([_as_float(block[column], column) for column in columns])


def _as_float(series: pd.Series, column: str) -> np.ndarray:
    try:
        values = pd.to_numeric(series, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise InputError("<catalogue>", f"non-numeric values in a band column: {exc}", column=column) from exc
    return np.where(np.isfinite(values), values, np.nan)


def _nanstat(func, values: np.ndarray) -> float:
    """A NaN-ignoring statistic; 0.0 for a band with no observed training value."""
    if np.all(np.isnan(values)):
        return 0.0
    return float(func(values))


def _nanstd(values: np.ndarray) -> float:
    """Standard deviation of observed values; 1.0 where undefined or zero, so scaling never divides by 0."""
    std = _nanstat(np.nanstd, values)
    return std if std > 0 else 1.0
