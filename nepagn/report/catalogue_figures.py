"""Figures of a built catalogue: the models' agreement (cf. Chen et al. 2021, Figs. 9-10) and a
HEALPix sky map of the AGN fraction, both drawn from the summary's counts."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import healpy as hp
import matplotlib.pyplot as plt
import numpy as np

from nepagn.pipeline.summary import INFERENCE_SET


def agreement_bar_chart(summary: dict[str, Any], path: str | Path) -> Path:
    """Bars of sources per number of AGN votes (unanimous ones on the left), and per set of models voting AGN."""
    models = summary["models"]
    block = summary[INFERENCE_SET]
    n = len(models)
    order = [str(n), "0"] + [str(v) for v in range(n - 1, 0, -1)]
    labels = [f"{n} AGN" if v == str(n) else f"{n} SFG" if v == "0" else f"{v} AGN / {n - int(v)} SFG" for v in order]
    counts = [block["votes"][v] for v in order]
    colours = ["tab:red", "tab:blue"] + ["tab:gray"] * (len(order) - 2)

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    bars = left.bar(labels, counts, color=colours)
    total = max(1, block["classified"])
    left.bar_label(bars, labels=[f"{c}\n{100 * c / total:.1f}%" for c in counts], fontsize=8)
    left.set_ylabel("sources")
    left.set_title(f"Agreement of Models {', '.join(models)} ({block['classified']} sources)")
    left.margins(y=0.2)

    patterns = {p: c for p, c in block["agn_patterns"].items() if p}
    right.bar([f"AGN by {p}" for p in patterns], list(patterns.values()), color="tab:red", alpha=0.8)
    right.set_ylabel("sources")
    right.set_title("Which models call a source AGN")
    right.tick_params(axis="x", rotation=45)
    figure.tight_layout()
    return _save(figure, path)


def agn_fraction_sky_map(summary: dict[str, Any], path: str | Path) -> Path:
    """Gnomonic HEALPix map (nested) of the consensus AGN fraction per pixel, centred on the catalogue."""
    sky = summary["sky"]
    nside = hp.order2nside(sky["order"])
    values = np.full(hp.nside2npix(nside), hp.UNSEEN)
    pixels = np.array([int(p) for p in sky["classified"]], dtype=np.int64)
    if pixels.size:
        classified = np.array([sky["classified"][str(p)] for p in pixels], dtype=float)
        agn = np.array([sky["agn"].get(str(p), 0) for p in pixels], dtype=float)
        values[pixels] = agn / classified
        lon, lat = hp.pix2ang(nside, pixels, nest=True, lonlat=True)
        centre_lon = float(np.degrees(np.angle(np.mean(np.exp(1j * np.radians(lon))))) % 360)
        centre_lat = float(np.mean(lat))
        extent = max(np.ptp(lat), np.ptp((lon - centre_lon + 180) % 360 - 180) * np.cos(np.radians(centre_lat)))
    else:
        centre_lon, centre_lat, extent = 0.0, 0.0, 1.0
    size = 200
    resolution_arcmin = max(1.2 * extent + 2 * hp.nside2resol(nside, arcmin=True) / 60, 0.1) * 60 / size
    figure = plt.figure(figsize=(6, 5.5))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Ignoring specified arguments", category=UserWarning)
        hp.gnomview(
            values,
            nest=True,
            rot=(centre_lon, centre_lat),
            xsize=size,
            reso=resolution_arcmin,
            min=0.0,
            max=1.0,
            cmap="viridis",
            unit="AGN fraction (consensus)",
            title=f"AGN fraction per HEALPix pixel (order {sky['order']})",
            fig=figure.number,
            notext=True,
        )
    healpy_log = logging.getLogger("healpy")
    level = healpy_log.level
    healpy_log.setLevel(logging.WARNING)  # graticule() logs its spacing at INFO
    try:
        hp.graticule(dpar=1, dmer=2, alpha=0.4)
    finally:
        healpy_log.setLevel(level)
    return _save(figure, path)


def _save(figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path
