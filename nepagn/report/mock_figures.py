"""Figures that show what the mock catalogue looks like (docs/mock.md), in the manner of Chen et al. 2021 Figs. 4-5.

Regenerate with: nepagn simulate --out mock.parquet --figures docs/figures
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from nepagn.bands import load_registry  # noqa: E402
from nepagn.files import save_figure
from nepagn.simulate import footprint, simulate_catalogue  # noqa: E402

log = logging.getLogger(__name__)

#: The six colours of the paper's Fig. 5: UV, optical, NIR, two MIR and FIR.
PAPER_COLOURS: tuple[tuple[str, str, str], ...] = (
    ("megacam_u", "megacam_g", "u - g (MegaCam)"),
    ("hsc_g", "hsc_i", "g - i (HSC)"),
    ("akari_n2", "akari_n4", "N2 - N4 (AKARI)"),
    ("akari_s7", "akari_s9w", "S7 - S9W (AKARI)"),
    ("akari_s9w", "akari_l18w", "S9W - L18W (AKARI)"),
    ("spire_250", "spire_500", "250 - 500 um (SPIRE)"),
)
CLASS_STYLE = {"SFG": {"color": "#1f77b4", "label": "SFG"}, "AGN": {"color": "#d62728", "label": "AGN"}}


def _style() -> None:
    plt.rcParams.update({"font.size": 10, "axes.labelsize": 10, "legend.fontsize": 9, "figure.dpi": 110,
                         "savefig.dpi": 150, "axes.spines.top": False, "axes.spines.right": False})


def redshift_figure(mock: pd.DataFrame, path: Path) -> None:
    """Spectroscopic redshift distribution of the labelled sources, SFG and AGN (cf. the paper's Fig. 4)."""
    labelled = mock[mock["label"].notna()]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    bins = np.arange(0.0, 4.01, 0.1).tolist()  # a list: what matplotlib's stubs take (hist makes it an array again)
    for cls, style in CLASS_STYLE.items():
        z = labelled.loc[labelled["label"] == cls, "z_spec"]
        ax.hist(z, bins=bins, histtype="stepfilled", alpha=0.35, color=style["color"])
        ax.hist(z, bins=bins, histtype="step", lw=1.5, color=style["color"],
                label=f"{style['label']} (N = {len(z)}, median z = {z.median():.2f})")
    ax.set_xlabel("spectroscopic redshift")
    ax.set_ylabel("number of labelled sources")
    ax.set_title("Mock labelled set: redshift distribution", fontsize=10)
    ax.legend(frameon=False)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def colour_figure(mock: pd.DataFrame, path: Path) -> None:
    """The six colour distributions of the labelled set, AGN vs SFG (cf. the paper's Fig. 5)."""
    labelled = mock[mock["label"].notna()]
    fig, axes = plt.subplots(2, 3, figsize=(10.5, 6.0))
    for ax, (blue, red, title) in zip(axes.flat, PAPER_COLOURS, strict=True):
        colour = labelled[f"{blue}_mag"] - labelled[f"{red}_mag"]
        finite = colour.dropna()
        lo, hi = (np.percentile(finite, [1, 99]) if len(finite) else (-1.0, 1.0))
        bins = np.linspace(lo - 0.1, hi + 0.1, 31)
        for cls, style in CLASS_STYLE.items():
            values = colour[labelled["label"] == cls].dropna()
            if len(values):
                ax.hist(values, bins=bins, density=True, histtype="step", lw=1.6, color=style["color"],
                        label=f"{style['label']} ({len(values)})")
                ax.axvline(values.median(), color=style["color"], ls=":", lw=1.0)
        ax.set_xlabel(f"{title} [AB mag]")
        ax.set_ylabel("normalised count")
        ax.legend(frameon=False, title="detected in both", title_fontsize=8)
    fig.suptitle("Mock labelled set: colour distributions of AGN and SFG (dotted: medians)", fontsize=11)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def detected_fraction_figure(mock: pd.DataFrame, path: Path) -> None:
    """Fraction of sources detected in each of the 44 bands: all sources, galaxies to infer, labelled set."""
    bands = load_registry()
    subsets = {
        "all sources": mock,
        "labelled": mock[mock["label"].notna()],
        "stars (true)": mock[mock["true_class"] == "star"],
    }
    fig, ax = plt.subplots(figsize=(11, 4.0))
    x = np.arange(len(bands))
    width = 0.28
    colours = ("#555555", "#2ca02c", "#ff7f0e")
    for k, ((name, subset), colour) in enumerate(zip(subsets.items(), colours, strict=True)):
        fraction = [subset[b.mag_column].notna().mean() for b in bands]
        ax.bar(x + (k - 1) * width, fraction, width, color=colour, label=f"{name} ({len(subset):,})")
    ax.set_xticks(x, [b.id for b in bands], rotation=90, fontsize=8)
    ax.set_ylabel("detected fraction")
    ax.set_ylim(0, 1.2)
    ax.set_title("Mock catalogue: detected fraction per band (missing = not covered or below the 5-sigma depth)",
                 fontsize=10)
    ax.legend(frameon=False, ncol=3, loc="upper center")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


#: One band of each partial survey (and each Spitzer band apart: their depths differ by orders of magnitude).
COVERAGE_PANELS: tuple[tuple[str, str], ...] = (
    ("hsc_i", "Subaru HSC i"), ("megacam_g", "CFHT MegaCam g"), ("maidanak_r", "Maidanak SNUCAM R"),
    ("megaprime_u", "CFHT MegaPrime u"), ("wircam_j", "CFHT WIRCam J"), ("flamingos_j", "KPNO FLAMINGOS J"),
    ("galex_nuv", "GALEX NUV"), ("irac3", "Spitzer IRAC 5.8 um"), ("irac4", "Spitzer IRAC 8.0 um"),
    ("mips24", "Spitzer MIPS 24 um"), ("pacs_160", "Herschel PACS 160 um"), ("spire_250", "Herschel SPIRE 250 um"),
)


def percent(fraction: float) -> str:
    """A detected fraction as a percentage with the precision it needs: '62 %', '4.5 %', '0.11 %'."""
    value = 100.0 * fraction
    if value == 0 or value >= 10:
        return f"{value:.0f} %"
    if value >= 1:
        return f"{value:.1f} %"
    return f"{value:.2g} %"


def coverage_figure(mock: pd.DataFrame, path: Path) -> list[str]:
    """Sky positions of the sources detected in one band of each partial survey: the coverage maps.

    Each panel's title gives its band's detected fraction over the whole mock (not the plotted
    sample); returns the panel titles.
    """
    sample = mock.sample(min(len(mock), 30_000), random_state=0)
    x, y = footprint.to_tangent_plane(sample["ra"].to_numpy(), sample["dec"].to_numpy())
    fig, axes = plt.subplots(3, 4, figsize=(11.5, 9), sharex=True, sharey=True)
    edge = np.linspace(0, 2 * np.pi, 300)
    titles = []
    for ax, (band, name) in zip(axes.flat, COVERAGE_PANELS, strict=True):
        seen = sample[f"{band}_mag"].notna().to_numpy()
        ax.scatter(-x[~seen], y[~seen], s=0.3, color="#cccccc", rasterized=True)
        ax.scatter(-x[seen], y[seen], s=1.5 if seen.mean() < 0.01 else 0.3, color="#1f77b4", rasterized=True)
        ax.plot(footprint.FIELD_RADIUS_DEG * np.cos(edge), footprint.FIELD_RADIUS_DEG * np.sin(edge), "k-", lw=0.6)
        titles.append(f"{name}: {percent(float(mock[f'{band}_mag'].notna().mean()))} detected")
        ax.set_title(titles[-1], fontsize=9)
        ax.set_aspect("equal")
    for ax in axes[-1]:
        ax.set_xlabel("-x (deg, east to the left)")
    for ax in axes[:, 0]:
        ax.set_ylabel("y (deg, north up)")
    fig.suptitle("Mock NEP-Wide field (5.4 deg$^2$ around RA 270.0, Dec +66.56): where each survey detects "
                 f"({len(mock):,} sources; grey: not detected)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return titles


def make_figures(out_dir: Path, n_sources: int = 91_861, seed: int = 0) -> list[Path]:
    """Simulate the default mock and write all mock_*.png figures into out_dir."""
    _style()
    out_dir.mkdir(parents=True, exist_ok=True)
    mock = simulate_catalogue(n_sources, seed)
    makers = {"mock_redshift.png": redshift_figure, "mock_colours.png": colour_figure,
              "mock_detected_fraction.png": detected_fraction_figure, "mock_coverage.png": coverage_figure}
    paths = []
    for name, maker in makers.items():
        maker(mock, out_dir / name)
        paths.append(out_dir / name)
        log.info("wrote %s", out_dir / name)
    return paths
