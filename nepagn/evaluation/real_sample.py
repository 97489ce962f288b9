"""The real labelled 14-band NEP-Wide sample (Poliszczuk et al. 2021) and its repeated strict CV.

Run (documented in docs/validation.md):
    nepagn evaluate real-sample --data ../shared/data/nepw_poliszczuk2021/training_sample.csv \
        --bands all --models A,B,C,N,HGB --seeds 0,1,2,3,4 --out runs/real_all

`nepagn evaluate` reads BAND_SETS to parse its arguments: pandas, scikit-learn and Dask are imported
inside the functions, not here.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from nepagn.bands import Band, get_bands
from nepagn.resources import catalogs_dir

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

COLUMN_MAP = "poliszczuk2021.toml"
HSC = ("hsc_g", "hsc_r", "hsc_i", "hsc_z", "hsc_y")
AKARI_NIR = ("akari_n2", "akari_n3", "akari_n4")
AKARI_MIR = ("akari_s7", "akari_s9w", "akari_s11", "akari_l15", "akari_l18w", "akari_l24")
BAND_SETS: dict[str, tuple[str, ...]] = {
    "all": HSC + AKARI_NIR + AKARI_MIR,  # the sample's 14 bands
    "optnir": HSC + AKARI_NIR,  # Poliszczuk et al. 2021's setting: HSC + N2-N4
}


def load_real_sample(path: str | Path) -> pd.DataFrame:
    """The sample in the canonical schema, through the shipped column map (every row kept)."""
    import pandas as pd

    from nepagn.columnmap import ColumnMap

    raw = pd.read_csv(path)
    return ColumnMap.load(catalogs_dir() / "columns" / COLUMN_MAP).apply(raw).reset_index(drop=True)


def band_set(name: str) -> tuple[Band, ...]:
    """The registry bands of a named band set of the real sample (`all` or `optnir`)."""
    return get_bands(BAND_SETS[name])


def run_from_args(args: argparse.Namespace) -> str:
    """Repeated strict CV of the chosen recipes on the real sample, into the EVALDIR `args.out`.

    Parameters
    ----------
    args : argparse.Namespace
        The options of `nepagn evaluate real-sample` (nepagn.commands.evaluate), with `command_line`.

    Returns
    -------
    str
        What the command prints: the EVALDIR written.
    """
    from nepagn.cluster import client_from_args
    from nepagn.evaluation.crossval import run_cv
    from nepagn.model.recipes import load_recipe

    frame = load_real_sample(args.data)
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    recipes = [load_recipe(n, args.max_epochs if n in ("A", "B", "C") else None) for n in names]
    seeds = [int(s) for s in args.seeds.split(",")]
    note = f"real Poliszczuk et al. 2021 sample, band set {args.bands}"
    with client_from_args(args) as client:
        out = run_cv(
            frame,
            recipes,
            band_set(args.bands),
            args.out,
            seeds,
            args.folds,
            client,
            progress=True,
            note=note,
            command=args.command_line,
        )
    return f"wrote {out}"
