"""`nepagn update`: add new survey data (sources, measurements, bands, labels) to a store and its catalogue,
recomputing only what changed, as a new catalogue version; list or prune versions."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nepagn.cluster import add_cluster_arguments, client_from_args
from nepagn.errors import NepagnError

NAME = "update"
HELP = ("apply new sources, updated measurements, new bands or new labels to a store and write the next "
        "catalogue version, recomputing only the partitions that changed; --list / --prune manage versions")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Store, catalogue, update file, models, version management and cluster options."""
    parser.add_argument("--store", metavar="STORE", required=True, help="the HATS store the catalogue was built from")
    parser.add_argument("--catalogue", metavar="OUTDIR", required=True,
                        help="output folder of `nepagn build-catalogue`; versions are added inside it")
    parser.add_argument("--add", metavar="FILE", help="update file (FITS, Parquet, CSV, VOTable): new sources, "
                        "new measurements of stored sources (same source_id), new bands or new labels")
    parser.add_argument("--columns", metavar="MAP", help="column map TOML of --add (or a shipped map name)")
    parser.add_argument("--models", metavar="MODELDIR",
                        help="model set to classify with (default: the one the current version used)")
    parser.add_argument("--retrain", action="store_true",
                        help="when the labelled set differs from the models', retrain them like the current set")
    parser.add_argument("--max-epochs", type=int, metavar="N", help="with --retrain: cap on training epochs")
    parser.add_argument("--band-registry", metavar="FILE",
                        help="registry rows (CSV like catalogs/bands_nepw.csv) of bands --add brings that are not "
                             "registered yet")
    parser.add_argument("--quarantine", metavar="FILE", help="write rows of --add that fail validation here "
                        "instead of stopping")
    parser.add_argument("--list", action="store_true", help="list the catalogue versions and exit")
    parser.add_argument("--prune", action="store_true",
                        help="remove old catalogue versions (all but the --keep newest) and exit")
    parser.add_argument("--keep", type=int, default=1, metavar="N", help="with --prune: versions to keep (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_cluster_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """List, prune, or apply one update."""
    from nepagn.update import versions
    from nepagn.update.run import prune_versions, update_catalogue

    out_dir = Path(args.catalogue)
    if args.list:
        index = versions.load_index(out_dir)
        if index is None:
            print(f"{out_dir}: one version (the build-catalogue output); no updates applied yet")
            return 0
        for entry in index["versions"]:
            state = "pruned" if entry.get("pruned") else ("current" if entry["version"] == index["current"] else "kept")
            inputs = ", ".join(i["input_id"] for i in entry.get("inputs", []))
            print(f"v{entry['version']:04d} {state:8s} {entry['run_id']} {entry.get('created_utc')} {inputs}")
        return 0
    if args.prune:
        removed = prune_versions(out_dir, args.keep, args.store)
        print(f"pruned versions {removed or 'none'} of {out_dir}")
        return 0
    if not args.add or not args.columns:
        raise NepagnError("--add FILE and --columns MAP are required (or use --list / --prune)")
    from nepagn.commands.ingest import resolve_column_map

    columns = resolve_column_map(args.columns)
    with client_from_args(args) as client:
        result = update_catalogue(args.store, out_dir, args.add, columns, client, models=args.models,
                                  retrain=args.retrain, band_registry=args.band_registry, quarantine=args.quarantine,
                                  max_epochs=args.max_epochs, progress=not args.quiet)
    print(result.summary())
    if result.created and not args.quiet:
        print(json.dumps({"version": result.version, "computed": result.computed}, default=list))
    return 0
