"""Figures of a built catalogue: the models' agreement (cf. Chen et al. 2021, Figs. 9-10) and a
HEALPix sky map of the AGN fraction, both drawn from the summary's counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import healpy as hp
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

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


MIN_SOURCES_PER_PIXEL = 5  # a pixel with fewer classified sources has no meaningful AGN fraction


def agn_fraction_sky_figure(summary: dict[str, Any]) -> Figure:
    """The AGN-fraction map as a matplotlib Figure: RA/Dec axes (east to the left), one polygon per pixel.

    Each HEALPix pixel (nested, the summary's sky order) is drawn as its true outline in RA/Dec and
    coloured by its consensus AGN fraction; pixels with fewer than MIN_SOURCES_PER_PIXEL classified
    sources are hatched grey, not coloured (a fraction of 0/1 or 1/2 is not a measurement).
    """
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch

    sky = summary["sky"]
    nside = hp.order2nside(sky["order"])
    pixels = np.array(sorted(int(p) for p in sky["classified"]), dtype=np.int64)
    classified = np.array([sky["classified"][str(p)] for p in pixels], dtype=float)
    agn = np.array([sky["agn"].get(str(p), 0) for p in pixels], dtype=float)
    figure, ax = plt.subplots(figsize=(6.4, 5.4))
    if pixels.size:
        corners = hp.boundaries(nside, pixels, step=4, nest=True)  # (n, 3, 4 * step) unit vectors
        lon, lat = hp.vec2ang(np.moveaxis(corners, 1, 2).reshape(-1, 3), lonlat=True)
        lon, lat = lon.reshape(len(pixels), -1), lat.reshape(len(pixels), -1)
        centre = float(np.degrees(np.angle(np.mean(np.exp(1j * np.radians(lon))))) % 360)
        lon = centre + (lon - centre + 180) % 360 - 180  # no pixel split across RA = 0
        polygons = np.stack([lon, lat], axis=-1)
        enough = classified >= MIN_SOURCES_PER_PIXEL
        # matplotlib's stubs type verts as a Sequence; an (n, m, 2) array is what its fast path in set_verts takes
        fraction = PolyCollection(polygons[enough],  # type: ignore[arg-type]
                                  array=(agn / np.maximum(classified, 1))[enough],
                                  cmap="viridis", edgecolors="face", linewidths=0.2)
        fraction.set_clim(0.0, 1.0)
        ax.add_collection(fraction)
        colourbar = figure.colorbar(fraction, ax=ax, shrink=0.85, pad=0.02)
        colourbar.set_label("AGN fraction (consensus class)", fontsize=10)
        colourbar.ax.tick_params(labelsize=9)
        sparse = PolyCollection(polygons[~enough],  # type: ignore[arg-type]  # as above
                                facecolors="0.85", edgecolors="0.6", hatch="///", linewidths=0.2)
        ax.add_collection(sparse)
        if (~enough).any():
            ax.legend(handles=[Patch(facecolor="0.85", edgecolor="0.6", hatch="///",
                                     label=f"< {MIN_SOURCES_PER_PIXEL} classified sources")],
                      loc="lower left", fontsize=8, frameon=True)
        ax.set_xlim(lon.max() + 0.05 * np.ptp(lon), lon.min() - 0.05 * np.ptp(lon))  # RA grows to the left
        ax.set_ylim(lat.min() - 0.05 * np.ptp(lat), lat.max() + 0.05 * np.ptp(lat))
        ax.set_aspect(1.0 / np.cos(np.radians(float(np.mean(lat)))))
    else:
        ax.text(0.5, 0.5, "no classified sources", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("RA (deg)")
    ax.set_ylabel("Dec (deg)")
    ax.set_title(f"AGN fraction per HEALPix pixel (order {sky['order']}, "
                 f"{int(classified.sum())} classified sources)", fontsize=10)
    ax.grid(alpha=0.3, lw=0.5)
    figure.tight_layout()
    return figure


def agn_fraction_sky_map(summary: dict[str, Any], path: str | Path) -> Path:
    """The consensus AGN fraction per HEALPix pixel on RA/Dec axes (agn_fraction_sky_figure), saved to `path`."""
    return _save(agn_fraction_sky_figure(summary), path)


def _save(figure, path: str | Path) -> Path:
    """Save under a temporary name, then rename: a failed write (a full disk) leaves no half PNG."""
    from nepagn.files import save_figure

    path = Path(path)
    try:
        save_figure(figure, path, dpi=120, bbox_inches="tight")
    finally:
        plt.close(figure)
    return path
