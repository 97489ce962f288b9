"""`nepagn train`: K-fold cross-validated training of Models A, B, C on the labelled rows, into a MODELDIR.

TensorFlow, scikit-learn and pandas are imported by run(), not at the top: `nepagn train --help`
and usage errors stay fast.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from nepagn.cluster import add_cluster_arguments
from nepagn.errors import NepagnError
from nepagn.model.config import DEFAULT_COPIES, RECIPES

if TYPE_CHECKING:
    import pandas as pd

PROTOCOLS = ("paper", "strict")  # nepagn.model.training.PROTOCOLS, which checks them again

NAME = "train"
HELP = "cross-validate and train Models A, B, C (Chen et al. 2021) and/or HGBC on the labelled rows; writes a MODELDIR"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--store", type=Path, metavar="STORE", help="HATS store from `nepagn ingest` (labelled rows)")
    source.add_argument("--input", type=Path, metavar="FILE", help="a catalogue file (Parquet, CSV, FITS, VOTable)")
    parser.add_argument(
        "--columns", metavar="MAP",
        help="column map of --input: a TOML file or a shipped map name (e.g. poliszczuk2021); "
             "default: the input is already canonical",
    )
    parser.add_argument("--models", default="A,B,C",
                        help="comma-separated model names (A, B, C; HGBC: gradient boosting with colours) or TOML "
                             "paths (default A,B,C)")
    parser.add_argument("--folds", type=int, default=10, help="K of the stratified K-fold CV (default 10)")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="catalogue",
                        help="training recipe: catalogue (default; configs/training_catalogue.toml, strict protocol) "
                             "or paper (the paper's protocol as written: configs/training.toml, paper protocol)")
    parser.add_argument("--protocol", choices=PROTOCOLS,
                        help="paper or strict (default: the recipe's); see docs/training.md")
    parser.add_argument(
        "--seeds", default="1", help="N = seeds 0..N-1 of repeated CV, or a comma list such as 3,7 (default 1)"
    )
    parser.add_argument("--bands", help="comma-separated band ids (default: every registry band the input has)")
    parser.add_argument("--out", type=Path, required=True, metavar="MODELDIR", help="output folder (must not exist)")
    parser.add_argument("--max-epochs", type=int, help="cap on epochs per network (default: configs/training.toml)")
    parser.add_argument(
        "--batch-size", type=int, help="rows per Adam step; 0 = full batch, the paper's epoch (default: training.toml)"
    )
    parser.add_argument("--missing", choices=("zero", "median"), help="missing-band rule (default: zero, the paper's)")
    parser.add_argument("--mask-channel", action="store_true", help="add an observed-flag column per band")
    parser.add_argument("--standardise", action="store_true", help="scale bands with training-fold mean/std")
    parser.add_argument("--colour-channel", action="store_true",
                        help="add the colour to the next redder detected band as an input column per band")
    parser.add_argument("--target", type=Path, metavar="STORE",
                        help="the HATS store of the catalogue the models are for: train, stop, threshold and calibrate "
                             "on labelled photometry degraded to the depth and band coverage of its sources to "
                             "classify (docs/training.md); default: the labelled photometry as it is")
    parser.add_argument("--networks", type=int,
                        help="networks per (model, fold, seed), differently initialised; their mean is the model's "
                             "prediction (default: the recipe's)")
    parser.add_argument("--copies", type=int, default=DEFAULT_COPIES,
                        help="with --target: degraded copies per labelled row (default %(default)s)")
    add_cluster_arguments(parser)


def parse_seeds(text: str) -> tuple[int, ...]:
    """`N` -> (0, ..., N-1); `a,b,c` -> (a, b, c)."""
    try:
        if "," in text:
            return tuple(int(part) for part in text.split(",") if part.strip())
        count = int(text)
    except ValueError as exc:
        raise NepagnError(f"--seeds: expected a count or a comma list of integers, not {text!r}") from exc
    if count < 1:
        raise NepagnError(f"--seeds: need at least one seed, not {count} (a count; for seed {count} alone write "
                          f"`--seeds {count},`)")
    return tuple(range(count))


def read_labelled(args: argparse.Namespace) -> pd.DataFrame:
    """The labelled rows (canonical columns) from --store or --input [--columns]."""
    import pandas as pd

    if args.store is not None:
        if args.columns is not None:
            raise NepagnError("--columns applies to --input only (a store is already canonical)")
        from nepagn.store import open_store

        return open_store(args.store).labelled_rows()
    from nepagn.readers import plan_chunks, read_chunk

    if not args.input.exists():
        from nepagn.errors import InputError

        raise InputError(args.input, "input not found (--input)")
    raw = pd.concat([read_chunk(chunk) for chunk in plan_chunks(args.input)], ignore_index=True)
    if args.columns is not None:
        from nepagn.columnmap import ColumnMap, resolve_column_map

        return ColumnMap.load(resolve_column_map(args.columns)).apply(raw, source=args.input)
    return raw


def run(args: argparse.Namespace) -> int:
    """Check the arguments, read the labelled rows, train on the cluster and print Table 1."""
    from nepagn.cluster import client_from_args, import_tensorflow_quietly
    from nepagn.commands.build_catalogue import check_writable_dir
    from nepagn.locks import exclusive_lock, lock_path_beside
    from nepagn.model.config import load_training_config, recipe_protocol
    from nepagn.model.manifest import Manifest
    from nepagn.model.training import train_model_set

    models = [name.strip() for name in args.models.split(",") if name.strip()]
    bands = [band.strip() for band in args.bands.split(",")] if args.bands else None
    options = {name: True for name in ("mask_channel", "standardise", "colour_channel") if getattr(args, name)}
    if args.missing:
        options["missing"] = args.missing
    if args.out.exists():
        raise NepagnError(f"{args.out}: output folder already exists; choose a new --out (nothing was overwritten)")
    if args.copies < 1:
        raise NepagnError(f"--copies: need at least one copy, not {args.copies}")
    seeds = parse_seeds(args.seeds)
    if args.target is not None and not args.target.exists():
        raise NepagnError(f"{args.target}: --target store not found")
    check_writable_dir(args.out.resolve().parent, "the folder of --out")
    labelled = read_labelled(args)
    target = None
    if args.target is not None:
        from nepagn.bands import get_bands
        from nepagn.degrade import target_from_store
        from nepagn.model.training import default_bands

        target = target_from_store(args.target, get_bands(bands) if bands else default_bands(labelled))
    import_tensorflow_quietly()  # the model set is written from this process
    with exclusive_lock(lock_path_beside(args.out), f"{args.out} (--out)", args.command_line), \
            client_from_args(args, tensorflow=True) as client:
        modeldir = train_model_set(
            labelled,
            args.out,
            models=models,
            folds=args.folds,
            protocol=args.protocol or recipe_protocol(args.recipe),
            seeds=seeds,
            client=client,
            max_epochs=args.max_epochs,
            bands=bands,
            progress=True,
            feature_options=options,
            training=load_training_config(recipe=args.recipe, batch_size=args.batch_size),
            command=args.command_line,
            target=target,
            copies=args.copies,
            networks=args.networks,
        )
    manifest = Manifest.read(modeldir, verify=False).data
    print(f"wrote {modeldir} (model set {manifest['model_set_id'][:12]})")
    print(f"inference rule: {manifest['rule']}")
    print(f"decision: {manifest['decision']['class_rule']}; agn_reliable: "
          f"{'in_labelled_domain and ' if manifest['decision'].get('reliable_in_domain') else ''}p_agn_mean >= "
          f"{manifest['decision']['reliable_threshold']}, agn_complete: p_agn_mean >= "
          f"{manifest['decision']['complete_threshold']} (estimated on {manifest['decision']['estimated_on']})")
    print((modeldir / "table1.md").read_text())
    return 0


def resume_hint(args: argparse.Namespace) -> str:
    """What a stopped training leaves (printed by the CLI after Ctrl-C, SIGTERM or a full disk)."""
    from nepagn.model.checkpoints import checkpoint_dir

    kept = checkpoint_dir(args.out)
    finished = sum(1 for path in kept.iterdir() if path.is_dir() and not path.name.startswith(".")) \
        if kept.is_dir() else 0
    return (f"nothing was written to {args.out} (a model set appears only once complete); {finished} finished "
            f"task(s) are kept in {kept}: rerun the same command to resume from them")
