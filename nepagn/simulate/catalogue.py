"""Assemble the mock NEP-Wide catalogue block by block, with the paper's sample sizes scaled to n_sources.

Determinism contract: the catalogue is generated in fixed blocks of BLOCK_ROWS rows. How many sources of
each sample group (labelled SFG/AGN, chi2-flagged stars, galaxies to infer, no redshift) fall in each
block is drawn once from `seed` (sequential multivariate hypergeometric draws, so totals are exact);
everything inside block b comes from its own generator seeded by (seed, b). The result therefore does
not depend on how the caller slices it: iter_catalogue_chunks(n, seed, any chunk_rows) concatenates to
simulate_catalogue(n, seed), and memory stays bounded by max(chunk_rows, BLOCK_ROWS) rows.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from nepagn.bands import Band, load_registry
from nepagn.schema import (
    CHI2_GAL,
    CHI2_STAR,
    DEC,
    LABEL,
    LABEL_AGN,
    LABEL_SFG,
    LABEL_SOURCE,
    RA,
    SOURCE_ID,
    TRUE_CLASS,
    Z_PHOT,
    Z_SPEC,
    canonical_columns,
)
from nepagn.simulate import footprint, observe, populations
from nepagn.tasks import run_tasks

log = logging.getLogger(__name__)

BLOCK_ROWS = 65_536
PAPER_N_SOURCES = 91_861
STAR = "star"

#: Sample groups and their sizes in the real catalogue (Chen et al. 2021, Fig. 2).
PAPER_GROUP_COUNTS: dict[str, int] = {
    "labelled_sfg": 1_615,
    "labelled_agn": 255,
    "star_flagged": 23_795,  # unlabelled, chi2_gal > chi2_star
    "galaxy_to_infer": 65_548,  # unlabelled, chi2_gal <= chi2_star
    "no_redshift": 648,
}
GROUPS = tuple(PAPER_GROUP_COUNTS)

#: True-class mixture inside each unlabelled group: the chi2 test is good but not perfect
#: (compact unobscured AGN pass for stars; faint stars with poor photometry pass for galaxies).
CLASS_MIX: dict[str, dict[str, float]] = {
    "star_flagged": {STAR: 0.975, LABEL_AGN: 0.015, LABEL_SFG: 0.010},
    "galaxy_to_infer": {STAR: 0.015, LABEL_AGN: 0.22, LABEL_SFG: 0.765},
    "no_redshift": {STAR: 0.25, LABEL_AGN: 0.15, LABEL_SFG: 0.60},
}
SPEC_TARGET_R50 = {LABEL_SFG: 21.0, LABEL_AGN: 21.8}  # r (AB) where spectroscopic targeting falls to 50%
AGN_XRAY_ONLY_FRACTION = 0.16  # 84% of labelled AGN are spectroscopic, the rest X-ray only
UNLABELLED_SPECZ_PROBABILITY = 0.004  # unclassified spectra among sources brighter than r = 21.5
FIT_MAX_WAVELENGTH_UM = 5.0  # LePhare fits the optical to near-IR bands


def group_counts(n_sources: int) -> dict[str, int]:
    """Sizes of the sample groups for n_sources, the paper's fractions (exact at 91,861)."""
    if n_sources < 0:
        raise ValueError(f"n_sources must be >= 0, got {n_sources}")
    counts = {name: round(n_sources * count / PAPER_N_SOURCES) for name, count in PAPER_GROUP_COUNTS.items()}
    counts["galaxy_to_infer"] = n_sources - sum(v for k, v in counts.items() if k != "galaxy_to_infer")
    return counts


@dataclass(frozen=True)
class _Kind:
    true_class: str
    selection: str  # "field", "spectroscopic" or "few_bands"


