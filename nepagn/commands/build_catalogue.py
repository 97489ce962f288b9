"""`nepagn build-catalogue`: the main job, from an input catalogue to the public AGN/SFG catalogue."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from nepagn.cluster import add_cluster_arguments, client_from_args
from nepagn.errors import NepagnError
from nepagn.pipeline.build import build_catalogue
from nepagn.pipeline.config import load_pipeline_config
from nepagn.pipeline.inputs import prepare_models, prepare_store

NAME = "build-catalogue"
HELP = ("classify every source of a catalogue as AGN or SFG with Models A, B, C on Dask and write the public "
        "catalogue (HATS, Parquet, FITS, summary, figures); with no arguments, on the default mock")

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Input, models, output and cluster options."""
    source = parser.add_argument_group("input (default: simulate the mock NEP-Wide catalogue of configs/pipeline.toml)")
    choice = source.add_mutually_exclusive_group()
    choice.add_argument("--input", metavar="FILE",
                        help="input catalogue (FITS, Parquet, CSV, VOTable); needs --columns")
    choice.add_argument("--store", metavar="STORE", help="an ingested HATS store (`nepagn ingest`)")
    source.add_argument("--columns", metavar="MAP", help="column map TOML of --input (e.g. catalogs/columns/mock.toml)")
    source.add_argument("--quarantine", metavar="FILE",
                        help="with --input: write rows that fail validation here instead of stopping")
    parser.add_argument("--models", metavar="MODELDIR",
                        help="trained model set (`nepagn train`); default: train Models A, B, C quickly "
                             "with the [quick_training] settings (not the paper's protocol)")
    parser.add_argument("--out", metavar="OUTDIR", default="nepagn-output/catalogue",
                        help="output folder (default: %(default)s); rerunning resumes an interrupted build")
    parser.add_argument("--config", metavar="TOML", help="overrides of configs/pipeline.toml (any subset of its keys)")
    parser.add_argument("--star-rule", choices=("chi2", "none"),
                        help="star removal: chi2 (chi2_gal > chi2_star => star) or none (default: from the config)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars and no summary on the terminal")
    add_cluster_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Prepare input and models, build the catalogue on the cluster, print where everything is."""
    if args.columns and not args.input:
        raise NepagnError("--columns goes with --input")
    if args.input and not args.columns:
        raise NepagnError(f"{args.input}: --input needs --columns MAP (a column map TOML, see catalogs/columns/)")
    config = load_pipeline_config(args.config)
    preprocess = config.preprocess
    if args.star_rule:
        preprocess = type(preprocess)(**{**preprocess.to_dict(), "star_rule": args.star_rule})
    progress = not args.quiet
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with client_from_args(args) as client:
        store_path, input_provenance = prepare_store(args, config, out_dir, client, progress, say=_say_fn(args.quiet))
        modeldir, model_provenance = prepare_models(args, config, store_path, out_dir, client, progress,
                                                    say=_say_fn(args.quiet))
        extra: dict[str, Any] = {
            "input": input_provenance["input"],
            "column_map": input_provenance.get("column_map"),
            "models": model_provenance,
            "configs": {"pipeline.toml": config.values, "override": str(args.config) if args.config else None},
        }
        result = build_catalogue(store_path, modeldir, out_dir, client, preprocess_config=preprocess,
                                 catalogue_name=config.catalogue_name, provenance_extra=extra, progress=progress,
                                 summary_band=config.summary_band)
    if not args.quiet:
        from nepagn.pipeline.summary import to_text

        print(to_text(result.summary))
        print()
    recomputed = f"{len(result.computed)} partitions computed, {len(result.reused)} reused"
    print(f"catalogue written to {result.out_dir} ({result.run_id}; {recomputed}):")
    for path in (result.catalogue_dir, result.parquet, result.fits, result.out_dir / "summary.md",
                 result.out_dir / "figures", result.out_dir / "provenance.json"):
        print(f"  {path}")
    return 0


def _say(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def _say_fn(quiet: bool):
    return lambda message: _say(message, quiet)

