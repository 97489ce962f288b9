"""The real labelled 14-band NEP-Wide sample (Poliszczuk et al. 2021) and its repeated strict CV.

Run (documented in docs/validation.md):
    python -m nepagn.evaluation.real_sample --data ../shared/data/nepw_poliszczuk2021/training_sample.csv \
        --bands all --models A,B,C,N,HGB --seeds 0,1,2,3,4 --out runs/real_all
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd

from nepagn.bands import Band, get_bands
from nepagn.cluster import add_cluster_arguments, client_from_args
from nepagn.columnmap import ColumnMap
from nepagn.evaluation.crossval import run_cv
from nepagn.model.recipes import load_recipe
from nepagn.resources import catalogs_dir

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
    raw = pd.read_csv(path)
    return ColumnMap.load(catalogs_dir() / "columns" / COLUMN_MAP).apply(raw).reset_index(drop=True)


def band_set(name: str) -> tuple[Band, ...]:
    """The registry bands of a named band set of the real sample (`all` or `optnir`)."""
    return get_bands(BAND_SETS[name])


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: repeated strict CV of the chosen recipes on the real sample."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="training_sample.csv of Poliszczuk et al. 2021")
    parser.add_argument("--bands", choices=sorted(BAND_SETS), default="all")
    parser.add_argument("--models", default="A,B,C,N,HGB", help="comma-separated recipes")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated CV seeds")
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--max-epochs", type=int, default=None, help="epoch cap for the paper's Models A, B, C")
    parser.add_argument("--out", required=True, help="EVALDIR to write")
    add_cluster_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    frame = load_real_sample(args.data)
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    recipes = [load_recipe(n, args.max_epochs if n in ("A", "B", "C") else None) for n in names]
    seeds = [int(s) for s in args.seeds.split(",")]
    note = f"real Poliszczuk et al. 2021 sample, band set {args.bands}"
    with client_from_args(args) as client:
        run_cv(
            frame,
            recipes,
            band_set(args.bands),
            args.out,
            seeds,
            args.folds,
            client,
            progress=True,
            note=note,
            command="python -m nepagn.evaluation.real_sample " + " ".join(sys.argv[1:] if argv is None else argv),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