def _block_plan(n_sources: int, seed: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """(block index, first row, group counts of that block), exact totals over all blocks."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    remaining = np.array(list(group_counts(n_sources).values()), dtype=np.int64)
    for block, start in enumerate(range(0, n_sources, BLOCK_ROWS)):
        size = min(BLOCK_ROWS, n_sources - start)
        counts = rng.multivariate_hypergeometric(remaining, size, method="marginals")
        remaining -= counts
        yield block, start, counts


class _Sampler:
    """Draws observed sources of one kind by rejection: physical draw, observation, catalogue selection."""

    def __init__(self, bands: tuple[Band, ...]):
        self.bands = bands
        self.wavelengths = np.array([b.wavelength_um for b in bands])
        self.depths = np.array([b.depth_ab for b in bands])
        self.akari = np.array([b.facility == "AKARI" for b in bands])
        self.akari_mir = self.akari & (self.wavelengths > 5.0)
        self.fit = self.wavelengths < FIT_MAX_WAVELENGTH_UM
        self.optical = self.wavelengths < 2.5
        self.r_index = int(np.argmin(np.abs(self.wavelengths - 0.62)))
        self.i_index = int(np.argmin(np.abs(self.wavelengths - 0.77)))

    def draw(self, rng: np.random.Generator, kind: _Kind, n: int) -> dict[str, np.ndarray]:
        parts: list[dict[str, np.ndarray]] = []
        have, rate = 0, 0.5
        for _ in range(500):
            if have >= n:
                break
            batch = max(256, int(1.3 * (n - have) / max(rate, 0.002)))
            candidate = self._candidates(rng, kind, batch)
            accepted = self._accept(rng, kind, candidate)
            rate = max(accepted.mean(), 1.0 / batch)
            parts.append({key: value[accepted] for key, value in candidate.items()})
            have += int(accepted.sum())
            log.debug('%s: %d candidates, acceptance %.3f', kind, batch, rate)
        else:
            raise RuntimeError(f"could not draw {n} {kind} sources (acceptance {rate:.2g})")
        return {key: np.concatenate([p[key] for p in parts])[:n] for key in parts[0]}

    def _candidates(self, rng: np.random.Generator, kind: _Kind, n: int) -> dict[str, np.ndarray]:
        if kind.true_class == STAR:
            true_mag, _ = populations.star_magnitudes(rng, n, self.wavelengths)
            z, obscured = np.zeros(n), np.zeros(n, dtype=bool)
        else:
            is_agn = kind.true_class == LABEL_AGN
            agn = populations.SPECTROSCOPIC_AGN if kind.selection == "spectroscopic" else populations.FIELD_AGN
            true_mag, z, params = populations.galaxy_magnitudes(rng, n, self.wavelengths, is_agn, agn)
            obscured = params.get("obscured", np.zeros(n, dtype=bool))
        ra, dec = footprint.sample_positions(rng, n)
        covered = footprint.coverage(ra, dec, self.bands)
        mag, err = observe.observe(rng, true_mag, covered, self.depths)
        return {"ra": ra, "dec": dec, "z": z, "mag": mag, "err": err, "true_mag": true_mag, "obscured": obscured}

    def _accept(self, rng: np.random.Generator, kind: _Kind, c: dict[str, np.ndarray]) -> np.ndarray:
        detected = ~np.isnan(c["mag"])
        keep = detected[:, self.akari].any(axis=1)  # the NEP-Wide catalogue is AKARI-selected
        if kind.selection == "spectroscopic":
            r_true = c["true_mag"][:, self.r_index]
            target = 1.0 / (1.0 + np.exp((r_true - SPEC_TARGET_R50[kind.true_class]) / 0.35))
            target *= np.where(detected[:, self.akari_mir].any(axis=1), 1.0, 0.35)  # MIR-selected targets
            keep &= rng.random(keep.size) < target
        elif kind.selection == "few_bands":
            keep &= rng.random(keep.size) < np.where(detected[:, self.optical].sum(axis=1) <= 3, 1.0, 0.08)
        return keep


def _kinds_for(group: str, true_class: str) -> _Kind:
    if group.startswith("labelled"):
        return _Kind(true_class, "spectroscopic")
    return _Kind(true_class, "few_bands" if group == "no_redshift" else "field")


def _simulate_block(seed: int, block: int, start: int, counts: np.ndarray, sampler: _Sampler) -> pd.DataFrame:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block,)))
    size = int(counts.sum())
    group = np.repeat(np.arange(len(GROUPS)), counts)
    rng.shuffle(group)
    true_class = np.empty(size, dtype=object)
    for code, name in enumerate(GROUPS):
        rows = np.flatnonzero(group == code)
        if name == "labelled_sfg":
            true_class[rows] = LABEL_SFG
        elif name == "labelled_agn":
            true_class[rows] = LABEL_AGN
        else:
            classes, probs = zip(*CLASS_MIX[name].items(), strict=True)
            true_class[rows] = rng.choice(np.array(classes, dtype=object), size=rows.size, p=probs)

    n_bands = len(sampler.bands)
    ra, dec, z = np.empty(size), np.empty(size), np.empty(size)
    mag = np.empty((size, n_bands))
    err = np.empty((size, n_bands))
    true_mag = np.empty((size, n_bands))
    for code, name in enumerate(GROUPS):
        for cls in (LABEL_SFG, LABEL_AGN, STAR):
            rows = np.flatnonzero((group == code) & (true_class == cls))
            if rows.size == 0:
                continue
            drawn = sampler.draw(rng, _kinds_for(name, cls), rows.size)
            ra[rows], dec[rows], z[rows] = drawn["ra"], drawn["dec"], drawn["z"]
            mag[rows], err[rows], true_mag[rows] = drawn["mag"], drawn["err"], drawn["true_mag"]

    names = np.array(GROUPS)[group]
    is_star, is_agn = true_class == STAR, true_class == LABEL_AGN
    labelled = np.char.startswith(names.astype(str), "labelled")
    has_z = names != "no_redshift"
    n_fit = (~np.isnan(mag[:, sampler.fit])).sum(axis=1)

    z_phot = observe.photometric_redshift(rng, z, is_star, is_agn, n_fit, true_mag[:, sampler.i_index])
    chi2_gal, chi2_star = observe.template_chi2(rng, is_star, is_agn, names == "star_flagged", n_fit)
    bright = true_mag[:, sampler.r_index] < 21.5
    has_spec = labelled | (has_z & bright & (rng.random(size) < UNLABELLED_SPECZ_PROBABILITY))
    z_spec = np.where(has_spec, np.maximum(z + rng.normal(0.0, 3e-4, size) * (1.0 + z), 0.0), np.nan)
    xray_only = rng.random(size) < AGN_XRAY_ONLY_FRACTION

    # numpy's stubs leave None out of ArrayLike, but np.where takes it (an object array with None where not chosen)
    label = np.where(names == "labelled_sfg", LABEL_SFG,
                     np.where(names == "labelled_agn", LABEL_AGN, None))  # type: ignore[call-overload]
    label_source = np.where(labelled, np.where((names == "labelled_agn") & xray_only, "xray", "spec"),
                            None)  # type: ignore[call-overload]
    ids = [f"NEPWMOCK{index:010d}" for index in range(start, start + size)]

    data: dict[str, object] = {
        SOURCE_ID: pd.array(ids, dtype="string"),
        RA: ra,
        DEC: dec,
        Z_SPEC: z_spec,
        Z_PHOT: np.where(has_z, z_phot, np.nan),
        CHI2_GAL: np.where(has_z, chi2_gal, np.nan),
        CHI2_STAR: np.where(has_z, chi2_star, np.nan),
        LABEL: pd.array(label, dtype="string"),
        LABEL_SOURCE: pd.array(label_source, dtype="string"),
    }
    for j, band in enumerate(sampler.bands):
        data[band.mag_column] = mag[:, j].astype(np.float32)
        data[band.err_column] = err[:, j].astype(np.float32)
    data[TRUE_CLASS] = pd.array(true_class, dtype="string")
    frame = pd.DataFrame(data, index=pd.RangeIndex(start, start + size))
    return frame[[column.name for column in canonical_columns(sampler.bands, with_truth=True)]]


@functools.cache
def _default_sampler() -> _Sampler:
    """The sampler of the shipped band registry, built once per process (a worker simulates several blocks)."""
    return _Sampler(load_registry())


def _simulate_planned_block(plan: tuple[int, int, np.ndarray], seed: int) -> pd.DataFrame:
    """One block of the plan: here, or as a Dask task of `simulate_catalogue` on a cluster."""
    block, start, counts = plan
    log.debug("simulating block %d (rows %d-%d)", block, start, start + int(counts.sum()))
    return _simulate_block(seed, block, start, counts, _default_sampler())


def _iter_blocks(n_sources: int, seed: int) -> Iterator[pd.DataFrame]:
    for plan in _block_plan(n_sources, seed):
        yield _simulate_planned_block(plan, seed)


def iter_catalogue_chunks(n_sources: int, seed: int = 0, chunk_rows: int = BLOCK_ROWS) -> Iterator[pd.DataFrame]:
    """The mock catalogue as consecutive DataFrames of chunk_rows rows (the last may be shorter)."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    pending: list[pd.DataFrame] = []
    pending_rows = 0
    for block in _iter_blocks(n_sources, seed):
        pending.append(block)
        pending_rows += len(block)
        while pending_rows >= chunk_rows:
            joined = pd.concat(pending) if len(pending) > 1 else pending[0]
            yield joined.iloc[:chunk_rows]
            rest = joined.iloc[chunk_rows:]
            pending, pending_rows = ([rest] if len(rest) else []), len(rest)
    if pending_rows:
        yield pd.concat(pending) if len(pending) > 1 else pending[0]


def simulate_catalogue(n_sources: int = PAPER_N_SOURCES, seed: int = 0, client: Any = None,
                       meanwhile: Callable[[], None] | None = None) -> pd.DataFrame:
    """The whole mock NEP-Wide catalogue in the canonical schema, with its truth (deterministic per seed).

    Parameters
    ----------
    n_sources : int
        Sources in the mock; the paper's sample sizes scale with it (default 91,861, the real catalogue's).
    seed : int
        The random seed.
    client : distributed.Client, optional
        Simulate the blocks on this cluster, one task each (the same catalogue: every block has its own generator);
        None: here, one after another.
    meanwhile : callable, optional
        Work of this process to do while the cluster simulates (nepagn.tasks.run_tasks).

    Returns
    -------
    DataFrame
        Canonical columns (`source_id`, positions, redshifts, chi2, `label`, 44 bands' magnitudes and errors)
        and `true_class` (AGN, SFG, star). For millions of sources write it in chunks with `nepagn simulate`.
    """
    blocks = run_tasks(client, _simulate_planned_block, list(_block_plan(n_sources, seed)), seed,
                       description="simulating the mock", unit="block", meanwhile=meanwhile)
    if not blocks:
        return _empty_frame()
    return pd.concat(blocks).reset_index(drop=True)


def _empty_frame() -> pd.DataFrame:
    columns = canonical_columns(load_registry(), with_truth=True)
    return pd.DataFrame({c.name: pd.Series([], dtype=c.dtype) for c in columns})
