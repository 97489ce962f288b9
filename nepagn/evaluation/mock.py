"""Mock-catalogue evaluation: band-group ablation (Chen et al. 2021 Fig. 12) and colour cuts (Fig. 11).

Galaxies of a simulated catalogue are labelled with their simulation truth (`true_class`), so the
test set is larger than the mock's spectroscopic subset. Recipe N runs on every band set: all 44
bands, each group (UV, optical, NIR, MIR, FIR) removed in turn, and each group alone. The classic
colour selections are evaluated on the same objects and stored as `selections.parquet`, so
`nepagn report` draws their ROC points beside the networks' curves without recomputing anything.
Run (documented in docs/validation.md):
    nepagn evaluate mock --sources 20000 --galaxies 1500 --folds 3 --seeds 0,1 --max-epochs 20 \
        --out runs/mock_ablation
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

import pandas as pd

from nepagn.bands import GROUPS, Band, bands_in_group, load_registry
from nepagn.cluster import client_from_args
from nepagn.evaluation.crossval import labels_of, run_cv
from nepagn.model.recipes import load_recipe
from nepagn.schema import LABEL, LABELS, SOURCE_ID, TRUE_CLASS
from nepagn.selections import apply_all

log = logging.getLogger(__name__)

SELECTIONS_FILE = "selections.parquet"
ALL_BANDS = "all"


def ablation_band_sets() -> dict[str, tuple[Band, ...]]:
    """All bands, each group removed (`-UV`), and each group alone (`UV only`), in registry order."""
    registry = load_registry()
    sets = {ALL_BANDS: registry}
    for group in GROUPS:
        sets[f"-{group}"] = tuple(b for b in registry if b.group != group)
    for group in GROUPS:
        sets[f"{group} only"] = bands_in_group(group)
    return sets


def mock_galaxies(n_sources: int, n_galaxies: int, seed: int) -> pd.DataFrame:
    """`n_galaxies` simulated AGN and SFG (stars excluded) with `label` set to their true class."""
    from nepagn.simulate import simulate_catalogue

    catalogue = simulate_catalogue(n_sources, seed)
    galaxies = catalogue[catalogue[TRUE_CLASS].isin(LABELS)]
    if len(galaxies) > n_galaxies:
        galaxies = galaxies.sample(n=n_galaxies, random_state=seed)
    galaxies = galaxies.reset_index(drop=True).copy()
    galaxies[LABEL] = galaxies[TRUE_CLASS].astype("string")
    return galaxies


def selection_table(galaxies: pd.DataFrame) -> pd.DataFrame:
    """source_id, y_true and every colour cut's AGN flag and applicability for the evaluated objects."""
    flags = apply_all(galaxies, source="mock catalogue")
    return pd.concat(
        [
            galaxies[[SOURCE_ID]].astype(str).reset_index(drop=True),
            pd.Series(labels_of(galaxies), name="y_true"),
            flags.reset_index(drop=True),
        ],
        axis=1,
    )


def run_from_args(args: argparse.Namespace) -> str:
    """Ablation CV of the chosen recipe on mock galaxies into the EVALDIR `args.out`, plus the colour cuts on them.

    Parameters
    ----------
    args : argparse.Namespace
        The options of `nepagn evaluate mock` (nepagn.commands.evaluate), with `command_line`.

    Returns
    -------
    str
        What the command prints: the EVALDIR written.
    """
    galaxies = mock_galaxies(args.sources, args.galaxies, args.mock_seed)
    log.info("mock: %d galaxies, %d AGN", len(galaxies), int(labels_of(galaxies).sum()))
    recipe = load_recipe(args.model)
    training = replace(recipe.training, max_epochs=args.max_epochs) if recipe.training else None
    recipe = replace(recipe, members=args.members, training=training)
    seeds = [int(s) for s in args.seeds.split(",")]
    note = f"mock: {args.sources} sources simulated (seed {args.mock_seed}), {len(galaxies)} galaxies by true class"
    out = Path(args.out)
    with client_from_args(args) as client:
        run_cv(
            galaxies,
            [recipe],
            ablation_band_sets(),
            out,
            seeds,
            args.folds,
            client,
            progress=True,
            note=note,
            command=args.command_line,
        )
    selections = selection_table(galaxies)
    selections.to_parquet(out / SELECTIONS_FILE, index=False)
    log.info("colour cuts applicable: %s", selections.filter(like="_applicable").sum().to_dict())
    return f"wrote {out}"
